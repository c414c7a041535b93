"""heal's history: the maintenance audit log's format and writer (maintain/audit.py: one JSON object per line,
redacted, one write(2) each, fdatasync'ed), kept in its own directory <state_dir>/heal/ with its locks.

Records (all carry ts, run_id, playbook "heal", event, check (true for a plan), pid, user, host):
    run.start      apply, targets (worker names), runbooks (their files)
    attempt.start  target, mode, verdict, runbook           (an attempt: counted by the budget)
    step.start     target, step, kind, plan {action, why, to}   (written before acting)
    change         target, step, kind, change                   (one per change, as soon as it is made)
    step           target, step, kind, outcome, status, reason, message, changes, changes_total, before,
                   after, warnings, duration_s, verified, mode_after
    attempt.end    target, outcome (healed | failed | interrupted), mode_after, recovered_by
    run.end        status, recap {outcome: count}, duration_s, recovered_by
A run killed by SIGKILL leaves a run.start (and maybe an attempt.start) without its end; the next `heal
--apply` closes them (`recover`) with outcome interrupted before it acts, so the history always adds up and
the interrupted attempt still counts against the budget.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentops.maintain.audit import AUDIT_FILE, AuditLog, read_audit

PLAYBOOK = "heal"
HEAL_DIR = "heal"


def heal_dir(state_dir: Path) -> Path:
    return state_dir / HEAL_DIR


def history_file(state_dir: Path) -> Path:
    return heal_dir(state_dir) / AUDIT_FILE


def open_history(state_dir: Path, run_id: str, *, apply: bool) -> AuditLog:
    d = heal_dir(state_dir)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = AuditLog(d, playbook=PLAYBOOK, run_id=run_id, check=not apply)
    log.rotate_if_large()
    return log


def read_history(state_dir: Path) -> list[dict[str, Any]]:
    return read_audit(heal_dir(state_dir))


def record_time(rec: dict[str, Any]) -> float:
    try:
        return dt.datetime.fromisoformat(str(rec.get("ts"))).timestamp()
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Attempt:
    run_id: str
    target: str
    mode: str
    at: float  # unix time of its attempt.start
    outcome: str | None  # None while (or if killed while) running


def attempts(records: Iterable[dict[str, Any]], target: str, since: float) -> list[Attempt]:
    """The applied attempts on `target` that started at or after `since`, oldest first."""
    started: dict[str, dict[str, Any]] = {}
    ended: dict[str, str] = {}
    for rec in records:
        if rec.get("target") != target or rec.get("check"):
            continue
        if rec.get("event") == "attempt.start":
            started[str(rec.get("run_id"))] = rec
        elif rec.get("event") == "attempt.end":
            ended[str(rec.get("run_id"))] = str(rec.get("outcome"))
    out = [Attempt(run_id=rid, target=target, mode=str(rec.get("mode")), at=record_time(rec),
                   outcome=ended.get(rid)) for rid, rec in started.items()]
    return sorted((a for a in out if a.at >= since), key=lambda a: a.at)


def unfinished(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """run.start records of applied runs with no run.end whose process is gone (killed): a live one is
    another heal still running and is left alone."""
    starts: dict[str, dict[str, Any]] = {}
    for rec in records:
        rid = str(rec.get("run_id"))
        if rec.get("event") == "run.start" and not rec.get("check"):
            starts[rid] = rec
        elif rec.get("event") == "run.end":
            starts.pop(rid, None)
    return [rec for rec in starts.values() if not _alive(rec)]


def open_attempts(records: Iterable[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    started: dict[str, dict[str, Any]] = {}
    for rec in records:
        if str(rec.get("run_id")) != run_id:
            continue
        if rec.get("event") == "attempt.start":
            started[str(rec.get("target"))] = rec
        elif rec.get("event") == "attempt.end":
            started.pop(str(rec.get("target")), None)
    return list(started.values())


def recover(log: AuditLog, records: list[dict[str, Any]], run_id: str) -> list[str]:
    """Close every killed run's open attempts and the run itself (outcome interrupted), in this run's name;
    the killed run's ids of the records written."""
    closed = []
    for start in unfinished(records):
        rid = str(start.get("run_id"))
        for att in open_attempts(records, rid):
            log.write("attempt.end", run_id=rid, target=att.get("target"), outcome="interrupted",
                      mode_after=None, recovered_by=run_id)
        log.write("run.end", run_id=rid, status="INTERRUPTED", recap={"interrupted": 1}, duration_s=None,
                  recovered_by=run_id)
        closed.append(rid)
    return closed


def _alive(rec: dict[str, Any]) -> bool:
    import socket

    pid = rec.get("pid")
    if rec.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False  # another machine's run cannot be checked; a stale start is closed rather than kept open
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def history_rows(records: Iterable[dict[str, Any]], *, target: str | None = None) -> list[dict[str, Any]]:
    """One row per applied attempt, oldest first: when, run, target, the verdict's mode, each step (its
    outcome and whether the diagnosis verified it), the attempt's outcome (open: killed and not yet closed)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        if rec.get("check"):
            continue
        key = (str(rec.get("run_id")), str(rec.get("target")))
        event = rec.get("event")
        if event == "attempt.start" and (target is None or rec.get("target") == target):
            rows[key] = {"ts": rec.get("ts"), "run_id": key[0], "target": key[1], "mode": rec.get("mode"),
                         "steps": [], "outcome": None, "mode_after": None, "recovered_by": None}
        elif key in rows and event == "step":
            rows[key]["steps"].append({"step": rec.get("step"), "kind": rec.get("kind"),
                                       "outcome": rec.get("outcome"), "verified": rec.get("verified"),
                                       "message": rec.get("message")})
        elif key in rows and event == "attempt.end":
            rows[key].update(outcome=rec.get("outcome"), mode_after=rec.get("mode_after"),
                             recovered_by=rec.get("recovered_by"))
    return list(rows.values())
