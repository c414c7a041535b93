"""`agentops logs trace ID`: every record of one message — by message_id, trace_id or AutoGen request id —
across files and components, in time order, as hops with the time between them, and where the trail stops.

AutoGen request ids are per-process counters ("1", "2", …), so a short id is matched only as a whole field
value or as the `request_id: "N"` of the host's dump of a request, never as a digit inside other text; when it
leads to several traces, the report says so and names them (trace one of those instead). The W3C trace id
(32 hex digits) the lab writes on every record is unique and the best thing to trace.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from agentops.core.config import Config
from agentops.core.model import Observation, Reason, Report, Result
from agentops.core.packs import command_specs
from agentops.core.runner import judge
from agentops.logs.analyze import input_result, notes
from agentops.logs.clock import iso, now_iso
from agentops.logs.query import ID, Filters, plan
from agentops.logs.reader import Source, read_chunks
from agentops.logs.records import LEVEL_NO, Record, first_line, parse_record
from agentops.logs.scan import PARALLEL_MIN, Dialect, NeedleGroup, ScanPlan, scan
from agentops.logs.stats import InputStats

MAX_HOPS = 10000
SHORT_ID = 8  # ids shorter than this are matched only as whole values
_TARGET = re.compile(r'target \{\s*type: "([^"]+)"(?:\s*key: "([^"]*)")?')
_TRACEPARENT = re.compile(r"\b00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b")
# An RpcResponse carrying the handler's exception text back to the caller (host and worker dumps).
_RESPONSE_ERROR = re.compile(r'response \{.*?\berror: "((?:[^"\\]|\\.)*)"', re.DOTALL)


def id_needles(ident: str) -> tuple[bytes, ...]:
    raw = ident.encode("utf-8")
    if len(ident) >= SHORT_ID:
        return (raw,)
    # As a JSON value, in a plain-text dump of a request, and in that dump inside a JSON message (escaped).
    return (b'"' + raw + b'"', b'request_id: "' + raw + b'"', b'request_id: \\"' + raw + b'\\"')


def matched_by(rec: Record, ident: str) -> str | None:
    """How a record refers to the id, or None if it does not."""
    for name in ("message_id", "trace_id", "request_id"):
        if getattr(rec, name) == ident:
            return name
    if f'request_id: "{ident}"' in rec.message:
        return "request_id"
    if len(ident) >= SHORT_ID and (ident in rec.message or ident in rec.exception or ident in rec.agent_id):
        m = _TRACEPARENT.search(rec.message)
        return "traceparent" if m and m.group(1) == ident else "text"
    return None


def trace_of(rec: Record) -> str:
    """The W3C trace id a record belongs to: its field, or the traceparent in a host's dump of the request."""
    if rec.trace_id:
        return rec.trace_id
    m = _TRACEPARENT.search(rec.message) if "traceparent" in rec.message else None
    return m.group(1) if m else ""


class Tracer:
    def __init__(self, ident: str, filters: Filters) -> None:
        self.ident = ident
        self.filters = filters
        self.hits: list[tuple[Record, str]] = []
        self.dropped = 0
        self.stats = InputStats()

    # -- Sink
    def needles(self, dialect: Dialect) -> list[NeedleGroup]:
        return [NeedleGroup(ID, id_needles(self.ident))]

    def total(self, records: int, source: Source) -> None:
        pass

    def times(self, first: float | None, last: float | None) -> None:
        pass

    def record(self, raw: bytes, flags: int, source: Source, offset: int) -> None:
        rec = parse_record(raw, self.stats, source.component)
        rec.source, rec.offset = source.name, offset
        how = matched_by(rec, self.ident)
        if how is None or not self.filters.match(rec):
            return
        if len(self.hits) < MAX_HOPS:
            self.hits.append((rec, how))
        else:
            self.dropped += 1

    def fresh(self) -> Tracer:
        return Tracer(self.ident, self.filters)

    def merge(self, other: Tracer) -> None:
        room = MAX_HOPS - len(self.hits)
        self.hits.extend(other.hits[:room])
        self.dropped += other.dropped + max(0, len(other.hits) - room)
        self.stats.merge(other.stats)


