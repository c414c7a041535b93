"""Starts, inspects and stops a lab cluster: `up`, `status`, `down` (what `agentops lab …` and the test
fixtures call). No autogen import: the processes it starts import it, the manager talks to them with
agentops' own AgentRpc client, psutil and files.

    manifest = up(LabOptions(dir=Path("lab-state")))     # returns when every worker's types are registered
    report = status(Path("lab-state"))                   # per process: pid, alive, state, ports
    stopped = down(Path("lab-state"))                    # SIGTERM, then SIGKILL after the grace

The API is synchronous (it runs its own event loop for the readiness checks); from async code call it
through `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core import osproc
from agentops.lab.jsonlog import iso_utc
from agentops.lab.layout import (
    BIND,
    DEFAULT_WORKERS,
    HOST,
    PING_PAYLOAD,
    PING_PAYLOAD_TYPE,
    REDIS,
    STORE_TYPE,
    STORE_WORKER,
    LabLayout,
    LabManifest,
    ProcessRecord,
    format_agents,
    parse_agents,
)

EXIT_BIND_FAILED = 98  # agentops.lab.host's status when its port cannot be bound (kept in sync by a test)
INSTALL_HINT = "the lab needs AutoGen: install agentops-cli[lab] (in a clone of agentops: pip install './[lab]')"


class LabError(Exception):
    """A one-line reason `lab up/down/status` could not do its job, with the exit code to use:
    3 = refused before starting anything (usage, port in use, extra missing), 2 = started but failed."""

    def __init__(self, message: str, exit_code: int = 3) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class LabOptions:
    dir: Path = Path("lab-state")
    port: int | None = None  # the AgentRpc host port; None = a free one
    workers: dict[str, dict[str, str]] = field(default_factory=lambda: dict(DEFAULT_WORKERS))
    slow_seconds: float = 2.0
    leak_kib: int = 1024
    log_level: str = "INFO"
    log_format: str = "json"  # json | text (core.cluster.LOG_FORMATS)
    ready_timeout: float = 60.0
    python: str = sys.executable
    with_redis: bool = False  # start a lab-owned redis-server and a `store` agent that depends on it


def autogen_available() -> bool:
    """True when the [lab] extra is installed (checked without importing autogen)."""
    from importlib.util import find_spec

    try:
        return find_spec("autogen_ext") is not None and find_spec("autogen_core") is not None
    except (ImportError, ValueError):
        return False


def port_in_use(port: int, host: str = BIND) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR so a port in TIME_WAIT from an earlier lab is not "in use"; a listener still is.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = BIND) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# --- process identity -------------------------------------------------------------------------------------

def entry_module(role: str) -> str:
    return "agentops.lab.host" if role == HOST else "agentops.lab.worker"


def is_lab_process(cmdline: list[str], role: str, name: str, root: Path) -> bool:
    """Does this command line belong to the lab process `name` of the lab in `root`? Checked before any
    signal, so a recycled pid (now some other program) is never touched."""
    if role == REDIS:
        # redis-server rewrites its title to "redis-server 127.0.0.1:PORT": match the binary and the lab's port.
        try:
            port = LabLayout(root).port_file(REDIS).read_text().strip()
        except OSError:
            return False
        joined = " ".join(cmdline).strip()
        return bool(cmdline) and "redis-server" in cmdline[0] and joined.endswith(f"{BIND}:{port}")
    try:
        i = cmdline.index("-m")
    except ValueError:
        return False
    args = cmdline[i + 1:]
    if not args or args[0] != entry_module(role):
        return False

    def value(flag: str) -> str | None:
        return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None

    return value("--state-dir") == str(root) and (value("--name") or HOST) == name


def lab_process(pid: int, role: str, name: str, root: Path, create_time: float | None = None,
                start_ticks: int | None = None) -> Any:
    """The psutil.Process for this lab process if it is alive and still the one we started, else None. Who it is:
    its start in ticks since boot when recorded (exact, unmoved by clock steps), else psutil's create_time."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return None
        if not is_lab_process(proc.cmdline(), role, name, root):
            return None
        if start_ticks is not None:
            if osproc.start_ticks(pid) != start_ticks:
                return None
        elif create_time is not None and abs(proc.create_time() - create_time) > 1.0:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None


