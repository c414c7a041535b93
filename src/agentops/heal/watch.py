"""`agentops heal --watch`: one heal round every `interval` seconds until Ctrl-C (or `count` rounds), beside
`serve` or instead of a cron line. Each round is a whole heal: fresh diagnosis, breaker, budget, locks; the
history is what carries from one round to the next, so a round never acts past the budget either."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from agentops.core.config import Config
from agentops.core.interrupt import stop_on_interrupt
from agentops.core.model import Report
from agentops.heal.engine import HealOptions, heal


async def watch_heal(cfg: Config, opts: HealOptions, *, interval: float, count: int | None,
                     on_round: Callable[[Report], None]) -> tuple[Report | None, bool]:
    """(the last round's report, whether Ctrl-C ended it)."""
    stop = asyncio.Event()
    last: Report | None = None
    rounds = 0
    with stop_on_interrupt(stop):
        while not stop.is_set():
            last = await heal(cfg, opts)
            on_round(last)
            rounds += 1
            if count is not None and rounds >= count:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    return last, stop.is_set()
