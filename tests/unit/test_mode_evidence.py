"""Every failure mode's verdict follows from its declared evidence (knowledge.FailureMode `requires` /
`rules_out`, predicates in diagnose/evidence.py), enforced by the verdict engine: for each mode of the table,
stated evidence that has what the mode requires gives its verdict, and the same evidence without it does not.

The test iterates the knowledge table, so a mode added without declarations, or without a case here, fails
with its name: declare its evidence in knowledge.py and add its pair of cases to CASES."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from agentops.core.model import Observation, Reason, Result, Status
from agentops.core.packs import command_specs
from agentops.core.runner import judge
from agentops.diagnose.engine import Deadline, Evidence
from agentops.diagnose.evidence import PREDICATES
from agentops.diagnose.knowledge import MODES
from agentops.diagnose.publish import PublishQuery, publish_findings
from agentops.diagnose.verdict import FALLBACK, Subject, admit, diagnose
from tests.unit.test_diagnose_verdict import HOST_OK, OWNED, RUNNING, SUBJECT, logs, ping, r


@dataclass
class Case:
    given: tuple[Result, ...]  # evidence with what the mode requires
    without: tuple[Result, ...]  # the same kind of evidence, lacking it (or with what rules it out)
    subject: Subject | None = None  # None: the SUBJECT of the verdict tests
    family: str = "message"  # message: diagnose(); publish: publish_findings(); agent: the engine's admission


def _ev(results: tuple[Result, ...]) -> Evidence:
    ev = Evidence(Deadline(5.0))
    ev.results.extend(results)
    return ev


NOT_OWNED = r("agent.registration", Status.CRITICAL, Reason.ASSERTION, owned=False)
FINE = r("agent.ping", metrics={"rtt_ms": 3.2}, outcome="reply")
LATE = r("agent.ping", Status.WARNING, Reason.THRESHOLD, "rtt_ms=2007", metrics={"rtt_ms": 2007.0}, outcome="reply",
         timeout_s=3.0)
GONE = r("worker.process", Status.CRITICAL, Reason.ASSERTION, "worker w1 is not running", target="w1", processes=[])
FROZEN = r("worker.process", Status.CRITICAL, Reason.ASSERTION, target="w1", state="T", pid=42,
           processes=[{"pid": 42, "state": "T"}])


def _workers(host_started: str | None) -> Result:
    return r("cluster.workers", Status.CRITICAL, Reason.THRESHOLD,
             workers=[{"worker": "w1", "agent_types": ["echo"], "registered": [], "alive": True, "pid": 42,
                       "started_at": "2026-01-01T10:00:00Z"}], orphans=["w1"], dead=[],
             **({"host_started_at": host_started} if host_started else {}))


def _sig(kind: str, text: str, **more: Any) -> dict[str, Any]:
    return {"kind": kind, "line": text, **more}


NONE_SIG = _sig("exception:handler-returned-none", "ValueError: Unknown type NoneType", cause="c", fix="f")
COLLISION = _sig("exception:request-id-collision", "KeyError: '1'", request_id="1")
SENDER = Subject(to_type="echo", key="agentops-probe", from_type="planner")
ASKED = Subject(to_type="echo", key="agentops-probe", message_id="1")


def _publish(subscribers: float, receiver: dict[str, Any] | None, dead: list[str] | None = None) -> tuple[Result, ...]:
    specs = command_specs("diagnose")
    out = [judge(specs["publish.subscribers"], "orders", Observation(
        metrics={"subscribers": subscribers}, facts={"matches": [], "total_subscriptions": 3}, message="subs"), 0.0)]
    if receiver is not None:
        metrics = {k: v for k, v in receiver.items() if isinstance(v, float)}
        facts = {k: v for k, v in receiver.items() if not isinstance(v, float)}
        out.append(judge(specs["publish.receiver"], "billing", Observation(metrics=metrics, facts=facts,
                                                                           message="receiver"), 0.0))
    if dead is not None:
        out.append(judge(specs["cluster.workers"], "hub", Observation(
            metrics={"dead_workers": float(len(dead)), "orphaned_workers": 0.0},
            facts={"workers": [{"worker": w, "agent_types": ["billing"]} for w in dead], "dead": dead,
                   "orphans": []}, message="workers"), 0.0))
    return tuple(out)


OWNED_ALIVE = {"owned": True, "worker": "w1", "alive": 1.0, "stopped": 0.0}


def _hop(broken: bool) -> Result:
    """The judged verdict of a type the target (echo) calls (diagnose/hop.py's hop.downstream)."""
    found = {"id": "worker-dead" if broken else "healthy", "status": "CRITICAL" if broken else "OK",
             "title": "worker w2, which owns leaf, is not running", "cause": "gone", "fix": "start w2",
             "agent_type": "leaf"}
    return r("hop.downstream", Status.WARNING if broken else Status.OK, Reason.ASSERTION if broken else None,
             "leaf: " + found["id"], target="echo → leaf", caller="echo", agent_type="leaf", chain=["echo", "leaf"],
             found_by=["the host's log"], verdict=found, broken=found)


def _start(breached: list[str], restarts: float = 0.0) -> Result:
    """The owner's judged start layer (logs/worker_start.py): what the pack found out of bounds, and its last error."""
    status = Status.CRITICAL if breached else Status.OK
    return r("worker.start", status, Reason.THRESHOLD if breached else None, target="w1", metrics={"restarts": restarts},
             breached=breached, last_error={"line": "ModuleNotFoundError: No module named 'x'", "case": "import-error",
                                            "source": "w1.err"})
def _pod_status(state: dict[str, Any], last: dict[str, Any] | None = None, restarts: int = 0,
                phase: str = "Running", conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"name": "worker", "state": state, "restartCount": restarts}
    if last is not None:
        status["lastState"] = {"terminated": last}
    return {"phase": phase, "conditions": conditions or [], "containerStatuses": [status] if state else []}


def _in_pod(status: dict[str, Any], events: tuple[dict[str, Any], ...] = ()) -> Result:
    """The owner's `worker.pod` layer as diagnose/pod_layer.py makes it: the pod measured by k8s/pods.py, judged
    by the diagnose pack, with which metrics it breached."""
    from agentops.core.cluster import PodRef
    from agentops.core.evaluate import metric_verdicts
    from agentops.k8s.pods import PodReading, measure_pod

    pod = {"kind": "Pod", "metadata": {"name": "w1-0", "namespace": "agents", "creationTimestamp": "2026-01-01T10:00:00Z"},
           "spec": {"containers": [{"name": "worker", "resources": {"limits": {"memory": "256Mi"}}}]},
           "status": status}
    reading = PodReading(PodRef(name="w1-0"), "agents", pod, "worker", events=list(events))
    spec = command_specs("diagnose")["worker.pod"]
    result = judge(spec, "w1", measure_pod(reading, 1767261600.0), 0.0)
    result.facts["breached"] = sorted(metric_verdicts(spec, result.metrics))
    return result


KILLED = {"reason": "Error", "exitCode": 137, "finishedAt": "2026-01-01T10:01:00Z"}
OOM = {**KILLED, "reason": "OOMKilled"}
POD_UP = _in_pod(_pod_status({"running": {"startedAt": "2026-01-01T10:00:05Z"}}))
POD_KILLED = _in_pod(_pod_status({"terminated": KILLED}, phase="Failed"))
POD_OOM = _in_pod(_pod_status({"terminated": OOM}, phase="Failed"))
POD_OOM_BACK = _in_pod(_pod_status({"running": {"startedAt": "2026-01-01T10:01:02Z"}}, OOM, restarts=1))
POD_LOOPING = _in_pod(_pod_status({"waiting": {"reason": "CrashLoopBackOff"}},
                                  {**KILLED, "exitCode": 1}, restarts=4))
POD_RESTARTED = _in_pod(_pod_status({"running": {"startedAt": "2026-01-01T10:01:02Z"}}, KILLED, restarts=1))
UNSCHEDULABLE = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                  "message": "0/3 nodes are available: 3 Insufficient memory."}]
FAILED_SCHEDULING = {"type": "Warning", "reason": "FailedScheduling", "message": "0/3 nodes are available: 3 "
                     "Insufficient memory.", "lastTimestamp": "2026-01-01T10:00:01Z"}
