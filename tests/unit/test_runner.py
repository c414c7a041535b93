"""The runner: concurrency, per-check timeouts, retries, the global deadline, and exceptions contained.

The probes here are small real asyncio coroutines registered in-process (no external service is involved
in what is being tested: the scheduling)."""

import asyncio
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
            await asyncio.sleep(params.get("sleep", 0))
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


def check(cid: str, timeout: float = 5, retries: int = 0, **params) -> PlannedCheck:
    spec = CheckSpec(id=cid, probe="test.sleep", params=params,
                     rules=[MetricRule("value", Threshold.parse("> 10"), Threshold.parse("> 20"))])
    return PlannedCheck(spec=spec, target=local_target(), timeout=timeout, retries=retries, retry_delay=0.01)


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
    assert "no answer within 0.3" in results[1].message
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
