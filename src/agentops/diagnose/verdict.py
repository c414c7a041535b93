"""From evidence to a verdict: which known failure mode (knowledge.MODES) the layers' results support.

The rules read only the judged results (their status, reason, message, metrics and facts), never the live
objects, so a verdict can be recomputed from a report's JSON, and tests can state "this evidence means that".
They follow the path of a message: a cause met earlier on the path wins (a host that does not answer hides
every worker problem behind it); later, independent problems become secondary findings.

A rule only proposes: its finding is given when its mode's declared evidence holds (`knowledge.FailureMode`
`requires` / `rules_out`, predicates in `evidence.py`); otherwise the next rule is tried, and when no rule's
finding is admitted the verdict is `unexplained`, naming what was considered and what would decide it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from agentops.core.model import Finding, Reason, Result, Status
from agentops.diagnose.engine import Evidence
from agentops.diagnose.evidence import PREDICATES, Admission, Subject, admission, ping_outcome, saturation, signals
from agentops.diagnose.hop_rule import downstream_broken
from agentops.diagnose.knowledge import MODES
from agentops.diagnose.rules_pod import POD_RULES
from agentops.diagnose.rules_start import start_failed, start_secondary
from agentops.logs.classify import classify_text

__all__ = ["FALLBACK", "RULES", "Subject", "admit", "diagnose", "line", "make_finding"]

FALLBACK = "unexplained"  # the verdict when no rule's finding has its mode's evidence
Rule = Callable[[Evidence, Subject, dict[str, Any], list[str]], Finding | None]


def make_finding(mode_id: str, values: dict[str, Any], evidence: list[str], checks: list[str],
                 case: str | None = None, judged: Status | None = None) -> Finding:
    """The mode's finding; `case` names how it showed, when the mode's severity depends on it (its table);
    `judged`: the status of the one judged check the finding rests on, which then decides."""
    return MODES[mode_id].finding(values, evidence, checks, case, judged)


def line(result: Result | None) -> str:
    """A result as an evidence line: "check: message"."""
    return f"{result.id}: {result.message}" if result is not None and result.message else ""


def log_lines(ev: Evidence, kinds: tuple[str, ...] | None = None, *, during_only: bool = False,
              limit: int = 3) -> list[str]:
    out = []
    for check_id, label in (("logs.host", "host log"), ("logs.worker", "worker log")):
        facts = ev.facts(check_id)
        for section in ("during_diagnosis",) if during_only else ("during_diagnosis", "recent"):
            for sig in facts.get(section, []):
                if kinds is None or sig["kind"] in kinds or any(sig["kind"].endswith(k) for k in kinds):
                    at = f" ({sig['at']})" if sig.get("at") else ""
                    out.append(f"{label}: {sig['line']}{at}")
    return list(dict.fromkeys(out))[-limit:]


def diagnose(ev: Evidence, s: Subject) -> list[Finding]:
    """The verdict first, then independent secondary findings."""
    checks = ev.ids()
    findings = [_verdict(ev, s, checks)]
    findings += _secondary(ev, s, checks, findings[0].id)
    return findings


def admit(finding: Finding, ev: Evidence, s: Subject | None) -> Admission:
    """Does the finding's mode have the evidence it declares (requires all, rules_out none)?"""
    m = MODES[finding.id]
    return admission(m.id, m.requires, m.rules_out, ev, s)


def _verdict(ev: Evidence, s: Subject, checks: list[str]) -> Finding:
    v: dict[str, Any] = {"to": f"{s.to_type}/{s.key}", "type": s.to_type, "address": s.address,
                         "hostname": s.address.rsplit(":", 1)[0], "payload_type": s.payload_type or "?",
                         "from_type": s.from_type or ""}
    refused: list[Admission] = []
    for rule in RULES:
        found = rule(ev, s, dict(v), checks)
        if found is None:
            continue
        verdict = admit(found, ev, s)
        if verdict.ok:
            # What was passed over, and why, is evidence too ("host-restarted considered, not seen: …").
            found.evidence += [a.summary() for a in refused]
            return found
        if found.id != "healthy":  # the last resort's refusal says nothing the others do not
            refused.append(verdict)
    return _unexplained(ev, s, dict(v), checks, refused)


