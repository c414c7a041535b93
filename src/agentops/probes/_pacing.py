"""When a probe may start a timed request: only while the one event loop is keeping up.

Every check of a run shares one event loop. Started all at once, hundreds of requests are then served in
turn: each step of each request (build, connect, send, parse) waits behind every other ready step, and that
wait lands inside the latency the probe reports (500 checks: 1.2-1.6 s for an endpoint curl sees in 114 ms).
A fixed cap on requests in flight would not do: a request waiting on a silent server costs the loop nothing,
and a cap would make 150 blackholed endpoints take 150/cap timeouts in turn. So admission follows the
loop's measured lag instead: a pump turns the loop once (`sleep(0)`: the time every ready callback takes to
run), and lets more requests start while that turn is short, fewer while it is long.

Admission cannot help against a check that holds the loop itself: a /metrics parse of 20,000 series is
~0.4 s of synchronous CPU, and a response arriving meanwhile is read (and its timer stopped) only after it.
So CPU-heavy work runs in slices (`sliced`): a generator that yields between small steps, driven for about
SLICE_S at a time, then handed back to the loop through `cpu_turn`. The turns are shared by every check of
the loop: one slice per loop turn in all, round robin, so twelve parses do not take twelve slices back to
back while a timer waits for its read; every I/O callback of the turn runs between two slices.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import TypeVar

T = TypeVar("T")
P = TypeVar("P")

# A loop turn shorter than this is a loop keeping up: a timer started now is late by less than this.
LAG_OK_S = 0.002
# At most this many requests start per loop turn, however idle the loop looks: their own first steps are
# what the next turn's lag measures.
MAX_BURST = 16
# At most this share of an attempt's timeout is spent waiting to start (see probes._errors).
PACING_SHARE = 0.25
# CPU-heavy work holds the loop at most about this long at a time (a step of it may overrun by its own size).
SLICE_S = 0.001


class _WakeQueue:
    """Futures woken in arrival order by one pump task per loop; a subclass's _pump says how many per turn."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.pump: asyncio.Task[None] | None = None

    async def wait(self) -> None:
        future: asyncio.Future[None] = self.loop.create_future()
        self.waiters.append(future)
        if self.pump is None or self.pump.done():
            self.pump = self.loop.create_task(self._pump())
        await future  # a cancelled waiter is skipped by the pump

    def _wake_next(self) -> bool:
        """Wake the first waiter still waiting; False when none is left."""
        while self.waiters:
            future = self.waiters.popleft()
            if not future.done():
                future.set_result(None)
                return True
        return False

    async def _pump(self) -> None:
        raise NotImplementedError


class LoopPacer(_WakeQueue):
    """Admission of timed requests on one event loop (see the module doc). A waiter's bounded wait is ended by
    the pump, which turns the loop anyway while anyone waits, from a heap of deadlines: not by an
    asyncio.timeout per request (a Timeout, a timer handle in the loop's heap and its cancellation, for a
    wait that at fleet scale almost never runs out)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.burst = 1
        self.deadlines: list[tuple[float, int, asyncio.Future[None]]] = []
        self.joined = 0  # a tie-breaker for equal deadlines: futures do not compare

    async def wait_at_most(self, max_wait: float) -> None:
        future: asyncio.Future[None] = self.loop.create_future()
        self.waiters.append(future)
        self.joined += 1
        heapq.heappush(self.deadlines, (time.monotonic() + max_wait, self.joined, future))
        if self.pump is None or self.pump.done():
            self.pump = self.loop.create_task(self._pump())
        await future  # a cancelled waiter is skipped by the pump

    def _expire(self, now: float) -> None:
        """Let every waiter whose bounded wait has run out start (it stays in `waiters`, done, and is skipped)."""
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] <= now:
            future = heapq.heappop(deadlines)[2]
            if not future.done():
                future.set_result(None)

    async def _pump(self) -> None:
        while self.waiters:
            turn = time.monotonic()
            await asyncio.sleep(0)
            now = time.monotonic()
            lag = now - turn
            # Additive increase, multiplicative decrease: a congested loop is relieved at once, an idle one
            # is filled without a burst that would itself congest it.
            self.burst = min(MAX_BURST, self.burst + 1) if lag < LAG_OK_S else max(1, self.burst // 2)
            self._expire(now)
            admitted = 0
            while admitted < self.burst and self._wake_next():
                admitted += 1
        self.deadlines.clear()  # every waiter has been woken or cancelled: what is left is stale


class CpuTurns(_WakeQueue):
    """The CPU slices of one event loop's heavy checks: one slice per loop turn in all, in arrival order."""

    async def _pump(self) -> None:
        while self._wake_next():
            # The woken slice runs in the next loop turn, and the next one is woken only after it: between
            # two slices, the loop polls its sockets and runs every callback that is ready.
            await asyncio.sleep(0)


def _per_loop(registry: dict[asyncio.AbstractEventLoop, P],
              make: Callable[[asyncio.AbstractEventLoop], P]) -> P:
    loop = asyncio.get_running_loop()
    found = registry.get(loop)
    if found is None:
        for old in [other for other in registry if other.is_closed()]:  # an earlier asyncio.run's loop
            del registry[old]
        found = registry[loop] = make(loop)
    return found


_pacers: dict[asyncio.AbstractEventLoop, LoopPacer] = {}
_turns: dict[asyncio.AbstractEventLoop, CpuTurns] = {}


async def cpu_turn() -> None:
    """Wait for this loop's next CPU slice (see the module doc)."""
    await _per_loop(_turns, CpuTurns).wait()


async def sliced(work: Generator[None, None, T]) -> T:
    """Run `work`, a generator that yields between small steps of CPU work and returns its result, holding the
    loop about SLICE_S at a time and taking a CPU turn between slices."""
    start = time.perf_counter()
    while True:
        try:
            next(work)
        except StopIteration as done:
            return done.value
        if time.perf_counter() - start >= SLICE_S:
            await cpu_turn()
            start = time.perf_counter()


def unsliced(work: Generator[None, None, T]) -> T:
    """Run the same work in one go, where no loop is waiting (a test, a synchronous caller)."""
    while True:
        try:
            next(work)
        except StopIteration as done:
            return done.value


async def paced_start(max_wait: float) -> None:
    """Wait until this loop can serve one more timed request, or `max_wait` seconds (then it starts anyway: a
    late timer is better than an attempt spent in the queue). Call right before a latency timer starts."""
    await _per_loop(_pacers, LoopPacer).wait_at_most(max_wait)
