"""One run of a playbook at a time: an flock(2) on <state_dir>/locks/<playbook>.lock.

flock is released by the kernel when the holder dies, even by SIGKILL, so there is no stale lock to clean
up; the file's content (who holds it, since when) is only there to tell the next run whom it waits for.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

POLL_S = 0.2


class LockBusy(Exception):
    def __init__(self, playbook: str, holder: dict[str, Any], waited: float) -> None:
        self.playbook = playbook
        self.holder = holder
        self.waited = waited
        since = holder.get("since", "an unknown time")
        pid = holder.get("pid", "?")
        tail = f" (waited {waited:g}s)" if waited else ""
        super().__init__(f"another run of {playbook} holds the lock since {since} (pid {pid}){tail}")


class PlaybookLock:
    def __init__(self, state_dir: Path, playbook: str) -> None:
        self.playbook = playbook
        self.path = state_dir / "locks" / f"{_safe(playbook)}.lock"
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0, run_id: str = "") -> None:
        """Take the lock, polling up to `wait` seconds; LockBusy names the holder if it stays taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait:
                    holder = self.holder()
                    os.close(fd)
                    raise LockBusy(self.playbook, holder, round(wait, 3)) from None
                time.sleep(min(POLL_S, max(0.01, wait - waited)))
        self._fd = fd
        record = {"pid": os.getpid(), "since": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "host": socket.gethostname(), "playbook": self.playbook, "run_id": run_id}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)

    def holder(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}  # being rewritten by the new holder this instant
        return data if isinstance(data, dict) else {}

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> PlaybookLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "playbook"
