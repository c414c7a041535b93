"""The psutil sampler and the process analysis on real child processes: one that allocates steadily (a real
RSS climb, flagged as a suspected leak), one that idles (nothing flagged), one that spins (CPU accounted), one
that exits mid-window (said so, samples kept)."""

import asyncio
import subprocess
import sys
import textwrap

import psutil
import pytest

from agentops.core.model import Status
from agentops.profile.analyze import process_findings, profile_process
from agentops.profile.sampler import sample
from agentops.profile.stats import LeakRule

GROWER = """
import time
held = []
print("ready", flush=True)
while True:
    held.append(b"x" * (2 * 1024 * 1024))  # bytes * n writes every page: resident, not just reserved
    time.sleep(0.05)
"""
IDLE = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"
SPINNER = "print('ready', flush=True)\nwhile True:\n    pass\n"
EXITER = "import time\nprint('ready', flush=True)\ntime.sleep(0.6)\n"

# The default rule wants 10 s of samples; these windows are shorter, the rule's logic is the same.
SHORT = LeakRule(min_samples=10, min_span_s=1.5, min_growth_mb=5)


@pytest.fixture
def child():
    procs = []

    def start(code: str) -> psutil.Process:
        p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        assert p.stdout.readline().strip() == "ready"
        procs.append(p)
        return psutil.Process(p.pid)

    yield start
    for p in procs:
        p.kill()
        p.wait(timeout=10)


def window(targets, duration=2.0, interval=0.1):
    return asyncio.run(sample(targets, duration, interval))


def test_a_steady_allocation_is_flagged_as_a_leak(child):
    proc = child(GROWER)
    run = window([(proc, "grower")])
    s = run.processes[0]
    assert len(s.t) >= 10 and s.gone is None
    rss = s.values["rss_bytes"]
    assert rss[-1] - rss[0] > 10 * 1024 * 1024  # it really grew
    p = profile_process(s, run, SHORT)
    assert p.trend.leak_suspected, p.trend.why
    assert p.metrics["leak_suspected"] == 1 and p.metrics["rss_slope_mb_per_min"] > 100
    trend = next(r for r in p.results if r.id == "profile.memory_trend")
    assert trend.status is Status.WARNING and trend.reason.value == "threshold"
    assert any(f.id == "profile.leak" for f in process_findings(p))


def test_an_idle_process_raises_nothing(child):
    proc = child(IDLE)
    run = window([(proc, "idle")])
    p = profile_process(run.processes[0], run, SHORT)
    assert not p.trend.leak_suspected
    assert all(r.status is Status.OK for r in p.results), [r.message for r in p.results]
    assert process_findings(p) == []
    assert p.metrics["cpu_percent_max"] < 50
    assert p.metrics["threads_max"] >= 1 and p.metrics["fds_max"] >= 3


def test_cpu_is_accounted_from_the_process_counters(child):
    spinner, idle = child(SPINNER), child(IDLE)
    run = window([(spinner, "spin"), (idle, "idle")])
    spin_s, idle_s = run.processes
    assert spin_s.cpu_seconds > 0.3  # it spun for most of 2 s of wall time, even on a shared machine
    assert sum(spin_s.values["cpu_percent"]) > 10 * sum(idle_s.values["cpu_percent"]) + 1
    # the per-tick percentages integrate to the CPU seconds the kernel counted
    starts = [0.0, *spin_s.t[:-1]]  # the priming tick is at 0
    integrated = sum(c / 100 * (end - start)
                     for c, start, end in zip(spin_s.values["cpu_percent"], starts, spin_s.t, strict=True))
    assert integrated == pytest.approx(spin_s.cpu_seconds, rel=0.25)
    assert len(run.machine.cpu_percent) == len(spin_s.t)


def test_a_process_that_exits_mid_window_is_reported_gone(child):
    proc = child(EXITER)
    run = window([(proc, "short-lived")], duration=2.0, interval=0.1)
    s = run.processes[0]
    assert s.gone and ("exited" in s.gone or "zombie" in s.gone)
    assert 1 <= len(s.t) < 20
    p = profile_process(s, run, SHORT)
    gone = [f for f in process_findings(p) if f.id == "profile.process_gone"]
    assert gone and gone[0].status is Status.CRITICAL


def test_stop_event_ends_the_window_early(child):
    proc = child(IDLE)

    async def main():
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.35, stop.set)
        return await sample([(proc, "idle")], 30.0, 0.1, stop=stop)

    run = asyncio.run(main())
    assert 1 <= run.ticks < 10
