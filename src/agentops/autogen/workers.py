"""The AutoGen parts of agentops.yaml: `worker` targets and the `options:` of `agentrpc` targets.

A diagnosis of ANY AutoGen cluster needs to find, per worker: its process, its log files, its metrics, the
agent types it should own, and the host it connects to; and per host: its process and logs. They live under
each target's `options:` (core.config keeps kind-specific fields there); this module parses and validates
them with file:line errors. Format (docs/lab.md, "The worker target"):

    - name: w1
      kind: worker
      options:
        host: 10.0.0.5:50051          # the AgentRpc host this worker connects to (host:port)
        process:                      # how to find its process (what host.process reads from a worker)
          pid_file: /run/agents/w1.pid            # and/or
          cmdline: "python .*my_worker\\.py --name w1"   # a regex searched in the space-joined command line
        logs: [/var/log/agents/w1*.log]   # paths or globs
        log_format: json              # json (one object per line) | text; default: detected per record
        metrics_url: http://10.0.0.6:9100/metrics
        agent_types:                  # the types this worker registers
          - echo
          - {type: planner, ping: {payload_type: Task, payload: {"goal": "noop"}}}
        ping: {payload_type: Ping, payload: {"text": "agentops"}}   # default ping for its types

    - name: agents-host
      kind: agentrpc
      address: 10.0.0.5:50051
      options:                        # all optional
        process: {pid_file: /run/agents/host.pid, cmdline: "my_host\\.py"}
        logs: [/var/log/agents/host.log]
        log_format: text
        expect_types: [echo, planner] # checked by the agentrpc probe
        ping: {type: echo, payload_type: Ping, payload: {"text": "agentops"}, key: agentops-probe}

`ProcessLocator.find()` turns `process:` into live processes with the same `find_processes` the host.process
probe uses, so "which process is w1" has one answer.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.config import Config, Target, split_host_port
from agentops.core.yamlsrc import ConfigError, Fields

LOG_FORMATS = ("json", "text")
WORKER_OPTIONS = {"host", "process", "logs", "log_format", "metrics_url", "agent_types", "ping"}
HOST_OPTIONS = {"process", "logs", "log_format", "expect_types", "ping"}
# `process:` keys; host.process reads the same mapping (`match` is accepted there as `cmdline`'s alias).
PROCESS_KEYS = {"pid_file", "cmdline", "match", "name"}


@dataclass
class PingSpec:
    """What to send when pinging a type: a payload type (the message class name) and its JSON body."""

    payload_type: str
    payload: Any = field(default_factory=dict)
    agent_type: str | None = None  # set for a host's `ping:` (which type to ping)
    key: str | None = None  # a host's `ping:` may name the agent key (default: the probe's own)


@dataclass
class ProcessLocator:
    pid_file: Path | None = None
    cmdline: str | None = None  # a regex over the space-joined command line
    name: str | None = None  # the exact process name

    @property
    def configured(self) -> bool:
        return any((self.pid_file, self.cmdline, self.name))

    def describe(self) -> str:
        parts = []
        if self.pid_file:
            parts.append(f"pid file {self.pid_file}")
        if self.cmdline:
            parts.append(f"command line matching /{self.cmdline}/")
        if self.name:
            parts.append(f"name {self.name!r}")
        return " and ".join(parts) or "no process configured"

    def find(self) -> list[Any]:
        """Live psutil.Process objects (zombies excluded). With a pid file, that pid — and only if its command
        line still matches `cmdline` when one is given, since a recycled pid is not the worker."""
        import psutil

        from agentops.probes.host import find_processes

        if not self.configured:
            return []
        found = find_processes(name=self.name, cmdline=self.cmdline,
                               pid_file=str(self.pid_file) if self.pid_file else None)
        live = []
        for proc in found:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    live.append(proc)
            except psutil.Error:
                continue
        return live


@dataclass
class WorkerSpec:
    name: str
    host: str | None
    process: ProcessLocator
    logs: list[str]
    log_format: str | None  # None: each record's format is detected (diagnose/logscan.parse)
    metrics_url: str | None
    agent_types: list[str]
    pings: dict[str, PingSpec]  # per type; falls back to default_ping
    default_ping: PingSpec | None = None

    def ping_for(self, agent_type: str) -> PingSpec | None:
        return self.pings.get(agent_type, self.default_ping)

    def log_files(self) -> list[Path]:
        return expand_logs(self.logs)


@dataclass
class HostSpec:
    name: str
    address: str
    process: ProcessLocator
    logs: list[str]
    log_format: str | None
    expect_types: list[str]
    ping: PingSpec | None = None

    def log_files(self) -> list[Path]:
        return expand_logs(self.logs)


def _fields(target: Target) -> Fields:
    path, _, line = target.where.rpartition(":")
    return Fields(target.options, f"targets[{target.name}].options", path=path or target.where,
                  line=int(line) if line.isdigit() else 0)


def _locator(f: Fields) -> ProcessLocator:
    sub = f.sub("process")
    if sub is None:
        return ProcessLocator()
    pid_file = sub.str("pid_file")
    pattern = sub.str("cmdline") or sub.str("match")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise sub.error("cmdline", f"not a valid regular expression: {exc}") from None
    sub.reject_unknown(PROCESS_KEYS)
    return ProcessLocator(Path(pid_file).expanduser() if pid_file else None, pattern, sub.str("name"))


def _log_format(f: Fields) -> str | None:
    value = f.str("log_format")
    if value is not None and value not in LOG_FORMATS:
        raise f.error("log_format", f"expected one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return value


def _ping(f: Fields, key: str, *, with_type: bool = False) -> PingSpec | None:
    sub = f.sub(key)
    if sub is None:
        return None
    spec = PingSpec(payload_type=sub.str("payload_type", required=True) or "",
                    payload=sub.get("payload", (dict, list, str, int, float, bool), {}))
    if with_type:
        spec.agent_type = sub.str("type", required=True)
        spec.key = sub.str("key")
    sub.reject_unknown({"payload_type", "payload", *(["type", "key"] if with_type else [])})
    return spec


def worker_spec(target: Target) -> WorkerSpec:
    """Parse and validate a `worker` target's options (ConfigError names file, line and field)."""
    if target.kind != "worker":
        raise ConfigError(f"target {target.name!r} is of kind {target.kind}, not worker", path=target.where)
    f = _fields(target)
    host = f.str("host")
    if host is not None:
        try:
            split_host_port(host, what="host")
        except ValueError as exc:
            raise f.error("host", str(exc).split(": ", 1)[-1]) from None
    metrics_url = f.str("metrics_url")
    if metrics_url is not None and not metrics_url.startswith(("http://", "https://")):
        raise f.error("metrics_url", f"expected an http:// or https:// URL, got {metrics_url!r}")
    types: list[str] = []
    pings: dict[str, PingSpec] = {}
    raw_types = f.get("agent_types", list, [])
    for i, item in enumerate(raw_types):
        where = f"agent_types[{i}]"
        if isinstance(item, str):
            types.append(item)
            continue
        if not isinstance(item, dict):
            raise f.error("agent_types", f"{where}: expected a type name or a mapping with 'type'")
        sub = Fields(item, f"{f.where}.{where}", path=f.path, line=f.line)
        name = sub.str("type", required=True) or ""
        types.append(name)
        ping = _ping(sub, "ping")
        if ping:
            pings[name] = ping
        sub.reject_unknown({"type", "ping"})
    if len(set(types)) != len(types):
        raise f.error("agent_types", "lists a type twice")
    spec = WorkerSpec(
        name=target.name, host=host, process=_locator(f), logs=f.str_list("logs"),
        log_format=_log_format(f), metrics_url=metrics_url, agent_types=types, pings=pings,
        default_ping=_ping(f, "ping"),
    )
    f.reject_unknown(WORKER_OPTIONS)
    return spec