# Processes this Python process started, by pid. Keeping the Popen objects matters: a dropped Popen reaps its
# exited child in __del__, and the exit status (e.g. "port in use") would be lost before we read it.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int) -> None:
    # Our own child (the test fixtures start labs in-process) stays a zombie until waited for.
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _children[pid]
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# --- up ---------------------------------------------------------------------------------------------------

def _spawn(layout: LabLayout, opts: LabOptions, role: str, name: str, args: list[str],
           cmd: list[str] | None = None) -> ProcessRecord:

    cmd = cmd or [opts.python, "-m", entry_module(role), "--name", name, "--state-dir", str(layout.root), *args,
                  "--log-level", opts.log_level, "--log-format", opts.log_format]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(layout.stderr_file(name), "ab") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT, env=env,
                                cwd=str(layout.root), start_new_session=True)
    _children[proc.pid] = proc
    layout.pid_file(name).write_text(f"{proc.pid}\n")
    create_time, ticks = _identity(proc.pid)
    return ProcessRecord(name=name, pid=proc.pid, create_time=create_time, cmdline=cmd, role=role,
                         start_ticks=ticks)


def _identity(pid: int) -> tuple[float, int | None]:
    """What lab_process later checks a pid against: (psutil create_time, start ticks since boot)."""
    import psutil

    try:
        create_time = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        create_time = 0.0
    return create_time, osproc.start_ticks(pid)


def _exit_status(record: ProcessRecord, root: Path) -> int | None:
    """The exit status of a process we started if it has exited (-1 when it is gone but was not our child,
    so its status is unknown), else None."""
    child = _children.get(record.pid)
    if child is not None:
        return child.poll()
    return None if lab_process(record.pid, record.role, record.name, root) else -1


def _stderr_tail(layout: LabLayout, name: str) -> str:
    try:
        lines = layout.stderr_file(name).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def redis_command(port: int, layout: LabLayout) -> list[str]:
    """A lab-owned redis-server: loopback only, nothing persisted, its files in run/."""
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        raise LabError("--with-redis needs redis-server on this machine (apt-get install redis-server)", 3)
    return [binary, "--port", str(port), "--bind", BIND, "--save", "", "--appendonly", "no",
            "--dir", str(layout.run_dir), "--daemonize", "no", "--protected-mode", "yes"]


