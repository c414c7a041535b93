"""Running a bundle's collectors: all at once, each under its own timeout and the bundle's deadline, each
outcome recorded for the manifest (what ran, how long, which files, what failed and why). A collector that
hangs is cut off at its timeout and recorded as timed out; the others are not held up by it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentops.core.redact import redact

COLLECTED, FAILED, TIMED_OUT, SKIPPED = "collected", "failed", "timed-out", "skipped"


@dataclass
class Member:
    """One file of the archive, relative to its top directory."""

    path: str
    data: bytes


@dataclass
class Collected:
    members: list[Member] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, path: str, data: bytes | str) -> None:
        self.members.append(Member(path, data.encode() if isinstance(data, str) else data))


class CollectorFailed(Exception):
    """A collector could not collect (what it did collect is kept in `partial`)."""

    def __init__(self, message: str, partial: Collected | None = None) -> None:
        super().__init__(message)
        self.partial = partial or Collected()


@dataclass
class Collector:
    name: str  # "diagnose/echo": also where its files go
    what: str  # for --dry-run and the manifest
    files: list[str]  # the files it writes (some may be absent when there is nothing to write)
    timeout_s: float
    run: Callable[[float], Awaitable[Collected]]  # given its timeout, which its clients use as their deadline


@dataclass
class Outcome:
    name: str
    what: str
    outcome: str
    timeout_s: float
    duration_s: float = 0.0
    files: list[str] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "what": self.what, "outcome": self.outcome, "timeout_s": self.timeout_s,
                "duration_s": round(self.duration_s, 3), "files": self.files, "error": self.error,
                "notes": self.notes}


async def run_collector(c: Collector, deadline_at: float) -> tuple[Outcome, list[Member]]:
    timeout = max(0.0, min(c.timeout_s, deadline_at - time.monotonic()))
    out = Outcome(c.name, c.what, COLLECTED, round(timeout, 3))
    t0 = time.monotonic()
    got = Collected()
    try:
        async with asyncio.timeout(timeout):
            got = await c.run(timeout)
    except TimeoutError:
        out.outcome, out.error = TIMED_OUT, f"did not finish within its timeout ({timeout:.3g}s)"
    except CollectorFailed as exc:
        out.outcome, out.error, got = FAILED, _line(str(exc)), exc.partial
    except Exception as exc:  # one collector's bug or surprise must not lose the rest of the bundle
        out.outcome, out.error = FAILED, _line(f"{type(exc).__name__}: {exc}")
    out.duration_s = time.monotonic() - t0
    out.files = [m.path for m in got.members]
    out.notes = [_line(n) for n in got.notes]
    return out, got.members


async def run_collectors(collectors: list[Collector], deadline_s: float) -> list[tuple[Outcome, list[Member]]]:
    deadline_at = time.monotonic() + deadline_s
    return list(await asyncio.gather(*(run_collector(c, deadline_at) for c in collectors)))


def _line(text: str) -> str:
    lines = redact(text).strip().splitlines()
    return lines[0] if lines else "no message"
