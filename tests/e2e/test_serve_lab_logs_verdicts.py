"""`agentops serve` on the real AutoGen lab: requests the cluster could not deliver, counted from the host's and
the workers' own logs as they grow, and the verdict of a periodic diagnosis (the config's `serve:` section)
exported on /metrics and in /report, flipping when a worker is frozen for real (SIGSTOP) and back when it
resumes."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.common import wait_for
from tests.fixtures.lab import LabHandle
from tests.fixtures.serve import ServeProcess
from tests.fixtures.services import require_binary

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def with_serve_section(config: Path, directory: Path, section: dict[str, Any]) -> Path:
    doc = yaml.safe_load(config.read_text())
    doc["serve"] = section
    out = directory / "agentops.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def undelivered(serve: ServeProcess, **labels: str) -> float:
    return serve.value("agentops_autogen_undelivered_total", **labels) or 0.0


def send(config: Path, agent_type: str, payload_type: str) -> str | None:
    """One request through the real host with agentops' AgentRpc client (a ping: no reply expected here)."""
    import asyncio

    from agentops.autogen.client import AgentRpcClient
    from agentops.core import registry
    from agentops.core.config import load_config

    async def ping() -> str | None:
        target = load_config(str(config)).targets_of("agentrpc")[0]
        async with AgentRpcClient.for_target(target) as client:
            obs = await registry.probe("agentrpc.ping").observe(
                client, {"type": agent_type, "payload_type": payload_type, "payload": {"text": "x"}}, 2.0)
        return obs.facts.get("outcome")

    return asyncio.run(ping())


def lint(text: str) -> None:
    checked = subprocess.run([require_binary("promtool", "prometheus"), "check", "metrics"], input=text,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_undelivered_requests_are_counted_from_the_logs(fresh_lab: LabHandle, tmp_path: Path) -> None:
    config = with_serve_section(fresh_lab.config, tmp_path, {})
    with ServeProcess(config, "--interval", "30", "--cluster-interval", "0.5", "--only", "autogen.host") as serve:
        serve.wait_event("listening")
        # The first read of each log notes where it ends: what was written before serve started is not counted.
        wait_for(lambda: serve.value("agentops_autogen_log_lag_bytes", log="lab-host") is not None, timeout=60,
                 what="the host log read once")
        assert not serve.series("agentops_autogen_undelivered_total")

        # A request to a type nobody registered: the host logs "Agent ghost not found, failed to deliver message."
        assert send(fresh_lab.config, "ghost", "Ping") == "no_reply"
        wait_for(lambda: undelivered(serve, target="lab-host", log="lab-host", agent_type="ghost",
                                     kind="agent_not_found") >= 1, timeout=60, what="ghost counted")
        # A payload type echo has no handler for: w1 (echo's worker) logs "Unhandled message".
        assert send(fresh_lab.config, "echo", "NoSuchMessage") == "no_reply"
        wait_for(lambda: sum(v for labels, v in serve.series("agentops_autogen_undelivered_total")
                             if labels["log"] == "w1" and labels["kind"] == "unhandled_message") >= 1,
                 timeout=60, what="the unhandled message counted")
        assert undelivered(serve, log="lab-host", agent_type="ghost", kind="agent_not_found") == 1
        # Counted once: later cycles read on from where the last one stopped, they do not read the file again.
        assert send(fresh_lab.config, "ghost", "Ping") == "no_reply"
        wait_for(lambda: undelivered(serve, log="lab-host", agent_type="ghost", kind="agent_not_found") >= 2,
                 timeout=60, what="the second ghost request counted")
        wait_for(lambda: serve.value("agentops_autogen_log_lag_bytes", log="lab-host") == 0, timeout=60,
                 what="the host log read to its end")
        assert undelivered(serve, log="lab-host", agent_type="ghost", kind="agent_not_found") == 2
        assert not [v for labels, v in serve.series("agentops_autogen_undelivered_total")
                    if labels["agent_type"] in ("echo", "echo2") and labels["kind"] == "agent_not_found"]
        status, text = serve.get("/metrics")
        assert status == 200
        lint(text)


def test_a_periodic_diagnosis_verdict_follows_a_frozen_worker(fresh_lab: LabHandle, tmp_path: Path) -> None:
    config = with_serve_section(fresh_lab.config, tmp_path, {"diagnoses": [
        {"agent_type": "echo", "interval": 1, "deadline": 4}]})
    owner = fresh_lab.owner("echo")
    with ServeProcess(config, "--interval", "30", "--cluster-interval", "2", "--only", "autogen.host") as serve:
        serve.wait_event("listening")

        def verdict(mode: str) -> float | None:
            return serve.value("agentops_diagnosis_verdict", agent_type="echo", mode=mode)

        wait_for(lambda: verdict("healthy") is not None, timeout=120, what="a healthy verdict")
        assert verdict("healthy") == 0
        status, body = serve.get("/report")
        entry = json.loads(body)["data"]["diagnoses"][0]
        assert entry["agent_type"] == "echo" and entry["verdict"]["id"] == "healthy" and entry["status"] == "OK"
        assert serve.value("agentops_diagnosis_status", agent_type="echo") == 0

        fresh_lab.signal(owner, signal.SIGSTOP)
        try:
            assert wait_for(lambda: verdict("worker-frozen"), timeout=120, what="the frozen verdict") == 2
            assert verdict("healthy") is None  # one verdict per diagnosis: the old mode's series is gone
            assert serve.value("agentops_diagnosis_status", agent_type="echo") == 2
            change = serve.wait_event("verdict_changed", lambda e: e.get("after") == "worker-frozen")
            assert change["diagnosis"] == "echo" and change["before"] == "healthy"
            status, body = serve.get("/report")
            assert json.loads(body)["data"]["diagnoses"][0]["verdict"]["id"] == "worker-frozen"
            status, text = serve.get("/metrics")
            assert status == 200
            lint(text)
        finally:
            fresh_lab.signal(owner, signal.SIGCONT)
        wait_for(lambda: verdict("healthy") is not None, timeout=120, what="healthy again")
