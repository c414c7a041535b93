"""`agentops serve --node` as a real child process on loopback, asked over real HTTP(S) by plain requests and
by agentops' own node client (core/nodeclient.py): the bearer token (missing 401, wrong 403, never echoed or
logged), only the configured worker's processes and log files, the bounds of every answer, a profile sample
of a real process, TLS, the CLI's one-line refusals, and a node that never answers (the client's deadline)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentops.core.cluster import NodeSpec
from agentops.core.model import Reason
from agentops.core.nodeclient import NodeClient, NodeError
from tests.fixtures.common import SilentListener, free_port, run_cli, stop_process, wait_for
from tests.fixtures.serve import ServeProcess
from tests.fixtures.services import TlsFiles

MAX_RECORDS = 2000  # serve.node.NodeOptions' defaults, which the answers are held to
MAX_BYTES = 1024 * 1024


@dataclass
class Node:
    serve: ServeProcess
    worker: subprocess.Popen[bytes]
    log: Path
    token: str
    dir: Path

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.token}"} if token != "" else {}
        status, text = self.serve.get(path, headers)
        return status, json.loads(text)


def _write_node(tmp: Path) -> tuple[subprocess.Popen[bytes], Path, Path, str]:
    # The "worker": a real process found by its pid file, and a log file in a logging layout.
    worker = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (tmp / "w1.pid").write_text(f"{worker.pid}\n")
    log = tmp / "w1.log"
    log.write_text("2026-01-01 00:00:00,000 1 plainworker INFO worker registered echo\n")
    (tmp / "secret.txt").write_text("not a log of w1\n")
    config = tmp / "node.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "targets": [
        {"name": "w1", "kind": "worker", "options": {"process": {"pid_file": str(tmp / "w1.pid")},
                                                      "logs": [str(log)], "agent_types": ["echo"]}},
        {"name": "w2", "kind": "worker", "options": {"agent_types": ["other"]}},  # no process: cannot look
        # An AgentRpc host on this node (the same real process stands for it), its own log.
        {"name": "hub", "kind": "agentrpc", "address": f"127.0.0.1:{free_port()}",
         "options": {"process": {"pid_file": str(tmp / "w1.pid")}, "logs": [str(tmp / "hub.log")]}}]}))
    (tmp / "hub.log").write_text("2026-01-01 00:00:00,000 1 host INFO host listening on 127.0.0.1:1\n")
    token = secrets.token_urlsafe(24)
    (tmp / "node.token").write_text(token + "\n")
    return worker, log, config, token


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    worker, log, config, token = _write_node(tmp_path)
    try:
        with ServeProcess(config, "--node", "--token-file", str(tmp_path / "node.token"),
                          "--interval", "3600") as serve:
            serve.wait_event("listening")
            yield Node(serve, worker, log, token, tmp_path)
            assert token not in "".join(serve.lines)  # nothing it logged holds the token
    finally:
        os.kill(worker.pid, signal.SIGCONT)
        stop_process(worker)


def test_the_token_is_required_and_never_echoed(node: Node) -> None:
    status, doc = node.get("/node/processes?worker=w1", token="")
    assert status == 401 and "bearer token" in doc["error"]
    wrong = secrets.token_urlsafe(24)
    status, doc = node.get("/node/processes?worker=w1", token=wrong)
    assert status == 403 and wrong not in json.dumps(doc) and node.token not in json.dumps(doc)
    req = urllib.request.Request(f"http://{node.serve.address}/node/logs?worker=w1",
                                 headers={"Authorization": "Basic dXNlcjpwYXNz"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=10)
    assert info.value.code == 401 and info.value.headers["WWW-Authenticate"].startswith("Bearer")
    # The health routes are not behind the token (they are what Prometheus scrapes): /node/ is.
    assert node.serve.get("/healthz")[0] in (200, 503)


def test_processes_are_the_configured_workers_view(node: Node) -> None:
    status, doc = node.get("/node/processes?worker=w1")
    assert status == 200 and [v["pid"] for v in doc["views"]] == [node.worker.pid]
    assert doc["views"][0]["state"] in ("S", "R") and doc["views"][0]["rss_bytes"] > 0
    os.kill(node.worker.pid, signal.SIGSTOP)
    import psutil

    wait_for(lambda: psutil.Process(node.worker.pid).status() == psutil.STATUS_STOPPED, what="the worker to stop")
    status, doc = node.get("/node/processes?worker=w1")
    assert doc["views"][0]["state"] == "T"
    assert node.get("/node/processes?worker=nobody")[0] == 404
    assert node.get("/node/processes")[0] == 400


def test_logs_are_only_the_workers_files_and_bounded(node: Node) -> None:
    status, doc = node.get("/node/logs?worker=w1")
    assert status == 200 and doc["files"] == [{"path": str(node.log), "size": node.log.stat().st_size}]
    size = doc["files"][0]["size"]
    # Another file on the node, however it is named, is never read.
    for other in (node.dir / "secret.txt", Path("/etc/passwd"), node.dir / ".." / node.dir.name / "w1.log"):
        status, doc = node.get(f"/node/logs?worker=w1&path={other}&start=0")
        assert status == 400 and "not a log file of worker w1" in doc["error"], doc
    with node.log.open("a") as fh:
        for i in range(MAX_RECORDS + 500):
            fh.write(f"2026-01-01 00:00:01,000 1 plainworker INFO record {i}\n")
    status, doc = node.get(f"/node/logs?worker=w1&path={node.log}&start={size}")
    assert status == 200 and len(doc["records"]) == MAX_RECORDS and doc["truncated_records"] == 500
    assert doc["records"][-1]["message"] == f"record {MAX_RECORDS + 499}"  # the latest are kept
    assert all(r["offset"] >= size for r in doc["records"])
    # Bytes: a range larger than the cap is read from its end, MAX_BYTES of it.
    with node.log.open("a") as fh:
        fh.write("2026-01-01 00:00:02,000 1 plainworker INFO " + "x" * (2 * MAX_BYTES) + "\n")
        fh.write("2026-01-01 00:00:03,000 1 plainworker INFO the last one\n")
    status, doc = node.get(f"/node/logs?worker=w1&path={node.log}&start=0&max_bytes={10 * MAX_BYTES}")
    end = node.log.stat().st_size
    assert status == 200 and all(r["offset"] >= end - MAX_BYTES for r in doc["records"])
    assert doc["records"][-1]["message"] == "the last one"
    # The window before an offset: timestamped records since a time.
    status, doc = node.get(f"/node/logs?worker=w1&path={node.log}&end={size}&since=0")
    assert [r["message"] for r in doc["records"]] == ["worker registered echo"]
    # Since a time alone: to the file's end.
    status, doc = node.get(f"/node/logs?worker=w1&path={node.log}&since=1767225602.5")
    assert [r["message"] for r in doc["records"]] == ["the last one"], [r["message"][:40] for r in doc["records"]]
    assert node.get(f"/node/logs?worker=w1&path={node.log}")[0] == 400  # neither start nor since
    assert node.get(f"/node/logs?worker=w1&path={node.log}&start=0&since=0")[0] == 400
    assert node.get(f"/node/logs?worker=w1&path={node.log}&start=-1")[0] == 400


def test_profile_samples_the_worker(node: Node) -> None:
    status, doc = node.get("/node/profile?worker=w1&seconds=0.6")
    assert status == 200 and doc["pid"] == node.worker.pid, doc
    assert doc["cpu_seconds"] >= 0 and doc["series"]["rss_bytes"] and doc["window_s"] > 0
    assert node.get("/node/profile?worker=w1&seconds=abc")[0] == 400
    assert node.get("/node/profile?worker=w1&seconds=-1")[0] == 400


def _spec(url: str, token_file: Path, worker: str = "w1", **kw: Any) -> NodeSpec:
    return NodeSpec(url=url, token_file=str(token_file), worker=worker, **kw)


def test_the_client_reads_a_node_and_names_its_refusals(node: Node) -> None:
    async def ask(spec: NodeSpec) -> Any:
        client = NodeClient(spec)
        try:
            return await client.processes(None, set(), 5.0)
        finally:
            await client.close()

    url = f"http://{node.serve.address}"
    found = asyncio.run(ask(_spec(url, node.dir / "node.token")))
    assert [v.pid for v in found.views] == [node.worker.pid] and "on node" in found.how
    wrong = node.dir / "wrong.token"
    wrong.write_text("not-the-token\n")
    with pytest.raises(NodeError) as info:
        asyncio.run(ask(_spec(url, wrong)))
    assert info.value.reason is Reason.AUTH and "refused the token (403" in info.value.message
    with pytest.raises(NodeError) as info:
        asyncio.run(ask(_spec(url, node.dir / "absent.token")))
    assert info.value.reason is Reason.AUTH and "(file not found)" in info.value.message
    # A node that cannot look for the worker's processes says so: no view is never "the worker is dead".
    with pytest.raises(NodeError) as info:
        asyncio.run(ask(_spec(url, node.dir / "node.token", worker="w2")))
    assert info.value.reason is Reason.UNSUPPORTED and "no options.process for worker w2" in info.value.message
    with pytest.raises(NodeError) as info:
        asyncio.run(ask(_spec(url, node.dir / "node.token", worker="w9")))
    assert info.value.reason is Reason.PROTOCOL and "answered 404" in info.value.message


def test_a_node_that_never_answers_is_a_timeout(tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("x\n")
    listener = SilentListener()

    async def ask() -> None:
        client = NodeClient(_spec(f"http://127.0.0.1:{listener.port}", token, timeout_s=0.5))
        try:
            await client.log_files(30.0)  # the node's own timeout bounds it
        finally:
            await client.close()

    try:
        with pytest.raises(NodeError) as info:
            asyncio.run(ask())
    finally:
        listener.close()
    assert info.value.reason is Reason.TIMEOUT and "did not answer" in info.value.message


def test_tls_node(tmp_path: Path, tls_files: TlsFiles) -> None:
    worker, _, config, token = _write_node(tmp_path)
    try:
        with ServeProcess(config, "--node", "--token-file", str(tmp_path / "node.token"), "--interval", "3600",
                          "--tls-cert", str(tls_files.server_cert), "--tls-key", str(tls_files.server_key)) as serve:
            serve.wait_event("listening", lambda e: e.get("tls") is True)
            ctx = ssl.create_default_context(cafile=str(tls_files.ca))
            req = urllib.request.Request(f"https://{serve.address}/node/processes?worker=w1",
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=ctx)).open(req, timeout=10) as r:
                assert [v["pid"] for v in json.loads(r.read())["views"]] == [worker.pid]

            async def ask(ca: str | None) -> Any:
                client = NodeClient(_spec(f"https://{serve.address}", tmp_path / "node.token", ca=ca))
                try:
                    return await client.processes(None, set(), 5.0)
                finally:
                    await client.close()

            assert [v.pid for v in asyncio.run(ask(str(tls_files.ca))).views] == [worker.pid]
            with pytest.raises(NodeError) as info:  # the system trust store does not know the test CA
                asyncio.run(ask(None))
            assert info.value.reason is Reason.TLS
    finally:
        stop_process(worker)


@pytest.mark.parametrize(("args", "expected"), [
    (["--node"], "--node needs --token-file"),
    (["--token-file", "TOKEN"], "--token-file is the token of --node's routes"),
    (["--node", "--token-file", "TOKEN", "--listen", "0.0.0.0:9"], "needs --tls-cert and --tls-key"),
    (["--node", "--token-file", "EMPTY"], "is empty"),
    (["--node", "--token-file", "ABSENT"], "file not found"),
    (["--tls-cert", "TOKEN"], "--tls-cert and --tls-key go together"),
])
def test_cli_refusals_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "token").write_text("s3cret-token-value\n")
    (tmp_path / "empty").write_text("\n")
    files = {"TOKEN": tmp_path / "token", "EMPTY": tmp_path / "empty", "ABSENT": tmp_path / "absent"}
    argv = [str(files.get(a, a)) for a in args]
    if "--listen" not in argv:
        argv += ["--listen", f"127.0.0.1:{free_port()}"]
    result = run_cli("serve", *argv, timeout=60)
    assert result.code == 3 and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "s3cret-token-value" not in result.stderr + result.stdout


def test_a_rotated_token_is_taken_on_sighup(node: Node) -> None:
    """The node re-reads its token file on SIGHUP: the new token is accepted, the old one refused; an unusable
    file (emptied) keeps the token in force, said on stderr; neither token is ever logged."""
    new = secrets.token_urlsafe(24)
    (node.dir / "node.token").write_text(new + "\n")
    seen = len(node.serve.events)
    os.kill(node.serve.pid, signal.SIGHUP)
    node.serve.wait_event("token_reloaded", after=seen)
    assert node.get("/node/processes?worker=w1", token=new)[0] == 200
    assert node.get("/node/processes?worker=w1", token=node.token)[0] == 403
    (node.dir / "node.token").write_text("\n")
    seen = len(node.serve.events)
    os.kill(node.serve.pid, signal.SIGHUP)
    failed = node.serve.wait_event("token_reload_failed", after=seen)
    assert "empty" in failed["error"] and failed["level"] == "error"
    assert node.get("/node/processes?worker=w1", token=new)[0] == 200  # the one in force is kept
    assert new not in "".join(node.serve.lines)


def test_machine_is_measured_on_the_node(node: Node) -> None:
    status, doc = node.get("/node/machine?worker=w1&seconds=0.2")
    assert status == 200 and doc["pids"] == [node.worker.pid], doc
    assert doc["memory"]["reason"] is None and 0 < doc["memory"]["metrics"]["memory_used_percent"] <= 100, doc
    starvation = doc["starvation"]
    assert starvation["reason"] is None and "run_queue_wait_percent" in starvation["metrics"], starvation
    assert starvation["facts"]["pids"] == [node.worker.pid]
    # The window is the node's to bound (NodeOptions.max_machine_s), whatever is asked.
    status, doc = node.get("/node/machine?worker=w1&seconds=60")
    assert status == 200 and doc["starvation"]["facts"]["window_s"] < 10, doc
    assert node.get("/node/machine?worker=w1&seconds=nan")[0] == 400
    status, doc = node.get("/node/machine?worker=w2")  # no process to find: the machine's memory only
    assert status == 200 and doc["pids"] == [] and "starvation" not in doc and doc["memory"]["metrics"]

    async def ask() -> Any:
        client = NodeClient(_spec(f"http://{node.serve.address}", node.dir / "node.token"))
        try:
            return await client.machine(0.2, 10.0)
        finally:
            await client.close()

    measured = asyncio.run(ask())  # rebuilt as Observations for the caller's judge
    assert measured["memory"].reason is None and measured["memory"].metrics["memory_total_bytes"] > 0
    assert measured["starvation"].facts["pids"] == [node.worker.pid]


def test_the_host_is_answered_for_by_host(node: Node) -> None:
    """`host=NAME` names an agentrpc target of the node's config: its process and only its own log files."""
    status, doc = node.get("/node/processes?host=hub")
    assert status == 200 and [v["pid"] for v in doc["views"]] == [node.worker.pid], doc
    status, doc = node.get("/node/logs?host=hub")
    assert status == 200 and [f["path"] for f in doc["files"]] == [str(node.dir / "hub.log")], doc
    status, doc = node.get(f"/node/logs?host=hub&path={node.dir / 'hub.log'}&start=0")
    assert status == 200 and "host listening" in doc["records"][0]["message"], doc
    status, doc = node.get(f"/node/logs?host=hub&path={node.log}&start=0")  # a worker's file is not the host's
    assert status == 400 and "not a log file of host hub" in doc["error"], doc
    assert node.get("/node/processes?host=w1")[0] == 404  # w1 is a worker target, not an agentrpc one
    assert node.get("/node/profile?host=hub")[0] == 400  # a host is viewed and read, not profiled or measured
    assert node.get("/node/machine?host=hub")[0] == 400


