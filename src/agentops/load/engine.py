"""The load generator: drives requests through a sender (one multiplexed AgentRpc stream) in an open or a
closed model and records what happened.

Open model (`rate`): request i is *intended* at t0 + i / rate whatever happened to earlier requests, and its
latency is measured from that intended time. A server that stalls therefore shows its stall in every
request that should have been sent meanwhile, instead of the generator politely waiting and hiding it
(coordinated omission). When the generator itself falls behind the schedule it catches up at once and the
lag is reported (`send_lag`), so a slow generator is visible too. Requests beyond `max_in_flight` are not
sent and count as errors: an overloaded target must not make the generator grow without bound.

Closed model (`concurrency` C): C requests in flight, each sent as soon as the previous one of its slot
completed; latency from the actual send (there is no schedule to fall behind).

Every request has a deadline (`timeout_s`): one without a reply by then is "missing" — the usual AutoGen
failure (see autogen-protocol.md). Deadlines are swept from one queue (requests are sent in time order, so
deadlines are too) instead of a timer per request.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentops.load.histogram import LatencyHistogram

# Error kinds (closed vocabulary, shown in reports and JSON)
HANDLER_ERROR = "handler_error"  # the agent's handler raised: the reply carries its error text
NO_REPLY = "no_reply"  # nothing by the request's deadline
STREAM_CLOSED = "stream_closed"  # the connection or stream ended under the request
IN_FLIGHT_LIMIT = "in_flight_limit"  # open model: not sent, too many requests already in flight

SWEEP_S = 0.02


class Sender(Protocol):
    @property
    def in_flight(self) -> int: ...

    async def send(self) -> tuple[str, asyncio.Future[Any]]: ...

    def abandon(self, request_id: str) -> None: ...


@dataclass(frozen=True)
class LoadSpec:
    rate: float | None = None  # open model: requests per second
    concurrency: int | None = None  # closed model: requests in flight
    duration_s: float | None = None
    count: int | None = None
    timeout_s: float = 10.0
    max_in_flight: int = 10_000

    def __post_init__(self) -> None:
        if (self.rate is None) == (self.concurrency is None):
            raise ValueError("give either a rate (open model) or a concurrency (closed model)")
        if self.rate is not None and not self.rate > 0:
            raise ValueError("rate must be > 0 requests per second")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.duration_s is None and self.count is None:
            raise ValueError("give a duration or a count")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError("duration must be > 0 seconds")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1")
        if not self.timeout_s > 0:
            raise ValueError("timeout must be > 0 seconds")

    @property
    def model(self) -> str:
        return "open" if self.rate is not None else "closed"

    @property
    def planned_requests(self) -> int | None:
        """How many requests the run will make, when that is known up front (for a progress bar)."""
        if self.count is not None:
            return self.count
        if self.rate is not None and self.duration_s is not None:
            return max(1, math.ceil(self.rate * self.duration_s))
        return None

    def describe(self) -> str:
        load = f"{self.rate:g}/s (open model)" if self.rate is not None else \
            f"{self.concurrency} in flight (closed model)"
        stop = " and ".join(x for x in (f"{self.duration_s:g}s" if self.duration_s else "",
                                        f"{self.count} requests" if self.count else "") if x)
        return f"{load} for {stop}, reply deadline {self.timeout_s:g}s"


@dataclass
class LoadStats:
    spec: LoadSpec
    requests: int = 0  # scheduled (open) or started (closed)
    sent: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    handler_errors: Counter[str] = field(default_factory=Counter)  # error text -> count (first 20 kinds)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    send_lag: LatencyHistogram = field(default_factory=LatencyHistogram)
    timeline: dict[int, list[int]] = field(default_factory=dict)  # second -> [sent, ok, failed]
    elapsed_s: float = 0.0  # first intended send -> last completion
    send_window_s: float = 0.0  # first -> last intended send
    late_replies: int = 0
    stopped: str = ""  # why the run ended early
    outstanding: int = 0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput_per_s(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def error_rate_percent(self) -> float:
        return 100.0 * (self.requests - self.ok) / self.requests if self.requests else math.nan

    def _bin(self, second: int) -> list[int]:
        b = self.timeline.get(second)
        if b is None:
            b = self.timeline[second] = [0, 0, 0]
        return b

    def metrics(self) -> dict[str, float]:
        m = {"requests": float(self.requests), "sent": float(self.sent), "ok": float(self.ok),
             "errors": float(self.failed), "missing": float(self.errors.get(NO_REPLY, 0)),
             "throughput_per_s": self.throughput_per_s, "error_rate_percent": self.error_rate_percent,
             "elapsed_s": self.elapsed_s, "late_replies": float(self.late_replies)}
        m.update(self.latency.summary())
        if self.spec.rate is not None:
            m["offered_rate_per_s"] = self.spec.rate
            m["send_lag_p99_s"] = self.send_lag.quantile(0.99)
            m["send_lag_max_s"] = self.send_lag.max_s if self.send_lag.count else math.nan
        return m

    def timeline_rows(self) -> list[dict[str, int]]:
        if not self.timeline:
            return []
        last = max(self.timeline)
        return [dict(zip(("second", "sent", "ok", "failed"), (s, *self.timeline.get(s, [0, 0, 0])), strict=True))
                for s in range(last + 1)]


class _Run:
    def __init__(self, sender: Sender, spec: LoadSpec, on_progress: Callable[[int], None] | None,
                 stop: asyncio.Event | None = None) -> None:
        self.sender, self.spec, self.on_progress, self.stop = sender, spec, on_progress, stop
        self.stats = LoadStats(spec)
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.deadlines: deque[tuple[float, str, asyncio.Future[Any]]] = deque()
        self.sending = True
        self.last_done = self.t0
        self.drained = asyncio.Event()
        self.completed = 0

    def second(self, at: float) -> int:
        return max(0, int(at - self.t0))

    def record(self, future: asyncio.Future[Any], started: float) -> None:
        """Done callback of every sent request: a reply, a handler error, no reply, or a closed stream."""
        now = self.loop.time()
        s = self.stats
        s.outstanding -= 1
        self.completed += 1
        self.last_done = now
        b = s._bin(self.second(now))
        exc = future.exception() if not future.cancelled() else asyncio.CancelledError()
        if exc is None:
            reply = future.result()
            if reply.error:
                s.errors[HANDLER_ERROR] += 1
                if reply.error in s.handler_errors or len(s.handler_errors) < 20:
                    s.handler_errors[reply.error] += 1
                b[2] += 1
            else:
                s.ok += 1
                s.latency.record(now - started)
                b[1] += 1
        else:
            s.errors[NO_REPLY if isinstance(exc, TimeoutError) else STREAM_CLOSED] += 1
            b[2] += 1
            if not isinstance(exc, TimeoutError) and not s.stopped:
                s.stopped = str(exc)
        if not self.sending and s.outstanding == 0:
            self.drained.set()

    def fail_unsent(self, kind: str, at: float) -> None:
        self.stats.errors[kind] += 1
        self.stats._bin(self.second(at))[2] += 1

    async def send(self, started: float) -> asyncio.Future[Any] | None:
        """Send one request whose latency counts from `started`; None when the stream is gone."""
        s = self.stats
        s.requests += 1
        try:
            request_id, future = await self.sender.send()
        except Exception as exc:
            self.fail_unsent(STREAM_CLOSED, self.loop.time())
            s.stopped = s.stopped or str(exc)
            return None
        s.sent += 1
        s.outstanding += 1
        s._bin(self.second(started))[0] += 1
        future.add_done_callback(lambda f, started=started: self.record(f, started))
        self.deadlines.append((started + self.spec.timeout_s, request_id, future))
        return future

    async def sweep(self) -> None:
        """Abandon requests whose deadline passed; report progress."""
        while True:
            await asyncio.sleep(SWEEP_S)
            now = self.loop.time()
            while self.deadlines and self.deadlines[0][0] <= now:
                _, request_id, future = self.deadlines.popleft()
                if not future.done():
                    self.sender.abandon(request_id)
            while self.deadlines and self.deadlines[0][2].done():
                self.deadlines.popleft()
            if self.on_progress:
                self.on_progress(self.completed)

    def ended(self, intended: float, index: int) -> bool:
        spec = self.spec
        if self.stats.stopped or (self.stop is not None and self.stop.is_set()):
            return True
        if spec.count is not None and index >= spec.count:
            return True
        return spec.duration_s is not None and intended >= self.t0 + spec.duration_s

    async def run_open(self) -> None:
        assert self.spec.rate is not None
        interval = 1.0 / self.spec.rate
        index = 0
        last_intended = self.t0
        while True:
            intended = self.t0 + index * interval
            if self.ended(intended, index):
                break
            delay = intended - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            last_intended = intended
            index += 1
            if self.sender.in_flight >= self.spec.max_in_flight:
                self.stats.requests += 1
                self.fail_unsent(IN_FLIGHT_LIMIT, intended)
                continue
            if await self.send(intended) is not None:
                self.stats.send_lag.record(self.loop.time() - intended)
        self.stats.send_window_s = last_intended - self.t0

    async def run_closed(self) -> None:
        assert self.spec.concurrency is not None
        issued = 0

        async def slot() -> None:
            nonlocal issued
            while True:
                started = self.loop.time()
                if self.ended(started, issued):
                    return
                issued += 1
                future = await self.send(started)
                if future is None:
                    return
                try:
                    await future
                except Exception:
                    pass  # recorded by the done callback

        await asyncio.gather(*(slot() for _ in range(self.spec.concurrency)))
        self.stats.send_window_s = self.loop.time() - self.t0

    async def run(self) -> LoadStats:
        sweeper = asyncio.create_task(self.sweep())
        try:
            await (self.run_open() if self.spec.rate is not None else self.run_closed())
            self.sending = False
            if self.stats.outstanding:
                # Every outstanding request resolves by its deadline (the sweeper abandons it); the margin
                # only guards against a bug turning into a hang.
                await asyncio.wait_for(self.drained.wait(), self.spec.timeout_s + 5.0)
        finally:
            sweeper.cancel()
            try:
                await sweeper
            except asyncio.CancelledError:
                pass
        stats = self.stats
        stats.elapsed_s = max(self.last_done, self.t0 + stats.send_window_s) - self.t0
        stats.late_replies = int(getattr(self.sender, "late_replies", 0))
        if self.on_progress:
            self.on_progress(self.completed)
        return stats


async def run_load(sender: Sender, spec: LoadSpec, on_progress: Callable[[int], None] | None = None,
                   stop: asyncio.Event | None = None) -> LoadStats:
    """Drive `sender` per `spec`; returns when every request has a reply, an error or passed its deadline.
    `stop` ends the sending early (Ctrl-C); what was sent is still waited for and counted."""
    return await _Run(sender, spec, on_progress, stop).run()
