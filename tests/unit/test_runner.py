"""The runner: concurrency, per-check timeouts, retries, the global deadline, and exceptions contained.

The probes here are small real asyncio coroutines registered in-process (no external service is involved
in what is being tested: the scheduling)."""

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest

from agentops.core import registry
from agentops.core.config import Config, local_target
from agentops.core.model import Observation, Reason, Status
from agentops.core.packs import CheckSpec, MetricRule, PlannedCheck
from agentops.core.probe import Probe
from agentops.core.runner import run
from agentops.core.thresholds import Threshold


class SleepProbe(Probe):
    kind = "test.sleep"
    target_kinds = ("host",)
    running = 0
    peak = 0
    calls = 0

    async def measure(self, target, params: Mapping[str, Any], timeout: float) -> Observation:
        cls = type(self)
        cls.calls += 1
        cls.running += 1
        cls.peak = max(cls.peak, cls.running)
        try:
            if params.get("raise"):
                raise RuntimeError("probe exploded")
            if params.get("fail_times", 0) >= cls.calls:
                return Observation.failure(Reason.CONNECT, "refused")
            try:
                await asyncio.sleep(params.get("sleep", 0))
            except asyncio.CancelledError:
                # A client whose cleanup outlives the cancellation (a TLS close, a connection pool's drain).
                await asyncio.sleep(params.get("cleanup", 0))
                raise
            return Observation(metrics={"value": float(params.get("value", 1))})
        finally:
            cls.running -= 1


@pytest.fixture(autouse=True)
def sleep_probe(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN_PROBES, "test.sleep", f"{__name__}:SleepProbe")
    registry.probe.cache_clear()
    SleepProbe.running = SleepProbe.peak = SleepProbe.calls = 0
    yield
    registry.probe.cache_clear()


def check(cid: str, timeout: float = 5, retries: int = 0, retry_delay: float = 0.01, **params) -> PlannedCheck:
    spec = CheckSpec(id=cid, probe="test.sleep", params=params,
                     rules=[MetricRule("value", Threshold.parse("> 10"), Threshold.parse("> 20"))])
    return PlannedCheck(spec=spec, target=local_target(), timeout=timeout, retries=retries,
                        retry_delay=retry_delay)


def timed_run(checks: list[PlannedCheck], deadline: float, **kwargs) -> tuple[list, float]:
    started = time.monotonic()
    results = run(checks, deadline=deadline, **kwargs)
    return results, time.monotonic() - started


def test_thresholds_judge_measured_values():
    results = run([check("ok", value=1), check("warn", value=15), check("crit", value=25)])
    assert [r.status for r in results] == [Status.OK, Status.WARNING, Status.CRITICAL]
    assert results[2].reason is Reason.THRESHOLD and "value=25 (critical > 20)" in results[2].message


def test_exception_becomes_unknown_internal():
    (r,) = run([check("boom", **{"raise": True})])
    assert r.status is Status.UNKNOWN and r.reason is Reason.INTERNAL
    assert "RuntimeError: probe exploded" in r.message


def test_overrunning_probe_is_cut_at_its_timeout():
    (r,) = run([check("slow", timeout=0.2, sleep=30)])
    assert r.status is Status.CRITICAL and r.reason is Reason.TIMEOUT


def test_on_timeout_maps_the_state():
    c = check("slow", timeout=0.2, sleep=30)
    c.spec.on_timeout = Status.WARNING
    (r,) = run([c])
    assert r.status is Status.WARNING and r.reason is Reason.TIMEOUT


def test_retries_until_success_and_counts_attempts():
    (r,) = run([check("flaky", retries=3, fail_times=2)])
    assert r.status is Status.OK and r.attempts == 3


def test_retries_exhausted():
    (r,) = run([check("down", retries=1, fail_times=10)])
    assert r.status is Status.CRITICAL and r.reason is Reason.CONNECT and r.attempts == 2


def test_concurrency_limit_is_respected():
    run([check(f"c{i}", sleep=0.05) for i in range(12)], concurrency=3)
    assert SleepProbe.peak == 3


def test_all_checks_run_concurrently_by_default():
    run([check(f"c{i}", sleep=0.1) for i in range(20)])
    assert SleepProbe.peak == 20


def test_global_deadline_caps_each_check_and_keeps_its_on_timeout():
    """A hung target under --timeout ends as that check's own timeout (CRITICAL by default), not as UNKNOWN."""
    results = run([check("fast"), check("stuck", timeout=60, sleep=60)], deadline=0.3)
    assert results[0].status is Status.OK
    assert results[1].status is Status.CRITICAL and results[1].reason is Reason.TIMEOUT
    assert results[1].message.startswith("no answer within")
    c = check("stuck2", timeout=60, sleep=60)
    c.spec.on_timeout = Status.WARNING
    assert run([c], deadline=0.3)[0].status is Status.WARNING


def test_checks_not_started_by_the_deadline_are_unknown():
    results = run([check("a", sleep=60), check("b", sleep=60)], concurrency=1, deadline=0.3)
    assert results[0].reason is Reason.TIMEOUT and results[0].status is Status.CRITICAL
    assert results[1].status is Status.UNKNOWN and "not started before the global deadline" in results[1].message
    assert results[1].attempts == 0


def test_results_carry_the_thresholds_they_were_judged_against():
    (r,) = run([check("t", value=1)])
    assert r.thresholds == {"value": {"warning": "> 10", "critical": "> 20"}}


def test_empty_plan():
    assert run([]) == []


def test_config_defaults():
    assert Config().defaults.concurrency >= 1