POD_PENDING = _in_pod(_pod_status({}, phase="Pending", conditions=UNSCHEDULABLE), (FAILED_SCHEDULING,))
# Pending, but scheduled: its image is being pulled (no container runs yet, nothing says it cannot be placed).
POD_PULLING = _in_pod(_pod_status({"waiting": {"reason": "ContainerCreating"}}, phase="Pending"))
CASES: dict[str, Case] = {
    "healthy": Case((*HOST_OK, OWNED, RUNNING, FINE), (*HOST_OK, OWNED, RUNNING, ping("no_reply"))),
    "dns": Case((r("agentrpc.dns", Status.CRITICAL, Reason.DNS, "cannot resolve"),), (r("agentrpc.dns"),)),
    "host-down": Case((r("agentrpc.dns"), r("agentrpc.tcp", Status.CRITICAL, Reason.CONNECT, "127.0.0.1:1 refused")),
                      (r("agentrpc.dns"), r("agentrpc.tcp", Status.CRITICAL, Reason.TIMEOUT, "took longer"))),
    "network": Case((r("agentrpc.dns"), r("agentrpc.tcp", Status.CRITICAL, Reason.TIMEOUT, "took longer")),
                    (r("agentrpc.dns"), r("agentrpc.tcp", Status.CRITICAL, Reason.CONNECT, "127.0.0.1:1 refused"))),
    "host-unresponsive": Case((r("agentrpc.dns"), r("agentrpc.tcp"),
                               r("agentrpc.channel", Status.CRITICAL, Reason.TIMEOUT, "no answer")),
                              (r("agentrpc.dns"), r("agentrpc.tcp"),
                               r("agentrpc.channel", Status.CRITICAL, Reason.PROTOCOL, "not HTTP/2"))),
    "not-agentrpc": Case((r("agentrpc.dns"), r("agentrpc.tcp"), r("agentrpc.channel"),
                          r("agentrpc.inventory", Status.CRITICAL, Reason.PROTOCOL, "UNIMPLEMENTED")),
                         (r("agentrpc.dns"), r("agentrpc.tcp"), r("agentrpc.channel"),
                          r("agentrpc.inventory", Status.CRITICAL, Reason.TIMEOUT, "no answer"))),
    # The third bullet: an orphan alone, or a host that started BEFORE the worker, is no host restart.
    "host-restarted": Case((*HOST_OK, NOT_OWNED, RUNNING, _workers("2026-01-01T10:05:00Z")),
                           (*HOST_OK, NOT_OWNED, RUNNING, _workers("2026-01-01T09:00:00Z"))),
    "type-not-registered": Case((*HOST_OK, NOT_OWNED), (*HOST_OK, OWNED, RUNNING, FINE)),
    # A reply proves the owner runs: a configured process that is gone does not make it dead.
    "worker-dead": Case((*HOST_OK, OWNED, GONE), (*HOST_OK, OWNED, GONE, FINE)),
    "worker-frozen": Case((*HOST_OK, OWNED, FROZEN), (*HOST_OK, OWNED, FROZEN, FINE)),
    "handler-raised": Case((*HOST_OK, OWNED, RUNNING, ping("error", Status.CRITICAL, Reason.ASSERTION, error="boom")),
                           (*HOST_OK, OWNED, RUNNING, ping("no_reply"), logs("logs.worker"))),
    "handler-no-reply": Case((*HOST_OK, OWNED, RUNNING, ping("no_reply"), logs("logs.worker", [NONE_SIG])),
                             (*HOST_OK, OWNED, RUNNING, ping("no_reply"), logs("logs.worker"))),
    "payload-invalid": Case((*HOST_OK, OWNED, RUNNING, ping("no_reply"),
                             logs("logs.worker", [_sig("unhandled-message", "Unhandled message: x")])),
                            (*HOST_OK, OWNED, RUNNING, ping("no_reply"), logs("logs.worker"))),
    "message-too-large": Case((*HOST_OK, OWNED, RUNNING, r("message.payload", Status.CRITICAL, Reason.ASSERTION,
                                                           too_large=True, size_bytes=5_000_000, limit_bytes=4_194_304)),
                              (*HOST_OK, OWNED, RUNNING, r("message.payload", too_large=False), FINE)),
    "request-id-collision": Case((*HOST_OK, OWNED, RUNNING, FINE, logs("logs.host", recent=[COLLISION])),
                                 (*HOST_OK, OWNED, RUNNING, FINE, logs("logs.host")), ASKED),
    # The first bullet: a late or missing reply with no saturation measured is not overload.
    "overload": Case((*HOST_OK, OWNED, RUNNING, ping("no_reply"), r("worker.metrics", metrics={"queue_size": 3.0})),
                     (*HOST_OK, OWNED, RUNNING, ping("no_reply"), r("worker.metrics", metrics={"queue_size": 0.0}))),
    "sender-disconnected": Case((*HOST_OK, OWNED, RUNNING, FINE,
                                 r("sender.registration", Status.CRITICAL, Reason.ASSERTION, owned=False)),
                                (*HOST_OK, OWNED, RUNNING, FINE, r("sender.registration", owned=True)), SENDER),
    "agent-import-failed": Case((r("agent.import", Status.CRITICAL, Reason.ASSERTION, "No module named x"),),
                                (r("agent.import", message="imports"),), None, "agent"),
    "agent-error": Case((r("agent.error", Status.WARNING, Reason.ASSERTION, "missing-module"),),
                        (r("agent.error", message="unclassified"),), None, "agent"),
    "worker-start-failed": Case((*HOST_OK, NOT_OWNED, _start(["exit_error"])), (*HOST_OK, NOT_OWNED, _start([]))),
    "worker-crash-loop": Case((*HOST_OK, NOT_OWNED, _start(["exit_error", "restarts"], 5.0)),
                              (*HOST_OK, NOT_OWNED, _start(["exit_error"], 1.0))),
    "downstream-broken": Case(
        (*HOST_OK, OWNED, RUNNING, ping("no_reply"), r("hop.calls", message="echo calls leaf"), _hop(broken=True)),
        (*HOST_OK, OWNED, RUNNING, ping("no_reply"), r("hop.calls", message="echo calls leaf"), _hop(broken=False))),
    # In a pod (diagnose/pod_layer.py): the kubelet's view of the owner's container, not a process.
    "worker-oom-killed": Case((*HOST_OK, NOT_OWNED, POD_OOM), (*HOST_OK, NOT_OWNED, POD_KILLED)),
    "worker-not-scheduled": Case((*HOST_OK, NOT_OWNED, POD_PENDING), (*HOST_OK, NOT_OWNED, POD_PULLING)),
    "publish-delivered": Case(_publish(1.0, OWNED_ALIVE), _publish(0.0, None), None, "publish"),
    "nobody-subscribes": Case(_publish(0.0, None), _publish(1.0, OWNED_ALIVE), None, "publish"),
    "publish-receiver-unregistered": Case(_publish(1.0, {"owned": False}),
                                          _publish(1.0, OWNED_ALIVE), None, "publish"),
    "publish-receiver-dead": Case(_publish(1.0, {**OWNED_ALIVE, "alive": 0.0}), _publish(1.0, OWNED_ALIVE), None,
                                  "publish"),
    "publish-subscriber-gone": Case(_publish(0.0, None, dead=["w9"]), _publish(0.0, None, dead=[]), None,
                                    "publish"),
}


