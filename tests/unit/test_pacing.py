"""The pacing gate's bounded wait: a timed request starts by its max_wait even when the loop is congested and
many requests queue ahead of it (the pump ends the wait from its heap of deadlines)."""

import asyncio
import time

from agentops.probes import _pacing
from agentops.probes._pacing import paced_start


def test_a_congested_loop_still_starts_every_waiter_by_its_max_wait():
    n = 200

    async def scenario() -> tuple[int, int]:
        turns = 0
        stop = False

        async def hog() -> None:
            # Holds the loop longer than LAG_OK_S on every turn, so the pump admits one waiter per turn.
            nonlocal turns
            while not stop:
                time.sleep(_pacing.LAG_OK_S * 3)
                turns += 1
                await asyncio.sleep(0)

        hogging = asyncio.create_task(hog())
        await asyncio.sleep(0)
        await asyncio.gather(*(paced_start(max_wait=0.05) for _ in range(n)))
        stop = True
        await hogging
        return turns, _pacing._per_loop(_pacing._pacers, _pacing.LoopPacer).burst

    turns, burst = asyncio.run(scenario())
    assert burst == 1  # the loop read as congested throughout
    # Admission alone would need a turn per waiter; the expired waits let the rest start together. Turns are
    # counted, not timed: a slower machine makes fewer turns before 0.05 s, never more.
    assert turns < n // 2, turns


def test_an_idle_loop_admits_without_waiting_for_the_deadline():
    async def scenario() -> int:
        pacer = _pacing._per_loop(_pacing._pacers, _pacing.LoopPacer)
        async with asyncio.timeout(60):  # a failure, not a hang, if admission never came
            await asyncio.gather(*(paced_start(max_wait=3600) for _ in range(40)))
        return len(pacer.deadlines)

    # All admitted by the pump (a max_wait of an hour never ran out), and no stale deadline is kept after.
    assert asyncio.run(scenario()) == 0
