"""The `downstream-broken` rule: the target answered late, never, or with an error because a type it calls
is broken (diagnose/hop.py follows the calls and records `hop.calls` and `hop.downstream`; this module only
reads those judged results, like every rule in verdict.py, which tries it in its tuple)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentops.core.model import Finding, Result, Status
from agentops.diagnose.engine import DOWNSTREAM_TAG, Evidence
from agentops.diagnose.evidence import ping_outcome
from agentops.diagnose.knowledge import MODES

if TYPE_CHECKING:
    from agentops.diagnose.verdict import Subject

# The target's own evidence that explains its silence without any hop (verdict.py's _no_reply reads these).
OWN_LOG_FAILURES = ("unhandled-message", "exception:")


def _during(ev: Evidence, check_id: str) -> list[dict[str, Any]]:
    return list(ev.facts(check_id).get("during_diagnosis", []))


def _line(result: Result | None) -> str:
    return f"{result.id}: {result.message}" if result is not None and result.message else ""


def how_it_failed(ev: Evidence) -> str | None:
    """"no_reply", "late_reply" or "error" when the target's ping failed in a way a hop can explain; None when
    it answered in time, was not pinged, or its own layers already explain it."""
    ping = ev.get("agent.ping")
    if ping is None:
        return None
    reg, proc = ev.get("agent.registration"), ev.get("worker.process")
    if (reg is not None and reg.reason is not None) or (proc is not None and proc.reason is not None):
        return None  # the target's own registration or worker is the cause (verdict.py's earlier rules)
    outcome = ping_outcome(ping)
    if outcome == "error":
        return "error"
    if outcome == "reply":
        # A reply the agent.ping check judged slow: read, not re-decided.
        return "late_reply" if ping.status is Status.WARNING else None
    if ping.facts.get("cut_short_by_call"):
        return "no_reply"  # hop.watch_calls ended the wait: it waits on a call that cannot return
    if outcome != "no_reply" or ping.facts.get("cut_short_by"):
        return None  # cut short: the target's own failure was in the log (its type named)
    worker_own = [sig for sig in _during(ev, "logs.worker") if sig["kind"].startswith(OWN_LOG_FAILURES)]
    host_own = [sig for sig in _during(ev, "logs.host")
                if sig["kind"] == "agent-not-found" or sig["kind"].endswith("request-id-collision")]
    return None if worker_own or host_own else "no_reply"


def chain_text(path: list[str], how: str) -> str:
    """"relay waits on echo", "relay waits on mid, which waits on echo", "relay's call to boom fails"."""
    caller, callee, *further = path
    if how == "error" and not further:
        return f"{caller}'s call to {callee} fails"
    verb = "calls" if how == "error" else "waits on"
    return ", ".join([f"{caller} {verb} {callee}"] + [f"which {verb} {t}" for t in further])


def downstream_broken(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    """Rule (verdict.py's tuple): the target failed because a type it calls is broken."""
    how = how_it_failed(ev)
    if how is None:
        return None
    hop = next((r for r in ev.results if r.id == "hop.downstream" and DOWNSTREAM_TAG not in r.tags
                and r.reason is not None and r.facts.get("caller") == s.to_type), None)
    if hop is None:
        return None
    broken: dict[str, Any] = hop.facts["broken"]
    path: list[str] = hop.facts["chain"]
    path = path[path.index(s.to_type):] if s.to_type in path else path  # from this target on
    v.update(hops=chain_text(path, how), downstream=broken.get("agent_type", "?"),
             broken_id=broken.get("id", "?"), broken_title=broken.get("title", "?"),
             broken_cause=broken.get("cause", "?"), broken_fix=broken.get("fix", "?"),
             found_by="; ".join(hop.facts.get("found_by", [])) or "?",
             late={"no_reply": "gives no reply", "late_reply": "answers late",
                   "error": "answers with an error"}[how])
    evidence = [_line(ev.get("agent.ping")), _line(ev.get("hop.calls")), _line(hop)]
    evidence += [f"{v['downstream']}: {e}" for e in broken.get("evidence", []) if e][:4]
    case = str(broken.get("status", "CRITICAL")).lower()
    return MODES["downstream-broken"].finding(v, evidence, checks, case if case in MODES["downstream-broken"].cases
                                              else None)