def _unexplained(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str],
                 refused: list[Admission]) -> Finding:
    """No rule's finding has its evidence: say what was considered, what was not measured, what would decide."""
    ping = ev.get("agent.ping")
    outcome = ping_outcome(ping)
    v["what"] = {"no_reply": "no reply", "reply": "a late reply" if ping is not None and ping.status is not
                 Status.OK else "a reply", "error": "an error reply"}.get(outcome or "", "no verdict")
    unknown = list(dict.fromkeys(n for a in refused for n in a.unknown))
    unavailable = [u for check_id in ("logs.host", "logs.worker") for u in ev.facts(check_id).get("unavailable", [])]
    # A hop the host could not deliver while the probe was out: named, as the next thing to diagnose.
    others = ev.facts("logs.host").get("other_types_during_probe", [])
    hops = list(dict.fromkeys(o["agent_type"] for o in others))
    seen = [f"while the probe was out the host logged for {', '.join(hops)}: {others[-1]['line']}"] if hops else []
    v["detail"] = "; ".join([a.summary() for a in refused] + seen + unavailable) or "no rule matched the evidence"
    decide = [f"diagnose the downstream type: agentops diagnose message --to {t}" for t in hops[:3]]
    decide += [f"to measure {PREDICATES[n].says.split(' (')[0]}: {PREDICATES[n].decide}" for n in unknown]
    v["decide"] = ("; ".join(decide) if decide else
                   "re-run with a longer --deadline and look at the worker's own logs at the time of the ping")
    evidence = [line(ping), line(ev.get("worker.process")), line(ev.get("worker.metrics"))]
    evidence += [a.summary() for a in refused]
    return make_finding(FALLBACK, v, [e for e in evidence if e], checks)


# --------------------------------------------------------------------------------------------- the rules

