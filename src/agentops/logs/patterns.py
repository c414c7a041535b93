"""Grouping records into patterns: the same error with different numbers, ids, agent ids (type/key), addresses
or quoted values is one pattern. A pattern is keyed by its error type (the exception class, when the record
names one) and its normalized message, and keeps what an operator asks next: how many, since when, how it
is spread over time, which agents and components, which other patterns come with it.

Memory stays bounded however large the input: at most MAX_PATTERNS patterns (later distinct ones are counted
in one overflow pattern), and capped sets per pattern.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agentops.logs.clock import iso
from agentops.logs.records import LEVEL_NO, Record, error_type_of, first_line

MAX_PATTERNS = 2000
MAX_TEXT = 300  # characters of a message that take part in its pattern
MAX_TRACE_IDS = 1000
MAX_BUCKETS = 20000
MAX_NAMES = 50
BUCKET_S = 10  # "close in time" = within one 10-second bucket of each other
OVERFLOW = "(other patterns)"

# AutoGen's own messages name the agent type or client: those are the variable part, not the pattern.
_AUTOGEN = [
    (re.compile(r"\b(Agent(?: type)?) \S+?( and its client)? (not found|already registered)"), r"\1 <agent>\2 \3"),
    (re.compile(r"\b(Client(?: id)?) \S+ (not found|disconnected|connected)"), r"\1 <client> \2"),
    (re.compile(r"\b(agent type) \S+?(\.|$| from)"), r"\1 <agent>\2"),
]
# One pass, leftmost match wins; the order of the alternatives decides what a token is taken for.
_VARIABLE = re.compile(
    r"""(?P<str>'[^'\n]{0,200}'|"[^"\n]{0,200}")
    |(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
    |(?P<addr>\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b|\[[0-9a-fA-F:]+\](?::\d{1,5})?)
    |(?P<hex>\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b)
    |(?P<agent>(?<![\w./-])(?!application/|text/|image/|multipart/)(?![\w.-]*\.\.)[A-Za-z_][\w.-]*/[\w.-]+(?![\w./-]))
    |(?P<num>(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?P<unit>(?:ms|us|ns|s|m|h|d|[KMG]i?B|B|%)\b)?
    |(?P<id>\b(?=[\w.-]*\d)(?=[\w.-]*[A-Za-z])[A-Za-z0-9][\w.-]*[A-Za-z0-9]\b)""",
    re.VERBOSE,
)
_PLACEHOLDER = {"str": "<str>", "uuid": "<uuid>", "addr": "<addr>", "hex": "<hex>", "agent": "<agent>",
                "id": "<id>", "num": "<n>"}
_SPACES = re.compile(r"\s+")
_cache: dict[str, str] = {}


def normalize(message: str) -> str:
    """The pattern of a message: its first line, variable parts replaced by placeholders."""
    text = first_line(message)[:MAX_TEXT]
    hit = _cache.get(text)
    if hit is not None:
        return hit
    out = text
    if "Agent" in out or "Client" in out or "agent type" in out:
        for rx, repl in _AUTOGEN:
            out = rx.sub(repl, out)
    out = _VARIABLE.sub(_replace, out)
    out = _SPACES.sub(" ", out).strip()
    if len(_cache) > 50_000:
        _cache.clear()
    _cache[text] = out
    return out


def _replace(m: re.Match[str]) -> str:
    if m.group("num") is not None:
        return "<n>" + (m.group("unit") or "")
    return _PLACEHOLDER[m.lastgroup or "id"]


@dataclass
class Pattern:
    key: tuple[str, str]
    error_type: str
    text: str
    sample: str
    cause: str
    exception: str = ""  # the first occurrence's traceback, for the knowledge table
    level: str = ""
    count: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    untimed: int = 0
    minutes: Counter[int] = field(default_factory=Counter)
    buckets: set[int] = field(default_factory=set)
    agents: Counter[str] = field(default_factory=Counter)
    components: Counter[str] = field(default_factory=Counter)
    loggers: Counter[str] = field(default_factory=Counter)
    trace_ids: set[str] = field(default_factory=set)
    example: dict[str, Any] = field(default_factory=dict)  # where the first occurrence is (file, offset)

    def add(self, rec: Record) -> None:
        self.count += 1
        if LEVEL_NO.get(rec.level, 0) > LEVEL_NO.get(self.level, 0):
            self.level = rec.level
        ts = rec.ts
        if ts is None:
            self.untimed += 1
        else:
            if self.first_ts is None or ts < self.first_ts:
                self.first_ts = ts
            if self.last_ts is None or ts > self.last_ts:
                self.last_ts = ts
            self.minutes[int(ts // 60)] += 1
            if len(self.buckets) < MAX_BUCKETS:
                self.buckets.add(int(ts // BUCKET_S))
        _bump(self.agents, rec.agent_type)
        _bump(self.components, rec.component)
        _bump(self.loggers, rec.logger)
        trace = rec.trace_id or rec.message_id
        if trace and len(self.trace_ids) < MAX_TRACE_IDS:
            self.trace_ids.add(trace)


    def merge(self, other: Pattern) -> None:
        """Fold in the same pattern counted by another worker (over a later part of the input)."""
        self.count += other.count
        self.untimed += other.untimed
        if LEVEL_NO.get(other.level, 0) > LEVEL_NO.get(self.level, 0):
            self.level = other.level
        if other.first_ts is not None and (self.first_ts is None or other.first_ts < self.first_ts):
            self.first_ts = other.first_ts
        if other.last_ts is not None and (self.last_ts is None or other.last_ts > self.last_ts):
            self.last_ts = other.last_ts
        self.minutes.update(other.minutes)
        self.buckets |= set(list(other.buckets)[:max(0, MAX_BUCKETS - len(self.buckets))])
        for mine, theirs in ((self.agents, other.agents), (self.components, other.components),
                             (self.loggers, other.loggers)):
            for name, n in theirs.items():
                if name in mine or len(mine) < MAX_NAMES:
                    mine[name] += n
        room = MAX_TRACE_IDS - len(self.trace_ids)
        if room > 0:
            self.trace_ids |= set(list(other.trace_ids)[:room])


def _bump(counter: Counter[str], name: str) -> None:
    if name and (name in counter or len(counter) < MAX_NAMES):
        counter[name] += 1


class PatternTable:
    """Patterns by key, bounded."""

    def __init__(self, max_patterns: int = MAX_PATTERNS) -> None:
        self.patterns: dict[tuple[str, str], Pattern] = {}
        self.max_patterns = max_patterns

    def add(self, rec: Record) -> Pattern:
        cause = rec.cause
        text = normalize(rec.message) or normalize(cause)
        key = (error_type_of(cause if rec.exception else "", rec.message), text)
        pattern = self.patterns.get(key)
        if pattern is None:
            if len(self.patterns) >= self.max_patterns:
                key = ("", OVERFLOW)
                pattern = self.patterns.get(key)
            if pattern is None:
                pattern = Pattern(key=key, error_type=key[0], text=key[1],
                                  sample=first_line(rec.message)[:MAX_TEXT], cause=cause[:MAX_TEXT],
                                  exception=rec.exception[:4096],
                                  example={"source": rec.source, "offset": rec.offset, "agent": rec.agent_type})
                self.patterns[key] = pattern
        pattern.add(rec)
        return pattern

    def merge(self, other: PatternTable) -> None:
        for key, theirs in other.patterns.items():
            mine = self.patterns.get(key)
            if mine is None and len(self.patterns) >= self.max_patterns:
                key = ("", OVERFLOW)
                mine = self.patterns.get(key)
                if mine is None:
                    theirs.key, theirs.error_type, theirs.text = key, "", OVERFLOW
            if mine is None:
                self.patterns[key] = theirs
            else:
                mine.merge(theirs)

    def ranked(self) -> list[Pattern]:
        return sorted(self.patterns.values(), key=lambda p: (-p.count, p.first_ts or math.inf, p.text, p.error_type))


def correlations(patterns: list[Pattern], limit: int = 3) -> dict[int, list[dict[str, Any]]]:
    """For each pattern (by index), the others that come with it: sharing a trace/message id, or occurring in
    the same or an adjacent 10-second bucket most of the time. A pattern present in every bucket (background
    noise) does not correlate with a burst: the score divides by the larger of the two bucket sets."""
    out: dict[int, list[dict[str, Any]]] = {}
    expanded = [{b + d for b in p.buckets for d in (-1, 0, 1)} for p in patterns]
    for i, a in enumerate(patterns):
        found = []
        for j, b in enumerate(patterns):
            if i == j:
                continue
            shared = len(a.trace_ids & b.trace_ids)
            together = len(a.buckets & expanded[j])
            score = together / max(len(a.buckets), len(b.buckets), 1)
            reasons = []
            if shared:
                reasons.append(f"{shared} shared trace/message ids")
            if together >= 2 and score >= 0.5:
                reasons.append(f"{together} times within {BUCKET_S}s")
            if reasons:
                found.append((shared, score, j, "; ".join(reasons)))
        found.sort(key=lambda f: (-f[0], -f[1], f[2]))
        out[i] = [{"pattern": patterns[j].text, "error_type": patterns[j].error_type, "why": why}
                  for _, _, j, why in found[:limit]]
    return out


def distribution(pattern: Pattern, start: float | None, end: float | None, max_points: int = 1440
                 ) -> dict[str, Any]:
    """The pattern's counts per minute over [start, end] (the whole analysis' span, so patterns line up), as a
    dense list; over long spans a bucket covers several minutes (`step_s` says how many seconds)."""
    if start is None or end is None or not pattern.minutes:
        return {"start": None, "step_s": 60, "counts": []}
    first_min, last_min = int(start // 60), int(end // 60)
    minutes = last_min - first_min + 1
    step = max(1, math.ceil(minutes / max_points))
    counts = [0] * math.ceil(minutes / step)
    for minute, n in pattern.minutes.items():
        k = (minute - first_min) // step
        if 0 <= k < len(counts):
            counts[k] += n
    return {"start": iso(first_min * 60.0), "step_s": 60 * step, "counts": counts}
