"""The audit log: one JSON object per line in <state_dir>/audit.jsonl — when, which playbook and step, what
changed, the result. Redacted before it is written; appended with O_APPEND in one write per record so
concurrent writers (two different playbooks) never interleave within a line.

Records (all carry ts, run_id, playbook, event, check, pid, user, host):
    run.start   path, steps (planned step ids)
    change      step, kind, target, change (one line per change made, written before the next one is made;
                not in check mode)
    step        step, kind, target, outcome, status, reason, message, changes, changes_total, before, after,
                warnings, duration_s
    run.end     status, recap {ok, changed, skipped, failed, interrupted}, stopped_at, interrupted, duration_s
A run.start without a run.end means that run was killed (SIGKILL, power loss); its change records say what
it had done.

Durability: every record is one write(2), so it survives the process dying the instant after. run.start,
step and run.end records are also fdatasync'ed; change records at most once per SYNC_EVERY_S (a prune of
100,000 files must not wait for 100,000 disk flushes), so a power loss can lose the last second of them.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from agentops.core.redact import redact_obj

AUDIT_FILE = "audit.jsonl"
# Past this size the log is rotated once to audit.jsonl.1 at the start of a run (cron would grow it forever).
ROTATE_BYTES = 16 * 1024 * 1024
# Change records are flushed to disk at most this often (every other record always is): see the module doc.
SYNC_EVERY_S = 1.0


class AuditLog:
    def __init__(self, state_dir: Path, *, playbook: str, run_id: str, check: bool) -> None:
        self.path = state_dir / AUDIT_FILE
        self.base = {"run_id": run_id, "playbook": playbook, "check": check, "pid": os.getpid(),
                     "user": _user(), "host": socket.gethostname()}
        self._synced = time.monotonic()

    def rotate_if_large(self) -> None:
        try:
            if self.path.stat().st_size > ROTATE_BYTES:
                os.replace(self.path, self.path.with_name(AUDIT_FILE + ".1"))
        except FileNotFoundError:
            pass

    def write(self, event: str, **fields: Any) -> None:
        record = {"ts": dt.datetime.now().astimezone().isoformat(timespec="milliseconds"), "event": event,
                  **self.base, **fields}
        line = json.dumps(redact_obj(record), default=str, separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line.encode())
            now = time.monotonic()
            if event != "change" or now - self._synced >= SYNC_EVERY_S:
                os.fdatasync(fd)
                self._synced = now
        finally:
            os.close(fd)


def read_audit(state_dir: Path) -> list[dict[str, Any]]:
    """All records, oldest first (tests and `maintain` tooling; skips a torn last line)."""
    path = state_dir / AUDIT_FILE
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
