"""The bottleneck rules of `diagnose performance` and the profile findings, on constructed measurements: the
three kinds of slow handler (waiting, blocking the loop, CPU-bound), memory tiers, IO wait, a failing type and
a worker out of concurrency. Data in, findings out: the cases the lab cannot stage (its slow agent only waits;
this kernel does not account IO wait) are covered here, the waiting one also end to end against the lab."""

import math

import pytest

from agentops.core.model import Observation, Status
from agentops.core.runner import judge
from agentops.diagnose.performance import PerformanceQuery, Worker, bottlenecks
from agentops.profile import limits
from agentops.profile.analyze import profile_process
from agentops.profile.sampler import SERIES, MachineSeries, ProcessInfo, ProcessSeries, SamplingRun
from agentops.profile.stacks import FrameCount, LoopActivity, StackProfile
from agentops.profile.stats import MIB, LeakRule


def series(cpu: float = 2.0, rss_mb: float = 60.0, n: int = 20, iowait: float = math.nan) -> ProcessSeries:
    s = ProcessSeries(ProcessInfo(pid=4242, label="w1", fd_limit=1024.0))
    s.t = [0.5 * (i + 1) for i in range(n)]
    values = {k: [1.0] * n for k in SERIES}
    values["cpu_percent"] = [cpu] * n
    values["rss_bytes"] = [rss_mb * MIB] * n
    values["uss_bytes"] = [rss_mb * 0.8 * MIB] * n
    values["fds"] = [20.0] * n
    s.values = values
    s.iowait_seconds = iowait
    return s


def stacks(busy_share: float) -> StackProfile:
    loop = LoopActivity("MainThread (4242)", 100, round(100 * busy_share),
                        [FrameCount("handler (app.py:6)", round(100 * busy_share), 1.0)])
    return StackProfile(4242, True, samples=100, active_samples=50, loops=[loop])


def worker(cpu: float = 2.0, busy: float | None = None, rss_mb: float = 60.0, iowait: float = math.nan) -> Worker:
    s = series(cpu, rss_mb, iowait=iowait)
    run = SamplingRun([s], MachineSeries(), 0.5, 10.0, 10.0, 20)
    w = Worker("w1", ("slow", "failing"))
    w.profile = profile_process(s, run, LeakRule(), stacks(busy) if busy is not None else None)
    return w


def type_result(agent_type: str, p95: float, error_rate: float = 0.0):
    obs = Observation(metrics={"p95_s": p95, "p99_s": p95, "error_rate_percent": error_rate, "messages": 50.0},
                      message=f"50 messages, p95 {p95}s", facts={"worker": "w1", "errors_by_kind": {"RuntimeError": 3}})
    return judge(limits.shipped().agent_type, agent_type, obs, 10.0)


def find(workers, results, concurrency=(), q=None):
    return bottlenecks(workers, results, list(concurrency), None, q or PerformanceQuery())


@pytest.mark.parametrize("cpu,busy,kind", [
    (2.0, 0.05, "slow_external_call"),  # idle worker, loop free: the handler waits on something
    (2.0, None, "slow_external_call"),  # no stacks: the same verdict from CPU alone
    (5.0, 0.9, "blocking_call"),  # loop busy, CPU idle: time.sleep / a sync client in the handler
    (97.0, 0.95, "cpu_bound"),  # CPU saturated: computing, or an undersized worker
])
def test_a_slow_type_is_named_and_told_apart(cpu, busy, kind):
    findings = find([worker(cpu, busy)], [type_result("slow", 2.4)])
    slow = next(f for f in findings if f.id.startswith("performance.slow_handler"))
    assert slow.id == f"performance.slow_handler.{kind}"
    assert "Agent type slow on w1 is the bottleneck" in slow.title
    assert slow.status is Status.WARNING and slow.checks == ["performance.agent_type"]


def test_a_fast_type_is_not_a_bottleneck():
    assert not [f for f in find([worker()], [type_result("slow", 0.01)]) if f.id.startswith("performance.")]


def test_a_failing_type_is_named_with_its_error_kinds():
    (f,) = [f for f in find([worker()], [type_result("failing", 0.01, 40.0)]) if f.id.startswith("performance.")]
    assert f.id == "performance.failing_handler" and "fails 40.0%" in f.title
    assert "RuntimeError: 3" in f.evidence


@pytest.mark.parametrize("rss,status", [(300, None), (600, Status.WARNING), (1500, Status.CRITICAL)])
def test_memory_tiers(rss, status):
    got = [f for f in find([worker(rss_mb=rss)], []) if f.id == "performance.memory"]
    assert [f.status for f in got] == ([status] if status else [])


def test_io_wait_over_a_second_is_critical():
    (f,) = [f for f in find([worker(iowait=1.5)], []) if f.id == "performance.io_wait"]
    assert f.status is Status.CRITICAL
    assert not [f for f in find([worker(iowait=0.2)], []) if f.id == "performance.io_wait"]


def test_cpu_saturation_comes_from_the_profile_and_sorts_first():
    findings = find([worker(cpu=97.0)], [type_result("slow", 2.4)])
    assert findings[0].id == "profile.cpu_bound" and findings[0].status is Status.CRITICAL


def test_concurrency_over_90_percent_of_the_limit():
    obs = Observation(metrics={"queue_percent_of_limit": 95.0, "queue_size_max": 19.0, "queue_limit": 20.0},
                      message="up to 19 messages in flight of 20 allowed")
    result = judge(limits.shipped().concurrency, "w1", obs, 10.0)
    assert result.status is Status.WARNING
    (f,) = [f for f in find([worker()], [], [result]) if f.id == "performance.concurrency"]
    assert "over 90%" in f.title
