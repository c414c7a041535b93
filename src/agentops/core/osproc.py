"""Processes on this machine: which they are (`find_processes`: by pid file, exact name or command-line regex)
and what they are doing, as far as this machine's kernel can tell.

Shared by the host.process and worker probes, the process.view probe (the diagnosis' and the worker probe's
view), the config's process locators (core.cluster.ProcessLocator) and the profiler, so "which process is w1"
has one answer. The view reads a process's state: running or stopped (and since when), its connections to
the AgentRpc host port, its memory and threads. psutil reads /proc; every call here takes microseconds.

"Stopped since when" is not recorded by the kernel, and psutil's create_time is the start time, not the stop
time. What the kernel does record is when each thread last ran on a CPU (`se.exec_start` in
/proc/<pid>/task/<tid>/sched, on the scheduler clock). A stopped process cannot run, and every thread runs
briefly to take part in the group stop, so the latest of those is the moment it stopped. The same clock is read
for this thread (running now), on the CPU the stopped thread last ran on (each CPU keeps its own clock, and
here two CPUs' clocks differed by 6.8 s), to turn it into "N seconds ago". Where /proc/<pid>/sched is absent (kernels
without CONFIG_SCHED_DEBUG), the answer is "unknown", said as such.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.format import utc_stamp

LOOPBACK = {"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"}


@dataclass
class ProcessView:
    pid: int
    state: str  # the kernel's letter: R running, S sleeping, D disk wait, T stopped, t traced, Z zombie
    status: str  # psutil's word for it
    started_at: float  # epoch seconds (process start, not stop)
    cmdline: str
    rss_bytes: int = 0
    threads: int = 0
    cpu_seconds: float = 0.0
    # Connections to the AgentRpc host port: "local -> remote STATE"; None when no host port was known.
    host_connections: list[str] | None = None
    last_ran_s_ago: float | None = None  # from the scheduler clock; for a stopped process, stopped this long

    @property
    def stopped(self) -> bool:
        return self.state in ("T", "t")

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")

    @property
    def connected(self) -> bool | None:
        if self.host_connections is None:
            return None
        return any(c.endswith("ESTABLISHED") for c in self.host_connections)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["started_at"] = _iso(self.started_at)
        if self.stopped and self.last_ran_s_ago is not None:
            doc["stopped_since"] = _iso(time.time() - self.last_ran_s_ago)
        return doc


def _iso(epoch: float) -> str:
    return utc_stamp(epoch, timespec="seconds")


def state_letter(pid: int) -> str | None:
    """The state field of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text.rpartition(")")[2].split()
    return rest[0] if rest else None


def start_ticks(pid: int) -> int | None:
    """The process' start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with the pid, who a
    process is. Unlike psutil's create_time (boot time + ticks, the boot time read from the wall clock), it does
    not move when the wall clock is stepped, so two processes comparing it agree exactly."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text.rpartition(")")[2].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def _exec_start_ms(path: Path) -> float | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("se.exec_start"):
                return float(line.split(":", 1)[1])
    except (OSError, ValueError):
        return None
    return None


def _last_cpu(task: Path) -> int | None:
    """The CPU a thread last ran on: field 39 of /proc/<pid>/task/<tid>/stat (counted after the `(comm)`)."""
    try:
        return int((task / "stat").read_text().rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def _sched_clock_ms(cpu: int | None) -> float | None:
    """This thread's scheduler clock read on `cpu`. Each CPU keeps its own clock, and on some machines (VMs
    with an unstable TSC) they differ by seconds, so a thread's `exec_start` is comparable only with a reading
    taken on the CPU it ran on: pin this thread there for the one read, then restore its affinity."""
    here = Path("/proc/thread-self/sched")
    if cpu is None:
        return _exec_start_ms(here)
    try:
        allowed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
    except OSError:  # that CPU is not ours to run on (cgroup cpuset): the best reading is this CPU's
        return _exec_start_ms(here)
    try:
        return _exec_start_ms(here)
    finally:
        os.sched_setaffinity(0, allowed)


def last_ran_s_ago(pid: int) -> float | None:
    """Seconds since any thread of `pid` last ran on a CPU (see the module docstring), or None if unknown."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    clocks: dict[int | None, float | None] = {}
    ago_ms = None
    for task in tasks:
        ran = _exec_start_ms(task / "sched")
        if ran is None:
            continue
        cpu = _last_cpu(task)
        if cpu not in clocks:
            clocks[cpu] = _sched_clock_ms(cpu)
        now = clocks[cpu]
        if now is not None and (ago_ms is None or now - ran < ago_ms):
            ago_ms = now - ran
    return None if ago_ms is None else max(0.0, ago_ms / 1000.0)


