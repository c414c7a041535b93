"""The verdict rules: which failure mode a set of layer results supports. The results here are written by hand
(the e2e tests produce each one for real against the lab); these pin the precedence along the message's path
and the rules' reading of facts, which the lab cannot vary (e.g. a DNS failure together with a frozen worker)."""

from __future__ import annotations

from typing import Any

from agentops.core.model import Reason, Result, Status
from agentops.diagnose.engine import Deadline, Evidence
from agentops.diagnose.knowledge import MODES
from agentops.diagnose.verdict import Subject, diagnose


def r(check_id: str, status: Status = Status.OK, reason: Reason | None = None, message: str = "", target: str = "t",
      metrics: dict[str, float] | None = None, **facts: Any) -> Result:
    return Result(id=check_id, target=target, probe="test", status=status, reason=reason, message=message,
                  metrics=metrics or {}, facts=facts)


def evidence(*results: Result) -> Evidence:
    ev = Evidence(Deadline(5.0))
    ev.results.extend(results)
    return ev


HOST_OK = (r("agentrpc.dns"), r("agentrpc.tcp"), r("agentrpc.channel"),
           r("agentrpc.inventory", agent_types=["echo", "echo2"]))
OWNED = r("agent.registration", owned=True, owner_client_id="c1")
RUNNING = r("worker.process", target="w1", pid=42, state="S", connected=True, processes=[{"pid": 42, "state": "S"}])
SUBJECT = Subject(to_type="echo", key="agentops-probe", address="10.0.0.5:50051")


def verdict_of(*results: Result, subject: Subject = SUBJECT) -> Any:
    return diagnose(evidence(*results), subject)[0]


def test_every_verdict_the_rules_name_is_a_known_mode_and_documented() -> None:
    import re
    from pathlib import Path

    import agentops.diagnose.agent as agent_module
    import agentops.diagnose.verdict as verdict_module

    named = set()
    for module in (verdict_module, agent_module):
        named |= set(re.findall(r'(?:make_finding|_classification_finding)\(\s*"([a-z-]+)"',
                                Path(module.__file__).read_text()))
    assert named and named <= set(MODES), named - set(MODES)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "diagnose.md").read_text()
    assert [m for m in MODES if f"`{m}`" not in docs] == []


def test_an_earlier_layer_wins() -> None:
    frozen = r("worker.process", Status.CRITICAL, Reason.ASSERTION, target="w1", state="T", pid=42,
               processes=[{"pid": 42, "state": "T"}])
    v = verdict_of(r("agentrpc.dns", Status.CRITICAL, Reason.DNS, "cannot resolve x"), frozen)
    assert v.id == "dns"
    v = verdict_of(r("agentrpc.dns"), r("agentrpc.tcp", Status.CRITICAL, Reason.CONNECT,
                                        "connection to 10.0.0.5:50051 refused"), frozen)
    assert v.id == "host-down"
    v = verdict_of(r("agentrpc.dns"), r("agentrpc.tcp", Status.CRITICAL, Reason.TIMEOUT, "took longer"))
    assert v.id == "network"


def test_a_host_that_accepts_but_does_not_answer_names_its_stopped_process() -> None:
    v = verdict_of(r("agentrpc.dns"), r("agentrpc.tcp"),
                   r("agentrpc.process", Status.CRITICAL, Reason.ASSERTION, processes=[{"pid": 7, "state": "T"}]),
                   r("agentrpc.channel", Status.CRITICAL, Reason.TIMEOUT, "no gRPC connection"))
    assert v.id == "host-unresponsive"
    assert "kill -CONT 7" in v.fix


def test_a_grpc_server_without_agentrpc() -> None:
    v = verdict_of(r("agentrpc.dns"), r("agentrpc.tcp"),
                   r("agentrpc.channel"), r("agentrpc.inventory", Status.CRITICAL, Reason.PROTOCOL, "UNIMPLEMENTED"))
    assert v.id == "not-agentrpc"


