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
from typing import Any, Protocol

from agentops.core.format import utc_stamp
from agentops.core.model import Observation, Reason
from agentops.logs.classify import classify_text
from agentops.logs.ranges import read_records, size_of

_AGENT_NOT_FOUND = re.compile(r"Agent (?P<type>\S+) not found, failed to deliver message|"
                             r"Agent client id not found for agent type (?P<type2>[^\s.]+)|"
                             r"Agent (?P<type3>\S+) and its client not found for topic")
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
    offset: int = 0  # where its record starts in the file: after the probe's offset, it was written during it
    attributed_by: str = ""  # how it was tied to a type: agent id | the type named in the text | request id | …


# Where an agent type or a request id is named in AutoGen's text: AgentId reprs, protobuf dumps of a request
# (`target { type: "echo" … }`, `request_id: "7"`), "… to echo/key", "agent type echo".
_TYPE_IN_TEXT = (re.compile(r"AgentId\(type='(?P<type>[^']+)'"),
                 re.compile(r"\btarget \{\s*type: \"(?P<type>[^\"]+)\""),
                 re.compile(r"\bto (?P<type>[\w.:-]+)/\S"),
                 re.compile(r"\b[Aa]gent type '?(?P<type>[\w.:-]+?)'?(?:[\s.,]|$)"))
_RID_IN_TEXT = re.compile(r"\brequest_id[\"']?\s*[:=]\s*[\"']?(?P<rid>[\w.-]+)")
# AutoGen's own records that report a failure without a traceback of ours to classify, by logger and text.
AUTOGEN_LOGGERS = ("autogen_core", "autogen_ext", "asyncio", "grpc", "root")
# grpc's own servicer errors (grpc._cython.cygrpc, grpc._server) around the host's AgentRpc methods too.
_AUTOGEN_FAILURE = re.compile(r"^(?:Exception in callback |Task exception was never retrieved|Error in read loop|"
                              r"Error in background task|Error handling event|Failed to get message from send queue|"
                              r"Failed to send message|Unexpected \[\w+\] raised by servicer method|"
                              r"Exception not handled by _handle_exceptions in servicer method|"
                              r"ExecuteBatchError raised in core by servicer method|Exception calling application)")


def type_named(text: str) -> str | None:
    """The agent type a record's text names, if any (the first of _TYPE_IN_TEXT's places)."""
    for rx in _TYPE_IN_TEXT:
        if m := rx.search(text):
            return m["type"]
    return None


def request_id_named(text: str) -> str | None:
    m = _RID_IN_TEXT.search(text)
    return m["rid"] if m else None


def signals(records: list[Any]) -> list[Signal]:
    """What the records say, one Signal per meaningful record (INFO chatter is dropped). A signal's agent
    type is the record's agent id field, else the type its text names; its request id likewise."""
    from agentops.logs.records import LEVEL_NO

    warning = LEVEL_NO["WARNING"]
    out: list[Signal] = []
    for r in records:
        named, how, rid = r.agent_type or None, "agent id" if r.agent_type else "", r.message_id or r.request_id
        if r.level_no >= warning or r.exception or not r.level:  # INFO chatter is no signal: its text not read
            text = f"{r.message}\n{r.exception}" if r.exception else r.message
            if named is None and (named := type_named(text)) is not None:
                how = "the type named in the text"
            rid = rid or request_id_named(text)
        common = {"file": r.source, "timestamp": r.ts, "request_id": rid or None, "offset": r.offset,
                  "attributed_by": how}
        if m := _AGENT_NOT_FOUND.search(r.message):
            common["attributed_by"] = "the type named in the text"
            out.append(Signal("agent-not-found", line=r.message.strip(),
                              agent_type=m["type"] or m["type2"] or m["type3"], **common))
        elif m := _TYPE_REMOVED.search(r.message):
            common["attributed_by"] = "the type named in the text"
            out.append(Signal("type-removed", line=r.message.strip(), agent_type=m["type"], **common))
        elif m := _CLIENT_GONE.search(r.message):
            out.append(Signal("client-disconnected", line=r.message.strip(), agent_type=named,
                              detail={"client": m["client"]}, **common))
        elif m := _RECEIVED.search(r.message):
            out.append(Signal("request-received", line=r.message.strip()[:200], agent_type=m["type"],
                              detail={"key": m["key"]}, **common))
        elif _PROBE_HOLD in r.message:
            out.append(Signal("agentops-probe", line="agentops ownership check", **common))
        elif m := _UNHANDLED.search(r.message):
            out.append(Signal("unhandled-message", line=r.message.strip()[:200], agent_type=named,
                              detail={"payload_type": m["ptype"]}, **common))
        elif r.exception or (r.level in ("ERROR", "CRITICAL") and (_has_exception_line(r.message)
                                                                   or _AUTOGEN_FAILURE.match(r.message))):
            c = classify_text(r.exception or r.message)
            kind = c.kind
            if kind == "unknown-key" and "_process_response" in (r.exception or ""):
                kind = "request-id-collision"
            sig = Signal(f"exception:{kind}", line=r.cause[:300], agent_type=named,
                         detail={"exception": c.exception, "message": c.message[:300], "cause": c.cause,
                                 "fix": c.fix, "logger": r.logger}, **common)
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


