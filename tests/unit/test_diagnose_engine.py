"""The diagnosis engine: one deadline shared by the layers, layers judged like checks, nothing hangs."""

from __future__ import annotations

import asyncio
import time

from agentops.core.model import Observation, Reason, Status
from agentops.core.packs import make_spec
from agentops.diagnose.engine import Deadline, Evidence


def test_budget_leaves_the_reserve_for_later_layers() -> None:
    d = Deadline(2.0)
    assert 1.4 < d.budget(reserve=0.5) <= 1.5
    assert d.budget(cap=0.3) == 0.3
    d.started -= 5  # the deadline has passed
    assert d.budget() == 0.0


def test_a_hanging_layer_is_cut_at_its_budget_and_the_next_gets_what_is_left() -> None:
    async def hang(timeout: float) -> Observation:
        await asyncio.sleep(60)
        return Observation()

    async def quick(timeout: float) -> Observation:
        return Observation(metrics={"budget": timeout})

    async def run() -> Evidence:
        ev = Evidence(Deadline(1.0))
        await ev.layer(make_spec("a.hang", "test"), "t", hang, reserve=0.4)
        await ev.layer(make_spec("b.quick", "test"), "t", quick)
        return ev

    started = time.monotonic()
    ev = asyncio.run(run())
    took = time.monotonic() - started
    hung, after = ev.results
    assert (hung.status, hung.reason) == (Status.CRITICAL, Reason.TIMEOUT)
    # What was left of the second, however slowly this machine got there: at least the deadline minus all the
    # time the test saw pass, at most the reserve the hang left (not the whole second).
    assert 1.0 - took <= after.metrics["budget"] <= 0.45
    assert took < 1.0 + 0.5  # bounded by the deadline (plus the runner's grace)


def test_no_time_left_is_reported_not_skipped() -> None:
    async def never(timeout: float) -> Observation:
        raise AssertionError("must not run")

    async def run() -> Evidence:
        ev = Evidence(Deadline(0.5))
        ev.deadline.started -= 1
        await ev.layer(make_spec("late", "test"), "t", never)
        return ev

    (late,) = asyncio.run(run()).results
    assert (late.status, late.reason) == (Status.UNKNOWN, Reason.TIMEOUT)
    assert "deadline" in late.message


def test_layers_are_judged_by_their_thresholds_and_a_crash_is_unknown() -> None:
    async def slow_reply(timeout: float) -> Observation:
        return Observation(metrics={"rtt_ms": 1500.0})

    async def crash(timeout: float) -> Observation:
        raise RuntimeError("bug in a layer")

    async def run() -> Evidence:
        ev = Evidence(Deadline(2.0))
        await ev.layer(make_spec("ping", "test", warning={"rtt_ms": "> 1000"}), "t", slow_reply)
        await ev.layer(make_spec("boom", "test"), "t", crash)
        return ev

    ping, boom = asyncio.run(run()).results
    assert (ping.status, ping.reason) == (Status.WARNING, Reason.THRESHOLD)
    assert (boom.status, boom.reason) == (Status.UNKNOWN, Reason.INTERNAL)
    assert "bug in a layer" in boom.message


def test_a_layers_timeout_in_the_pack_caps_it_below_the_callers_cap() -> None:
    """machine.memory's `timeout: 1` in checks/diagnose.yaml (or a config's override) is the layer's budget."""
    from dataclasses import replace

    seen: list[float] = []

    async def measure(timeout: float) -> Observation:
        seen.append(timeout)
        return Observation()

    async def run() -> None:
        ev = Evidence(Deadline(60.0))
        await ev.layer(replace(make_spec("a.capped", "test"), timeout=0.5), "t", measure, cap=2.0)
        await ev.layer(make_spec("b.uncapped", "test"), "t", measure, cap=2.0)
        await ev.layer(replace(make_spec("c.pack_only", "test"), timeout=0.75), "t", measure)

    asyncio.run(run())
    assert seen == [0.5, 2.0, 0.75]