def inspect(proc: Any, host_port: int | None = None, host_ips: set[str] | None = None) -> ProcessView | None:
    """A view of one psutil.Process; None when it vanished meanwhile."""
    import psutil

    try:
        with proc.oneshot():
            view = ProcessView(
                pid=proc.pid, state=state_letter(proc.pid) or "?", status=proc.status(),
                started_at=proc.create_time(), cmdline=" ".join(proc.cmdline())[:300],
                rss_bytes=proc.memory_info().rss, threads=proc.num_threads(),
                cpu_seconds=round(sum(proc.cpu_times()[:2]), 3),
            )
    except psutil.NoSuchProcess:
        return None
    except psutil.Error:
        view = ProcessView(pid=proc.pid, state=state_letter(proc.pid) or "?", status="unknown", started_at=0.0,
                           cmdline="")
    if view.stopped:
        view.last_ran_s_ago = last_ran_s_ago(proc.pid)
    if host_port is not None:
        view.host_connections = connections_to(proc, host_port, host_ips)
    return view


def connections_to(proc: Any, port: int, ips: set[str] | None = None) -> list[str]:
    """The process's TCP connections whose remote end is `port` (on one of `ips`, when given)."""
    import psutil

    wanted = set(ips or ())
    if wanted & LOOPBACK:
        wanted |= LOOPBACK
    try:
        conns = proc.net_connections(kind="tcp")
    except psutil.Error:
        return []
    out = []
    for c in conns:
        # A dual-stack socket (gRPC's) names an IPv4 peer as ::ffff:10.0.0.5.
        if not c.raddr or c.raddr.port != port or (wanted and c.raddr.ip.removeprefix("::ffff:") not in wanted
                                                   and c.raddr.ip not in wanted):
            continue
        out.append(f"{c.laddr.ip}:{c.laddr.port} -> {c.raddr.ip}:{c.raddr.port} {c.status}")
    return sorted(out)


@dataclass
class Located:
    """The processes a locator found, viewed; `why` says how they were found (for evidence lines)."""

    how: str
    views: list[ProcessView] = field(default_factory=list)

    @property
    def alive(self) -> list[ProcessView]:
        return [v for v in self.views if not v.zombie]


def locate(locator: Any, host_port: int | None = None, host_ips: set[str] | None = None) -> Located:
    """Find the processes of a `core.cluster.ProcessLocator` and view each."""
    found = Located(how=locator.describe())
    me = os.getpid()
    for proc in locator.find():
        if proc.pid == me:
            continue
        view = inspect(proc, host_port, host_ips)
        if view is not None:
            found.views.append(view)
    return found


def describe_stop(view: ProcessView) -> str:
    """", stopped 42 s ago (since 10:42:07Z)" or an honest "since an unknown time"."""
    if view.last_ran_s_ago is None:
        return ", since an unknown time (the kernel does not record when a process was stopped)"
    since = _iso(time.time() - view.last_ran_s_ago)
    return f", stopped {view.last_ran_s_ago:.0f} s ago (last ran on a CPU at {since})"


def read_pid_file(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
        return int(text.split()[0]) if text else None
    except (OSError, ValueError, IndexError):
        return None


def find_processes(*, name: str | None = None, cmdline: str | None = None, pid_file: str | None = None,
                   exclude_self: bool = True) -> list[Any]:
    """Processes matching a pid file, an exact name, or a regex over the joined command line.

    psutil.Process objects; psutil is imported here, not at module load (start-up)."""
    import psutil

    if not (name or cmdline or pid_file):
        raise ValueError("find_processes needs a name, a cmdline pattern or a pid_file")
    me = os.getpid()
    if pid_file:
        pid = read_pid_file(pid_file)
        if pid is None:
            return []
        try:
            proc = psutil.Process(pid)
            if cmdline and not re.search(cmdline, " ".join(proc.cmdline())):
                return []  # the pid was reused by something else
            return [proc]
        except psutil.Error:
            return []
    pattern = re.compile(cmdline) if cmdline else None
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        if exclude_self and proc.info["pid"] == me:
            continue
        if name and proc.info["name"] != name:
            continue
        if pattern and not pattern.search(" ".join(proc.info["cmdline"] or [])):
            continue
        found.append(proc)
    return found


def is_local(host: str) -> bool:
    """Is this address one of this machine's (loopback or an interface address)?"""
    if host in ("localhost", ""):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    import psutil

    return any(a.address.split("%")[0] == host for addrs in psutil.net_if_addrs().values() for a in addrs)


async def communicate_within(proc: asyncio.subprocess.Process, timeout: float) -> tuple[bytes, bytes] | None:
    """A child's (stdout, stderr) once it exits; None when it did not within `timeout`, after killing and
    reaping it (so no command we started outlives its deadline)."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out or b"", err or b""
