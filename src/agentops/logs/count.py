"""`agentops logs count`: how many records at a level or above, as fast as the bytes can be searched — for a
cron job or a CI gate that wants one number (`--max-errors`), not an analysis.

Only the level's byte strings are searched; a JSON candidate's level (and, with a window, its time) is read
with one small regex instead of a parse. Lines are not accounted for one by one here (that is `analyze`'s
job): bad input is counted among the records read.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from agentops.core.config import Config
from agentops.core.model import Report
from agentops.logs.clock import iso, now_iso
from agentops.logs.gates import Thresholds, input_result, notes, read_no_records, threshold_results
from agentops.logs.query import Filters, level_groups, plan
from agentops.logs.reader import Source
from agentops.logs.records import LEVEL_NO, normalize_level, parse_record
from agentops.logs.scan import PARALLEL_MIN, Dialect, NeedleGroup, ScanPlan, line_ts, scan
from agentops.logs.stats import InputStats

_LEVEL_VALUE = re.compile(rb'"(?:level|levelname|severity|lvl)"\s*:\s*"([A-Za-z]+)"')


# A log writes its levels in a few spellings: each is normalised once (a bounded table, as a hostile log may
# write any word there).
_LEVELS: dict[bytes, str] = {}


def _level_of(raw: bytes) -> str:
    level = _LEVELS.get(raw)
    if level is None:
        level = normalize_level(raw.decode("ascii"))
        if len(_LEVELS) < 64:
            _LEVELS[raw] = level
    return level


class LevelCounter:
    def __init__(self, filters: Filters) -> None:
        self.filters = filters
        self.by_level: Counter[str] = Counter()
        self.stats = InputStats()  # what parsing the candidates ran into

    # -- Sink
    def needles(self, dialect: Dialect) -> list[NeedleGroup]:
        return level_groups(self.filters.level_no, dialect)

    def total(self, records: int, source: Source) -> None:
        pass

    def times(self, first: float | None, last: float | None) -> None:
        pass

    def record(self, raw: bytes, flags: int, source: Source, offset: int) -> None:
        f = self.filters
        if raw.startswith(b"{") and not (f.components or f.agents):
            m = _LEVEL_VALUE.search(raw, 0, 4096)
            level = _level_of(m.group(1)) if m else ""
            if level:
                if LEVEL_NO[level] >= f.level_no and f.window.contains(line_ts(raw) if f.window.active else None):
                    self.by_level[level] += 1
                return
        rec = parse_record(raw, self.stats, source.component)
        if rec.level_no >= f.level_no and f.match(rec):
            self.by_level[rec.level] += 1

    def fresh(self) -> LevelCounter:
        return LevelCounter(self.filters)

    def merge(self, other: LevelCounter) -> None:
        self.by_level.update(other.by_level)
        self.stats.merge(other.stats)


def run(sources: list[Source], filters: Filters, thresholds: Thresholds, stats: InputStats,
        journal_args: list[str] | None = None, jobs: int = 1, parallel_min: int = PARALLEL_MIN,
        cfg: Config | None = None) -> Report:
    started_at, t0 = now_iso(), time.perf_counter()
    counter = LevelCounter(filters)

    def plan_for(source: Source) -> ScanPlan:
        return plan(filters, source, count_records=False, account_lines=False)

    scan(sources, stats, plan_for, counter, journal_args, jobs=jobs, parallel_min=parallel_min)
    stats.merge(counter.stats)
    matched = sum(counter.by_level.values())
    data: dict[str, Any] = {
        "inputs": stats.to_dict(),
        "bad_input": stats.bad_input(),
        "filters": {"level": filters.level, "since": iso(filters.window.since), "until": iso(filters.window.until),
                    "components": list(filters.components), "agents": list(filters.agents)},
        "counts": {"errors": matched,
                   "by_level": {lvl: counter.by_level[lvl] for lvl, no in LEVEL_NO.items() if no >= filters.level_no}},
    }
    results = [input_result(stats, cfg),
               *threshold_results(thresholds, {"errors": float(matched)}, read_no_records(stats), cfg)]
    report = Report(kind="logs.count", started_at=started_at, duration_s=time.perf_counter() - t0,
                    results=results, data=data)
    report.notes.extend(notes(stats))
    return report
