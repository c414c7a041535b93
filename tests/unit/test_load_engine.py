"""The load generator's scheduling and accounting, driven through its sender interface by a small in-process
sender whose replies, stalls, errors and silences are exact. A test double on purpose: these tests check the
engine's bookkeeping (coordinated omission, deadlines, closed-model concurrency) against known behaviour, which a
real cluster cannot produce deterministically; the real AgentRpc stream is driven end to end in
tests/e2e/test_load_lab.py."""

import asyncio

import pytest

from agentops.core.model import Reason
from agentops.load.engine import HANDLER_ERROR, IN_FLIGHT_LIMIT, NO_REPLY, STREAM_CLOSED, LoadSpec, run_load
from agentops.load.stream import NoReply, Reply, StreamClosed


class Sender:
    """Replies after `delay`; optionally stalls its own send (a write blocked by flow control) once, never
    answers some requests, answers some with a handler error, or closes the stream."""

    def __init__(self, delay=0.002, stall_at=None, stall_s=0.0, silent=lambda n: False, error=lambda n: None,
                 close_at=None):
        self.delay, self.stall_at, self.stall_s = delay, stall_at, stall_s
        self.silent, self.error, self.close_at = silent, error, close_at
        self.pending: dict[str, asyncio.Future] = {}
        self.n = 0
        self.max_in_flight = 0
        self.late_replies = 0

    @property
    def in_flight(self):
        return len(self.pending)

    async def send(self):
        self.n += 1
        if self.close_at is not None and self.n >= self.close_at:
            err = StreamClosed(Reason.CONNECT, "host went away")
            for f in self.pending.values():
                if not f.done():
                    f.set_exception(err)
            self.pending.clear()
            raise err
        if self.n == self.stall_at:
            await asyncio.sleep(self.stall_s)
        rid = str(self.n)
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        self.max_in_flight = max(self.max_in_flight, len(self.pending))
        if not self.silent(self.n):
            asyncio.get_running_loop().call_later(self.delay, self._reply, rid, self.error(self.n) or "")
        return rid, fut

    def _reply(self, rid, error):
        fut = self.pending.pop(rid, None)
        if fut is None:
            self.late_replies += 1
        elif not fut.done():
            fut.set_result(Reply(rid, error, "Pong"))

    def abandon(self, rid):
        fut = self.pending.pop(rid, None)
        if fut is not None and not fut.done():
            fut.set_exception(NoReply(rid))


def run(sender, **spec):
    return asyncio.run(run_load(sender, LoadSpec(**spec)))


def test_open_model_sends_the_schedule_and_counts_every_reply():
    stats = run(Sender(), rate=200, count=100, timeout_s=2)
    assert (stats.requests, stats.sent, stats.ok, stats.failed) == (100, 100, 100, 0)
    assert stats.latency.count == 100 and stats.error_rate_percent == 0
    assert sum(row["ok"] for row in stats.timeline_rows()) == 100
    assert stats.metrics()["offered_rate_per_s"] == 200


def test_open_model_latency_counts_from_the_intended_time():
    # The sender stalls 0.5 s inside its 10th send. Requests 11.. were due every 10 ms meanwhile; measured
    # from their intended send times they waited for the stall — from their actual send they would not have.
    stats = run(Sender(delay=0.001, stall_at=10, stall_s=0.5), rate=100, count=80, timeout_s=5)
    assert stats.ok == 80
    assert stats.latency.max_s >= 0.45
    assert stats.latency.quantile(0.5) >= 0.1  # half the run was scheduled inside or just after the stall
    assert stats.send_lag.max_s >= 0.45  # and the generator says it was behind


def test_closed_model_keeps_exactly_c_in_flight():
    sender = Sender(delay=0.005)
    stats = run(sender, concurrency=4, count=60, timeout_s=2)
    assert stats.sent == 60 and stats.ok == 60
    assert sender.max_in_flight == 4


def test_missing_replies_are_counted_at_the_deadline_and_the_run_ends():
    sender = Sender(silent=lambda n: n % 5 == 0)  # every 5th request is never answered
    stats = run(sender, rate=500, count=50, timeout_s=0.2)
    assert stats.errors[NO_REPLY] == 10 and stats.ok == 40
    assert stats.error_rate_percent == pytest.approx(20)
    assert stats.latency.count == 40  # a missing reply has no latency, it is an error


def test_handler_errors_are_counted_by_text():
    stats = run(Sender(error=lambda n: "boom" if n % 2 else None), concurrency=2, count=20, timeout_s=1)
    assert stats.errors[HANDLER_ERROR] == 10 and stats.handler_errors["boom"] == 10 and stats.ok == 10


def test_a_closed_stream_stops_the_run_and_fails_what_was_in_flight():
    sender = Sender(delay=0.2, close_at=20)
    stats = run(sender, rate=1000, count=100, timeout_s=5)
    assert stats.errors[STREAM_CLOSED] >= 1
    assert stats.requests < 100 and "host went away" in stats.stopped
    assert stats.ok + stats.failed == stats.requests


def test_open_model_does_not_grow_without_bound():
    stats = run(Sender(silent=lambda n: True), rate=2000, count=50, timeout_s=0.3, max_in_flight=10)
    assert stats.sent == 10 and stats.errors[IN_FLIGHT_LIMIT] == 40 and stats.errors[NO_REPLY] == 10


def test_duration_bounds_an_open_run():
    stats = run(Sender(), rate=100, duration_s=0.3, timeout_s=1)
    assert stats.requests in (30, 31)  # due at 0, 10, …, 290 ms (300 ms only if rounding says so)


@pytest.mark.parametrize("bad", [dict(), dict(rate=1, concurrency=1, count=1), dict(rate=0, count=1),
                                 dict(rate=10), dict(concurrency=0, count=1), dict(rate=1, count=1, timeout_s=0)])
def test_bad_specs_are_refused(bad):
    with pytest.raises(ValueError):
        LoadSpec(**bad)


def test_stop_ends_sending_and_waits_for_what_was_sent():
    async def main():
        stop = asyncio.Event()
        # stopped once 10 replies are in (an event, not a timer); ~5 more are in flight then (50 ms at 100/s)
        return await run_load(Sender(delay=0.05), LoadSpec(rate=100, duration_s=60, timeout_s=2),
                              on_progress=lambda done: stop.set() if done >= 10 else None, stop=stop)

    stats = asyncio.run(main())
    assert 10 <= stats.requests < 6000  # sending stopped long before the 60 s schedule ended
    assert stats.ok == stats.requests  # in-flight replies were still counted


@pytest.mark.parametrize("sender,status,reason", [
    (Sender(silent=lambda n: True), "CRITICAL", "timeout"),  # nothing came back at all
    (Sender(error=lambda n: "boom"), "OK", None),  # error replies are replies: the KPIs judge them
    (Sender(silent=lambda n: n % 2 == 0), "OK", None),  # some replies: missing ones are the KPIs' business
])
def test_the_run_result_fails_only_when_no_request_got_a_reply(sender, status, reason):
    from agentops.load.run import LoadOutcome, run_result

    result = run_result(LoadOutcome(run(sender, concurrency=2, count=4, timeout_s=0.2), None), "x/k")
    assert (result.status.name, result.reason) == (status, reason), result.message
    if reason:
        assert "no reply to any of the 4 requests within 0.2s (4 missing" in result.message
