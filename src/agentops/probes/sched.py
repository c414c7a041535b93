"""The `host.starvation` measurement: are the given processes starved of CPU, whatever else keeps the machine busy?

A busy machine is not a problem for a cluster whose processes get the CPU they ask for. What slows an agent
is a process that is runnable and waits for a core: the kernel counts that wait per thread in
/proc/<pid>/task/<tid>/schedstat (field 2: nanoseconds spent on a run queue waiting to run; field 1: time
on a CPU). Over a short window this probe reads, for each process, the share of the window its threads
waited runnable (`run_queue_wait_percent`, the worst process) and the CPU they got (`cpu_percent`, percent
of one core), and the machine's steal time from /proc/stat (a VM's host taking the CPU away).
Linux only; elsewhere (or without schedstat) the probe says it cannot measure (UNKNOWN), never OK.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentops.core.format import duration
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params
from agentops.core.target import Target

PROC = Path("/proc")


def read_schedstat(pid: int) -> tuple[int, int] | None:
    """(ns on a CPU, ns waiting on a run queue) summed over the process's threads; None when it is gone."""
    run = wait = 0
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return None
    for task in tasks:
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:
            continue  # a thread that ended between the listing and the read
        if len(fields) >= 2:
            run += int(fields[0])
            wait += int(fields[1])
    return run, wait


def read_steal() -> tuple[int, int] | None:
    """(steal ticks, all ticks) of the machine's aggregate CPU line, or None without /proc/stat."""
    try:
        first = (PROC / "stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(v) for v in first[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user/nice.
    total = sum(ticks[:8])
    return (ticks[7] if len(ticks) > 7 else 0), total


@dataclass(frozen=True)
class StarvationStart:
    """The first reading of a starvation window: each pid's schedstat and the machine's steal, and when."""

    pids: tuple[int, ...]
    before: dict[int, tuple[int, int] | None]
    steal: tuple[int, int] | None
    started: float  # time.monotonic()


def start_starvation(pids: list[int]) -> StarvationStart:
    """Open a window now; `starvation_since` closes it. The diagnosis opens it when it finds the worker, so its
    own layers are the window and nothing waits for one at the end."""
    return StarvationStart(tuple(pids), {pid: read_schedstat(pid) for pid in pids}, read_steal(), time.monotonic())


def starvation_since(start: StarvationStart) -> Observation:
    """The `host.starvation` measurement over the window `start` opened."""
    pids = list(start.pids)
    if not any(v is not None for v in start.before.values()):
        return Observation.failure(Reason.UNSUPPORTED, "no /proc/<pid>/task/*/schedstat for "
                                                       f"{', '.join(map(str, pids)) or 'no pid'} (not Linux, or gone)")
    wall_ns = (time.monotonic() - start.started) * 1e9
    steal0, steal1 = start.steal, read_steal()
    waits: dict[int, float] = {}
    cpu_ns = 0
    for pid, first in start.before.items():
        end = read_schedstat(pid)
        if first is None or end is None:
            continue
        cpu_ns += end[0] - first[0]
        waits[pid] = 100.0 * (end[1] - first[1]) / wall_ns
    if not waits:
        return Observation.failure(Reason.ASSERTION, f"the processes {', '.join(map(str, pids))} ended while measured")
    worst = max(waits, key=lambda p: waits[p])
    metrics = {"run_queue_wait_percent": round(waits[worst], 1), "cpu_percent": round(100.0 * cpu_ns / wall_ns, 1),
               "processes": float(len(waits))}
    if steal0 is not None and steal1 is not None and steal1[1] > steal0[1]:
        metrics["steal_percent"] = round(100.0 * (steal1[0] - steal0[0]) / (steal1[1] - steal0[1]), 1)
    steal = f", steal {metrics['steal_percent']:.0f}%" if "steal_percent" in metrics else ""
    return Observation(
        metrics=metrics,
        facts={"pids": sorted(waits), "wait_percent_by_pid": {str(p): round(w, 1) for p, w in waits.items()},
               "window_s": round(wall_ns / 1e9, 3)},
        message=f"pid {worst} waited for a CPU {waits[worst]:.0f}% of {duration(wall_ns / 1e9)}; the processes got "
                f"{metrics['cpu_percent']:.0f}% of a core{steal}")


async def measure_starvation(pids: list[int], interval: float = 0.3) -> Observation:
    """The `host.starvation` measurement of `pids` over `interval` seconds (the diagnosis passes the pids it
    found; the pack probe below finds them as host.process does)."""
    start = start_starvation(pids)
    if not any(v is not None for v in start.before.values()):
        return starvation_since(start)  # unsupported: nothing to wait for
    await asyncio.sleep(interval)
    return starvation_since(start)


class StarvationProbe(Probe):
    """`host.starvation` as a check: the processes named like host.process's (name, cmdline regex, pid file;
    on a worker target its `process:` options), measured over `interval` seconds (default 0.3)."""

    kind = "host.starvation"
    target_kinds = ("host", "worker")
    description = "are these processes waiting for a CPU (run queue, steal), whatever else keeps the machine busy"
    metrics = {"run_queue_wait_percent": "share of the window the worst process's threads waited runnable",
               "cpu_percent": "CPU the processes got, percent of one core",
               "steal_percent": "CPU time the hypervisor took from this machine",
               "processes": "processes measured"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"name", "cmdline", "pid_file", "interval"})
        if "cmdline" in params:
            try:
                re.compile(str(params["cmdline"]))
            except re.error as exc:
                raise ValueError(f"cmdline is not a valid regex: {exc}") from None
        interval = params.get("interval", 0.3)
        if not isinstance(interval, int | float) or isinstance(interval, bool) or not 0 < interval <= 60:
            raise ValueError("interval must be a number of seconds, over 0 and at most 60")

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.core.osproc import find_processes

        opts = dict(target.options.get("process", {})) if target.kind == "worker" else {}
        opts.update(params)
        if not any(opts.get(k) for k in ("name", "cmdline", "match", "pid_file")):
            return Observation.failure(Reason.ASSERTION, "give name, cmdline (a regex) or pid_file: which processes")
        procs = find_processes(name=opts.get("name"), cmdline=opts.get("cmdline") or opts.get("match"),
                               pid_file=opts.get("pid_file"))
        if not procs:
            what = opts.get("pid_file") or opts.get("cmdline") or opts.get("match") or opts.get("name")
            return Observation.failure(Reason.ASSERTION, f"no process matches {what!r}")
        # The window ends well inside the check's timeout, so the measurement is never cut off.
        window = min(float(opts.get("interval", 0.3)), timeout * 0.8)
        return await measure_starvation([p.pid for p in procs], window)