def _given(case: Case) -> Callable[[tuple[Result, ...]], list[str]]:
    """The mode ids the case's engine gives for stated evidence, the verdict first."""
    if case.family == "message":
        return lambda results: [f.id for f in diagnose(_ev(results), case.subject or SUBJECT)]
    if case.family == "publish":
        return lambda results: [f.id for f in publish_findings(_ev(results), PublishQuery("orders"))]

    def admitted(results: tuple[Result, ...]) -> list[str]:  # diagnose agent's own findings: the admission
        from agentops.core.model import Finding

        ev = _ev(results)
        return [m for m in ("agent-import-failed", "agent-error") if admit(Finding(m, Status.OK, ""), ev, None).ok]
    return admitted


MODE_IDS = [m for m in MODES if m != FALLBACK]


@pytest.mark.parametrize("mode_id", MODE_IDS)
def test_the_mode_declares_its_evidence(mode_id: str) -> None:
    mode = MODES[mode_id]
    assert mode.requires, (f"failure mode {mode_id!r} declares no `requires` in diagnose/knowledge.py: name the "
                           f"evidence its verdict follows from (predicates of diagnose/evidence.py)")
    unknown = [n for n in (*mode.requires, *mode.rules_out) if n not in PREDICATES]
    assert not unknown, f"{mode_id}: no such evidence predicate {unknown} (define it in diagnose/evidence.py)"


