"""`agentops logs analyze`: what went wrong, how often, since when, and what to do.

Measures (the analysis in `Report.data`: patterns, security and performance events, counts, bad input), then
judges (the `--max-errors` / `--max-error-rate` thresholds through `core.evaluate`, as `Report.results`), then
explains a breached threshold with findings for its largest patterns. Rendering is render/presenters/logs.py's job.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agentops.core import format as fmt
from agentops.core.config import Config
from agentops.core.evaluate import evaluate
from agentops.core.model import Finding, Observation, Reason, Report, Result, Status
from agentops.core.packs import CheckSpec, command_specs, with_thresholds
from agentops.logs import knowledge
from agentops.logs.clock import iso, now_iso
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
class Thresholds:
    """`--max-errors` and `--max-error-rate`: a value alone is the CRITICAL limit; "W,C" sets both."""

    errors: tuple[float | None, float | None] | None = None  # (warning, critical) limits on the count
    rate: tuple[float | None, float | None] | None = None
    rate_metric: str = "error_rate_percent"  # or errors_per_minute

    @staticmethod
    def parse_limits(text: str, what: str) -> tuple[float | None, float | None]:
        bad = f"bad {what} {text!r} (a number, or WARN,CRIT such as 10,100)"
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) if p else None for p in parts]
        except ValueError:
            raise ValueError(bad) from None
        if len(values) not in (1, 2) or all(v is None for v in values):
            raise ValueError(bad)
        if any(v is not None and not (math.isfinite(v) and v >= 0) for v in values):
            raise ValueError(f"bad {what} {text!r} (limits are numbers of 0 or more)")
        warn, crit = (None, values[0]) if len(values) == 1 else (values[0], values[1])
        if warn is not None and crit is not None and warn > crit:
            # Alerts fire above the limit: a warning limit above the critical one could never warn.
            raise ValueError(f"bad {what} {text!r} (the warning limit {warn:g} is above the critical {crit:g})")
        return warn, crit

    @classmethod
    def parse(cls, max_errors: str | None, max_error_rate: str | None) -> Thresholds:
        out = cls()
        if max_errors:
            out.errors = cls.parse_limits(max_errors, "--max-errors")
        if max_error_rate:
            # The unit may be on either limit or both (10,30/min; 1%,5%); it applies to both.
            parts = [part.strip() for part in max_error_rate.split(",")]
            if any(part.endswith("/min") for part in parts):
                if any(part.endswith("%") for part in parts):
                    raise ValueError(f"bad --max-error-rate {max_error_rate!r} (a percentage or a rate per "
                                     "minute, not both)")
                out.rate_metric = "errors_per_minute"
            text = ",".join(part.removesuffix("/min").removesuffix("%") for part in parts)
            out.rate = cls.parse_limits(text, "--max-error-rate")
            if out.rate_metric == "error_rate_percent" and any(v is not None and v > 100 for v in out.rate):
                raise ValueError(f"bad --max-error-rate {max_error_rate!r} (a percentage of records is at most "
                                 "100; a rate per minute is written 30/min)")
        return out


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


# Source statuses of an input read in part, and what was lost.
INCOMPLETE = {"corrupt": "the records past the damage are lost", "truncated": "the records past the cut are lost"}


def input_result(stats: InputStats, cfg: Config | None = None) -> Result:
    """`logs.input`: whether the inputs could be read, judged by `core.evaluate` like any check. Inputs that are
    not logs (binary, FIFOs, devices) or cannot be opened are a problem with the input (`assertion`), never
    `internal`, which means a bug in agentops: UNKNOWN when nothing could be read, WARNING when some could not,
    or were read only in part."""
    sources = stats.sources
    unreadable = [s for s in sources if s.status in ("unreadable", "skipped")]
    # Read in part: a damaged or cut-short gzip (nothing after the damage) or a file truncated under the
    # reader. The analysis is missing records, which a cron gate must notice: WARNING, not a note.
    partial = [s for s in sources if s.status in INCOMPLETE]
    readable = [s for s in sources if s not in unreadable]
    target = sources[0].name if len(sources) == 1 else f"{len(sources)} inputs"
    metrics = {"inputs": float(len(sources)), "unreadable": float(len(unreadable)),
               "incomplete": float(len(partial)), "bytes": float(stats.bytes)}
    spec = command_specs("logs", cfg)["logs.input"]
    if not readable:
        obs = Observation.failure(Reason.ASSERTION, "nothing could be read: " + "; ".join(
            f"{s.name}: {s.reason}" for s in unreadable[:3]))
    elif unreadable or partial:
        said = []
        if unreadable:
            said.append(f"{len(unreadable)} of {len(sources)} inputs not read: " + "; ".join(
                f"{s.name}: {s.reason}" for s in unreadable[:3]))
        if partial:
            said.append(f"{len(partial)} of {len(sources)} inputs read only in part: " + "; ".join(
                f"{s.name}: {INCOMPLETE[s.status]} after {fmt.size(s.bytes)} ({s.reason})" for s in partial[:3]))
        # Records lost mid-input are a protocol failure of the input; an input not read beside readable ones is
        # a count the pack's `unreadable` rule judges. Either way the story is the message.
        obs = (Observation.failure(Reason.PROTOCOL, "; ".join(said)) if not unreadable
               else Observation(metrics=metrics, message="; ".join(said)))
    else:
        obs = Observation(metrics=metrics, message=f"read {len(sources)} input{'s' if len(sources) != 1 else ''}, "
                                                   f"{fmt.size(stats.bytes)}")
    status, reason, message = evaluate(spec, obs)
    if reason is Reason.THRESHOLD:
        message = obs.message  # which inputs were not read, and why; the breach is in status and reason
    return Result(id="logs.input", target=target, probe="logs", status=status, reason=reason, message=message,
                  metrics=metrics)


def read_no_records(stats: InputStats) -> bool:
    """Whether the inputs held no record at all: empty, blank lines, NUL bytes, or nothing readable."""
    return not any(s.has_text for s in stats.sources)


def gate_specs(t: Thresholds, cfg: Config | None = None) -> list[CheckSpec]:
    """The gates' specs from the logs command pack, the flags' limits replacing the pack's rule for their
    metric (a value alone is the critical limit, "W,C" both; alerts fire above a limit)."""
    specs = command_specs("logs", cfg)
    out = []
    for check_id, metric, limits in (("logs.errors", "errors", t.errors), ("logs.error_rate", t.rate_metric, t.rate)):
        spec = specs[check_id]
        if limits is not None:
            warn, crit = limits
            spec = with_thresholds(spec, warning={metric: f"> {warn:g}"} if warn is not None else None,
                                   critical={metric: f"> {crit:g}"} if crit is not None else None)
        if spec.rules or check_id == "logs.errors":
            out.append(spec)
    return out


def threshold_results(t: Thresholds, metrics: dict[str, float], no_records: bool = False,
                      cfg: Config | None = None) -> list[Result]:
    """`logs.errors` always (its metrics are what Nagios perfdata and Prometheus export; judged when it has a
    limit, else OK), and `logs.error_rate` when it has one. A limit with nothing to judge (no record read; no
    time span for a rate per minute) is a failed measurement the pack judges UNKNOWN, saying why: a gate over
    an empty input must not pass."""
    out = []
    for spec in gate_specs(t, cfg):
        judged = list(dict.fromkeys(r.metric for r in spec.rules))
        shown = metrics if spec.id == "logs.errors" else {m: metrics[m] for m in judged if m in metrics}
        missing = [m for m in judged if m not in metrics]
        if judged and no_records:
            obs = Observation.failure(Reason.ASSERTION, "no records were read (the input is empty, blank or NUL "
                                      "bytes): nothing to judge the limit against")
        elif missing == ["errors_per_minute"]:  # a rate per minute without a time span
            obs = Observation.failure(Reason.UNSUPPORTED, "no rate per minute to judge: the error records have no "
                                      "timestamps, so there is no time span (use a percentage of records, "
                                      "--max-error-rate 5%, or --max-errors)")
        elif missing:
            obs = Observation.failure(Reason.UNSUPPORTED, f"this command does not measure {', '.join(missing)}")
        else:
            obs = Observation(metrics=shown)
        status, reason, message = evaluate(spec, obs)
        out.append(Result(id=spec.id, target="logs", probe="logs", status=status, reason=reason,
                          message=message, metrics=dict(shown)))
    return out


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


def notes(stats: InputStats) -> list[str]:
    problems = stats.problems()
    return ["bad input: " + ", ".join(problems)] if problems else []