# The global deadline is a promise: the run ends by it, and a hung target is its own timeout (on_timeout,
# CRITICAL by default) on every run, never UNKNOWN because of where in its retries the deadline fell. The
# deadlines are long enough (1 s) that the 10 % margin (0.1 s) is a lot of loop turns even on a busy machine.

def test_a_retry_pause_is_capped_by_the_time_left():
    """A timed-out attempt followed by a 5 s retry pause: the pause must not run the check past the deadline,
    and the result is still the timeout it observed (CRITICAL), not "not finished" (UNKNOWN)."""
    results, took = timed_run([check("stuck", timeout=0.3, retries=3, retry_delay=5, sleep=60)], deadline=1.0)
    assert results[0].status is Status.CRITICAL and results[0].reason is Reason.TIMEOUT, results[0]
    assert took <= 1.1


def test_fast_failures_retry_until_the_deadline_and_keep_their_reason():
    results, took = timed_run([check("refused", timeout=5, retries=1000, retry_delay=0.05, fail_times=10**6)],
                              deadline=1.0)
    assert results[0].status is Status.CRITICAL and results[0].reason is Reason.CONNECT, results[0]
    assert results[0].attempts > 1
    assert took <= 1.1


@pytest.mark.parametrize("cleanup", [0, 60], ids=["cut-by-its-budget", "cut-by-the-backstop"])
def test_a_retry_the_deadline_cuts_short_keeps_the_fault_its_first_attempt_saw(cleanup):
    """Refused at once, then a retry that hangs until the global deadline cuts it: on a busy machine a retry
    can take longer than the attempt before it, and reporting it as a timeout would make the same fault read
    `connect` on one run and `timeout` on the next. The attempt that ran its course says what the fault is."""
    results, _ = timed_run([check("flaky", timeout=5, retries=1, fail_times=1, sleep=60, cleanup=cleanup)],
                           deadline=0.5)
    assert results[0].reason is Reason.CONNECT and results[0].status is Status.CRITICAL, results[0]
    assert results[0].attempts == 2


def test_a_probe_slow_to_cancel_is_still_judged_as_its_own_timeout():
    """A probe whose cleanup outlives cancellation is cut by the backstop: what it had observed (no answer
    in time) is judged by its on_timeout, and the run still ends by the deadline."""
    c = check("stuck", timeout=60, sleep=60, cleanup=60)
    c.spec.on_timeout = Status.WARNING
    results, took = timed_run([c, check("fast")], deadline=1.0)
    assert results[0].status is Status.WARNING and results[0].reason is Reason.TIMEOUT, results[0]
    assert results[1].status is Status.OK
    assert took <= 1.1


def test_the_same_hang_gets_the_same_status_on_every_run():
    statuses = set()
    for _ in range(3):
        results, took = timed_run([check(f"s{i}", timeout=0.2 + i / 10, retries=2, retry_delay=0.3, sleep=60)
                                   for i in range(6)], deadline=1.0)
        statuses |= {(r.status, r.reason) for r in results}
        assert took <= 1.1
    assert statuses == {(Status.CRITICAL, Reason.TIMEOUT)}


def test_an_absolute_deadline_counts_from_when_the_command_started():
    """health passes the moment agentops started (deadline_at): time spent before the checks counts."""
    results, took = timed_run([check("stuck", timeout=60, sleep=60)], deadline=None,
                              deadline_at=time.monotonic() + 0.5)
    assert results[0].status is Status.CRITICAL and results[0].reason is Reason.TIMEOUT
    assert took <= 0.55


class ImportingProbe(Probe):
    """A probe whose client library takes a while to import (preload)."""

    kind = "test.importing"
    target_kinds = ("host",)
    events: list[str] = []

    def preload(self) -> None:
        time.sleep(0.02)  # stands in for `import redis`: CPU the loop never sees, before any clock starts
        type(self).events.append("preload")

    async def measure(self, target, params: Mapping[str, Any], timeout: float) -> Observation:
        type(self).events.append("measure")
        return Observation(metrics={"value": 1.0})


def test_a_client_import_is_reported_beside_the_check_never_inside_it(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN_PROBES, "test.importing", f"{__name__}:ImportingProbe")
    registry.probe.cache_clear()
    ImportingProbe.events = []
    importing = [PlannedCheck(spec=CheckSpec(id=f"imp{i}", probe="test.importing", params={}),
                              target=local_target(), timeout=5, retries=0, retry_delay=0.01) for i in range(2)]
    results = run([*importing, check("plain")])
    imp = [r for r in results if r.probe == "test.importing"]
    assert all(r.facts["client_import_ms"] >= 20 for r in imp)
    assert "client_import_ms" not in results[-1].facts  # a probe that imports nothing reports nothing
    # imported once, before any check's clock started (so never inside its duration)
    assert ImportingProbe.events == ["preload", "measure", "measure"]


def test_a_failing_on_done_costs_only_its_own_check():
    """Checks run on a pool of workers: one check's failure outside its probe (here the caller's on_done)
    becomes that check's UNKNOWN result, and the worker goes on with the next check in plan order."""
    seen: list[str] = []

    def on_done(result) -> None:
        seen.append(result.id)
        if result.id == "c1":
            raise ValueError("on_done exploded")

    results = run([check(f"c{i}", sleep=0.01) for i in range(5)], concurrency=1, on_done=on_done)
    assert seen == ["c0", "c1", "c2", "c3", "c4"]
    assert [r.id for r in results] == seen
    assert results[1].status is Status.UNKNOWN and results[1].reason is Reason.INTERNAL
    assert results[1].message == "ValueError: on_done exploded"
    assert all(r.status is Status.OK for i, r in enumerate(results) if i != 1)