def _wait_accepting(record: ProcessRecord, layout: LabLayout, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((BIND, record.port or 0), timeout=0.2):
                return
        except OSError:
            pass
        code = _exit_status(record, layout.root)
        if code is not None:
            raise LabError(f"{record.name} exited with status {code} during start-up: "
                           f"{_stderr_tail(layout, record.name)}", 2)
        if time.monotonic() > deadline:
            raise LabError(f"{record.name} did not accept connections on {BIND}:{record.port} in {timeout:g}s", 2)
        time.sleep(0.05)


def _start_redis(layout: LabLayout, opts: LabOptions, port: int | None = None) -> ProcessRecord:
    port = port or free_port()
    cmd = redis_command(port, layout)
    layout.port_file(REDIS).write_text(f"{port}\n")
    record = _spawn(layout, opts, REDIS, REDIS, [], cmd=cmd)
    record.port = port
    _wait_accepting(record, layout, opts.ready_timeout)
    return record


async def _wait_ready(layout: LabLayout, opts: LabOptions, records: list[ProcessRecord],
                      address: str, want_types: set[str]) -> None:
    from agentops.autogen.client import AgentRpcClient, AgentRpcError

    deadline = time.monotonic() + opts.ready_timeout
    waiting_for = "the host"
    async with AgentRpcClient(address) as client:
        while True:
            for record in records:
                code = _exit_status(record, layout.root)
                if code is not None:
                    if record.role == HOST and code == EXIT_BIND_FAILED:
                        raise LabError(f"port {address} is in use: {_stderr_tail(layout, record.name)}", 3)
                    raise LabError(f"{record.name} exited with status {code} during start-up: "
                                   f"{_stderr_tail(layout, record.name) or 'see ' + str(layout.log_file(record.name))}",
                                   2)
            try:
                inv = await client.inventory(timeout=1.0)
                missing = want_types - set(inv.agent_types)
                files = [layout.port_file(r.name) for r in records if r.role != REDIS] + [
                    layout.client_id_file(r.name) for r in records if r.role == "worker"]
                if not missing and all(f.is_file() for f in files):
                    return
                waiting_for = (f"agent types {', '.join(sorted(missing))} to register" if missing
                               else "the workers' port files")
            except AgentRpcError as exc:
                waiting_for = f"the host to answer ({exc.message})"
            if time.monotonic() > deadline:
                raise LabError(f"lab not ready after {opts.ready_timeout:g}s: still waiting for {waiting_for}", 2)
            await asyncio.sleep(0.1)


def up(opts: LabOptions) -> LabManifest:
    """Start a host and the workers, wait until every worker's types are registered, write the state dir.

    Refuses (LabError, exit 3) when autogen is missing, a lab is already running in the dir, or the port is
    in use. If anything fails after processes were started, stops them again (LabError, exit 2).
    """
    if not autogen_available():
        raise LabError(INSTALL_HINT, 3)
    layout = LabLayout(opts.dir)
    running = [p for p in _known_processes(layout) if p[1] is not None]
    if running:
        pids = ", ".join(f"{rec.name}={rec.pid}" for rec, _ in running)
        raise LabError(f"a lab is already running in {layout.root} ({pids}); stop it first: "
                       f"agentops lab down --dir {layout.root}", 3)
    if opts.port is not None and port_in_use(opts.port):
        raise LabError(f"port {opts.port} on {BIND} is in use; choose another with --port or omit it", 3)
    workers = {name: dict(agents) for name, agents in opts.workers.items()}
    if opts.with_redis:
        redis_command(0, layout)  # refuse before starting anything when redis-server is missing
        workers.setdefault(STORE_WORKER, {})[STORE_TYPE] = "store"
    types = [t for agents in workers.values() for t in agents]
    if len(types) != len(set(types)):
        raise LabError("an agent type is placed on two workers; a type lives on exactly one worker", 3)
    try:
        for agents in workers.values():
            parse_agents(format_agents(agents))
    except ValueError as exc:
        raise LabError(str(exc), 3) from None

    layout.make()
    for stale in [*layout.run_dir.glob("*"), layout.manifest]:
        stale.unlink(missing_ok=True)
    port = opts.port or free_port()
    address = f"{BIND}:{port}"
    started: list[ProcessRecord] = []
    redis_address = None
    try:
        if opts.with_redis:
            started.append(_start_redis(layout, opts))
            redis_address = f"{BIND}:{started[-1].port}"
        host = _spawn(layout, opts, HOST, HOST, ["--port", str(port)])
        host.port = port
        started.append(host)
        asyncio.run(_wait_ready(layout, opts, started, address, set()))
        for name, agents in workers.items():
            worker = _spawn(layout, opts, "worker", name, [
                "--host", address, "--metrics-port", "0", "--agents", format_agents(agents),
                "--slow-seconds", f"{opts.slow_seconds:g}", "--leak-kib", str(opts.leak_kib),
                *(["--redis", redis_address] if redis_address and "store" in agents.values() else [])])
            worker.agent_types = dict(agents)
            started.append(worker)
        asyncio.run(_wait_ready(layout, opts, started, address, set(types)))
    except BaseException:
        _stop_records(layout, started, grace=2.0)
        raise
    for record in started:
        if record.role == "worker":
            record.port = int(layout.port_file(record.name).read_text().strip())
    manifest = LabManifest(dir=str(layout.root), host_address=address, processes=started,
                           started_at=iso_utc(time.time()), slow_seconds=opts.slow_seconds, leak_kib=opts.leak_kib,
                           redis_address=redis_address, log_format=opts.log_format)
    manifest.save(layout.manifest)
    write_config(layout, manifest)
    return manifest


def write_config(layout: LabLayout, manifest: LabManifest) -> Path:
    """The lab's agentops.yaml: the AgentRpc host, each worker as a `worker` target, each worker's /metrics."""
    import yaml

    root = re.escape(str(layout.root))
    all_types = [t for w in manifest.workers for t in w.agent_types]
    targets: list[dict[str, Any]] = [{
        "name": "lab-host", "kind": "agentrpc", "address": manifest.host_address,
        "labels": {"lab": "true"},
        "options": {
            "process": {"pid_file": str(layout.pid_file(HOST)),
                        "cmdline": rf"-m agentops\.lab\.host --name {HOST} --state-dir {root}( |$)"},
            "logs": [str(layout.log_file(HOST))], "log_format": manifest.log_format,
            "expect_types": all_types,
            "ping": {"type": all_types[0], "payload_type": PING_PAYLOAD_TYPE, "payload": dict(PING_PAYLOAD)},
        },
    }]
    for w in manifest.workers:
        metrics_url = f"http://{BIND}:{w.port}/metrics"
        targets.append({
            "name": w.name, "kind": "worker", "labels": {"lab": "true"},
            "options": {
                "host": manifest.host_address,
                "process": {"pid_file": str(layout.pid_file(w.name)),
                            "cmdline": rf"-m agentops\.lab\.worker --name {re.escape(w.name)} --state-dir {root}( |$)"},
                "logs": [str(layout.log_file(w.name))], "log_format": manifest.log_format,
                "metrics_url": metrics_url,
                "agent_types": list(w.agent_types),
                "ping": {"payload_type": PING_PAYLOAD_TYPE, "payload": dict(PING_PAYLOAD)},
            },
        })
        targets.append({"name": f"{w.name}-metrics", "kind": "metrics", "address": metrics_url,
                        "labels": {"lab": "true", "worker": w.name}})
    if manifest.redis_address:
        targets.append({"name": "lab-redis", "kind": "redis", "address": manifest.redis_address,
                        "labels": {"lab": "true"}})
    doc = {"version": 1, "cluster": "lab", "targets": targets, "defaults": {"timeout": 5}}
    header = (f"# Written by `agentops lab up` for the lab in {layout.root} (started {manifest.started_at}).\n"
              f"# Use: agentops health -c {layout.config}\n")
    layout.config.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=200), encoding="utf-8")
    return layout.config