class LogAccess(Protocol):
    """Where a log's bytes are: this machine's files (LOCAL), or a node's (diagnose/node_layer.py)."""

    def size(self, path: Path) -> int: ...

    def read(self, path: Path, *, start: int | None = None, end: int | None = None, since: float | None = None,
             log_format: str | None = None) -> tuple[list[Any], str | None]: ...


class LocalLogs:
    def size(self, path: Path) -> int:
        return size_of(path)

    def read(self, path: Path, *, start: int | None = None, end: int | None = None, since: float | None = None,
             log_format: str | None = None) -> tuple[list[Any], str | None]:
        return read_records(path, start=start, end=end, since=since, log_format=log_format)


LOCAL = LocalLogs()

WORKER, HOST = "worker", "host"  # the role of a log: the owning worker's, or the AgentRpc host's


def attribute(signal: Signal, agent_type: str, request_id: str | None = None, *, role: str = WORKER,
              probe_offset: int | None = None) -> str | None:
    """How this signal concerns `agent_type` (or the given request), or None when it does not. A record
    that names no type, in the log of the worker that owns `agent_type` and written after the probe was sent
    (`probe_offset`), concerns the probe: the diagnosis sent that worker nothing else. A host's record that
    names nothing is about no type in particular."""
    if request_id and signal.request_id == request_id:
        return "request id"
    if signal.agent_type == agent_type:
        return signal.attributed_by or "agent id"
    if (signal.agent_type is None and role == WORKER and probe_offset is not None
            and signal.offset >= probe_offset and is_failure(signal)):
        return "written in the owning worker's log during the probe"
    return None


def fatal_signal(records: list[Any], agent_type: str, key: str, *, role: str, probe_offset: int) -> Signal | None:
    """The first record written since the probe (`probe_offset`) proving its message failed: no reply can come.
    A record names the probe's agent ("type/key"), or only the type (the host's "Agent X not found"), or
    nothing: then its text may name the type, and in the owner's log it was written during the probe
    (`attribute`), which is what ties a bare asyncio traceback to this message."""
    probe_agent = f"{agent_type}/{key}"
    ours = [r for r in records if r.agent_id in ("", probe_agent, agent_type)]
    for sig in signals(ours):
        fatal = sig.kind in ("agent-not-found", "unhandled-message") or sig.kind.startswith("exception:")
        if fatal and attribute(sig, agent_type, role=role, probe_offset=probe_offset):
            return sig
    return None


def about(signal: Signal, agent_type: str, request_id: str | None = None) -> bool:
    """Does this signal concern `agent_type` (or the given request)?"""
    return attribute(signal, agent_type, request_id) is not None


def signal_dict(s: Signal) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": s.kind, "line": s.line, "file": s.file}
    if s.timestamp is not None:
        doc["at"] = _iso(s.timestamp)
    if s.request_id:
        doc["request_id"] = s.request_id
    if s.agent_type:
        doc["agent_type"] = s.agent_type
    if s.attributed_by:
        doc["attributed_by"] = s.attributed_by
    for key in ("exception", "cause", "fix", "payload_type"):
        if s.detail.get(key):
            doc[key] = s.detail[key]
    return doc


LEVEL_BYTES = 256 * 1024  # what the log level of a file is read from: its last records
# What a log set above INFO cannot show, by role: AutoGen writes these at INFO.
_INFO_ONLY = {WORKER: "'Processing request … to {to}' (whether the worker took the probe's request)",
              HOST: "'Removing agent type …' (a worker leaving the host)"}


def lowest_level(path: Path, log_format: str | None = None, logs: LogAccess = LOCAL) -> tuple[int, int]:
    """(records read, the lowest level number among those that carry one; 0 when none does) over the file's
    last LEVEL_BYTES: what its logging configuration lets through."""
    records, _ = logs.read(path, start=max(0, logs.size(path) - LEVEL_BYTES), log_format=log_format)
    levels = [r.level_no for r in records if r.level_no]
    return len(records), min(levels, default=0)


