"""The `downstream-broken` rule reads judged results only: given this evidence, is the broken hop the verdict?
Each case states the evidence; the live path (a real cluster, real faults) is tests/e2e/test_diagnose_hop.py."""

from __future__ import annotations

from typing import Any

from agentops.core.model import Reason, Result, Status
from agentops.diagnose.engine import DOWNSTREAM_TAG, Deadline, Evidence
from agentops.diagnose.hop_rule import chain_text, how_it_failed
from agentops.diagnose.verdict import Subject, diagnose

RELAY = Subject(to_type="relay", key="agentops-probe", address="127.0.0.1:1")


def result(check_id: str, target: str, status: Status = Status.OK, reason: Reason | None = None,
           message: str = "", facts: dict[str, Any] | None = None, metrics: dict[str, float] | None = None,
           tags: list[str] | None = None) -> Result:
    return Result(id=check_id, target=target, probe="test", status=status, reason=reason,
                  message=message or check_id, facts=facts or {}, metrics=metrics or {}, tags=tags or ["diagnose"])


def broken(verdict_id: str = "worker-dead", status: str = "CRITICAL", chain: list[str] | None = None) -> Result:
    found = {"id": verdict_id, "status": status, "title": "worker wb, which owns echo, is not running",
             "cause": "its process is gone", "fix": "start worker wb again", "evidence": ["worker.process: gone"],
             "agent_type": "echo"}
    return result("hop.downstream", "relay → echo", Status.WARNING, Reason.ASSERTION, "echo: worker-dead",
                  facts={"caller": "relay", "agent_type": "echo", "chain": chain or ["relay", "echo"],
                         "found_by": ["wa's metrics: 1 call(s) from relay to echo waiting for a reply"],
                         "verdict": found, "broken": found})


def evidence(*extra: Result, outcome: str = "no_reply", ping_status: Status = Status.CRITICAL) -> Evidence:
    ev = Evidence(Deadline(5.0))
    ev.results = [
        result("agentrpc.inventory", "hub"),
        result("agent.registration", "relay", facts={"owned": True}),
        result("worker.process", "wa", facts={"processes": [{"pid": 1, "state": "S"}], "pid": 1, "state": "S"}),
        result("agent.ping", "relay/agentops-probe", ping_status,
               Reason.TIMEOUT if outcome == "no_reply" else Reason.ASSERTION if outcome == "error" else None,
               facts={"outcome": outcome, "timeout_s": 2.0}, metrics={"rtt_ms": 1500.0}),
        result("logs.host", "hub", facts={"during_diagnosis": [], "recent": []}),
        result("logs.worker", "wa", facts={"during_diagnosis": [], "recent": [], "probe_delivered": True}),
        # relay's stuck handler: what used to make the verdict `overload`
        result("worker.metrics", "wa", metrics={"queue_size": 1.0}),
        result("hop.calls", "relay", message="relay calls echo"),
        *extra,
    ]
    return ev


def test_a_broken_downstream_is_the_verdict_not_overload() -> None:
    v = diagnose(evidence(broken()), RELAY)[0]
    assert v.id == "downstream-broken" and v.status is Status.CRITICAL
    assert v.title == "relay waits on echo: worker wb, which owns echo, is not running"
    assert "start worker wb again" in v.fix
    assert any(e.startswith("echo: worker.process") for e in v.evidence), v.evidence
    # Without the hop's result, the same evidence is relay's own slowness.
    assert diagnose(evidence(), RELAY)[0].id == "overload"


def test_a_healthy_downstream_changes_nothing() -> None:
    healthy = broken("healthy", "OK")
    healthy.reason, healthy.status = None, Status.OK
    assert diagnose(evidence(healthy), RELAY)[0].id == "overload"


def test_the_targets_own_failure_wins_over_a_hop() -> None:
    ev = evidence(broken())
    ev.get("logs.worker").facts["during_diagnosis"] = [{"kind": "exception:handler-returned-none",
                                                        "line": "ValueError: Unknown type NoneType"}]
    assert how_it_failed(ev) is None
    assert diagnose(ev, RELAY)[0].id == "handler-no-reply"


def test_no_hop_when_the_target_answered_in_time_or_is_itself_down() -> None:
    assert how_it_failed(evidence(broken(), outcome="reply", ping_status=Status.OK)) is None
    assert diagnose(evidence(broken(), outcome="reply", ping_status=Status.OK), RELAY)[0].id == "healthy"
    ev = evidence(broken())
    proc = ev.get("worker.process")
    proc.reason, proc.status, proc.facts = Reason.ASSERTION, Status.CRITICAL, {"processes": []}
    assert diagnose(ev, RELAY)[0].id == "worker-dead"


def test_the_downstreams_severity_weighs_the_hop() -> None:
    late = evidence(broken("overload", "WARNING"), outcome="reply", ping_status=Status.WARNING)
    v = diagnose(late, RELAY)[0]
    assert v.id == "downstream-broken" and v.status is Status.WARNING and "answers late" in v.cause
    v = diagnose(evidence(broken("unexplained", "UNKNOWN")), RELAY)[0]
    assert v.id == "downstream-broken" and v.status is Status.UNKNOWN


def test_a_downstreams_results_are_not_the_targets_evidence() -> None:
    # echo's worker is dead, and its worker.process is in the report; relay's own worker is the first one.
    dead = result("worker.process", "echo: wb", Status.CRITICAL, Reason.ASSERTION, facts={"processes": []},
                  tags=["diagnose", DOWNSTREAM_TAG])
    ev = evidence(broken())
    ev.results.insert(0, dead)
    assert ev.get("worker.process").target == "wa"
    assert diagnose(ev, RELAY)[0].id == "downstream-broken"


def test_the_chain_reads_from_the_target_on() -> None:
    assert chain_text(["relay", "echo"], "no_reply") == "relay waits on echo"
    assert chain_text(["relay3", "mid", "echo"], "no_reply") == "relay3 waits on mid, which waits on echo"
    assert chain_text(["relay2", "boom"], "error") == "relay2's call to boom fails"
    # The mid-chain verdict starts at its own target.
    mid = Subject(to_type="mid", key="agentops-probe")
    found = broken(chain=["relay3", "mid", "echo"])
    found.facts["caller"] = "mid"
    assert diagnose(evidence(found), mid)[0].title.startswith("mid waits on echo: ")