# --- status and down --------------------------------------------------------------------------------------

def _known_processes(layout: LabLayout) -> list[tuple[ProcessRecord, Any]]:
    """(record, live psutil.Process or None) for every process the manifest or a pid file names."""
    records: dict[str, ProcessRecord] = {}
    if layout.manifest.is_file():
        try:
            for rec in LabManifest.load(layout.manifest).processes:
                records[rec.name] = rec
        except (ValueError, KeyError, TypeError):
            pass
    for pid_file in sorted(layout.run_dir.glob("*.pid")) if layout.run_dir.is_dir() else []:
        name = pid_file.stem
        pid = layout.read_pid(name)
        if pid is None:
            continue
        rec = records.get(name)
        if rec is None or rec.pid != pid:
            role = name if name in (HOST, REDIS) else "worker"
            records[name] = ProcessRecord(name=name, pid=pid, create_time=0.0, cmdline=[], role=role)
    result = []
    for rec in records.values():
        proc = lab_process(rec.pid, rec.role, rec.name, layout.root, rec.create_time or None, rec.start_ticks)
        result.append((rec, proc))
    result.sort(key=lambda item: (item[0].role != HOST, item[0].name))
    return result


@dataclass
class ProcessStatus:
    name: str
    role: str
    pid: int
    alive: bool
    state: str  # R running, S sleeping, D disk wait, T stopped, Z zombie, - gone
    ports: dict[str, int]
    rss_bytes: int | None = None
    agent_types: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_STATE_LETTERS = {"running": "R", "sleeping": "S", "disk-sleep": "D", "stopped": "T", "tracing-stop": "t",
                  "zombie": "Z", "dead": "X", "idle": "I"}


