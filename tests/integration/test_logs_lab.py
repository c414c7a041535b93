"""`agentops logs` on logs the real AutoGen lab cluster wrote (host and two workers, JSON lines): real
failures made by real messages — a handler that raises, a handler that returns None (the worker's asyncio
"Exception in callback …" traceback), a message to an agent type nobody registered (the host's "Agent X not
found") — found, grouped, explained, and traced hop by hop across the processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from tests.fixtures.common import assert_no_traceback, run_cli, wait_for
from tests.integration.test_logs_cli import SCHEMA

pytestmark = pytest.mark.lab


def _send(lab: Any, agent_type: str, timeout: float) -> Any:
    from agentops.autogen.client import AgentRpcClient

    async def go() -> Any:
        async with AgentRpcClient(lab.address) as client:
            return await client.ping(agent_type, payload_type="Ping", payload={"text": "logs-test"},
                                     timeout=timeout)

    return asyncio.run(go())


# (kind, agent type, reply timeout, the outcome the client sees): one of each real failure and a healthy echo.
MESSAGES = [("echo", "echo", 5.0, "reply"), ("failing", "failing", 5.0, "error"),
            ("ghost", "ghost-type-nobody-registered", 1.0, "no_reply"), ("none", "none", 1.0, "no_reply")]


def send_each(lab: Any) -> dict[str, Any]:
    sent = {kind: _send(lab, agent_type, timeout) for kind, agent_type, timeout, _ in MESSAGES}
    assert [sent[kind].outcome for kind, *_ in MESSAGES] == [outcome for *_, outcome in MESSAGES]
    return sent


@pytest.fixture(scope="module")
def traffic(lab: Any) -> dict[str, Any]:
    """One message of each kind through the shared lab (it stays healthy: nothing is killed or registered),
    and the moment they started, so the analysis can leave other tests' records out."""
    since = time.time() - 0.5
    sent = send_each(lab)
    # The processes write as they go; wait until the last failure is in its log.
    wait_for(lambda: lab.log_records("w2", trace_id=sent["none"].trace_id, level="ERROR"), timeout=10,
             what="w2 to log the handler that returned None")
    wait_for(lambda: any("ghost-type-nobody-registered not found" in r["message"]
                         for r in lab.log_records("host", level="ERROR")), timeout=10,
             what="the host to log the unroutable message")
    return {"since": since, "sent": sent, "logs": str(lab.log("host").parent)}


def _iso(ts: float) -> str:
    from agentops.logs.clock import iso

    return iso(ts) or ""


def test_analyze_explains_the_real_failures(traffic: dict[str, Any]) -> None:
    result = run_cli("logs", "analyze", traffic["logs"], "--since", _iso(traffic["since"]), "--min-count", "1",
                     "--top", "50", "-o", "json")
    assert result.code == 0, result.stderr
    assert_no_traceback(result)
    doc = result.json()
    jsonschema.validate(doc, SCHEMA)
    data = doc["data"]
    assert {s["component"] for s in data["inputs"]["sources"]} >= {"host", "w1", "w2"}
    patterns = data["patterns"]

    not_found = next(p for p in patterns if p["pattern"] == "Agent <agent> not found, failed to deliver message.")
    assert "ghost-type-nobody-registered" in not_found["agents"] and set(not_found["components"]) == {"host"}
    assert not_found["action"]["kind"] == "agent-not-found"
    assert "ghost-type-nobody-registered" in not_found["action"]["fix"]

    returned_none = next(p for p in patterns if p["error_type"] == "ValueError"
                         and p["pattern"].startswith("Exception in callback GrpcWorkerAgentRuntime"))
    assert returned_none["cause"].startswith("ValueError: Unknown type NoneType")
    assert returned_none["action"]["kind"] == "handler-returned-none"
    assert set(returned_none["components"]) == {"w2"} and "none" in returned_none["agents"]

    raised = next(p for p in patterns if p["error_type"] == "RuntimeError")
    assert set(raised["components"]) == {"w2"} and "failing" in raised["agents"]
    assert "deliberate failure" in raised["sample"]

    assert data["counts"]["records"] > data["counts"]["errors"] >= 3
    assert data["bad_input"]["non_json"] == 0 and data["bad_input"]["truncated_json"] == 0


def test_count_and_component_filter_on_the_lab(traffic: dict[str, Any]) -> None:
    # A fixed window, so both commands see the same records even if the shared lab logs more meanwhile.
    window = ("--since", _iso(traffic["since"]), "--until", _iso(time.time()))
    analyzed = run_cli("logs", "analyze", traffic["logs"], *window, "--component", "w2", "-o", "json")
    counted = run_cli("logs", "count", traffic["logs"], *window, "--component", "w2", "-o", "json")
    assert analyzed.code == counted.code == 0, analyzed.stderr + counted.stderr
    errors = analyzed.json()["data"]["counts"]["errors"]
    assert errors >= 2  # the raising handler and the None one, both on w2
    assert counted.json()["data"]["counts"]["errors"] == errors
    gate = run_cli("logs", "count", traffic["logs"], *window, "--max-errors", "1", "-o", "json")
    assert gate.code == 2