def _network(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    dns, tcp = ev.get("agentrpc.dns"), ev.get("agentrpc.tcp")
    if dns is not None and dns.reason is not None:
        v["detail"] = dns.message
        return make_finding("dns", v, [line(dns)], checks)
    if tcp is None or tcp.reason is None:
        return None
    host_proc = ev.get("agentrpc.process")
    if tcp.reason is Reason.CONNECT and "refused" in tcp.message:
        return make_finding("host-down", v, [line(tcp), line(host_proc)], checks)
    if tcp.reason in (Reason.TIMEOUT, Reason.CONNECT):
        v["detail"] = tcp.message
        return make_finding("network", v, [line(tcp)], checks)
    return None


def _host(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    failed = next((r for r in (ev.get("agentrpc.channel"), ev.get("agentrpc.inventory"))
                   if r is not None and r.reason is not None), None)
    if failed is None:
        return None
    if failed.reason is Reason.PROTOCOL:
        v["detail"] = failed.message
        return make_finding("not-agentrpc", v, [line(failed)], checks)
    if failed.reason is Reason.DNS:
        v["detail"] = failed.message
        return make_finding("dns", v, [line(failed)], checks)
    proc = ev.get("agentrpc.process")
    if proc is not None and proc.facts.get("processes") and proc.reason is not None:
        pid = proc.facts["processes"][0]["pid"]
        v["host_state"] = f": its process {pid} is stopped"
        v["host_fix"] = (f"resume the host (kill -CONT {pid}) or restart it; after a restart, restart the workers "
                         f"too (they do not re-register)")
    else:
        v["host_state"] = ""
        v["host_fix"] = ("look at the host process (CPU, threads: py-spy dump --pid <pid>); restart it if it is "
                         "wedged, then restart the workers (they do not re-register)")
    return make_finding("host-unresponsive", v, [line(ev.get("agentrpc.tcp")), line(failed), line(proc)], checks)


def _too_large(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    payload = ev.get("message.payload")
    if payload is None or not payload.facts.get("too_large"):
        return None
    v.update(size=payload.facts.get("size_bytes"), limit=payload.facts.get("limit_bytes"))
    return make_finding("message-too-large", v, [line(payload), line(ev.get("agent.ping"))], checks)


def _collisions(ev: Evidence) -> list[dict[str, Any]]:
    return [sig for sig in signals(ev, "logs.host") if sig["kind"].endswith("request-id-collision")]


def _collision_finding(ev: Evidence, v: dict[str, Any], checks: list[str], case: str | None = None) -> Finding:
    found = _collisions(ev)
    v.update(count=len(found), rid=found[-1].get("request_id", "?") if found else "?")
    return make_finding("request-id-collision", v, log_lines(ev, ("request-id-collision",)), checks, case)


def _collision_asked(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    """The operator asks about a message id the host's log shows a collision for."""
    if s.message_id and any(sig.get("request_id") == s.message_id for sig in _collisions(ev)):
        return _collision_finding(ev, v, checks)
    return None


def _unowned(ev: Evidence, s: Subject) -> tuple[Result, str | None, dict[str, Any], list[str]] | None:
    """The type is not registered: (its registration, the configured owner, its cluster.workers row, the
    evidence lines), or None when it is."""
    reg = ev.get("agent.registration")
    if reg is None or reg.reason is None or reg.facts.get("owned", True):
        return None
    workers = ev.get("cluster.workers")
    proc = ev.get("worker.process")
    rows = {row["worker"]: row for row in (workers.facts if workers else {}).get("workers", [])}
    owner = proc.target if proc is not None else next(
        (name for name, row in rows.items() if s.to_type in row.get("agent_types", [])), None)
    evidence = [line(reg), line(proc), line(workers)]
    evidence += log_lines(ev, ("agent-not-found", "type-removed", "client-disconnected"))
    return reg, owner, rows.get(owner or "", {}), evidence


def _host_restarted(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    """The type's worker is alive with none of its types registered (an orphan). The mode requires the host's
    own start time after the worker's: an orphan alone may be a worker that never registered."""
    found = _unowned(ev, s)
    wfacts = ev.facts("cluster.workers")
    if found is None or not found[1] or found[1] not in wfacts.get("orphans", []):
        return None
    _, owner, row, evidence = found
    v.update(worker=owner, pid=row.get("pid"), expected=", ".join(row.get("agent_types", [])),
             orphans=", ".join(wfacts.get("orphans", [])),
             worker_since=f" since {row['started_at']}" if row.get("started_at") else "")
    host_started = wfacts.get("host_started_at")
    v["host_since"] = f" (the host process started at {host_started})" if host_started else ""
    if host_started and row.get("started_at"):  # the mode requires host > worker: else it is never given
        evidence.append(f"the host started at {host_started}, after worker {owner} ({row['started_at']})")
    return make_finding("host-restarted", v, evidence, checks)


def _registration(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    found = _unowned(ev, s)
    if found is None:
        return None
    _, owner, row, evidence = found
    proc = ev.get("worker.process")
    v["worker"] = owner or "?"
    if owner and (row.get("alive") is False or (proc is not None and not proc.facts.get("processes"))):
        v["detail"] = (proc.message if proc is not None else f"worker {owner} is not running")
        return make_finding("worker-dead", v, evidence, checks)
    registered = (ev.facts("agentrpc.inventory") or {}).get("agent_types", [])
    close = difflib.get_close_matches(s.to_type, registered, n=2)
    if owner and row.get("alive"):
        v["expected_note"] = f"; the config expects it on {owner}, which is running but did not register it"
        v["register_fix"] = (f"check that {owner} registers {s.to_type!r} (RoutedAgent.register(runtime, "
                             f"{s.to_type!r}, …)) and look at its start-up log; then restart {owner}")
    else:
        v["expected_note"] = "" if owner else "; no configured worker lists it"
        v["register_fix"] = (f"start the worker that hosts {s.to_type!r}, or fix the type name the sender uses"
                             + (f" (did you mean {' or '.join(close)}?)" if close else
                                f" (registered: {', '.join(registered[:10]) or 'none'})"))
    return make_finding("type-not-registered", v, evidence, checks)


def _worker_state(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    proc = ev.get("worker.process")
    if proc is None or proc.reason is None or proc.reason is Reason.CONNECT:
        return None
    f = proc.facts
    v["worker"] = proc.target
    if f.get("state") in ("T", "t"):
        stopped = f.get("stopped_for_s")
        v.update(pid=f.get("pid"), state=f["state"],
                 stopped_for=f", stopped {stopped:.0f} s ago" if isinstance(stopped, int | float) else
                 ", since an unknown time")
        evidence = [line(proc), line(ev.get("agent.ping")), line(ev.get("worker.metrics"))]
        return make_finding("worker-frozen", v, evidence, checks)
    if not f.get("processes") or not [p for p in f["processes"] if p.get("state") not in ("Z", "X")]:
        v["detail"] = proc.message
        return make_finding("worker-dead", v, [line(proc), *log_lines(ev, ("type-removed",))], checks)
    return None


def _ping(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    ping = ev.get("agent.ping")
    if ping is None:
        return None
    outcome = ping_outcome(ping)
    proc = ev.get("worker.process")
    v["worker"] = proc.target if proc is not None else "the owning worker"
    v["pid"] = (proc.facts.get("pid") if proc is not None else None) or "<pid>"
    if outcome == "error":
        error = ping.facts.get("error", "")
        v["error"] = error
        worker_exc = [sig for sig in signals(ev, "logs.worker", during_only=True)
                      if sig["kind"].startswith("exception:")]
        c = classify_text(worker_exc[-1]["line"]) if worker_exc else classify_text(error)
        v["error_cause"] = f"; {c.cause}" if c.known else ""
        v["error_fix"] = c.fix if c.known else (
            "fix the handler (its traceback is in the worker's log at the time of the ping), or handle this input")
        return make_finding("handler-raised", v, [line(ping), *log_lines(ev, ("exception:",), during_only=True)],
                            checks)
    if outcome == "connect_failed":
        v["detail"] = ping.message
        v["host_state"], v["host_fix"] = "", "re-run the diagnosis; if it persists, restart the host and workers"
        return make_finding("host-unresponsive", v, [line(ping)], checks)
    if outcome != "no_reply":
        return None
    return _no_reply(ev, s, v, checks, ping)


def _no_reply(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str], ping: Result) -> Finding | None:
    during = signals(ev, "logs.worker", during_only=True)
    kinds = [sig["kind"] for sig in during]
    base = [line(ping)]
    if "unhandled-message" in kinds:
        sig = next(x for x in during if x["kind"] == "unhandled-message")
        v["detail"] = f"the worker has no handler for {sig.get('payload_type') or v['payload_type']!r}"
        v["cause_detail"] = "'Unhandled message' in the worker's log"
        return make_finding("payload-invalid", v, base + log_lines(ev, ("unhandled-message",), during_only=True),
                            checks)
    for kind, detail in (("exception:payload-malformed", "the payload is not valid JSON"),
                         ("exception:payload-fields", "the payload's fields do not match the message class"),
                         ("exception:payload-type-unknown", "the agent has no handler for this payload type")):
        if kind in kinds:
            sig = during[kinds.index(kind)]
            v["detail"], v["cause_detail"] = detail, sig["line"]
            return make_finding("payload-invalid", v, base + log_lines(ev, (kind,), during_only=True), checks)
    for kind in ("exception:handler-returned-none", "exception:serializer-missing"):
        if kind in kinds:
            sig = during[kinds.index(kind)]
            v["detail"] = sig["line"]
            v["cause_detail"] = sig.get("cause", "")
            v["fix_detail"] = sig.get("fix", "")
            return make_finding("handler-no-reply", v, base + log_lines(ev, (kind,), during_only=True), checks)
    if any(sig["kind"] == "agent-not-found" for sig in signals(ev, "logs.host", during_only=True)):
        v.update(expected_note=" at the moment of the ping", worker=v["worker"],
                 register_fix=f"the type was dropped while the diagnosis ran: re-run it, and check {v['worker']}")
        return make_finding("type-not-registered", v, base + log_lines(ev, ("agent-not-found",), during_only=True),
                            checks)
    if any(sig["kind"].endswith("request-id-collision") for sig in signals(ev, "logs.host", during_only=True)):
        return _collision_finding(ev, v, checks)
    other = [sig for sig in during if sig["kind"].startswith("exception:")]
    if other:
        v["error"] = other[-1]["line"]
        c = classify_text(other[-1]["line"])
        v["error_cause"] = f"; {c.cause}" if c.known else ""
        v["error_fix"] = c.fix if c.known else "fix the error at the traceback's innermost frame in the worker"
        return make_finding("handler-raised", v, base + log_lines(ev, ("exception:",), during_only=True), checks)
    return _slow(ev, s, v, checks, ping, replied=False)


def _slow(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str], ping: Result,
          replied: bool) -> Finding:
    """The overload candidate: a late or missing reply. Its mode requires measured saturation (see
    `evidence.saturation`); without it the engine refuses it and names what was not measured."""
    timeout = ping.facts.get("timeout_s") or 0
    reasons = saturation(ev, s)
    v["detail"] = reasons[0][0] if reasons else (f"the round trip took {ping.metrics.get('rtt_ms', 0):.0f} ms"
                                                  if replied else "no reply")
    v["late"] = "came too late" if replied else f"did not come within the {timeout:.2g}s deadline"
    v["cause_detail"] = "; ".join(text for text, _ in reasons) or "nothing measured shows saturation"
    evidence = [line(ping)] + [line(r) for _, r in reasons if r is not None]
    return make_finding("overload", v, evidence, checks, "late_reply" if replied else "no_reply")


def _late(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    """A reply the agent.ping check judged slow (its rtt_ms rule in checks/diagnose.yaml): read, not re-decided."""
    ping = ev.get("agent.ping")
    if ping_outcome(ping) != "reply" or ping is None or ping.status is not Status.WARNING:
        return None
    return _slow(ev, s, v, checks, ping, replied=True)


def _sender(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    """With --from: a sender whose type is not registered cannot send (its worker is not connected)."""
    sender = ev.get("sender.registration")
    if sender is None or sender.reason is None or sender.facts.get("owned", True):
        return None
    worker = sender.facts.get("worker")
    v["sender_worker"] = f" {worker}" if worker else ""
    v["sender_note"] = f" (its worker {worker} is configured to own it)" if worker else ""
    return make_finding("sender-disconnected", v, [line(sender)], checks)


def _healthy(ev: Evidence, s: Subject, v: dict[str, Any], checks: list[str]) -> Finding | None:
    ping = ev.get("agent.ping")
    proc = ev.get("worker.process")
    replied = ping_outcome(ping) == "reply"
    if replied and ping is not None:
        v["rtt_ms"] = f"{ping.metrics.get('rtt_ms', 0):.1f}"
        v["replier"] = f"{s.to_type}/{s.key}" + (f" on {proc.target}" if proc is not None else "")
        evidence = [line(ev.get("agent.registration")), line(proc), line(ping)]
        return make_finding("healthy", v, evidence, checks)
    if ping is not None:
        # A ping went out and got no good reply, or the deadline left it no time: not health, whatever else
        # passed (the second needs a longer --deadline to decide: `unexplained` says so).
        return None
    # No ping was sent (no payload known): say what was and was not verified.
    v["rtt_ms"], v["replier"] = "?", "(no ping sent)"
    reg = ev.get("agent.registration")
    finding = make_finding("healthy", v, [line(reg), line(proc)], checks)
    running = proc is not None and proc.reason is None
    finding.title = (f"{s.to_type} is registered" + (f" and its worker {proc.target} runs" if running else "")
                     + "; the round trip was not tested (no payload)")
    finding.cause = ("the host is up and a worker owns the type" + ("" if running else " (its process was not "
                     "checked: see the notes)") + "; no message was sent, so the handler itself was not tested")
    finding.fix = ("configure a ping payload for the type (worker options.ping) or give --payload-type and "
                   "--payload to test the round trip")
    return finding


# Tried in order along the message's path; the first finding whose mode's evidence holds is the verdict.
# Another branch's rule (its own module) joins with one line here.
RULES: tuple[Rule, ...] = (_network, _host, _too_large, _collision_asked, _host_restarted,
                           start_failed, *POD_RULES, _registration, _worker_state, downstream_broken, _ping, _late,
                           _sender, _healthy)


def _secondary(ev: Evidence, s: Subject, checks: list[str], primary: str) -> list[Finding]:
    out = []
    v: dict[str, Any] = {"to": f"{s.to_type}/{s.key}", "type": s.to_type, "from_type": s.from_type or ""}
    if primary != "message-too-large":
        found = _too_large(ev, s, dict(v), checks)
        if found is not None:
            out.append(found)
    if primary != "request-id-collision" and _collisions(ev):
        out.append(_collision_finding(ev, dict(v), checks, "in_window"))
    if primary != "sender-disconnected":
        found = _sender(ev, s, dict(v), checks)
        if found is not None:
            out.append(found)
    out += start_secondary(ev, s, checks, primary)
    return [f for f in out if admit(f, ev, s).ok]