def run(ident: str, sources: list[Source], filters: Filters, stats: InputStats,
        journal_args: list[str] | None = None, jobs: int = 1, parallel_min: int = PARALLEL_MIN,
        cfg: Config | None = None) -> Report:
    started_at, t0 = now_iso(), time.perf_counter()
    tracer = Tracer(ident, filters)

    def plan_for(source: Source) -> ScanPlan:
        return plan(filters, source, count_records=False, account_lines=False)

    scan(sources, stats, plan_for, tracer, journal_args, jobs=jobs, parallel_min=parallel_min)
    stats.merge(tracer.stats)
    lines = line_numbers(sources, tracer.hits)
    data = trail(ident, tracer.hits, lines)
    data["dropped_hops"] = tracer.dropped
    data["inputs"] = stats.to_dict()
    data["bad_input"] = stats.bad_input()
    report = Report(kind="logs.trace", started_at=started_at, duration_s=time.perf_counter() - t0,
                    results=[input_result(stats, cfg), _verdict(ident, data, stats, cfg)], data=data)
    report.notes.extend(notes(stats))
    return report


def line_numbers(sources: list[Source], hits: list[tuple[Record, str]]) -> dict[tuple[str, int], int]:
    """The line number of each hit, by (source name, byte offset): each file holding a hit is read again up
    to its last hit, counting newlines at memory speed, so the scan itself never counts lines (most of what it
    reads matches nothing). stdin and the journal cannot be read again: their hits have none."""
    wanted: dict[str, list[int]] = {}
    for rec, _ in hits:
        wanted.setdefault(rec.source, []).append(rec.offset)
    found: dict[tuple[str, int], int] = {}
    for source in sources:
        if source.kind != "file" or source.name not in wanted:
            continue
        offsets = sorted(set(wanted[source.name]), reverse=True)  # popped from the end: smallest first
        before = 0  # lines that end before the chunk
        for chunk in read_chunks(source, InputStats()):
            size = chunk.end - chunk.start
            while offsets and offsets[-1] < chunk.offset + size:
                at = offsets.pop()
                found[(source.name, at)] = before + 1 + chunk.buf.count(b"\n", chunk.start,
                                                                         chunk.start + max(0, at - chunk.offset))
            if not offsets:
                break
            # An oversized line's chunk is its head alone, without the newline: it still is one line.
            before += chunk.buf.count(b"\n", chunk.start, chunk.end) + (chunk.cut == "oversized")
    return found


def trail(ident: str, hits: list[tuple[Record, str]],
          lines: dict[tuple[str, int], int] | None = None) -> dict[str, Any]:
    """The hops in time order (records without a time keep their place in their file, after the timed ones),
    the time between them, and the last component that saw the message. `lines`: line numbers by (source,
    byte offset), from line_numbers()."""
    ordered = sorted(hits, key=lambda h: (h[0].ts is None, h[0].ts or 0.0, h[0].source, h[0].offset))
    hops = []
    prev_ts: float | None = None
    for rec, how in ordered:
        gap = None if rec.ts is None or prev_ts is None else round((rec.ts - prev_ts) * 1000.0, 3)
        hop = {
            "at": iso(rec.ts), "since_previous_ms": gap, "component": rec.component, "source": rec.source,
            "line": (lines or {}).get((rec.source, rec.offset)), "byte_offset": rec.offset, "level": rec.level,
            "logger": rec.logger, "agent_id": rec.agent_id,
            "message_id": rec.message_id, "trace_id": rec.trace_id, "matched_by": how,
            "message": first_line(rec.message)[:300],
        }
        if rec.exception:
            hop["cause"] = rec.cause[:300]
        target = _TARGET.search(rec.message)
        if target:
            hop["target"] = target.group(1) + (f"/{target.group(2)}" if target.group(2) else "")
        error = _RESPONSE_ERROR.search(rec.message) if "error:" in rec.message else None
        if error:
            hop["error"] = error.group(1).replace("\\'", "'").replace('\\"', '"')
        hops.append(hop)
        if rec.ts is not None:
            prev_ts = rec.ts
    traces = Counter(filter(None, (trace_of(rec) for rec, _ in hits)))
    timed = [rec.ts for rec, _ in ordered if rec.ts is not None]
    data: dict[str, Any] = {
        "id": ident,
        "hops": hops,
        "components": list(dict.fromkeys(h["component"] for h in hops if h["component"])),
        "first_seen": iso(timed[0]) if timed else None,
        "last_seen": iso(timed[-1]) if timed else None,
        "elapsed_ms": round((timed[-1] - timed[0]) * 1000.0, 3) if len(timed) > 1 else 0.0,
        "trace_ids": dict(traces.most_common(10)),
        "stops_at": _stop(hops),
    }
    return data


