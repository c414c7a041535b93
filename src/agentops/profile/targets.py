"""Which processes to profile, from what the operator named: pids, a command-line pattern, lab roles (found by
lab.manager.running_role and handed in by the CLI: profile does not import lab), or configured `worker` targets
(their process locator and metrics_url). Each becomes a ProfileTarget: the live process, a label for the
report, and the /metrics URL to correlate when one is known.

Errors are ValueError with a one-line reason (the CLI turns them into exit 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

from agentops.core.config import Config

if TYPE_CHECKING:
    from agentops.core.cluster import NodeSpec


@dataclass
class ProfileTarget:
    process: psutil.Process | None  # None for a worker on another machine: its node samples it (remote.py)
    label: str
    metrics_url: str | None = None
    agent_types: tuple[str, ...] = ()
    node: NodeSpec | None = None

    @property
    def key(self) -> str:
        """What makes two targets the same process (a pid here, a worker on a node)."""
        if self.node is not None:
            return f"{self.node.url}|{self.node.worker}"
        assert self.process is not None
        return str(self.process.pid)


def by_pid(pid: int) -> ProfileTarget:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            raise ValueError(f"pid {pid} is a zombie (exited, not yet reaped)")
    except psutil.NoSuchProcess:
        raise ValueError(f"no process with pid {pid}") from None
    return ProfileTarget(proc, f"pid {pid}")


def by_pattern(pattern: str) -> list[ProfileTarget]:
    """Processes whose command line matches the regex `pattern` (this process excluded)."""
    from agentops.core.osproc import find_processes

    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"--name {pattern!r} is not a valid regular expression: {exc}") from None
    procs = find_processes(cmdline=pattern)
    if not procs:
        raise ValueError(f"no process's command line matches {pattern!r}")
    return [ProfileTarget(p, f"{_short_name(p)} {p.pid}") for p in procs]


def _short_name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return "pid"


def by_worker_target(cfg: Config, name: str) -> list[ProfileTarget]:
    """A configured `worker` target: its process (pid file and/or command-line match) and metrics_url."""
    from agentops.core.cluster import worker_spec

    target = cfg.targets.get(name)
    if target is None:
        workers = [t.name for t in cfg.targets_of("worker")]
        raise ValueError(f"no target named {name!r} in {cfg.path or 'the config'} (worker targets: "
                         f"{', '.join(workers) or 'none'})")
    if target.kind != "worker":
        raise ValueError(f"target {name!r} is of kind {target.kind}; profile needs a worker target")
    spec = worker_spec(target)
    if spec.node is not None:  # sampling reads /proc: its node samples it there (remote.py)
        return [ProfileTarget(None, name, spec.metrics_url, tuple(spec.agent_types), node=spec.node)]
    if not spec.process.configured:
        raise ValueError(f"worker target {name!r} has no process option (pid_file, cmdline or name) to find it")
    procs = spec.process.find()
    if not procs:
        raise ValueError(f"worker {name!r}: no live process found by {spec.process.describe()}")
    label = (lambda p: name) if len(procs) == 1 else (lambda p: f"{name} {p.pid}")
    return [ProfileTarget(p, label(p), spec.metrics_url, tuple(spec.agent_types)) for p in procs]


def resolve(cfg: Config, *, pids: list[int], patterns: list[str], lab: list[ProfileTarget],
            targets: list[str]) -> list[ProfileTarget]:
    """Every process named, each once (the first label wins). With nothing named, every worker target of
    the config; with no such target either, a ValueError saying what to give."""
    found: list[ProfileTarget] = []
    found += [by_pid(pid) for pid in pids]
    for pattern in patterns:
        found += by_pattern(pattern)
    found += lab
    for name in targets:
        found += by_worker_target(cfg, name)
    if not (pids or patterns or lab or targets):
        for worker in cfg.targets_of("worker"):
            found += by_worker_target(cfg, worker.name)
        if not found:
            raise ValueError("name what to profile: --pid PID, --name PATTERN, --lab-role w1, or --target "
                             "<worker> (or a config with worker targets)")
    unique: dict[str, ProfileTarget] = {}
    for t in found:
        unique.setdefault(t.key, t)
    return list(unique.values())
