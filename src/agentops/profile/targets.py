"""Which processes to profile, from what the operator named: pids, a command-line pattern, lab roles (the
lab's pid files, verified by the lab manager), or configured `worker` targets (their process locator and
metrics_url). Each becomes a ProfileTarget: the live process, a label for the report, and the /metrics URL
to correlate when one is known.

Errors are ValueError with a one-line reason (the CLI turns them into exit 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psutil

from agentops.core.config import Config


@dataclass
class ProfileTarget:
    process: psutil.Process
    label: str
    metrics_url: str | None = None
    agent_types: tuple[str, ...] = ()


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
    from agentops.probes.host import find_processes

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


def by_lab_role(lab_dir: Path, role: str) -> ProfileTarget:
    """A process of a lab started by `agentops lab up` (host, w1, w2, …), with its worker's /metrics."""
    from agentops.lab.layout import BIND, LabLayout, LabManifest
    from agentops.lab.manager import LabError, status

    try:
        processes = status(lab_dir)
    except LabError as exc:
        raise ValueError(str(exc)) from None
    match = next((p for p in processes if p.name == role), None)
    if match is None:
        raise ValueError(f"the lab in {lab_dir} has no process {role!r} (it has: "
                         f"{', '.join(p.name for p in processes)})")
    if not match.alive:
        raise ValueError(f"lab process {role} (pid {match.pid}) is not running")
    metrics_port = match.ports.get("metrics")
    types: tuple[str, ...] = tuple(match.agent_types)
    if not types:
        layout = LabLayout(lab_dir)
        if layout.manifest.is_file():
            rec = next((p for p in LabManifest.load(layout.manifest).processes if p.name == role), None)
            types = tuple(rec.agent_types) if rec else ()
    return ProfileTarget(psutil.Process(match.pid), role,
                         f"http://{BIND}:{metrics_port}/metrics" if metrics_port else None, types)


def by_worker_target(cfg: Config, name: str) -> list[ProfileTarget]:
    """A configured `worker` target: its process (pid file and/or command-line match) and metrics_url."""
    from agentops.autogen.workers import worker_spec

    target = cfg.targets.get(name)
    if target is None:
        workers = [t.name for t in cfg.targets_of("worker")]
        raise ValueError(f"no target named {name!r} in {cfg.path or 'the config'} (worker targets: "
                         f"{', '.join(workers) or 'none'})")
    if target.kind != "worker":
        raise ValueError(f"target {name!r} is of kind {target.kind}; profile needs a worker target")
    spec = worker_spec(target)
    if not spec.process.configured:
        raise ValueError(f"worker target {name!r} has no process option (pid_file, cmdline or name) to find it")
    procs = spec.process.find()
    if not procs:
        raise ValueError(f"worker {name!r}: no live process found by {spec.process.describe()}")
    label = (lambda p: name) if len(procs) == 1 else (lambda p: f"{name} {p.pid}")
    return [ProfileTarget(p, label(p), spec.metrics_url, tuple(spec.agent_types)) for p in procs]


def owner_of_type(cfg: Config, agent_type: str) -> str | None:
    """The name of the worker target configured to own `agent_type`."""
    from agentops.autogen.workers import cluster_spec

    owner = cluster_spec(cfg).owner_of(agent_type)
    return owner.name if owner else None


def resolve(cfg: Config, *, pids: list[int], patterns: list[str], lab_dir: Path | None, lab_roles: list[str],
            targets: list[str]) -> list[ProfileTarget]:
    """Every process named, each once (the first label wins). With nothing named, every worker target of
    the config; with no such target either, a ValueError saying what to give."""
    found: list[ProfileTarget] = []
    found += [by_pid(pid) for pid in pids]
    for pattern in patterns:
        found += by_pattern(pattern)
    for role in lab_roles:
        found.append(by_lab_role(lab_dir or Path("lab-state"), role))
    for name in targets:
        found += by_worker_target(cfg, name)
    if not (pids or patterns or lab_roles or targets):
        for worker in cfg.targets_of("worker"):
            found += by_worker_target(cfg, worker.name)
        if not found:
            raise ValueError("name what to profile: --pid PID, --name PATTERN, --lab-role w1, or --target "
                             "<worker> (or a config with worker targets)")
    unique: dict[int, ProfileTarget] = {}
    for t in found:
        unique.setdefault(t.process.pid, t)
    return list(unique.values())
