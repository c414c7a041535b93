"""The undelivered requests in a bounded, incremental read of one log: the `LogReader` serve is handed by the
CLI (agentops.serve.undelivered). Records come from agentops.logs (logs/ranges.read_records: the one parser)
and are reduced by the diagnosis' own signals (diagnose/logscan.signals), so `serve` and `diagnose` read the
same line the same way; this module only chooses which signals are an undelivered request, and of what kind.

A read ends at the last complete line within its budget: a line still being written is read next cycle, whole."""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

from agentops.diagnose.logscan import signals
from agentops.logs.ranges import read_records
from agentops.serve.undelivered import LogChunk

TAIL_PROBE = 64 * 1024  # how far back from the budget's end the last newline is looked for

# logscan's `agent-not-found` signal covers three host lines (autogen-protocol.md); each is its own kind here.
_KIND_OF_NOT_FOUND = ((re.compile(r"failed to deliver message"), "agent_not_found"),
                      (re.compile(r"Agent client id not found"), "client_not_found"),
                      (re.compile(r"not found for topic"), "subscriber_not_found"))
UNKNOWN_TYPE = "_unknown"  # an unhandled message whose record names no agent type


def read_undelivered(path: Path, offset: int | None, max_bytes: int, log_format: str | None) -> LogChunk:
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            if offset is None:
                return LogChunk({}, size, size)  # first sight: count from now on
            if offset > size:
                offset = 0  # rotated or truncated
            stop = min(size, offset + max_bytes)
            end = _last_line_end(fh, offset, stop)
    except OSError as exc:
        return LogChunk({}, offset or 0, 0, f"{path}: {exc.strerror or exc}")
    if end <= offset:
        # No complete line within the budget: a line longer than the budget is skipped (never read whole),
        # a line still being written waits for its newline.
        return LogChunk({}, stop if stop - offset >= max_bytes else offset, size)
    records, problem = read_records(path, start=offset, end=end, max_bytes=max(max_bytes, end - offset),
                                    log_format=log_format)
    if problem is not None:
        return LogChunk({}, offset, size, problem)
    counts: dict[tuple[str, str], int] = {}
    for sig in signals(records):
        kind = None
        if sig.kind == "agent-not-found":
            kind = next((k for rx, k in _KIND_OF_NOT_FOUND if rx.search(sig.line)), "agent_not_found")
        elif sig.kind == "unhandled-message":
            kind = "unhandled_message"
        if kind is not None:
            key = (sig.agent_type or UNKNOWN_TYPE, kind)
            counts[key] = counts.get(key, 0) + 1
    return LogChunk(counts, end, size)


def _last_line_end(fh: BinaryIO, start: int, stop: int) -> int:
    """The offset just after the last newline in [start, stop), or `start` when there is none."""
    pos = stop
    while pos > start:
        begin = max(start, pos - TAIL_PROBE)
        fh.seek(begin)
        data = fh.read(pos - begin)
        nl = data.rfind(b"\n")
        if nl >= 0:
            return begin + nl + 1
        pos = begin
    return start