def _what_failed(hop: dict[str, Any]) -> str:
    return str(hop.get("cause") or hop.get("error") or hop["message"])


def failed(hop: dict[str, Any]) -> bool:
    return LEVEL_NO.get(hop["level"], 0) >= LEVEL_NO["ERROR"] or "error" in hop


def _stop(hops: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Where the trail ends and what that suggests: an error on the way, or a request handed on to an agent
    that never logged it."""
    if not hops:
        return None
    last = hops[-1]
    stop = {k: last.get(k) for k in ("component", "agent_id", "at", "level", "logger", "message", "cause",
                                     "source", "line", "byte_offset")}
    errors = [h for h in hops if failed(h)]
    where = last["component"] or "?"
    # Where it went wrong: the first record logged as an error (the reply carrying its text comes later); else
    # the worker that sent the error reply, not the host relaying it, which a log with millisecond times may
    # place first (a plain-text log names no agent or request on the worker's error record, so only the reply
    # is on the trail).
    logged = [h for h in errors if LEVEL_NO.get(h["level"], 0) >= LEVEL_NO["ERROR"]]
    replied = [h for h in errors if h["message"].startswith("Send message to host")]
    origin = (logged or replied or errors or [None])[0]
    if origin is last:
        stop["why"] = f"it failed there: {_what_failed(last)}"
    elif origin is not None:
        then = (f"{where} passed the error back to the caller" if "error" in last else
                f"the last record is {where}'s {last['message'][:80]!r}")
        stop["why"] = f"it failed at {origin['component'] or '?'}: {_what_failed(origin)}; {then}"
    elif last.get("target"):
        agent = last["target"].split("/")[0]
        if not any((h.get("agent_id") or "").split("/")[0] == agent for h in hops):
            if last["message"].startswith("Received a message from host"):
                stop["why"] = (f"{where} received it for agent {last['target']} and nothing later mentions it: "
                               f"the handler never started (worker busy or frozen, agent failed to construct)")
            else:
                stop["why"] = (f"{where} routed it to agent {last['target']}, and nothing later mentions it: that "
                               f"agent's worker never logged it (not registered, down, frozen, or it logs "
                               f"elsewhere)")
    if "why" not in stop:
        stop["why"] = "no later record mentions it"
    return stop


def _verdict(ident: str, data: dict[str, Any], stats: InputStats, cfg: Config | None = None) -> Result:
    hops = data["hops"]
    metrics = {"hops": float(len(hops)), "elapsed_ms": float(data["elapsed_ms"]),
               "components": float(len(data["components"]))}
    spec = command_specs("logs", cfg)["logs.trace"]
    if not hops:
        obs = Observation(metrics=metrics, reason=Reason.ASSERTION,
                          message=f"no record mentions {ident} in {len(stats.sources)} input(s)")
        return judge(spec, ident, obs, 0.0)
    stop = data["stops_at"]
    where = stop["component"] or stop["source"]
    message = (f"{len(hops)} records across {len(data['components'])} component(s) over "
               f"{data['elapsed_ms']:.0f} ms; the trail stops at {where}: {stop['why']}")
    if len(data["trace_ids"]) > 1:
        message += f" (note: {ident} belongs to {len(data['trace_ids'])} different traces)"
    metrics["failed_hops"] = float(sum(1 for h in hops if failed(h)))
    result = judge(spec, ident, Observation(metrics=metrics, message=message), 0.0)
    result.message = message  # the trail's story; the judged breach (failed_hops) is in status and reason
    return result
