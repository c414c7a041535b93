"""A deploy gate: run the plan again and again until its status passes, or the wait is over
(`agentops health --until-healthy --wait 300`, the reference's `wait_for_ready(timeout=300)`).

Each round is a whole health run with a deadline no later than the gate's; between rounds the gate pauses
`every_s` (never past its deadline). The last round's report is the answer, so the exit code is the usual one:
0 once healthy, else what the last round found."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from agentops.core.model import Report


async def until_healthy(run_round: Callable[[float], Awaitable[Report]], passes: Callable[[Report], bool], *,
                        wait_s: float, every_s: float,
                        on_round: Callable[[int, Report, float], None] | None = None) -> Report:
    """`run_round(deadline_at)` (monotonic) until `passes(report)`; the last report. `on_round(n, report, left)`
    after each round that did not pass and will be followed by another."""
    deadline_at = time.monotonic() + wait_s
    n = 0
    while True:
        n += 1
        report = await run_round(deadline_at)
        left = deadline_at - time.monotonic()
        if passes(report) or left <= 0:
            return report
        if on_round is not None:
            on_round(n, report, left)
        await asyncio.sleep(min(every_s, left))
        if deadline_at - time.monotonic() <= 0:
            return report