def test_unregistered_type_variants() -> None:
    not_owned = r("agent.registration", Status.CRITICAL, Reason.ASSERTION, owned=False)
    workers = r("cluster.workers", workers=[{"worker": "w1", "agent_types": ["echo", "slow"], "registered": [],
                                             "alive": True, "pid": 42, "started_at": "2026-01-01T10:00:00Z"}],
                orphans=["w1"], dead=[], host_started_at="2026-01-01T10:05:00Z")
    v = verdict_of(*HOST_OK, not_owned, RUNNING, workers)
    assert v.id == "host-restarted" and "w1" in v.fix
    assert any("after worker w1" in e for e in v.evidence)

    dead_row = r("cluster.workers", workers=[{"worker": "w1", "agent_types": ["echo"], "registered": [],
                                              "alive": False}], orphans=[], dead=["w1"])
    gone = r("worker.process", Status.CRITICAL, Reason.ASSERTION, "worker w1 is not running", target="w1",
             processes=[])
    assert verdict_of(*HOST_OK, not_owned, gone, dead_row).id == "worker-dead"

    # Alive and registering its other types, but not this one: the worker's registration code.
    partial = r("cluster.workers", workers=[{"worker": "w1", "agent_types": ["echo", "slow"], "registered": ["slow"],
                                             "alive": True}], orphans=[], dead=[])
    v = verdict_of(*HOST_OK, not_owned, RUNNING, partial)
    assert v.id == "type-not-registered" and "registers 'echo'" in v.fix

    typo = verdict_of(*HOST_OK, not_owned, subject=Subject(to_type="ech", key="k"))
    assert typo.id == "type-not-registered" and "did you mean echo" in typo.fix


def test_owned_type_with_a_stopped_or_vanished_worker() -> None:
    frozen = r("worker.process", Status.CRITICAL, Reason.ASSERTION, target="w1", state="T", pid=42,
               stopped_for_s=12.4, processes=[{"pid": 42, "state": "T"}])
    v = verdict_of(*HOST_OK, OWNED, frozen)
    assert v.id == "worker-frozen" and "stopped 12 s ago" in v.title
    unknown_since = r("worker.process", Status.CRITICAL, Reason.ASSERTION, target="w1", state="T", pid=42,
                      stopped_for_s=None, processes=[{"pid": 42, "state": "T"}])
    assert "unknown time" in verdict_of(*HOST_OK, OWNED, unknown_since).title


def ping(outcome: str, status: Status = Status.CRITICAL, reason: Reason | None = Reason.TIMEOUT, **facts: Any) -> Result:
    return r("agent.ping", status, reason, f"ping {outcome}", outcome=outcome, timeout_s=3.0, **facts)


def logs(check_id: str, during: list[dict[str, Any]] | None = None, recent: list[dict[str, Any]] | None = None,
         **facts: Any) -> Result:
    return r(check_id, during_diagnosis=during or [], recent=recent or [], **facts)


def test_no_reply_is_explained_by_what_the_worker_logged() -> None:
    cases = {
        "payload-invalid": {"kind": "unhandled-message", "line": "Unhandled message: UnknownPayload(…)"},
        "handler-no-reply": {"kind": "exception:handler-returned-none", "line": "ValueError: Unknown type NoneType",
                             "cause": "returned None", "fix": "return a message"},
    }
    for expected, sig in cases.items():
        v = verdict_of(*HOST_OK, OWNED, RUNNING, ping("no_reply"), logs("logs.worker", [sig]))
        assert v.id == expected, (expected, v.id)
    malformed = {"kind": "exception:payload-malformed", "line": "JSONDecodeError: Expecting value"}
    assert verdict_of(*HOST_OK, OWNED, RUNNING, ping("no_reply"), logs("logs.worker", [malformed])).id == \
        "payload-invalid"