def status(directory: Path) -> list[ProcessStatus]:
    """Each lab process: pid, alive, state letter, ports. LabError(exit 3) when `directory` holds no lab."""
    import psutil

    layout = LabLayout(directory)
    known = _known_processes(layout)
    if not known:
        raise LabError(f"no lab in {layout.root} (no lab.json or pid files); start one with agentops lab up", 3)
    out = []
    for rec, proc in known:
        state, rss = "-", None
        if proc is not None:
            try:
                state = _STATE_LETTERS.get(proc.status(), "?")
                rss = proc.memory_info().rss
            except psutil.Error:
                proc = None
        label = {HOST: "agentrpc", REDIS: "redis"}.get(rec.role, "metrics")
        ports = {label: rec.port} if rec.port else {}
        out.append(ProcessStatus(rec.name, rec.role, rec.pid, proc is not None, state, ports, rss,
                                 list(rec.agent_types)))
    return out


@dataclass(frozen=True)
class RunningRole:
    """A live lab process as another tool (the profiler) needs it: its pid, /metrics and agent types."""

    pid: int
    metrics_url: str | None
    agent_types: tuple[str, ...]


def running_role(directory: Path, role: str) -> RunningRole:
    """The live lab process `role` (host, w1, w2, …); LabError (exit 3) with a one-line reason otherwise."""
    processes = status(directory)
    match = next((p for p in processes if p.name == role), None)
    if match is None:
        raise LabError(f"the lab in {directory} has no process {role!r} (it has: "
                       f"{', '.join(p.name for p in processes)})", 3)
    if not match.alive:
        raise LabError(f"lab process {role} (pid {match.pid}) is not running", 3)
    metrics_port = match.ports.get("metrics")
    types: tuple[str, ...] = tuple(match.agent_types)
    if not types:
        layout = LabLayout(directory)
        if layout.manifest.is_file():
            rec = next((p for p in LabManifest.load(layout.manifest).processes if p.name == role), None)
            types = tuple(rec.agent_types) if rec else ()
    return RunningRole(match.pid, f"http://{BIND}:{metrics_port}/metrics" if metrics_port else None, types)


@dataclass
class StopResult:
    name: str
    pid: int
    outcome: str  # "stopped" (SIGTERM) | "killed" (SIGKILL after the grace) | "not running" | "not ours"


