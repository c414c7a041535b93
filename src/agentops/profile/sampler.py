"""Samples processes and their machine with psutil at a fixed interval: CPU %, RSS and USS, threads, open fds,
connections, context switches, IO bytes and IO wait — the raw series `profile.stats` summarises.

Ticks follow a schedule (t0 + k * interval), not "sleep interval after each sample", so a slow tick does not
stretch the window. CPU, context switches and IO are deltas between ticks of the process's own counters (no
psutil `cpu_percent()` priming state). psutil reads /proc in microseconds to a few milliseconds (USS reads
smaps), so sampling runs on the event loop directly. A process that exits mid-window keeps the samples it
had and says when it went.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

import psutil

NAN = float("nan")

# Series every process sample carries, in the order reports list them; "per tick" ones are rates.
_TOTALS = ("cpu_seconds", "iowait_seconds", "ctx_switches", "involuntary_ctx_switches", "io_read_bytes",
           "io_write_bytes")
SERIES = ("cpu_percent", "rss_bytes", "uss_bytes", "threads", "fds", "connections", "ctx_switches_per_s",
          "io_read_bytes_per_s", "io_write_bytes_per_s")


@dataclass
class ProcessInfo:
    pid: int
    label: str  # what the operator called it: "w1", "pid 1234", the configured target's name
    name: str = ""
    cmdline: str = ""
    create_time: float = 0.0
    fd_limit: float = NAN  # RLIMIT_NOFILE soft limit: the ceiling "fds" is judged against


_INFO_FIELDS = {f.name for f in fields(ProcessInfo)}


@dataclass
class ProcessSeries:
    info: ProcessInfo
    t: list[float] = field(default_factory=list)  # seconds since the window started
    values: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in SERIES})
    # Totals over the window (deltas of the process's cumulative counters).
    cpu_seconds: float = 0.0
    iowait_seconds: float = NAN  # NaN when the kernel does not account it (delayacct off)
    ctx_switches: float = 0.0
    involuntary_ctx_switches: float = 0.0
    io_read_bytes: float = NAN
    io_write_bytes: float = NAN
    gone: str | None = None  # why sampling stopped early ("exited after 4.2s", "access denied")

    def series(self, name: str) -> list[float]:
        return self.values[name]

    def to_dict(self) -> dict[str, Any]:
        """The whole series as JSON (serve --node answers a remote profile with it; NaN stays NaN)."""
        return {"info": asdict(self.info), "t": self.t, "values": self.values,
                **{k: getattr(self, k) for k in _TOTALS}, "gone": self.gone}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ProcessSeries:
        """A series another machine sampled (to_dict's shape); a wrong shape is a ValueError."""
        try:
            info = ProcessInfo(**{k: v for k, v in doc["info"].items() if k in _INFO_FIELDS})
            t = [float(x) for x in doc["t"]]
            values = {k: [float(x) for x in doc["values"].get(k, [])] for k in SERIES}
            totals = {k: float(doc.get(k, NAN)) for k in _TOTALS}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a sampled series ({exc})") from None
        if any(len(v) != len(t) for v in values.values()):
            raise ValueError("not a sampled series (a series' length differs from its times')")
        gone = doc.get("gone")
        return cls(info, t, values, gone=str(gone) if gone is not None else None, **totals)


@dataclass
class MachineSeries:
    t: list[float] = field(default_factory=list)
    cpu_percent: list[float] = field(default_factory=list)  # all cores busy, 0..100
    memory_percent: list[float] = field(default_factory=list)
    cpu_count: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SamplingRun:
    processes: list[ProcessSeries]
    machine: MachineSeries
    interval_s: float
    duration_s: float  # what was asked for
    elapsed_s: float = 0.0  # what it took
    ticks: int = 0


@dataclass
class _Counters:
    """One process's cumulative counters at the previous tick."""

    at: float
    cpu: float
    iowait: float
    vol: float
    invol: float
    read: float
    write: float


class _Tracked:
    def __init__(self, proc: psutil.Process, series: ProcessSeries) -> None:
        self.proc = proc
        self.series = series
        self.prev: _Counters | None = None
        self.first: _Counters | None = None


def describe(proc: psutil.Process, label: str | None = None) -> ProcessInfo:
    """Who the process is, read once before the window (and `label` for the report)."""
    info = ProcessInfo(pid=proc.pid, label=label or f"pid {proc.pid}")
    try:
        with proc.oneshot():
            info.name = proc.name()
            info.cmdline = " ".join(proc.cmdline())
            info.create_time = proc.create_time()
    except psutil.Error:
        pass
    try:
        soft, _hard = proc.rlimit(psutil.RLIMIT_NOFILE)
        info.fd_limit = float(soft) if soft not in (psutil.RLIM_INFINITY, -1) else NAN
    except (psutil.Error, AttributeError, OSError):
        pass
    return info


@cache
def iowait_accounted() -> bool:
    """Linux counts a process's block-IO wait only with delay accounting on (kernel.task_delayacct=1 or the
    delayacct boot flag); otherwise psutil reports 0, which must not read as "no IO wait"."""
    try:
        return Path("/proc/sys/kernel/task_delayacct").read_text().strip() != "0"
    except OSError:
        return Path("/proc/self/stat").exists()  # older kernels: accounted when delayacct is compiled in


def _ctx_switches(proc: psutil.Process) -> tuple[float, float]:
    """(voluntary, involuntary) summed over ALL threads. psutil reads /proc/<pid>/status, which counts the
    main thread only — an asyncio worker with gRPC's threads would look idle. A thread that exits takes its
    count with it, so a delta can dip; rates are clamped at 0."""
    task_dir = Path(f"/proc/{proc.pid}/task")
    if task_dir.is_dir():
        vol = invol = 0
        for status in task_dir.glob("*/status"):
            try:
                text = status.read_text()
            except OSError:  # the thread exited between listing and reading
                continue
            for line in text.splitlines()[-2:]:
                key, _, value = line.partition(":")
                if key == "voluntary_ctxt_switches":
                    vol += int(value)
                elif key == "nonvoluntary_ctxt_switches":
                    invol += int(value)
        return float(vol), float(invol)
    ctx = proc.num_ctx_switches()
    return float(ctx.voluntary), float(ctx.involuntary)


def _counters(proc: psutil.Process, now: float) -> _Counters:
    cpu = proc.cpu_times()
    iowait = float(getattr(cpu, "iowait", NAN)) if iowait_accounted() else NAN
    vol, invol = _ctx_switches(proc)
    try:
        io = proc.io_counters()
        read, write = float(io.read_bytes), float(io.write_bytes)
    except (psutil.AccessDenied, AttributeError, NotImplementedError):
        read = write = NAN
    return _Counters(at=now, cpu=cpu.user + cpu.system, iowait=iowait,
                     vol=vol, invol=invol, read=read, write=write)


def _memory(proc: psutil.Process) -> tuple[float, float]:
    """(RSS, USS). USS needs /proc/<pid>/smaps, which another user's process may deny: then NaN."""
    try:
        full = proc.memory_full_info()
        return float(full.rss), float(getattr(full, "uss", NAN))
    except psutil.AccessDenied:
        return float(proc.memory_info().rss), NAN


def _connections(proc: psutil.Process) -> float:
    try:
        method = getattr(proc, "net_connections", None) or proc.connections
        return float(len(method(kind="inet")))
    except psutil.AccessDenied:
        return NAN


def _sample_process(track: _Tracked, t: float, now: float) -> None:
    proc, s = track.proc, track.series
    with proc.oneshot():
        if proc.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped: /proc still answers, with zeros
            raise psutil.ZombieProcess(proc.pid)
        counters = _counters(proc, now)
        rss, uss = _memory(proc)
        threads = float(proc.num_threads())
        try:
            fds = float(proc.num_fds())
        except (psutil.AccessDenied, AttributeError):
            fds = NAN
        conns = _connections(proc)
    prev = track.prev
    track.prev = counters
    if prev is None:  # the priming tick: counters only
        track.first = counters
        return
    dt = counters.at - prev.at
    v = s.values
    s.t.append(t)
    v["cpu_percent"].append(100.0 * (counters.cpu - prev.cpu) / dt if dt > 0 else NAN)
    v["rss_bytes"].append(rss)
    v["uss_bytes"].append(uss)
    v["threads"].append(threads)
    v["fds"].append(fds)
    v["connections"].append(conns)
    switches = (counters.vol + counters.invol) - (prev.vol + prev.invol)
    v["ctx_switches_per_s"].append(max(0.0, switches) / dt if dt > 0 else NAN)
    v["io_read_bytes_per_s"].append((counters.read - prev.read) / dt if dt > 0 else NAN)
    v["io_write_bytes_per_s"].append((counters.write - prev.write) / dt if dt > 0 else NAN)
    first = track.first
    assert first is not None
    s.cpu_seconds = counters.cpu - first.cpu
    s.iowait_seconds = counters.iowait - first.iowait
    s.ctx_switches = (counters.vol + counters.invol) - (first.vol + first.invol)
    s.involuntary_ctx_switches = counters.invol - first.invol
    s.io_read_bytes = counters.read - first.read
    s.io_write_bytes = counters.write - first.write


class _MachineTracker:
    def __init__(self, series: MachineSeries) -> None:
        self.series = series
        self.prev = psutil.cpu_times()

    def sample(self, t: float) -> None:
        now = psutil.cpu_times()
        busy = _busy(now) - _busy(self.prev)
        total = sum(now) - sum(self.prev)
        self.prev = now
        self.series.t.append(t)
        self.series.cpu_percent.append(100.0 * busy / total if total > 0 else NAN)
        self.series.memory_percent.append(float(psutil.virtual_memory().percent))


def _busy(times: Any) -> float:
    # Idle and iowait are the CPU doing nothing for anyone; guest time is already counted in user.
    return sum(times) - times.idle - getattr(times, "iowait", 0.0) - getattr(times, "guest", 0.0) \
        - getattr(times, "guest_nice", 0.0)


async def sample(targets: list[tuple[psutil.Process, str]], duration_s: float, interval_s: float,
                 on_tick: Callable[[int, int], None] | None = None,
                 stop: asyncio.Event | None = None) -> SamplingRun:
    """Sample `targets` (process, label) every `interval_s` for `duration_s`. The first tick only primes the
    counters, so the series hold one sample per interval after it. `stop` ends the window early (Ctrl-C,
    or a caller whose own work finished); `on_tick(done, total)` drives a progress bar."""
    if interval_s <= 0 or duration_s <= 0:
        raise ValueError("interval and duration must be positive")
    total = max(1, round(duration_s / interval_s))
    tracked = [_Tracked(p, ProcessSeries(describe(p, label))) for p, label in targets]
    machine = MachineSeries(cpu_count=psutil.cpu_count() or 1)
    machine_tracker = _MachineTracker(machine)
    run = SamplingRun([t.series for t in tracked], machine, interval_s, duration_s)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    wall0 = time.perf_counter()
    for tick in range(total + 1):
        if tick:
            delay = t0 + tick * interval_s - loop.time()
            if stop is not None:
                try:
                    await asyncio.wait_for(stop.wait(), max(0.0, delay))
                    break
                except TimeoutError:
                    pass
            elif delay > 0:
                await asyncio.sleep(delay)
        t = loop.time() - t0
        now = time.perf_counter()
        for track in tracked:
            if track.series.gone is None:
                _sample_alive(track, t, now)
        if tick:
            machine_tracker.sample(t)
            run.ticks = tick
            if on_tick:
                on_tick(tick, total)
        else:
            machine_tracker.prev = psutil.cpu_times()
    run.elapsed_s = time.perf_counter() - wall0
    return run


def _sample_alive(track: _Tracked, t: float, now: float) -> None:
    try:
        _sample_process(track, t, now)
    except psutil.ZombieProcess:  # a subclass of NoSuchProcess: test it first
        track.series.gone = f"became a zombie after {t:.1f}s"
    except psutil.NoSuchProcess:
        track.series.gone = f"exited after {t:.1f}s"
    except psutil.AccessDenied:
        track.series.gone = f"access denied to pid {track.proc.pid} (run as its user or root)"
