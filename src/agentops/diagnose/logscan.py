"""The log evidence a message diagnosis needs, and no more: the records of the host and the owning worker
written while the diagnosis ran (read from the byte offsets noted at its start, so they are exactly the ones
it caused) and those of a recent window, reduced to signals such as "Agent echo not found" or "the handler's
traceback ends in ValueError: Unknown type NoneType".

Records are parsed by `agentops.logs.records` (the one parser of JSON lines, journald exports and plain text,
multi-line tracebacks included); this module only reads bounded byte ranges of the configured files and
reduces records to the diagnosis' signals. Plain lines without a timestamp count only when read from an offset
noted during this diagnosis, never as "recent history". Reads are bounded (the last MAX_BYTES of a range).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.format import utc_stamp
from agentops.core.model import Observation, Reason
from agentops.logs.classify import classify_text

MAX_BYTES = 4 * 1024 * 1024

_AGENT_NOT_FOUND = re.compile(r"Agent (?P<type>\S+) not found, failed to deliver message")
_TYPE_REMOVED = re.compile(r"Removing agent type (?P<type>\S+) from agent type to client id mapping")
_CLIENT_GONE = re.compile(r"Client (?P<client>\S+) disconnected")
_RECEIVED = re.compile(r"Processing request from .* to (?P<type>[^/\s]+)/(?P<key>\S+)")
_PROBE_HOLD = "agentops-hold-"  # the request id agentops' ownership check sends to a type it holds
_UNHANDLED = re.compile(r"Unhandled message: (?:UnknownPayload\(type_name='(?P<ptype>[^']*)')?")


@dataclass
class Signal:
    """One thing the logs say, in the diagnosis' vocabulary."""

    # agent-not-found | type-removed | client-disconnected | unhandled-message | exception:<classify kind>;
    # not failures: request-received (a worker took the request), agentops-probe (our own ownership check)
    kind: str
    file: str
    line: str  # the evidence line as quoted in the report
    timestamp: float | None = None
    agent_type: str | None = None
    request_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_records(path: Path, *, start: int | None = None, end: int | None = None, since: float | None = None,
                 max_bytes: int = MAX_BYTES, log_format: str | None = None) -> tuple[list[Any], str | None]:
    """Records (agentops.logs.records.Record, `source` = the path) between byte offsets `start` and `end`
    (default: the file's end). With `start`, every record (those written since the offset was noted); without
    it, the last `max_bytes` before `end`, keeping only timestamped records at or after `since`. Returns
    (records, problem) — a missing or unreadable file is a problem to report, not an exception. `log_format` is
    the target's declared format (see `parse`)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            stop = size if end is None else min(end, size)
            if start is not None and start > size:
                start = 0  # rotated or truncated since the offset was noted
            begin = max(start if start is not None else 0, stop - max_bytes)
            fh.seek(begin)
            data = fh.read(max(0, stop - begin))
    except OSError as exc:
        return [], f"{path}: {exc.strerror or exc}"
    if begin and begin != start:
        data = data[data.find(b"\n") + 1:] if b"\n" in data else b""  # the first line is cut in the middle
    records = parse(data, str(path), log_format)
    if start is None:
        records = [r for r in records if r.ts is not None and (since is None or r.ts >= since)]
    return records, None


def parse(data: bytes, source: str, log_format: str | None = None) -> list[Any]:
    """Split a byte range into records and parse each with the logs reader's parser. By the target's
    `log_format`: `json`, every line is one record (a line that is not a JSON object is one plain-text record,
    never glued to the next); `text`, a plain head with its continuation lines, and no line is read as JSON
    (a `{…}` line is text, e.g. a dumped payload); none given, each record is detected (a JSON line, or a plain
    head with its continuation lines)."""
    from agentops.logs.records import continuation_end, parse_json_line, parse_plain_lines, parse_record, record_end
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
        elif log_format == "text":
            end = size if nl < 0 else continuation_end(data, nl + 1, size, data[pos:nl])[0]
            record = parse_plain_lines(data[pos:end].decode("utf-8", "replace").rstrip("\n").split("\n"))
        else:
            end, _ = record_end(data, pos, size)
            record = parse_record(data[pos:end], stats)
        record.source = source
        records.append(record)
        pos = max(end, pos + 1)
    return records


def signals(records: list[Any]) -> list[Signal]:
    """What the records say, one Signal per meaningful record (INFO chatter is dropped)."""
    out: list[Signal] = []
    for r in records:
        agent_type = r.agent_type or None
        common = {"file": r.source, "timestamp": r.ts, "request_id": r.message_id or r.request_id or None}
        if m := _AGENT_NOT_FOUND.search(r.message):
            out.append(Signal("agent-not-found", line=r.message.strip(), agent_type=m["type"], **common))
        elif m := _TYPE_REMOVED.search(r.message):
            out.append(Signal("type-removed", line=r.message.strip(), agent_type=m["type"], **common))
        elif m := _CLIENT_GONE.search(r.message):
            out.append(Signal("client-disconnected", line=r.message.strip(), agent_type=agent_type,
                              detail={"client": m["client"]}, **common))
        elif m := _RECEIVED.search(r.message):
            out.append(Signal("request-received", line=r.message.strip()[:200], agent_type=m["type"],
                              detail={"key": m["key"]}, **common))
        elif _PROBE_HOLD in r.message:
            out.append(Signal("agentops-probe", line="agentops ownership check", **common))
        elif m := _UNHANDLED.search(r.message):
            out.append(Signal("unhandled-message", line=r.message.strip()[:200], agent_type=agent_type,
                              detail={"payload_type": m["ptype"]}, **common))
        elif r.exception or (r.level in ("ERROR", "CRITICAL") and _has_exception_line(r.message)):
            c = classify_text(r.exception or r.message)
            kind = c.kind
            if kind == "unknown-key" and "_process_response" in (r.exception or ""):
                kind = "request-id-collision"
            sig = Signal(f"exception:{kind}", line=r.cause[:300], agent_type=agent_type,
                         detail={"exception": c.exception, "message": c.message[:300], "cause": c.cause,
                                 "fix": c.fix}, **common)
            if kind == "request-id-collision":
                sig.request_id = c.message.strip("'\"")
            out.append(sig)
    return out


def _has_exception_line(text: str) -> bool:
    return bool(re.search(r"^[\w.]+(Error|Exception):", text, re.MULTILINE))


FAILURES = ("agent-not-found", "type-removed", "client-disconnected", "unhandled-message", "exception:")


def is_failure(signal: Signal) -> bool:
    return signal.kind.startswith(FAILURES)


def drop_probe_side_effects(found: list[Signal], window_s: float = 2.0) -> list[Signal]:
    """An ownership check of a free type makes the host log "Removing agent type X" when it lets the type go;
    that line is agentops' own doing, not a worker leaving. Drop such lines shortly after a probe's hold."""
    holds = [s.timestamp for s in found if s.kind == "agentops-probe" and s.timestamp is not None]
    out = []
    for s in found:
        if s.kind == "type-removed" and s.timestamp is not None and any(0 <= s.timestamp - h <= window_s
                                                                        for h in holds):
            continue
        out.append(s)
    return out


def about(signal: Signal, agent_type: str, request_id: str | None = None) -> bool:
    """Does this signal concern `agent_type` (or the given request)?"""
    if request_id and signal.request_id == request_id:
        return True
    return signal.agent_type == agent_type


def signal_dict(s: Signal) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": s.kind, "line": s.line, "file": s.file}
    if s.timestamp is not None:
        doc["at"] = _iso(s.timestamp)
    if s.request_id:
        doc["request_id"] = s.request_id
    if s.agent_type:
        doc["agent_type"] = s.agent_type
    for key in ("exception", "cause", "fix", "payload_type"):
        if s.detail.get(key):
            doc[key] = s.detail[key]
    return doc


def scan(files: list[Path], patterns: list[str], start_offsets: dict[str, int], *, since: float, agent_type: str,
         key: str | None = None, request_id: str | None = None, message_id: str | None = None,
         log_format: str | None = None) -> Observation:
    """One log layer: failures about `agent_type` (or the probe's request, or `message_id`) written since the
    offsets noted at the diagnosis' start, and in the window before (from `since`); request-id collisions
    always. Facts: `during_diagnosis`, `recent` (signal dicts), `probe_delivered` (a worker took the probe's
    request); a failure reason when any failure was found."""

    def relevant(sig: Signal, rid: str | None) -> bool:
        return is_failure(sig) and (about(sig, agent_type, rid) or sig.kind.endswith("request-id-collision"))

    during: list[dict[str, Any]] = []
    recent: list[dict[str, Any]] = []
    delivered = False
    problems = [] if files else [f"no file matches {', '.join(patterns)}"]
    for path in files:
        offset = start_offsets.get(str(path), 0)
        records, problem = read_records(path, start=offset, log_format=log_format)
        found = drop_probe_side_effects(signals(records))
        during += [signal_dict(s) for s in found if relevant(s, request_id)]
        delivered = delivered or any(s.kind == "request-received" and s.agent_type == agent_type
                                     and s.detail.get("key") == key for s in found)
        records, problem2 = read_records(path, end=offset, since=since, log_format=log_format)
        found = drop_probe_side_effects(signals(records))
        recent += [signal_dict(s) for s in found if relevant(s, message_id)]
        problems += [p for p in (problem, problem2) if p]
    facts: dict[str, Any] = {"during_diagnosis": during[-20:], "recent": recent[-20:],
                             "files": [str(p) for p in files], "window_since": _iso(since)}
    if key is not None:
        facts["probe_delivered"] = delivered
    if message_id:
        facts["message_id"] = message_id
    if problems:
        facts["problems"] = problems
    last = (during or recent)[-1]["line"] if during or recent else ""
    obs = Observation(metrics={"signals_during": float(len(during)), "signals_recent": float(len(recent))},
                      facts=facts,
                      message=f"{len(during)} failure(s) about {agent_type} during the diagnosis, {len(recent)} "
                              f"in the window" + (f"; last: {last}" if last else "")
                              + ("; the worker took the probe's request" if delivered else ""))
    if during or recent:
        obs.reason = Reason.ASSERTION
    elif problems and not files:
        obs.reason, obs.message = Reason.ASSERTION, "; ".join(problems)
    return obs


def _iso(epoch: float) -> str:
    return utc_stamp(epoch, timespec="seconds")