def _stop_records(layout: LabLayout, records: list[ProcessRecord], grace: float) -> list[StopResult]:
    results: dict[str, StopResult] = {}
    live: dict[str, Any] = {}
    for rec in records:
        proc = lab_process(rec.pid, rec.role, rec.name, layout.root, rec.create_time or None, rec.start_ticks)
        if proc is None:
            results[rec.name] = StopResult(rec.name, rec.pid, "not running" if not _pid_alive(rec.pid)
                                           else "not ours")
            continue
        live[rec.name] = proc
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)  # a frozen (SIGSTOP) process cannot handle SIGTERM until resumed
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        for name, proc in list(live.items()):
            _reap(proc.pid)
            if not _pid_alive(proc.pid):
                results[name] = StopResult(name, proc.pid, "stopped")
                del live[name]
        time.sleep(0.05)
    for name, proc in live.items():
        try:
            proc.kill()
            proc.wait(timeout=5)
        except Exception:  # psutil.NoSuchProcess/TimeoutExpired: gone or unkillable; reported below either way
            pass
        _reap(proc.pid)
        results[name] = StopResult(name, proc.pid, "killed")
    for rec in records:
        if results.get(rec.name) and results[rec.name].outcome != "not ours":
            for path in (layout.pid_file(rec.name), layout.port_file(rec.name), layout.client_id_file(rec.name)):
                path.unlink(missing_ok=True)
    return [results[r.name] for r in records if r.name in results]


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def down(directory: Path, grace: float = 5.0) -> list[StopResult]:
    """Stop exactly the processes `up` started in `directory`: SIGTERM, SIGKILL after `grace` seconds. A pid
    whose command line is no longer that lab process is left alone ("not ours")."""
    layout = LabLayout(directory)
    known = _known_processes(layout)
    if not known:
        raise LabError(f"no lab in {layout.root} (no lab.json or pid files)", 3)
    results = _stop_records(layout, [rec for rec, _ in known], grace)
    layout.manifest.unlink(missing_ok=True)
    return results


def stop_process(directory: Path, name: str, grace: float = 5.0) -> StopResult:
    """Stop one lab process by its recorded pid (verified first, like `down`); `restart_process` starts it
    again (fault drills: redis-down)."""
    layout = LabLayout(directory)
    rec = next((p for p in _manifest(layout).processes if p.name == name), None)
    if rec is None:
        raise LabError(f"no process {name!r} in the lab in {layout.root}", 3)
    return _stop_records(layout, [rec], grace)[0]


def _manifest(layout: LabLayout) -> LabManifest:
    try:
        return LabManifest.load(layout.manifest)
    except (OSError, ValueError) as exc:
        raise LabError(f"no lab manifest in {layout.root}: {exc}", 3) from None


def restart_process(directory: Path, name: str, grace: float = 5.0, ready_timeout: float = 60.0) -> ProcessRecord:
    """Stop one lab process and start it again with the same command line (fault drills: restart-host).

    Returns when it is back: a host answering (with an empty registry — the workers do not re-register, see
    docs/lab.md), a worker with its types registered again under a new client id.
    """

    layout = LabLayout(directory)
    manifest = _manifest(layout)
    rec = next((p for p in manifest.processes if p.name == name), None)
    if rec is None:
        raise LabError(f"no process {name!r} in the lab in {layout.root}", 3)
    _stop_records(layout, [rec], grace)
    layout.port_file(name).unlink(missing_ok=True)
    layout.client_id_file(name).unlink(missing_ok=True)
    if rec.role == REDIS:  # the same port, so the workers' clients reconnect to it
        new = _start_redis(layout, LabOptions(dir=layout.root, ready_timeout=ready_timeout), rec.port)
        rec.pid, rec.create_time, rec.start_ticks = new.pid, new.create_time, new.start_ticks
        manifest.save(layout.manifest)
        return rec
    cmdline = list(rec.cmdline)
    if rec.role != HOST and rec.port:  # keep the metrics URL of the generated agentops.yaml valid
        cmdline[cmdline.index("--metrics-port") + 1] = str(rec.port)
    with open(layout.stderr_file(name), "ab") as err:
        proc = subprocess.Popen(cmdline, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=str(layout.root),
                                start_new_session=True)
    _children[proc.pid] = proc
    layout.pid_file(name).write_text(f"{proc.pid}\n")
    rec.pid = proc.pid
    rec.create_time, rec.start_ticks = _identity(proc.pid)
    manifest.save(layout.manifest)
    opts = LabOptions(dir=layout.root, ready_timeout=ready_timeout)
    asyncio.run(_wait_ready(layout, opts, [rec], manifest.host_address, set(rec.agent_types)))
    return rec
