"""The cluster model: the AutoGen parts of agentops.yaml (`worker` targets and the `options:` of `agentrpc`
targets), which worker owns an agent type, and which worker an AgentRpc client is.

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
        stderr: [/var/log/agents/w1.err]  # where its stderr goes (an uncaught exception's traceback: Python's
                                          # logging does not write it to the log file)
        unit: agents-w1.service       # its systemd unit, when systemd supervises it (exit status, restarts)
        pod:                          # or: the Kubernetes pod it runs in (state, events, logs read from the API)
          namespace: agents
          name: w1-0                  # or selector: app=w1 (the newest matching pod)
          container: worker           # default: its first container; kubeconfig, context, timeout as for k8s
        log_format: json              # json | text | "%(asctime)s %(levelname)s %(message)s" | a regex with
                                      # (?P<message>…); default: detected per file (core.logformat)
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

`ProcessLocator.find()` turns `process:` into live processes with the same `core.osproc.find_processes` the
host.process probe uses, so "which process is w1" has one answer. In core (not autogen/) because the config
validates these options and the probes, the profiler and the diagnosis all read them.

Owners. The configured owner of a type is `owner_of` (each type lives on exactly one worker). The host knows
its clients only by the id each sent on OpenChannel (a UUID); `name_owners` ties a client to a configured
worker, best first:

1. a worker's log names the client id (AutoGen's worker runtime logs nothing of the kind, but a worker can:
   the lab's log `worker w1 ready: client <id>` at start-up);
2. the agent types: every type the host says this client owns is listed under one and the same worker's
   `agent_types`. When they point at different workers, the config and the cluster disagree and no worker is
   named: a guess would send someone to the wrong process.

Used by `cluster inventory --owners` and by the diagnosis, so both name owners the same way.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentops.core.target import Target, split_host_port
from agentops.core.yamlsrc import ConfigError, Fields

if TYPE_CHECKING:  # core.config calls this module to validate options: a type, not an import, at run time
    from agentops.core.config import Config

LOG_FORMATS = ("json", "text")
WORKER_OPTIONS = {"host", "process", "logs", "log_format", "metrics_url", "agent_types", "ping", "stderr", "unit",
                  "pod", "heal", "node"}
# `pod:` keys: the Kubernetes pod a worker runs in (diagnose reads its state, events and logs from the API).
# `heal`: how `agentops heal` restarts this worker (heal/targets.py validates it).
POD_KEYS = {"namespace", "name", "selector", "container", "kubeconfig", "context", "timeout"}
# `node:` keys: the agentops serve --node on the worker's machine (docs/serve.md, "Every node").
NODE_KEYS = {"url", "token_file", "tls", "worker", "timeout"}
NODE_TLS_KEYS = {"ca", "cert", "key", "verify"}
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@\\-]+$")  # a systemd unit name (passed to systemctl as one argument)
HOST_OPTIONS = {"process", "logs", "log_format", "expect_types", "ping", "node"}
HOST_NODE_KEYS = NODE_KEYS - {"worker"} | {"host"}  # `host:` names the agentrpc target in the node's config
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

        from agentops.core.osproc import find_processes

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


@dataclass(frozen=True)
class PodRef:
    """Which pod a worker runs in (`options.pod`): by name, or the pods a label selector matches (one
    replica: a type lives on exactly one worker); how to reach the API as for a `kind: kubernetes` source."""

    name: str | None = None
    selector: str | None = None
    namespace: str | None = None  # default: the kubeconfig context's
    container: str | None = None  # default: the pod's only container, else its first
    kubeconfig: str | None = None
    context: str | None = None
    timeout: float | None = None

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"pod {where}{self.name}" if self.name else f"the pod {where}{{{self.selector}}}"


@dataclass
class NodeSpec:
    """The `agentops serve --node` on the worker's machine (docs/serve.md, "Every node"): where it listens, the
    file holding its bearer token, TLS, and the worker's name in that node's config."""

    url: str  # https://HOST:PORT (http:// only for a node on this machine's loopback)
    token_file: str
    worker: str
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify: bool = True
    timeout_s: float = 3.0  # the most one request to the node may take (each is also within the diagnosis')
    subject: str = "worker"  # what `worker` names in the node's config: a worker target, or (host) an agentrpc one

    @property
    def label(self) -> str:
        return self.url.split("://", 1)[-1].rstrip("/")


@dataclass
class WorkerSpec:
    name: str
    host: str | None
    process: ProcessLocator
    logs: list[str]
    log_format: str | None  # None: the layout is detected per file (logs/ranges.read_records)
    metrics_url: str | None
    agent_types: list[str]
    pings: dict[str, PingSpec]  # per type; falls back to default_ping
    default_ping: PingSpec | None = None
    stderr: list[str] = field(default_factory=list)  # files its stderr is written to (paths or globs)
    unit: str | None = None  # the systemd unit that runs it
    pod: PodRef | None = None  # the Kubernetes pod it runs in: its state and logs come from the API
    node: NodeSpec | None = None  # the node that sees its processes and logs, when it runs on another machine

    def ping_for(self, agent_type: str) -> PingSpec | None:
        return self.pings.get(agent_type, self.default_ping)

    def log_files(self) -> list[Path]:
        return expand_logs(self.logs)

    def stderr_files(self) -> list[Path]:
        return expand_logs(self.stderr)

    def runs_here(self, host_address: str | None = None) -> bool:
        """Can this machine see the worker's process? Yes when it connects to a host on this machine (its
        options.host, else `host_address`) or its pid file exists here; otherwise it runs elsewhere and its
        absence here proves nothing. A worker with a `node` runs on that node, whatever this machine sees."""
        from agentops.core.osproc import is_local

        if self.node is not None:
            return False
        address = self.host or host_address
        if address and is_local(address.rsplit(":", 1)[0].strip("[]")):
            return True
        return bool(self.process.pid_file and self.process.pid_file.exists())

    def seen_dead(self, host_address: str | None = None) -> bool:
        """Its process is checkable here and there is none: it holds no connection, so no client the host
        names can be this worker."""
        return self.process.configured and self.runs_here(host_address) and not self.process.find()


@dataclass
class HostSpec:
    name: str
    address: str
    process: ProcessLocator
    logs: list[str]
    log_format: str | None
    expect_types: list[str]
    ping: PingSpec | None = None
    node: NodeSpec | None = None  # the node that sees its process and log, when it runs on another machine

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


def _pod(f: Fields) -> PodRef | None:
    sub = f.sub("pod")
    if sub is None:
        return None
    name, selector = sub.str("name"), sub.str("selector")
    if bool(name) == bool(selector):
        raise f.error("pod", "give the pod's name or a label selector (one of them)")
    timeout = sub.get("timeout", (int, float), None)
    if timeout is not None and timeout <= 0:
        raise sub.error("timeout", "must be a positive number of seconds")
    sub.reject_unknown(POD_KEYS)
    return PodRef(name=name, selector=selector, namespace=sub.str("namespace"), container=sub.str("container"),
                  kubeconfig=sub.str("kubeconfig"), context=sub.str("context"),
                  timeout=float(timeout) if timeout is not None else None)


def _log_format(f: Fields) -> str | None:
    """json | text | a logging format string | a regex with a `message` group (core.logformat), checked here so
    a bad one is a config error with its file and line, not a diagnosis that reads nothing."""
    from agentops.core.logformat import compile_log_format

    value = f.str("log_format")
    if value is not None:
        try:
            compile_log_format(value)
        except ValueError as exc:
            raise f.error("log_format", str(exc)) from None
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


def _node(f: Fields, worker: str, subject: str = "worker") -> NodeSpec | None:
    """`options.node`: a mapping (url, token_file, tls, worker — or host, for an agentrpc target —, timeout), each
    error with its file and line."""
    sub = f.sub("node")
    if sub is None:
        return None
    url = sub.str("url", required=True) or ""
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        raise sub.error("url", f"expected https://HOST:PORT, got {url!r}")
    try:
        host, _ = split_host_port(rest.split("/", 1)[0], what="url")
    except ValueError as exc:
        raise sub.error("url", str(exc).split(": ", 1)[-1]) from None
    if scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        raise sub.error("url", "a node off this machine needs https:// (the bearer token must not cross the "
                               "network in clear)")
    spec = NodeSpec(url=url.rstrip("/"), token_file=str(Path(sub.str("token_file", required=True) or "")
                                                        .expanduser()),
                    worker=sub.str(subject) or worker, subject=subject,
                    timeout_s=sub.number("timeout", 3.0, minimum=0.1) or 3.0)
    tls = sub.sub("tls")
    if tls is not None:
        spec.ca, spec.cert, spec.key = tls.str("ca"), tls.str("cert"), tls.str("key")
        spec.verify = tls.bool("verify", True)
        if bool(spec.cert) != bool(spec.key):
            raise tls.error("cert", "cert and key go together (mutual TLS needs both)")
        tls.reject_unknown(NODE_TLS_KEYS)
    sub.reject_unknown(NODE_KEYS if subject == "worker" else HOST_NODE_KEYS)
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
    unit = f.str("unit")
    if unit is not None and not _UNIT_RE.match(unit):
        raise f.error("unit", f"not a systemd unit name: {unit!r}")
    spec = WorkerSpec(
        name=target.name, host=host, process=_locator(f), logs=f.str_list("logs"),
        log_format=_log_format(f), metrics_url=metrics_url, agent_types=types, pings=pings,
        default_ping=_ping(f, "ping"), stderr=f.str_list("stderr"), unit=unit, pod=_pod(f),
        node=_node(f, target.name),
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
                    ping=_ping(f, "ping", with_type=True), node=_node(f, target.name, "host"))
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
        return owner_of(self.workers, agent_type)

    def workers_of(self, host_address: str) -> list[WorkerSpec]:
        return [w for w in self.workers if w.host is None or _same_address(w.host, host_address)]

    def host(self, address: str | None = None) -> HostSpec | None:
        if address is None:
            return self.hosts[0] if self.hosts else None
        return next((h for h in self.hosts if _same_address(h.address, address)), None)


def cluster_spec(cfg: Config) -> ClusterSpec:
    return ClusterSpec(hosts=[host_spec(t) for t in cfg.targets_of("agentrpc")],
                       workers=[worker_spec(t) for t in cfg.targets_of("worker")])


def owner_of(workers: Sequence[WorkerSpec], agent_type: str) -> WorkerSpec | None:
    """The worker configured to own `agent_type` (a type lives on exactly one worker): the one answer to
    "which worker owns this type" in the config."""
    return next((w for w in workers if agent_type in w.agent_types), None)


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


@dataclass
class Cluster:
    """The cluster one command looks at: the host address and, from the config, host and workers."""

    address: str
    target: Target
    host: HostSpec | None = None
    workers: list[WorkerSpec] = field(default_factory=list)
    config: Config | None = None  # the config it came from, loaded once per command and passed on

    @property
    def config_path(self) -> str | None:
        return self.config.path if self.config is not None else None

    def owner_of(self, agent_type: str) -> WorkerSpec | None:
        return owner_of(self.workers, agent_type)

    def ping_for(self, agent_type: str) -> PingSpec | None:
        """The configured ping (payload type and body) for `agent_type`, if any."""
        owner = self.owner_of(agent_type)
        spec = owner.ping_for(agent_type) if owner else None
        if spec is None and self.host is not None and self.host.ping is not None:
            spec = self.host.ping
        return spec


def load_cluster(cfg: Config, host: str | None) -> Cluster:
    """The cluster a command talks to: the config's agentrpc target (or `--host HOST:PORT`) and its workers;
    what the config does not describe is not guessed."""
    spec = cluster_spec(cfg)
    if host:
        try:
            split_host_port(host, what="--host")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        hspec = spec.host(host)
        target = next((t for t in cfg.targets_of("agentrpc") if hspec and t.name == hspec.name), None)
        target = target or Target(name=host, kind="agentrpc", address=host, where="--host")
    else:
        hosts = cfg.targets_of("agentrpc")
        if not hosts:
            where = cfg.path or "no config file found"
            raise ConfigError(f"no AgentRpc host to diagnose: give --host HOST:PORT or a config with an agentrpc "
                              f"target ({where})")
        if len(hosts) > 1:
            names = ", ".join(t.name for t in hosts)
            raise ConfigError(f"the config has {len(hosts)} agentrpc targets ({names}); choose one with --host")
        target = hosts[0]
        hspec = spec.host(target.address)
    address = target.address or host or ""
    return Cluster(address=address, target=target, host=hspec, workers=spec.workers_of(address),
                   config=cfg)


# ------------------------------------------------------------------ which worker a client is

LOG_HEAD_BYTES = 256 * 1024  # where a worker logs its client id at start-up (the lab does)


@dataclass(frozen=True)
class Owner:
    client_id: str
    worker: str | None  # the configured worker's name; None when nothing known ties the client to one
    how: str  # what tied it (or why nothing did), for the evidence

    def label(self) -> str:
        return f"worker {self.worker}" if self.worker else f"client {self.client_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"worker": self.worker, "client_id": self.client_id, "how": self.how}


def worker_logging(workers: Sequence[WorkerSpec], client_id: str) -> WorkerSpec | None:
    """The configured worker whose log (its first LOG_HEAD_BYTES) names this client id."""
    needle = client_id.encode()
    for worker in workers:
        for path in worker.log_files():
            try:
                with path.open("rb") as fh:
                    if needle in fh.read(LOG_HEAD_BYTES):
                        return worker
            except OSError:
                continue
    return None


def name_owners(workers: Sequence[WorkerSpec], owners: Mapping[str, str | None],
                host_address: str | None = None) -> dict[str, Owner]:
    """{agent type: Owner} for every owned type of `owners` ({agent type: owner client id or None}).
    `host_address`: the host's, for workers whose options name none (whether their process is visible here)."""
    types_of: dict[str, list[str]] = {}
    for agent_type, client in owners.items():
        if client:
            types_of.setdefault(client, []).append(agent_type)
    named: dict[str, Owner] = {}
    for client, types in types_of.items():
        owner = _name(workers, client, sorted(types), host_address)
        named.update((t, owner) for t in types)
    return named