def test_profile_of_a_remote_worker_is_the_local_report(node: Node) -> None:
    """`agentops profile --target w1` where w1's config names its node: the node samples the process and answers
    the series; the report is built from them by the same analysis and presenter as a local profile's."""
    central = node.dir / "central.yaml"
    central.write_text(yaml.safe_dump({"version": 1, "targets": [
        {"name": "w1", "kind": "worker", "options": {"agent_types": ["echo"], "node": {
            "url": f"http://{node.serve.address}", "token_file": str(node.dir / "node.token")}}}]}))
    remote = run_cli("profile", "--target", "w1", "-c", str(central), "-d", "1", "-i", "0.2", "-o", "json",
                     "--fail-on", "never", timeout=120)
    assert remote.code == 0 and "Traceback" not in remote.stderr, remote.stderr
    doc = json.loads(remote.stdout)
    (proc,) = doc["data"]["processes"]
    assert proc["pid"] == node.worker.pid and proc["label"] == "w1", proc
    assert any(f"sampled on node {node.serve.address}" in n for n in doc["notes"]), doc["notes"]
    local = json.loads(run_cli("profile", "--pid", str(node.worker.pid), "-d", "1", "-i", "0.2", "-o", "json",
                               "--fail-on", "never", timeout=120).stdout)
    # The same checks, judged the same way, in the same shape.
    assert sorted(r["id"] for r in doc["results"]) == sorted(r["id"] for r in local["results"])
    assert set(proc) == set(local["data"]["processes"][0])
    assert all(r["status"] != "UNKNOWN" for r in doc["results"]), doc["results"]
    # A longer window than the node samples is cut to its most, and said.
    longer = json.loads(run_cli("profile", "--target", "w1", "-c", str(central), "-d", "12", "-i", "1", "-o",
                                "json", "--fail-on", "never", timeout=120).stdout)
    assert any("samples at most 10s" in n for n in longer["notes"]), longer["notes"]
    assert node.token not in remote.stdout + remote.stderr
