"""`agentops watch`: the health plan re-run on an interval, with what each refresh adds to a bounded history —
each metric's recent values (for sparklines) and the status changes with their time. The screen itself is
render/presenters/watch.py; this module keeps the data, and judges nothing (statuses are the runner's)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentops.core.format import utc_stamp
from agentops.core.interrupt import stop_on_interrupt
from agentops.core.model import Report, Result
from agentops.core.packs import PlannedCheck
from agentops.core.runner import run_plan

WATCH_INTERVAL_S = 5.0
HISTORY_POINTS = 60  # values kept per metric: a minute's sparkline at 1 s, five at the default
CHANGES_KEPT = 20  # the latest status changes shown
METRICS_SHOWN = 3  # per check: its judged metrics first


@dataclass
class WatchHistory:
    points: int = HISTORY_POINTS
    series: dict[tuple[str, str, str], deque[float]] = field(default_factory=dict)
    changes: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=CHANGES_KEPT))
    last: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, results: list[Result], at: str) -> None:
        """Record a refresh; only the plan's own (check, target, metric) series exist, so memory is bounded."""
        for r in results:
            key = (r.id, r.target)
            before = self.last.get(key)
            if before is not None and before != r.status.label:
                self.changes.append({"at": at, "check": r.id, "target": r.target, "before": before,
                                     "after": r.status.label, "message": r.message})
            self.last[key] = r.status.label
            for name in _shown(r):
                value = r.metrics[name]
                # NaN/inf (not computable) is a gap in the sparkline, and null in JSON.
                finite = value if value == value and value not in (float("inf"), float("-inf")) else float("nan")
                self.series.setdefault((r.id, r.target, name), deque(maxlen=self.points)).append(finite)

    def data(self) -> dict[str, Any]:
        return {"history": [{"check": c, "target": t, "metric": m, "values": [x if x == x else None for x in v]}
                            for (c, t, m), v in self.series.items()],
                "changes": list(reversed(self.changes))}


def _shown(r: Result) -> list[str]:
    judged = [m for m in r.thresholds if m in r.metrics]
    return list(dict.fromkeys(judged + sorted(r.metrics)))[:METRICS_SHOWN]


async def watch(checks: list[PlannedCheck], *, concurrency: int, interval: float, count: int | None,
                on_frame: Callable[[Report], None]) -> tuple[Report | None, bool]:
    """Run the plan every `interval` seconds (`count` times, or until Ctrl-C); `on_frame(report)` after each
    refresh, the report's data holding the history. Each refresh's checks end by the next refresh. Returns the
    last report (None if none finished) and whether Ctrl-C ended the watch: the press cancels a refresh under
    way and the loop ends like a finished one, never by an exception raised in the middle of a write."""
    history = WatchHistory()
    last: Report | None = None
    stop = asyncio.Event()
    with stop_on_interrupt(stop):
        for n in itertools.count(1):
            started, t0 = utc_stamp(), time.monotonic()
            refresh = asyncio.ensure_future(run_plan(checks, concurrency=concurrency, deadline=max(interval, 0.1)))
            if not await _unless_stopped(refresh, stop):
                return last, True
            results = refresh.result()
            history.add(results, started)
            last = Report(kind="watch", started_at=started, duration_s=time.monotonic() - t0, results=results,
                          data=history.data())
            on_frame(last)
            if count is not None and n >= count:
                return last, False
            pause = asyncio.ensure_future(asyncio.sleep(max(0.0, interval - (time.monotonic() - t0))))
            if not await _unless_stopped(pause, stop):
                return last, True
    return last, False  # not reached: the loop above returns


async def _unless_stopped(work: asyncio.Future[Any], stop: asyncio.Event) -> bool:
    """Wait for `work` or for the stop event; on stop, cancel the work and wait for it to end. True: it finished."""
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if work.done():
        return True
    work.cancel()
    await asyncio.gather(work, stopper, return_exceptions=True)
    return False