@pytest.mark.parametrize("mode_id", MODE_IDS)
def test_the_verdict_is_given_with_its_evidence_and_not_without(mode_id: str) -> None:
    assert mode_id in CASES, (f"failure mode {mode_id!r} has no case in tests/unit/test_mode_evidence.py: add "
                              f"evidence that gives it and the same evidence without what it requires")
    case = CASES[mode_id]
    given = _given(case)
    found = given(case.given)
    assert (found and found[0] == mode_id) or (case.family != "message" and mode_id in found), (mode_id, found)
    assert mode_id not in given(case.without), (mode_id, given(case.without))


def test_what_a_refused_verdict_lacked_is_said() -> None:
    """host-restarted without the host's start time: not given, and the report says what would decide it."""
    v = diagnose(_ev((*HOST_OK, NOT_OWNED, RUNNING, _workers(None))), SUBJECT)[0]
    assert v.id == "type-not-registered"  # the worker is alive and did not register it: its own start-up
    v = diagnose(_ev((*HOST_OK, OWNED, RUNNING, ping("no_reply"))), SUBJECT)[0]
    assert (v.id, v.status) == ("unexplained", Status.UNKNOWN) and v.title.startswith("no reply from echo")
    assert "overload considered" in v.cause and "not measured" in v.cause
    assert "metrics_url" in v.fix and "INFO" in v.fix