def unavailable(path: Path, role: str, to: str, log_format: str | None = None, logs: LogAccess = LOCAL) -> list[str]:
    """What this log cannot show, read from what it holds: nothing at all, or only WARNING and above (so
    AutoGen's INFO records, which some verdicts rest on, cannot appear)."""
    from agentops.logs.records import LEVEL_NO

    count, lowest = lowest_level(path, log_format, logs)
    if count == 0:
        return [f"{path} holds no records (its log level is above INFO, nothing was logged yet, or the process "
                f"logs elsewhere): {_INFO_ONLY[role].format(to=to)} cannot appear in it"]
    if lowest >= LEVEL_NO["WARNING"]:
        name = next(k for k, v in LEVEL_NO.items() if v == lowest)
        return [f"{path} holds no record below {name} (its log level is above INFO): "
                f"{_INFO_ONLY[role].format(to=to)} cannot appear in it"]
    return []


def scan(files: list[Path], patterns: list[str], start_offsets: dict[str, int], *, since: float, agent_type: str,
         key: str | None = None, request_id: str | None = None, message_id: str | None = None,
         log_format: str | None = None, role: str = WORKER,
         probe_offsets: dict[str, int] | None = None, logs: LogAccess = LOCAL) -> Observation:
    """One log layer: failures about `agent_type` (or the probe's request, or `message_id`) written since the
    offsets noted at the diagnosis' start, and in the window before (from `since`); request-id collisions
    always. `role` and `probe_offsets` (where each file ended when the probe was sent) attribute records that
    name no type (see `attribute`). Facts: `during_diagnosis`, `recent` (signal dicts, each saying how it was
    attributed), `probe_delivered` (a worker took the probe's request; None when its log cannot show it),
    `unavailable` (what the logs cannot show, and why), `other_types_during_probe` (the host's failures about
    other types after the probe was sent: the diagnosed agent may be waiting on one of them); a failure reason
    when any failure about the type was found."""

    def relevant(sig: Signal, rid: str | None, probe_offset: int | None) -> bool:
        if not is_failure(sig):
            return False
        if sig.kind.endswith("request-id-collision"):
            return True
        how = attribute(sig, agent_type, rid, role=role, probe_offset=probe_offset)
        if how is None:
            return False
        sig.agent_type, sig.attributed_by = sig.agent_type or agent_type, how
        return True

    during: list[dict[str, Any]] = []
    recent: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []  # the host's failures about OTHER types while the probe was out: a hop
    delivered = False
    problems = [] if files else [f"no file matches {', '.join(patterns)}"]
    missing: list[str] = list(problems)
    for path in files:
        offset = start_offsets.get(str(path), 0)
        probe_offset = (probe_offsets or {}).get(str(path))
        records, problem = logs.read(path, start=offset, log_format=log_format)
        found = drop_probe_side_effects(signals(records))
        during += [signal_dict(s) for s in found if relevant(s, request_id, probe_offset)]
        if role == HOST and probe_offset is not None:
            others += [signal_dict(s) for s in found if is_failure(s) and s.agent_type not in (None, agent_type)
                       and s.offset >= probe_offset]
        delivered = delivered or any(s.kind == "request-received" and s.agent_type == agent_type
                                     and s.detail.get("key") == key for s in found)
        records, problem2 = logs.read(path, end=offset, since=since, log_format=log_format)
        found = drop_probe_side_effects(signals(records))
        recent += [signal_dict(s) for s in found if relevant(s, message_id, None)]
        problems += [p for p in (problem, problem2) if p]
        if problem is None:
            missing += unavailable(path, role, f"{agent_type}/{key or '…'}", log_format, logs)
    missing += [f"log file {p}" for p in dict.fromkeys(problems) if not p.startswith("no file matches")]
    facts: dict[str, Any] = {"during_diagnosis": during[-20:], "recent": recent[-20:],
                             "files": [str(p) for p in files], "window_since": _iso(since)}
    if key is not None:
        # A worker log that cannot hold the INFO line leaves "did the worker take it?" open, not "no".
        blind = role == WORKER and any("cannot appear" in u for u in missing)
        facts["probe_delivered"] = True if delivered else (None if blind or not files else False)
    if others:
        facts["other_types_during_probe"] = others[-10:]
    if message_id:
        facts["message_id"] = message_id
    if problems:
        facts["problems"] = problems
    if missing:
        facts["unavailable"] = list(dict.fromkeys(missing))
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