def test_trace_follows_a_message_through_host_and_worker(traffic: dict[str, Any]) -> None:
    echo = traffic["sent"]["echo"]
    result = run_cli("logs", "trace", echo.trace_id, traffic["logs"], "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()["data"]
    hops = data["hops"]
    assert hops[0]["component"] == "host" and hops[0]["target"].startswith("echo/")
    assert "w1" in data["components"]
    assert any(h["component"] == "w1" and h["matched_by"] == "trace_id" and h["agent_id"].startswith("echo/")
               for h in hops)
    times = [h["at"] for h in hops]
    assert times == sorted(times)
    assert all(h["since_previous_ms"] is None or h["since_previous_ms"] >= 0 for h in hops)


def test_trace_of_a_failing_handler_points_at_the_error(traffic: dict[str, Any]) -> None:
    failing = traffic["sent"]["failing"]
    result = run_cli("logs", "trace", failing.request_id, traffic["logs"], "-o", "json")
    assert result.code == 1, result.stderr  # the trail holds an error
    data = result.json()["data"]
    assert data["components"][:2] == ["host", "w2"]
    error = next(h for h in data["hops"] if h["level"] == "ERROR")
    assert error["component"] == "w2" and error["cause"].startswith("RuntimeError")
    assert "it failed" in data["stops_at"]["why"] and "RuntimeError" in data["stops_at"]["why"]


def test_trace_of_an_unroutable_message_stops_at_the_host(traffic: dict[str, Any]) -> None:
    ghost = traffic["sent"]["ghost"]
    result = run_cli("logs", "trace", ghost.trace_id, traffic["logs"], "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()["data"]
    assert data["components"] == ["host"]
    stop = data["stops_at"]
    assert stop["component"] == "host" and "routed it to agent ghost-type-nobody-registered" in stop["why"]


# ------------------------------------------------------------------------------------------ plain-text logs

@pytest.fixture(scope="module")
def text_traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A lab of its own whose processes log as plain text (`lab up --log-format text`: what a service using
    logging.basicConfig writes: AutoGen's lines, protobuf dumps and asyncio's tracebacks as they are, no ids),
    with the same real failures."""
    from tests.fixtures.lab import start_lab, stop_lab

    handle = start_lab(tmp_path_factory.mktemp("textlab"), log_format="text")
    try:
        sent = send_each(handle)
        wait_for(lambda: "ValueError: Unknown type NoneType" in handle.log("w2").read_text(), timeout=10,
                 what="w2 to log the handler that returned None")
        assert "Agent ghost-type-nobody-registered not found" in handle.log("host").read_text()
        assert not handle.log("host").read_text().startswith("{")  # really plain text
        yield {"sent": sent, "logs": str(handle.log("host").parent)}
    finally:
        stop_lab(handle)


def test_analyze_explains_real_plain_text_failures(text_traffic: dict[str, Any]) -> None:
    result = run_cli("logs", "analyze", text_traffic["logs"], "--min-count", "1", "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()["data"]
    assert not any(data["bad_input"].values()), data["bad_input"]  # a plain log is not "non-JSON" input
    patterns = data["patterns"]

    not_found = next(p for p in patterns if p["pattern"] == "Agent <agent> not found, failed to deliver message.")
    assert set(not_found["agents"]) == {"ghost-type-nobody-registered"} and set(not_found["components"]) == {"host"}
    assert not_found["action"]["kind"] == "agent-not-found"

    # asyncio's "Exception in callback …" record: a header line, `handle:`, the frames, and the cause last.
    returned_none = next(p for p in patterns if p["pattern"].startswith("Exception in callback GrpcWorkerAgent"))
    assert returned_none["error_type"] == "ValueError"
    assert returned_none["cause"].startswith("ValueError: Unknown type NoneType")
    assert returned_none["action"]["kind"] == "handler-returned-none" and set(returned_none["components"]) == {"w2"}

    raised = next(p for p in patterns if p["error_type"] == "RuntimeError")
    assert "deliberate failure" in raised["cause"] and raised["action"]["kind"] == "handler-raised"

    counted = run_cli("logs", "count", text_traffic["logs"], "-o", "json")
    assert counted.json()["data"]["counts"]["errors"] == data["counts"]["errors"] == 3


def test_trace_in_plain_text_names_the_worker_that_failed(text_traffic: dict[str, Any]) -> None:
    # Text records carry no ids of their own; the request id is in the protobuf dumps of request and response.
    failing = text_traffic["sent"]["failing"]
    data = run_cli("logs", "trace", failing.request_id, text_traffic["logs"], "-o", "json").json()["data"]
    assert data["components"][:2] == ["host", "w2"]
    assert any(h["component"] == "w2" and h.get("target", "").startswith("failing/") for h in data["hops"])
    # The failure is the worker's, whichever of its reply and the host's relay of it the millisecond times of a
    # text log put last.
    stop = data["stops_at"]
    assert (stop["why"].startswith("it failed at w2: failing agent: deliberate failure") or
            (stop["component"] == "w2" and stop["why"].startswith("it failed there: failing agent: deliberate"))), stop

    ghost = text_traffic["sent"]["ghost"]
    data = run_cli("logs", "trace", ghost.trace_id, text_traffic["logs"], "-o", "json").json()["data"]
    assert data["components"] == ["host"]
    assert "routed it to agent ghost-type-nobody-registered" in data["stops_at"]["why"]