def test_a_hop_the_host_could_not_deliver_rules_out_overload() -> None:
    """The relay that waits on a type the host dropped: its worker took the request (saturation by the rule's
    reading), but the host's failure for another type during the probe rules overload out and is named."""
    taken = logs("logs.worker", probe_delivered=True)
    hop = logs("logs.host", other_types_during_probe=[_sig("agent-not-found", "Agent ghost not found, failed to "
                                                                               "deliver message.", agent_type="ghost")])
    assert diagnose(_ev((*HOST_OK, OWNED, RUNNING, ping("no_reply"), taken, logs("logs.host"))), SUBJECT)[0].id == \
        "overload"
    v = diagnose(_ev((*HOST_OK, OWNED, RUNNING, ping("no_reply"), taken, hop)), SUBJECT)[0]
    assert v.id == "unexplained" and "ruled out by the host logged failures for other agent types" in v.cause
    assert "agentops diagnose message --to ghost" in v.fix


def test_a_dead_worker_does_not_take_a_delivered_topic_s_subscriptions() -> None:
    """A second replica that exited at start is a dead configured worker; the topic still has its live subscriber,
    so the event is delivered and no 'subscriptions it held are gone' finding is given (a false alarm the corpus
    showed)."""
    found = [f.id for f in publish_findings(_ev(_publish(1.0, OWNED_ALIVE, dead=["wdup"])), PublishQuery("orders"))]
    assert found == ["publish-delivered"], found


@pytest.mark.parametrize(("pod", "verdict"), [
    (POD_KILLED, "worker-dead"), (POD_OOM, "worker-oom-killed"), (POD_LOOPING, "worker-crash-loop"),
    (POD_PENDING, "worker-not-scheduled"), (POD_PULLING, "worker-dead")])
def test_a_pod_owner_s_state_names_the_mode(pod: Result, verdict: str) -> None:
    """The pod rules (diagnose/rules_pod.py), on the judged `worker.pod` layer: the most specific cause first."""
    v = diagnose(_ev((*HOST_OK, NOT_OWNED, pod)), SUBJECT)[0]
    assert v.id == verdict, (v.id, v.title, pod.facts["breached"])
    assert any(e.startswith("worker.pod: ") and "pod agents/w1-0 container worker: " in e for e in v.evidence), \
        v.evidence


def test_a_pod_that_came_back_is_not_dead() -> None:
    """A container restarted once (killed, or OOM-killed) and running again answers: the verdict is the ping's;
    the OOM kill it came back from is a warning on its layer, not the verdict."""
    for pod in (POD_RESTARTED, POD_OOM_BACK, POD_UP):
        v = diagnose(_ev((*HOST_OK, OWNED, pod, FINE)), SUBJECT)[0]
        assert v.id == "healthy", (v.id, pod.facts["breached"])
    assert POD_OOM_BACK.status is Status.WARNING and POD_RESTARTED.status is Status.OK
    assert POD_LOOPING.status is Status.CRITICAL and POD_LOOPING.facts["waiting_reason"] == "CrashLoopBackOff"
