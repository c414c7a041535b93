"""The machine counts against a diagnosis only when the cluster's own processes are starved of CPU.

Real processes on this machine: an idle "cluster process" beside a busy loop (a busy machine) is judged OK;
a busy "cluster process" pinned with `taskset` to one core shared with a competing busy loop waits for the
CPU, and that raises machine.starvation. Children are started here and killed by pid.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from agentops.core.evaluate import evaluate
from agentops.core.model import Reason, Status
from agentops.core.packs import command_specs
from agentops.probes.sched import measure_starvation, read_schedstat
from tests.fixtures.common import wait_for

BUSY = [sys.executable, "-c", "while True: pass"]
IDLE = [sys.executable, "-c", "import time; time.sleep(120)"]

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux schedstat only")


@contextmanager
def started(*argvs: list[str]) -> Iterator[list[int]]:
    procs = [subprocess.Popen(a) for a in argvs]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _wait_running(pid: int) -> None:
    """Until the child has used some CPU (its interpreter started): an event, not a sleep."""
    first = read_schedstat(pid)
    while True:
        now = read_schedstat(pid)
        if first is not None and now is not None and now[0] > first[0] + 20_000_000:
            return


def judged(pids: list[int]) -> tuple[Status, Reason | None, str]:
    obs = asyncio.run(measure_starvation(pids, 0.5))
    return evaluate(command_specs("diagnose")["machine.starvation"], obs)


def test_a_busy_machine_with_an_idle_cluster_process_is_not_a_finding(tmp_path):
    # The idle process is measured once it has started and gone to sleep (it says so by touching a file): an
    # interpreter still starting on a busy machine is runnable and waits for a CPU, as a starved one does.
    ready = tmp_path / "ready"
    idle = [sys.executable, "-c", "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(120)",
            str(ready)]
    with started(idle, BUSY) as (cluster_pid, busy_pid):
        wait_for(ready.exists, timeout=60, what="the idle process to start")
        _wait_running(busy_pid)
        status, reason, message = judged([cluster_pid])
    assert status is Status.OK, message
    assert reason is None


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset")
def test_a_cluster_process_waiting_for_its_core_is_starved():
    pin = ["taskset", "-c", "0"]
    with started(pin + BUSY, pin + BUSY) as (cluster_pid, rival_pid):
        _wait_running(cluster_pid)
        _wait_running(rival_pid)
        status, reason, message = judged([cluster_pid])
    assert status is Status.WARNING, message
    assert reason is Reason.THRESHOLD and "run_queue_wait_percent" in message


def test_gone_processes_are_not_ok():
    with started(IDLE) as (pid,):
        pass
    status, reason, _ = judged([pid])
    assert status is not Status.OK and reason is Reason.UNSUPPORTED


def test_the_registered_probe_finds_its_processes_like_host_process(tmp_path):
    """host.starvation as a pack check: the processes are named by cmdline (or pid file), not given as pids."""
    from agentops.core.target import Target
    from tests.fixtures.servers import run_probe, unique_name

    marker = unique_name("starve")
    with started([*IDLE, marker]) as [pid]:
        host = Target(name="local", kind="host")
        obs = run_probe("host.starvation", host, {"cmdline": marker, "interval": 0.2})
        assert obs.reason is None, obs.message
        assert obs.facts["pids"] == [pid] and obs.metrics["processes"] == 1
        assert obs.metrics["run_queue_wait_percent"] >= 0
        (tmp_path / "w.pid").write_text(f"{pid}\n")
        assert run_probe("host.starvation", host, {"pid_file": str(tmp_path / "w.pid")}).facts["pids"] == [pid]
    gone = run_probe("host.starvation", Target(name="local", kind="host"), {"cmdline": marker})
    assert gone.reason is Reason.ASSERTION and "no process matches" in gone.message


def test_a_window_opened_earlier_is_closed_without_waiting() -> None:
    """The diagnosis opens the window when it finds the worker and closes it after its other layers: the
    measurement spans the diagnosis' own work and nothing sleeps for a window of its own at the end."""
    import time

    from agentops.probes.sched import start_starvation, starvation_since

    start = start_starvation([os.getpid()])
    spent = time.process_time()
    while time.process_time() - spent < 0.05:  # this process' own CPU work stands in for the layers
        pass
    obs = starvation_since(start)
    assert obs.reason is None, obs.message
    assert obs.facts["pids"] == [os.getpid()]
    # The window is what passed since it was opened (at least the CPU time spent in it).
    assert obs.facts["window_s"] >= 0.05
    assert obs.metrics["cpu_percent"] > 0
    # A process gone between the two readings: said, not a crash.
    gone = start_starvation([2 ** 22 + 7])
    assert starvation_since(gone).reason is Reason.UNSUPPORTED
