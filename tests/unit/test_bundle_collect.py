"""bundle.collect: collectors run at once, each under its own timeout and the bundle's deadline; a hanging
one is cut off and recorded as timed out without holding the others; a failing one says why (redacted)."""

from __future__ import annotations

import asyncio

from agentops.bundle.collect import (
    COLLECTED,
    FAILED,
    TIMED_OUT,
    Collected,
    Collector,
    CollectorFailed,
    run_collectors,
)


def test_a_hanging_collector_is_timed_out_and_the_others_are_collected() -> None:
    others_done = asyncio.Event()

    async def hangs(_timeout: float) -> Collected:
        await asyncio.Event().wait()  # never set: the socket that never answers
        raise AssertionError("unreachable")

    async def quick(_timeout: float) -> Collected:
        got = Collected()
        got.add("a.txt", "hello")
        others_done.set()
        return got

    async def fails(_timeout: float) -> Collected:
        partial = Collected()
        partial.add("half.txt", b"some")
        raise CollectorFailed("endpoint said no: password=leak-3344\nsecond line", partial)

    async def broken(_timeout: float) -> Collected:
        raise KeyError("surprise")

    collectors = [Collector("hang", "hangs", [], 0.3, hangs), Collector("quick", "quick", ["a.txt"], 5, quick),
                  Collector("fails", "fails", [], 5, fails), Collector("broken", "broken", [], 5, broken)]
    ran = asyncio.run(run_collectors(collectors, deadline_s=30))
    out = {o.name: (o, m) for o, m in ran}
    assert out["hang"][0].outcome == TIMED_OUT and out["hang"][0].duration_s >= 0.3
    assert out["quick"][0].outcome == COLLECTED and out["quick"][1][0].data == b"hello" and others_done.is_set()
    fails_out = out["fails"][0]
    assert fails_out.outcome == FAILED and fails_out.files == ["half.txt"]
    assert fails_out.error == "endpoint said no: password=***"  # one line, redacted
    assert out["broken"][0].outcome == FAILED and "KeyError" in (out["broken"][0].error or "")


def test_the_deadline_caps_every_collectors_timeout() -> None:
    async def hangs(_timeout: float) -> Collected:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    ran = asyncio.run(run_collectors([Collector("hang", "hangs", [], 600, hangs)], deadline_s=0.2))
    outcome = ran[0][0]
    assert outcome.outcome == TIMED_OUT and outcome.timeout_s <= 0.2