def test_no_reply_with_work_in_flight_is_overload_and_without_evidence_unexplained() -> None:
    busy = r("worker.metrics", metrics={"queue_size": 3.0, "p95_s": 0.01})
    v = verdict_of(*HOST_OK, OWNED, RUNNING, ping("no_reply"), busy)
    assert (v.id, v.status) == ("overload", Status.CRITICAL)
    v = verdict_of(*HOST_OK, OWNED, RUNNING, ping("no_reply"), r("worker.metrics", metrics={"queue_size": 0.0}))
    assert (v.id, v.status) == ("unexplained", Status.UNKNOWN)
    delivered = logs("logs.worker", probe_delivered=True)
    assert verdict_of(*HOST_OK, OWNED, RUNNING, ping("no_reply"), delivered).id == "overload"


def test_replies_error_slow_and_fine() -> None:
    v = verdict_of(*HOST_OK, OWNED, RUNNING, ping("error", Status.CRITICAL, Reason.ASSERTION,
                                                  error="ConnectionRefusedError: [Errno 111] Connect call failed"))
    assert v.id == "handler-raised" and "start the service" in v.fix
    late = r("agent.ping", Status.WARNING, Reason.THRESHOLD, "rtt_ms=2007", metrics={"rtt_ms": 2007.0},
             outcome="reply", timeout_s=3.0)
    # A late reply is overload only when saturation was measured (here the worker's CPU, as its check judged it);
    # with nothing measured it is unexplained, naming what would decide.
    hot = r("worker.cpu", Status.WARNING, Reason.THRESHOLD, metrics={"cpu_percent": 99.0})
    v = verdict_of(*HOST_OK, OWNED, RUNNING, late, hot)
    assert (v.id, v.status) == ("overload", Status.WARNING)
    v = verdict_of(*HOST_OK, OWNED, RUNNING, late)
    assert (v.id, v.status) == ("unexplained", Status.UNKNOWN) and v.title.startswith("a late reply")
    assert "metrics_url" in v.fix
    fine = r("agent.ping", metrics={"rtt_ms": 3.2}, outcome="reply")
    v = verdict_of(*HOST_OK, OWNED, RUNNING, fine)
    assert (v.id, v.status) == ("healthy", Status.OK)
    assert v.checks == [x.id for x in (*HOST_OK, OWNED, RUNNING, fine)]


def test_too_large_comes_before_the_worker_and_collisions() -> None:
    big = r("message.payload", Status.CRITICAL, Reason.ASSERTION, too_large=True, size_bytes=5_000_000,
            limit_bytes=4_194_304)
    collision = logs("logs.host", recent=[{"kind": "exception:request-id-collision", "line": "KeyError: '1'",
                                           "request_id": "1"}])
    findings = diagnose(evidence(*HOST_OK, OWNED, RUNNING, big, collision), SUBJECT)
    assert [f.id for f in findings] == ["message-too-large", "request-id-collision"]
    assert findings[1].status is Status.WARNING  # seen in the window, not the message asked about
    asked = Subject(to_type="echo", key="k", message_id="1")
    fine = r("agent.ping", metrics={"rtt_ms": 3.2}, outcome="reply")
    v = diagnose(evidence(*HOST_OK, OWNED, RUNNING, fine, collision), asked)[0]
    assert (v.id, v.status) == ("request-id-collision", Status.CRITICAL)


def test_a_ping_cut_at_its_budget_is_no_reply_never_healthy() -> None:
    """A busy machine can let the layer's hard stop fire before the ping's own deadline reports: the result then
    has no facts. No reply came within the budget, so `healthy` (whose evidence rules out a missing reply) is
    not admitted; that once read 'relay is registered; the round trip was not tested' beside a CRITICAL ping."""
    cut = r("agent.ping", Status.CRITICAL, Reason.TIMEOUT, "no answer within 2s", target="echo/agentops-probe")
    v = verdict_of(*HOST_OK, OWNED, RUNNING, cut)
    assert v.id != "healthy", v.title
    from agentops.diagnose.evidence import ping_outcome

    assert ping_outcome(cut) == "no_reply"
    # A ping the deadline left no time for was never sent: neither a reply nor a missing one.
    not_run = r("agent.ping", Status.UNKNOWN, Reason.TIMEOUT, "not run", not_run=True)
    assert ping_outcome(not_run) is None
    assert verdict_of(*HOST_OK, OWNED, RUNNING, not_run).id != "healthy"
