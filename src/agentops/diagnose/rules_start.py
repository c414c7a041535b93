"""Verdict rules for workers that fail to start: the owning worker exited at start (`worker-start-failed`, one
case per way it showed) or its supervisor keeps restarting it (`worker-crash-loop`); and, as secondary
findings, other configured workers listing the type that exited (a second worker whose type another client
already serves, typically).

They read the `worker.start` (the owner) and `cluster.start` (the others) layers (diagnose.layers,
logs/worker_start.py): their judged status, and `breached` — which of their metrics the pack's thresholds
judged out of bounds — so no number is compared here. Hooked into verdict.py's rule tuple and its
secondary findings; they import nothing of verdict.py (it imports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentops.core.model import Finding, Result, Status
from agentops.diagnose.knowledge import MODES

if TYPE_CHECKING:
    from agentops.diagnose.engine import Evidence
    from agentops.diagnose.verdict import Subject

# What each case of worker-start-failed means (logs/worker_start.py CASES), for the finding's cause.
CASE_CAUSES = {
    "duplicate-registration": "its agent type was already registered on the host by another client when it "
                              "started: AutoGen binds a type to exactly one client, RegisterAgent answers "
                              "INVALID_ARGUMENT 'already registered', and the worker's start raises",
    "import-error": "its code could not be imported (a missing or mismatched package, or a broken module)",
    "host-unreachable": "it could not reach the AgentRpc host it was started with",
    "error": "it ended on an uncaught error",
}


# An error that stops a start is named as such; any other error the process ended with, as what it was.
WHEN = {"duplicate-registration": "at start", "import-error": "at start", "host-unreachable": "at start"}


def _line(result: Result) -> str:
    return f"{result.id}: {result.message}" if result.message else ""


def _values(res: Result, s: Subject, ev: Evidence, role: str) -> dict[str, Any]:
    err = res.facts.get("last_error") or {}
    reg = ev.get("agent.registration")
    owned = reg is not None and bool(reg.facts.get("owned"))
    if role == "owner":
        for_type = f" (the owner of {s.to_type})"
        type_note = (f"messages to {s.to_type} are dropped: the host has no client for it ('Agent {s.to_type} not "
                     f"found')" if not owned else f"messages to {s.to_type} wait for a worker that is not there")
    else:
        for_type = f" (configured for {s.to_type})"
        label = (reg.facts.get("owner_worker") or f"client {reg.facts.get('owner_client_id')}") if owned and reg \
            else None
        type_note = (f"{s.to_type} is served by {label}: {res.target} is a second worker for it, redundant or "
                     f"misconfigured" if label else f"it does not serve {s.to_type}")
    return {"worker": res.target, "type": s.to_type, "for_type": for_type, "type_note": type_note,
            "error": err.get("line", "?"), "source": err.get("source", "?"), "at": err.get("written_at", "?"),
            "case_cause": CASE_CAUSES.get(err.get("case", ""), CASE_CAUSES["error"]),
            "when": WHEN.get(err.get("case", ""), "on an error"),
            "error_cause": err.get("cause", ""), "error_fix": err.get("fix") or "fix the error its traceback names",
            "count": int(res.metrics.get("restarts", 0)), "counted_by": res.facts.get("restarts_from", "?"),
            "error_note": f", last with {err['line']}" if err.get("line") else ""}


def _finding(res: Result, s: Subject, ev: Evidence, checks: list[str], role: str) -> Finding | None:
    """The start finding a judged start layer supports, if any."""
    if res.status is Status.OK:
        return None
    breached = set(res.facts.get("breached", []))
    err = res.facts.get("last_error")
    v = _values(res, s, ev, role)
    evidence = [_line(res), *(f"  {t}" for t in (err or {}).get("traceback_tail", [])[-3:])]
    # The owner's severity is the mode's (a type nobody serves); another worker's is its judged check's.
    judged = None if role == "owner" else res.status
    if "restarts" in breached:
        return MODES["worker-crash-loop"].finding(v, evidence, checks, judged=judged)
    if err and breached & {"exit_error", "duplicate_registration"}:
        return MODES["worker-start-failed"].finding(v, evidence, checks, err.get("case", "error"), judged=judged)
    return None


def start_failed(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    """The owning worker exited at start, or is crash-looping (a verdict rule: verdict._verdict's tuple)."""
    res = next((r for r in ev.results if r.id == "worker.start"), None)
    return _finding(res, s, ev, checks, "owner") if res is not None else None


def start_secondary(ev: Evidence, s: Subject, checks: list[str], primary: str) -> list[Finding]:
    """Other configured workers listing the type that exited or keep restarting (secondary findings)."""
    out = []
    for res in ev.results:
        if res.id == "cluster.start":
            found = _finding(res, s, ev, checks, "peer")
            if found is not None:
                out.append(found)
    return out