def name_owner(workers: Sequence[WorkerSpec], agent_type: str, client_id: str,
               host_address: str | None = None) -> Owner:
    return name_owners(workers, {agent_type: client_id}, host_address)[agent_type]


def _name(workers: Sequence[WorkerSpec], client: str, types: list[str], host_address: str | None) -> Owner:
    logged = worker_logging(workers, client)
    if logged is not None:
        return Owner(client, logged.name, f"client id {client} appears in {logged.name}'s log")
    # The host says this client is connected now. A configured worker whose process is visible here and gone
    # holds no connection, so it is not this client, whatever its agent_types say: a second worker that
    # exited at start ('Agent type … already registered') lists the type too, and naming it would call the
    # healthy owner dead.
    dead = {w.name for w in workers if any(t in w.agent_types for t in types) and w.seen_dead(host_address)}
    live = [w for w in workers if w.name not in dead]
    listed = {t: (w.name if (w := owner_of(live, t)) else None) for t in types}
    names = sorted({n for n in listed.values() if n})
    if len(names) == 1:
        unlisted = [t for t, n in listed.items() if n is None]
        extra = f" (it also owns {', '.join(unlisted)}, listed on no worker)" if unlisted else ""
        return Owner(client, names[0], f"the config lists {', '.join(t for t in types if listed[t])} under "
                                       f"{names[0]}'s agent_types{extra}")
    if names:
        where = "; ".join(f"{t} on {n}" for t, n in listed.items() if n)
        return Owner(client, None, f"client {client} owns types the config puts on different workers ({where})")
    if dead:
        return Owner(client, None, f"the configured worker{'s' if len(dead) > 1 else ''} listing its types "
                                   f"({', '.join(sorted(dead))}) {'are' if len(dead) > 1 else 'is'} not running, "
                                   f"so client {client} is another process")
    return Owner(client, None, "no configured worker lists its types, nor does a worker's log name the client")


def configured_cluster(cfg: Config) -> Cluster | None:
    """The config's own cluster (its agentrpc target), or None when it has none or names more than one: for a
    command that reports on a cluster only where the config says which (heal, bundle)."""
    if not cfg.targets_of("agentrpc"):
        return None
    try:
        return load_cluster(cfg, None)
    except ConfigError:
        return None