def host_spec(target: Target) -> HostSpec:
    """Parse and validate an `agentrpc` target's options."""
    if target.kind != "agentrpc":
        raise ConfigError(f"target {target.name!r} is of kind {target.kind}, not agentrpc", path=target.where)
    f = _fields(target)
    spec = HostSpec(name=target.name, address=target.address or "", process=_locator(f), logs=f.str_list("logs"),
                    log_format=_log_format(f), expect_types=f.str_list("expect_types"),
                    ping=_ping(f, "ping", with_type=True))
    f.reject_unknown(HOST_OPTIONS)
    return spec


def validate_target(target: Target) -> None:
    """For `config validate`: raise ConfigError when an agentrpc or worker target's options are wrong."""
    if target.kind == "worker":
        worker_spec(target)
    elif target.kind == "agentrpc":
        host_spec(target)


@dataclass
class ClusterSpec:
    hosts: list[HostSpec]
    workers: list[WorkerSpec]

    def owner_of(self, agent_type: str) -> WorkerSpec | None:
        """The worker configured to own `agent_type` (a type lives on exactly one worker)."""
        return next((w for w in self.workers if agent_type in w.agent_types), None)

    def workers_of(self, host_address: str) -> list[WorkerSpec]:
        return [w for w in self.workers if w.host is None or _same_address(w.host, host_address)]

    def host(self, address: str | None = None) -> HostSpec | None:
        if address is None:
            return self.hosts[0] if self.hosts else None
        return next((h for h in self.hosts if _same_address(h.address, address)), None)


def cluster_spec(cfg: Config) -> ClusterSpec:
    return ClusterSpec(hosts=[host_spec(t) for t in cfg.targets_of("agentrpc")],
                       workers=[worker_spec(t) for t in cfg.targets_of("worker")])


def _same_address(a: str, b: str) -> bool:
    try:
        ha, pa = split_host_port(a)
        hb, pb = split_host_port(b)
    except ValueError:
        return a == b
    loopback = {"127.0.0.1", "localhost", "::1"}
    return pa == pb and (ha == hb or (ha in loopback and hb in loopback))


def expand_logs(patterns: list[str]) -> list[Path]:
    files: list[Path] = []
    for pattern in patterns:
        expanded = str(Path(pattern).expanduser())
        matches = sorted(glob.glob(expanded)) if glob.has_magic(expanded) else [expanded]
        files.extend(Path(m) for m in matches if Path(m).is_file())
    return files
