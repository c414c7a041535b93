"""A bounded byte range of one log file, read into records: the one reader the diagnosis (diagnose/logscan.py,
its hops) and a worker's start evidence (logs/worker_start.py) share. The file's layout is the declared
`log_format` (json, text, a logging format string or a regex: core/logformat.py) or detected from its first
lines; each record is parsed by `agentops.logs.records`. Reads are bounded (the last MAX_BYTES of a range), and
a missing or unreadable file is a problem to report, not an exception."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, BinaryIO

MAX_BYTES = 4 * 1024 * 1024
DETECT_BYTES = 64 * 1024  # a file's layout is detected from its first lines


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_records(path: Path, *, start: int | None = None, end: int | None = None, since: float | None = None,
                 max_bytes: int = MAX_BYTES, log_format: str | None = None) -> tuple[list[Any], str | None]:
    """Records (agentops.logs.records.Record, `source` = the path, `offset` = where it starts in the file)
    between byte offsets `start` and `end` (default: the file's end). With `start`, every record (those written
    since the offset was noted); without it, the last `max_bytes` before `end`, keeping only timestamped
    records at or after `since`. Returns (records, problem) — a missing or unreadable file is a problem to
    report, not an exception. `log_format` is the target's declared format (see `parse`)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            stop = size if end is None else min(end, size)
            if start is not None and start > size:
                start = 0  # rotated or truncated since the offset was noted
            begin = max(start if start is not None else 0, stop - max_bytes)
            fh.seek(begin)
            data = fh.read(max(0, stop - begin))
            layout = _file_layout(fh, log_format, data if begin == 0 else b"")
    except OSError as exc:
        return [], f"{path}: {exc.strerror or exc}"
    if begin and begin != start:
        cut = data.find(b"\n") + 1 if b"\n" in data else len(data)  # the first line is cut in the middle
        data, begin = data[cut:], begin + cut
    records = parse(data, str(path), log_format, layout=layout, base=begin)
    if start is None:
        records = [r for r in records if r.ts is not None and (since is None or r.ts >= since)]
    return records, None


def _file_layout(fh: BinaryIO, log_format: str | None, head: bytes) -> re.Pattern[str] | None:
    """The file's plain-text layout: the declared one (a logging format string or regex), else the common
    layout its first lines are written in (detected per file, not per record: one layout's lines also match a
    looser one's)."""
    from agentops.core.logformat import compile_log_format
    from agentops.logs.records import detect_layout

    if log_format is not None:
        return compile_log_format(log_format).head
    if not head:
        fh.seek(0)
        head = fh.read(DETECT_BYTES)
    return detect_layout(head)


def parse(data: bytes, source: str, log_format: str | None = None, *, layout: re.Pattern[str] | None = None,
          base: int = 0) -> list[Any]:
    """Split a byte range into records and parse each with the logs reader's parser. By the target's
    `log_format`: `json`, every line is one record (a line that is not a JSON object is one plain-text record,
    never glued to the next); `text`, a plain head with its continuation lines, and no line is read as JSON
    (a `{…}` line is text, e.g. a dumped payload); a layout (`layout`: the declared logging format / regex, or
    the one detected for the file), a record is a line in that layout (or a bare AutoGen line) with the lines
    after it up to the next such line; none, each record is detected (a JSON line, or a plain head with its
    continuation lines). `base`: the range's offset in its file (each record's `offset`)."""
    from agentops.logs.records import (
        continuation_end,
        is_head,
        parse_json_line,
        parse_plain_lines,
        parse_record,
        record_end,
    )
    from agentops.logs.stats import InputStats

    stats = InputStats()  # bad-input counts are `agentops logs`' business; here a bad line is just skipped
    records = []
    pos, size = 0, len(data)
    while pos < size:
        if data[pos:pos + 1] in (b"\n", b"\r"):
            pos += 1
            continue
        nl = data.find(b"\n", pos)
        if log_format == "json":
            end = size if nl < 0 else nl + 1
            record = parse_json_line(data[pos:end].rstrip(b"\r\n"), stats)
        elif layout is not None and not (log_format is None and data.startswith(b"{", pos)):
            end = size if nl < 0 else nl + 1
            while end < size:
                nxt = data.find(b"\n", end)
                line = data[end:size if nxt < 0 else nxt].rstrip(b"\r")
                if line.strip() and is_head(line, layout):
                    break
                end = size if nxt < 0 else nxt + 1
            record = parse_plain_lines(data[pos:end].decode("utf-8", "replace").rstrip("\n").split("\n"),
                                       layout=layout)
        elif log_format == "text":
            end = size if nl < 0 else continuation_end(data, nl + 1, size, data[pos:nl])[0]
            record = parse_plain_lines(data[pos:end].decode("utf-8", "replace").rstrip("\n").split("\n"))
        else:
            end, _ = record_end(data, pos, size)
            record = parse_record(data[pos:end], stats)
        record.source = source
        record.offset = base + pos
        records.append(record)
        pos = max(end, pos + 1)
    return records
