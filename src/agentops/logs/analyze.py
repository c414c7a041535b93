"""`agentops logs analyze`: what went wrong, how often, since when, and what to do.

Measures (the analysis in `Report.data`: patterns, security and performance events, counts, bad input), then
judges (the `--max-errors` / `--max-error-rate` thresholds through `core.evaluate`, as `Report.results`), then
explains a breached threshold with findings for its largest patterns. Rendering is render/presenters/logs.py's job.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agentops.core.config import Config
from agentops.core.model import Finding, Report, Status
from agentops.logs import knowledge
from agentops.logs.clock import iso, now_iso
from agentops.logs.gates import Thresholds, input_result, notes, read_no_records, threshold_results
from agentops.logs.patterns import Pattern, PatternTable, correlations, distribution
from agentops.logs.query import (
    DURATION,
    UNIVERSE,
    WARNING_KEYED,
    Filters,
    duration_needles,
    level_groups,
    plan,
    warning_needles,
)
from agentops.logs.reader import Source
from agentops.logs.records import LEVEL_NO, Record, parse_record
from agentops.logs.scan import PARALLEL_MIN, Dialect, NeedleGroup, ScanPlan, line_ts, scan
from agentops.logs.stats import InputStats

DURATION_FIELDS = ("duration",)
_UNIT_S = {b"ms": 1e-3, b"msec": 1e-3, b"millis": 1e-3, b"us": 1e-6, b"usec": 1e-6, b"micros": 1e-6,
           b"ns": 1e-9}


def duration_pattern(fields: tuple[str, ...]) -> re.Pattern[bytes]:
    """A duration field — `"duration_ms": 1234` in JSON, `duration=1.5s` in text — matched where the scan found
    its name, so the value is read without parsing the record. The unit is the name's suffix or the value's."""
    names = b"|".join(re.escape(f.encode()) for f in fields)
    return re.compile(rb"(?:" + names + rb")(?:_?(ms|msec|millis|us|usec|micros|ns|s|sec|secs|seconds))?"
                      rb'"?\s*[=:]\s*"?(\d+(?:\.\d+)?)\s*(ms|us|ns|s|sec|secs|seconds)?\b', re.IGNORECASE)



@dataclass
class Options:
    filters: Filters = field(default_factory=Filters)
    min_count: int = 3
    top: int = 20
    slow_s: float = 1.0
    # Names (prefixes) of the fields that hold an operation's duration. Each name is one more search over the
    # input, so only "duration" is searched unless more are asked for (--duration-field elapsed,latency).
    duration_fields: tuple[str, ...] = DURATION_FIELDS
    thresholds: Thresholds = field(default_factory=Thresholds)
    cfg: Config | None = None  # whose pack_dirs may override the logs command pack


class Analyzer:
    """The scanner's consumer: parses candidate records and files them as errors, security events and slow
    operations."""

    def __init__(self, options: Options) -> None:
        self.o = options
        # Bad input is counted line by line by the scan; what parsing a candidate finds again is not counted.
        self.scratch = InputStats()
        self.records = 0
        self.untimed = 0
        self.errors = 0
        self.by_level: Counter[str] = Counter()
        self.patterns = PatternTable()
        self.security = PatternTable()
        self.security_kinds: dict[tuple[str, str], str] = {}
        self.slow = PatternTable()
        self.slow_durations: dict[tuple[str, str], list[float]] = {}
        self.timed = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.security_level = LEVEL_NO["WARNING"]
        self._last_buf: bytes = b""
        self._timed_lines: set[int] = set()  # the lines of _last_buf whose duration was counted
        self._duration_at = duration_pattern(options.duration_fields)

    # -- Sink
    def total(self, records: int, source: Source) -> None:
        self.records += records

    def times(self, first: float | None, last: float | None) -> None:
        """The span of the input (chunk by chunk), for per-minute rates and the time axis."""
        for ts in (first, last):
            if ts is not None and self.o.filters.window.contains(ts):
                self._seen(ts)

    def _seen(self, ts: float) -> None:
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def duration_hit(self, buf: bytes, hit: int, line_end: int) -> bool:
        """At a duration field found by the scan: count the timed record, and keep the record as a candidate
        only if the operation was slow (most are not, and need no parsing)."""
        m = self._duration_at.match(buf, hit + (buf[hit] == 0x22))  # past the key's opening quote
        if m is None:
            return False
        if buf is not self._last_buf:
            self._last_buf, self._timed_lines = buf, set()
        if line_end not in self._timed_lines:  # a record may carry two duration fields
            self._timed_lines.add(line_end)
            self.timed += 1
        return _seconds(m) >= self.o.slow_s

    def duration_of(self, raw: bytes) -> float | None:
        m = self._duration_at.search(raw)
        return _seconds(m) if m else None

    def record(self, raw: bytes, flags: int, source: Source, offset: int) -> None:
        if flags == WARNING_KEYED and self._quick_warning(raw):
            return
        rec = parse_record(raw, self.scratch, source.component)
        rec.source, rec.offset = source.name, offset
        if not self.o.filters.match(rec):
            return
        # `narrowed`: read because it names the agent or component filtered for (query.plan). Such records are
        # counted here rather than per chunk, and their durations were not seen by duration_hit.
        narrowed = bool(flags & UNIVERSE)
        duration = self.duration_of(raw) if narrowed or flags & DURATION else None
        if narrowed and duration is not None:
            self.timed += 1
        self.add(rec, duration, narrowed=narrowed)

    def _quick_warning(self, raw: bytes) -> bool:
        """A JSON WARNING record (certain: the needle held the level key) is counted without a parse, unless
        it may be a security event, the only reason to read a warning in full. Its time is read only to apply
        a window (the span of the input comes from the chunks)."""
        if knowledge.may_be_security(raw.lower()):
            return False
        window = self.o.filters.window
        if window.active and not window.contains(line_ts(raw)):
            return True
        self.by_level["WARNING"] += 1
        return True

    def add(self, rec: Record, duration: float | None = None, narrowed: bool = False) -> None:
        if narrowed:
            self.records += 1
        if rec.ts is None:
            self.untimed += 1
        else:
            self._seen(rec.ts)
        level_no = rec.level_no
        if level_no >= LEVEL_NO["WARNING"]:
            self.by_level[rec.level] += 1
        if level_no >= self.o.filters.level_no:
            self.errors += 1
            self.patterns.add(rec)
        if level_no >= self.security_level:
            kind = knowledge.security_kind(f"{rec.message}\n{rec.cause}" if rec.exception else rec.message)
            if kind:
                p = self.security.add(rec)
                self.security_kinds[p.key] = kind
        if duration is not None and duration >= self.o.slow_s:
            p = self.slow.add(rec)
            durations = self.slow_durations.setdefault(p.key, [])
            if len(durations) < 10000:
                durations.append(duration)

    def fresh(self) -> Analyzer:
        return Analyzer(self.o)

    def __getstate__(self) -> dict[str, Any]:
        # A worker's analyzer travels back to the parent: without the last chunk it was looking at.
        return {**self.__dict__, "_last_buf": b"", "_timed_lines": set()}


    def merge(self, other: Analyzer) -> None:
        self.records += other.records
        self.errors += other.errors
        self.untimed += other.untimed
        self.timed += other.timed
        self.scratch.merge(other.scratch)
        self.by_level.update(other.by_level)
        self.patterns.merge(other.patterns)
        self.security.merge(other.security)
        self.security_kinds.update({k: v for k, v in other.security_kinds.items() if k not in self.security_kinds})
        self.slow.merge(other.slow)
        for key, durations in other.slow_durations.items():
            self.slow_durations.setdefault(key, []).extend(durations[:10000])
        for ts in (other.first_ts, other.last_ts):
            if ts is not None:
                self._seen(ts)

    def needles(self, dialect: Dialect) -> list[NeedleGroup]:
        groups = [NeedleGroup(DURATION, duration_needles(dialect, self.o.duration_fields), check=self.duration_hit)]
        level = self.o.filters.level_no
        warn, certain = warning_needles(dialect)
        # analyze checks every line (ScanPlan.account_lines): a JSON chunk with a non-JSON line in it is searched
        # with the plain dialect's needles, so JSON needles need not look for bare tracebacks.
        if level <= self.security_level or self.o.filters.components or self.o.filters.agents or not certain:
            return [*level_groups(min(level, self.security_level), dialect, lines_checked=True), *groups]
        # Warnings matter only for the security section here: read them cheaply when the needle says enough.
        return [*level_groups(level, dialect, lines_checked=True), NeedleGroup(WARNING_KEYED, (warn,)), *groups]


def _seconds(m: re.Match[bytes]) -> float:
    return float(m.group(2)) * _UNIT_S.get((m.group(1) or m.group(3) or b"s").lower(), 1.0)


def run(sources: list[Source], options: Options, stats: InputStats, journal_args: list[str] | None = None,
        jobs: int = 1, parallel_min: int = PARALLEL_MIN) -> Report:
    started_at, t0 = now_iso(), time.perf_counter()
    analyzer = Analyzer(options)

    def plan_for(source: Source) -> ScanPlan:
        return plan(options.filters, source, count_records=True, account_lines=True)

    scan(sources, stats, plan_for, analyzer, journal_args, jobs=jobs, parallel_min=parallel_min)
    stats.bump("untimed_records", analyzer.untimed)
    # Only parsing can tell a timestamp is not a time; what else parsing finds, the scan counted line by line.
    stats.bump("bad_timestamps", analyzer.scratch.counts["bad_timestamps"])
    return build_report(analyzer, stats, started_at, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------ the report

def build_report(a: Analyzer, stats: InputStats, started_at: str, duration_s: float) -> Report:
    o = a.o
    window = o.filters.window
    span_start = window.since if window.since is not None else a.first_ts
    span_end = window.until if window.until is not None else a.last_ts
    if span_end is not None and span_start is not None and window.until is not None and a.last_ts is not None:
        span_end = min(span_end, max(a.last_ts, span_start))
    # A rate per minute needs a time span: records without timestamps have none, and dividing by a made-up
    # minute would invent a rate. No errors is a rate of 0 whatever the span (an empty window in a cron run).
    minutes = (max((span_end - span_start) / 60.0, 1.0)
               if span_start is not None and span_end is not None else None)
    per_minute = round(a.errors / minutes, 4) if minutes is not None else (0.0 if a.errors == 0 else None)
    records = max(a.records, a.errors)
    metrics = {
        "records": float(records),
        "errors": float(a.errors),
        "error_rate_percent": round(100.0 * a.errors / records, 4) if records else 0.0,
    }
    if per_minute is not None:
        metrics["errors_per_minute"] = per_minute
    ranked = a.patterns.ranked()
    shown = [p for p in ranked if p.count >= o.min_count][:o.top]
    hidden = [p for p in ranked if p not in shown]
    related = correlations(shown)
    patterns = [_pattern_doc(p, span_start, span_end, related.get(i, [])) for i, p in enumerate(shown)]
    for doc, p in zip(patterns, shown, strict=True):
        action = knowledge.recommend(p.error_type, p.sample, p.exception)
        if action:
            action = knowledge.widen(action, p.example.get("agent", ""), list(doc["agents"]))
        doc["action"] = action.to_dict() if action else None
    data: dict[str, Any] = {
        "inputs": stats.to_dict(),
        "bad_input": stats.bad_input(),
        "filters": {
            "level": o.filters.level,
            "since": iso(window.since), "until": iso(window.until),
            "components": list(o.filters.components), "agents": list(o.filters.agents),
            "min_count": o.min_count, "slow_s": o.slow_s, "duration_fields": list(o.duration_fields),
        },
        "span": {"start": iso(span_start), "end": iso(span_end),
                 "minutes": round(minutes, 3) if minutes is not None else None},
        "counts": {
            "records": records, "errors": a.errors,
            "by_level": {lvl: a.by_level[lvl] for lvl in ("WARNING", "ERROR", "CRITICAL")},
            "error_rate_percent": metrics["error_rate_percent"],
            "errors_per_minute": per_minute,  # None: no time span to divide by
            "patterns": len(ranked),
        },
        "patterns": patterns,
        "hidden_patterns": {"patterns": len(hidden), "records": sum(p.count for p in hidden),
                            "reason": f"seen fewer than {o.min_count} times or beyond the top {o.top}"},
        "security": [
            {**_pattern_doc(p, span_start, span_end, []), "kind": a.security_kinds[p.key]}
            for p in a.security.ranked()[:o.top]
        ],
        "performance": {
            "slow_s": o.slow_s, "timed_records": a.timed,
            "slow_records": sum(p.count for p in a.slow.patterns.values()),
            "operations": [_slow_doc(p, a.slow_durations.get(p.key, []), span_start, span_end)
                           for p in a.slow.ranked()[:o.top]],
        },
    }
    results = [input_result(stats, o.cfg), *threshold_results(o.thresholds, metrics, read_no_records(stats), o.cfg)]
    report = Report(kind="logs.analyze", started_at=started_at, duration_s=duration_s, results=results,
                    data=data)
    breached = Status.worst(r.status for r in results if r.id != "logs.input")
    if breached in (Status.WARNING, Status.CRITICAL):
        report.findings = _findings(shown, patterns, breached)
    report.notes.extend(notes(stats))
    return report


def _pattern_doc(p: Pattern, start: float | None, end: float | None, related: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    return {
        "error_type": p.error_type,
        "pattern": p.text,
        "sample": p.sample,
        "cause": p.cause,
        "level": p.level,
        "count": p.count,
        "first_seen": iso(p.first_ts),
        "last_seen": iso(p.last_ts),
        "untimed": p.untimed,
        "per_minute": distribution(p, start, end),
        "agents": dict(p.agents.most_common(10)),
        "components": dict(p.components.most_common(10)),
        "loggers": dict(p.loggers.most_common(5)),
        "trace_ids": len(p.trace_ids),
        "example": p.example,
        "correlated": related,
    }


def _slow_doc(p: Pattern, durations: list[float], start: float | None, end: float | None) -> dict[str, Any]:
    doc = _pattern_doc(p, start, end, [])
    ordered = sorted(durations)
    if ordered:
        doc["duration_s"] = {
            "max": round(ordered[-1], 6),
            "mean": round(sum(ordered) / len(ordered), 6),
            "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 6),
        }
    return doc


def _findings(shown: list[Pattern], docs: list[dict[str, Any]], status: Status) -> list[Finding]:
    out = []
    for p, doc in list(zip(shown, docs, strict=True))[:3]:
        action = doc.get("action")
        evidence = [f"{p.count} records from {doc['first_seen'] or '?'} to {doc['last_seen'] or '?'}",
                    f"example: {p.sample}"]
        if p.cause and p.cause != p.sample:
            evidence.append(f"cause: {p.cause}")
        if doc["agents"]:
            evidence.append("agents: " + ", ".join(doc["agents"]))
        if doc["components"]:
            evidence.append("components: " + ", ".join(doc["components"]))
        out.append(Finding(
            id=f"logs.{action['kind'] if action else 'pattern'}",
            status=status,
            title=f"{p.count} records: {(p.error_type + ': ') if p.error_type else ''}{p.text}",
            cause=action["cause"] if action else "not in the knowledge table",
            evidence=evidence,
            fix=action["fix"] if action else "read the example record and its neighbours",
        ))
    return out
