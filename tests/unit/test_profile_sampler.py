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

# Grows by 2 MiB each time it is told (a line on stdin) and says when it has: the test makes it grow once per
# sample, so the climb the sampler sees does not depend on how much CPU a busy machine gives the child.
GROWER = """
import sys
held = []
print("ready", flush=True)
for _ in sys.stdin:
    held.append(b"x" * (2 * 1024 * 1024))  # bytes * n writes every page: resident, not just reserved
    print("grown", flush=True)
"""
IDLE = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"
SPINNER = "print('ready', flush=True)\nwhile True:\n    pass\n"
# Exits when told (a line on stdin), not after a timer: the test decides at which sample it goes.
EXITER = "import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n"

# The default rule wants 10 s of samples; these windows are shorter, the rule's logic is the same.
SHORT = LeakRule(min_samples=10, min_span_s=1.5, min_growth_mb=5)


class Children:
    """Real child processes running `code`, each started once it printed "ready"; killed at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def popen(self, code: str) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                             stdin=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        return p

    def __call__(self, code: str) -> psutil.Process:
        return psutil.Process(self.popen(code).pid)


@pytest.fixture
def child():
    children = Children()
    yield children
    for p in children.procs:
        p.kill()
        p.wait(timeout=10)


def window(targets, duration=2.0, interval=0.1):
    return asyncio.run(sample(targets, duration, interval))


def test_a_steady_allocation_is_flagged_as_a_leak(child):
    grower = child.popen(GROWER)

    def grow(done: int, total: int) -> None:
        grower.stdin.write("grow\n")
        grower.stdin.flush()
        assert grower.stdout.readline().strip() == "grown"

    run = asyncio.run(sample([(psutil.Process(grower.pid), "grower")], 2.0, 0.1, on_tick=grow))
    s = run.processes[0]
    assert len(s.t) == 20 and s.gone is None
    rss = s.values["rss_bytes"]
    assert rss[-1] - rss[0] > 10 * 1024 * 1024  # it really grew: 19 x 2 MiB between the first and last sample
    p = profile_process(s, run, SHORT)
    assert p.trend.leak_suspected, p.trend.why
    assert p.metrics["leak_suspected"] == 1 and p.metrics["rss_slope_mb_per_min"] >= SHORT.min_slope_mb_per_min
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
    cpu_before = sum(spinner.cpu_times()[:2])
    run = window([(spinner, "spin"), (idle, "idle")])
    cpu_after = sum(spinner.cpu_times()[:2])
    spin_s, idle_s = run.processes
    # The kernel's own counter, read by the test around the window, bounds what the sampler counted in it
    # (however much CPU a busy machine gave the spinner).
    assert 0 < spin_s.cpu_seconds <= cpu_after - cpu_before
    assert sum(spin_s.values["cpu_percent"]) > 10 * sum(idle_s.values["cpu_percent"]) + 1
    # the per-tick percentages integrate to the CPU seconds the kernel counted
    starts = [0.0, *spin_s.t[:-1]]  # the priming tick is at 0
    integrated = sum(c / 100 * (end - start)
                     for c, start, end in zip(spin_s.values["cpu_percent"], starts, spin_s.t, strict=True))
    assert integrated == pytest.approx(spin_s.cpu_seconds, rel=0.25)
    assert len(run.machine.cpu_percent) == len(spin_s.t)


def test_a_process_that_exits_mid_window_is_reported_gone(child):
    exiter = child.popen(EXITER)
    alive_for = 5  # samples taken while it lives

    def on_tick(done: int, total: int) -> None:
        if done == alive_for:  # tell it to go, and wait until it has: the next tick finds it gone
            exiter.stdin.write("exit\n")
            exiter.stdin.flush()
            exiter.wait(timeout=30)

    run = asyncio.run(sample([(psutil.Process(exiter.pid), "short-lived")], 2.0, 0.1, on_tick=on_tick))
    s = run.processes[0]
    assert s.gone and ("exited" in s.gone or "zombie" in s.gone)
    assert len(s.t) == alive_for  # the samples it had are kept, and none after it went
    assert run.ticks == 20  # the window went on for the other targets (and the machine)
    p = profile_process(s, run, SHORT)
    gone = [f for f in process_findings(p) if f.id == "profile.process_gone"]
    assert gone and gone[0].status is Status.CRITICAL


def test_stop_event_ends_the_window_early(child):
    proc = child(IDLE)

    async def main():
        stop = asyncio.Event()
        # set at the third sample (an event, not a timer): the window of 300 ends there
        return await sample([(proc, "idle")], 30.0, 0.1, stop=stop,
                            on_tick=lambda done, total: stop.set() if done == 3 else None)

    run = asyncio.run(main())
    assert run.ticks == 3 and len(run.processes[0].t) == 3
