"""Verdict rules for a worker that runs in a Kubernetes pod (diagnose/pod_layer.py's `worker.pod` layer): its
pod cannot be scheduled (`worker-not-scheduled`), its container was OOM-killed (`worker-oom-killed`), keeps
being restarted (`worker-crash-loop`), or is not running (`worker-dead`) — tried in that order, the most
specific cause first (an OOM kill the kubelet keeps restarting is a crash loop whose cause is memory).

They read the judged `worker.pod` result: `breached` (which of its metrics the pack judged out of bounds, so
no number is compared here) and its facts (the container's state, last termination, events, and the error
its log ends with). Hooked into verdict.py's rule tuple; they import nothing of verdict.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentops.core.model import Finding, Result
from agentops.diagnose.knowledge import MODES

if TYPE_CHECKING:
    from agentops.diagnose.engine import Evidence
    from agentops.diagnose.evidence import Subject

PodRule = Callable[["Evidence", "Subject", dict[str, Any], list[str]], "Finding | None"]


def _pod(ev: Evidence) -> tuple[Result, set[str]] | None:
    pod = ev.get("worker.pod")
    if pod is None or not pod.metrics:
        return None
    return pod, set(pod.facts.get("breached", []))


def _evidence(ev: Evidence, pod: Result) -> list[str]:
    out = [f"{pod.id}: {pod.message}"] if pod.message else []
    out += [f"event {e.get('type')} {e.get('reason')}: {e.get('message')}" for e in pod.facts.get("events", [])
            if e.get("type") == "Warning"][-3:]
    err = pod.facts.get("last_error") or {}
    if err.get("line"):
        out.append(f"{err.get('source', 'its log')} ends with: {err['line']}")
        out += [f"  {t}" for t in err.get("traceback_tail", [])[-3:]]
    return out


def _values(pod: Result, s: Subject, v: dict[str, Any]) -> dict[str, Any]:
    f = pod.facts
    term = f.get("terminated") or f.get("last_termination") or {}
    err = f.get("last_error") or {}
    now = (f"it is {f['state']}" + (f" ({f['waiting_reason']})" if f.get("waiting_reason") else "")
           + f", restarted {f.get('restart_count', 0)} times")
    return {**v, "worker": pod.target, "for_type": f" (the owner of {s.to_type})", "pod": f.get("pod", "?"),
            "namespace": f.get("namespace", "?"), "container": f.get("container", "?"),
            "exit_code": term.get("exit_code", "?"), "at": term.get("finished_at") or "?",
            "limit": f.get("memory_limit") or "none set", "now": now, "detail": f.get("summary") or pod.message,
            "count": f.get("restart_count", 0), "counted_by": "the pod's restartCount",
            "error_note": (f", last with {err['line']}" if err.get("line") else
                           f", last with exit code {term['exit_code']} ({term.get('reason') or 'Error'})"
                           if term else ""),
            "error_fix": err.get("fix") or f"read why it exits: kubectl logs --previous {f.get('pod', '<pod>')} "
                                            f"-n {f.get('namespace', '<namespace>')}"}


def _scheduling_detail(pod: Result) -> str:
    events = [e for e in pod.facts.get("events", []) if e.get("reason") == "FailedScheduling"]
    return str(events[-1].get("message") if events else pod.facts.get("scheduler") or pod.message)


def pod_not_scheduled(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    found = _pod(ev)
    if found is None or not {"unschedulable", "failed_scheduling_events"} & found[1]:
        return None
    values = _values(found[0], s, v)
    values["detail"] = _scheduling_detail(found[0])
    return MODES["worker-not-scheduled"].finding(values, _evidence(ev, found[0]), checks)


def pod_oom_killed(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    found = _pod(ev)
    if found is None or "oom_killed_containers" not in found[1]:
        return None
    return MODES["worker-oom-killed"].finding(_values(found[0], s, v), _evidence(ev, found[0]), checks)


def pod_crash_loop(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    """CrashLoopBackOff, or restarted more than the pack allows and not running now (one that came back and
    stays up is answered by its ping)."""
    found = _pod(ev)
    if found is None:
        return None
    breached = found[1]
    if "crash_looping_containers" not in breached and not {"restarts", "not_running"} <= breached:
        return None
    return MODES["worker-crash-loop"].finding(_values(found[0], s, v), _evidence(ev, found[0]), checks)


def pod_dead(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    found = _pod(ev)
    if found is None or "not_running" not in found[1]:
        return None
    return MODES["worker-dead"].finding(_values(found[0], s, v), _evidence(ev, found[0]), checks)


POD_RULES: tuple[PodRule, ...] = (pod_not_scheduled, pod_oom_killed, pod_crash_loop, pod_dead)
