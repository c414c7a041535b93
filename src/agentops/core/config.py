"""The cluster file (`agentops.yaml`): which targets exist, how to reach them, which packs to run.

Credentials are never required inline: each secret comes from `<name>_env` (an environment variable) or
`<name>_file` (a file, e.g. a Kubernetes secret mount); an inline value is accepted but discouraged. Every
secret read is registered with the redactor the moment it is read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentops.core.redact import register_credentials_in, register_secret
from agentops.core.target import Target, TLSOptions, split_host_port
from agentops.core.yamlsrc import ConfigError, Fields, NodeList, load_yaml_file, value_kind

CONFIG_ENV = "AGENTOPS_CONFIG"
SEARCH_PATHS = ("./agentops.yaml", "/etc/agentops/agentops.yaml")

# Target kinds and what `address` means for each.
TARGET_KINDS = {
    "host": "this machine (no address)",
    "tcp": "host:port",
    "dns": "a host name to resolve",
    "icmp": "a host name or IP to ping",
    "redis": "host:port, redis://… or rediss://… URL",
    "postgres": "host:port or a postgresql:// DSN (put a DSN with a password in dsn_env/dsn_file)",
    "http": "an http:// or https:// URL",
    "metrics": "the URL of a Prometheus /metrics endpoint",
    "grpc": "host:port of a gRPC server with the standard health service",
    "agentrpc": "host:port of an AutoGen GrpcWorkerAgentRuntimeHost",
    "worker": "an AutoGen worker process (process match, pid file, logs, metrics_url)",
    "kubernetes": "a Kubernetes namespace whose AutoGen pods and Services become targets at run time (no address; "
                  "options: kubeconfig, context, namespace, selector, …: docs/kubernetes.md)",
    "k8s-workload": "namespace/name of a Deployment or StatefulSet (options.object_kind; made by a kubernetes source)",
    "k8s-pod": "namespace/name of a Pod",
    "k8s-service": "namespace/name of a Service (its Endpoints are read too)",
}
K8S_ACCESS_OPTIONS = {"kubeconfig", "context", "timeout"}

SECRET_NAMES = ("password", "token", "dsn")

# Kind-specific `options:` keys; None = validated by the subsystem that owns the kind (worker: core.cluster).
TARGET_OPTIONS: dict[str, set[str] | None] = {
    "redis": {"db"},
    "postgres": {"database", "sslmode"},
    "metrics": {"memory_limit_bytes"},  # the worker's memory limit, for the kpi pack's memory_percent
    "worker": None,
    "agentrpc": None,  # process, logs, expect_types, ping: validated by agentops.core.cluster
    "kubernetes": {*K8S_ACCESS_OPTIONS, "namespace", "selector", "host_selector", "worker_selector",
                   "redis_selector", "postgres_selector", "service_address", "redis_password_env",
                   "postgres_username", "postgres_password_env"},
    "k8s-workload": {*K8S_ACCESS_OPTIONS, "object_kind"},
    "k8s-pod": K8S_ACCESS_OPTIONS,
    "k8s-service": K8S_ACCESS_OPTIONS,
}

NO_ADDRESS = ("host", "worker", "kubernetes")  # a worker's host is options.host
# The connection fields each kind's probes use; a kind refuses the others, so no field is accepted and ignored
# (a `tls:` on a tcp target, a token on a Redis target). Kinds not listed use none of them.
KIND_FIELDS: dict[str, set[str]] = {
    "redis": {"tls", "username", "password"},
    "postgres": {"tls", "username", "password", "dsn"},
    "http": {"tls", "username", "password", "token"},
    "metrics": {"tls", "username", "password", "token"},
    "grpc": {"tls"},
    "agentrpc": {"tls"},
    "worker": {"tls"},  # how agentops reaches the AgentRpc host in options.host
}
# TLS settings a kind's client library cannot honour.
TLS_UNSUPPORTED: dict[str, dict[str, str]] = {
    **{k: {"verify": "gRPC cannot skip certificate verification; give tls.ca instead"}
       for k in ("grpc", "agentrpc", "worker")},
    "redis": {"server_name": "redis-py cannot verify a name other than the address's; put that name in the "
                             "address"},
}

LOCAL = "local"

POSTGRES_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_PACK_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# libpq's key=value conninfo: keys are words, a value is 'quoted' (with \\ escapes) or has no blanks.
_CONNINFO_RE = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)\s*")


@dataclass
class Defaults:
    timeout: float = 10.0
    # Checks wait on sockets, not CPU: 256 in flight keeps a 200-endpoint run to one wave and stays far below
    # the usual 1024 file-descriptor limit.
    concurrency: int = 256
    retries: int = 0
    retry_delay: float = 1.0


# Top-level sections owned by one command (validated there, file:line errors): heal's policy, serve's
# periodic diagnoses (serve/section.py).
COMMAND_SECTIONS = ("heal", "serve")


@dataclass
class Config:
    path: str | None = None
    cluster: str = "default"
    targets: dict[str, Target] = field(default_factory=dict)
    packs: list[str] | None = None
    pack_dirs: list[Path] = field(default_factory=list)
    checks: list[Any] = field(default_factory=list)  # inline check nodes, parsed by core.packs
    defaults: Defaults = field(default_factory=Defaults)
    state_dir: Path | None = None
    # The sections a command reads and validates itself (`heal:`), kept as located YAML nodes so its
    # errors still name file and line. Core only checks that each is a mapping.
    sections: dict[str, Any] = field(default_factory=dict)

    def targets_of(self, kind: str) -> list[Target]:
        return [t for t in self.targets.values() if t.kind == kind]


def local_target() -> Target:
    return Target(name=LOCAL, kind="host", where="built-in")


EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "agentops.example.yaml"  # shipped in the wheel too


def find_config(explicit: str | None) -> Path | None:
    """--config, then $AGENTOPS_CONFIG, then ./agentops.yaml, then /etc/agentops/agentops.yaml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    for candidate in SEARCH_PATHS:
        p = Path(candidate)
        if p.is_file():
            return p
    return None


def load_config(explicit: str | None = None) -> Config:
    path = find_config(explicit)
    if path is None:
        cfg = Config()
        cfg.targets[LOCAL] = local_target()
        return cfg
    if not path.exists() and not path.is_symlink():
        # The first thing a newcomer meets after `-c agentops.yaml` from the README: say how to get one.
        raise ConfigError(f"file not found; `agentops config init` writes one for what listens on this machine, "
                          f"or copy the annotated example {EXAMPLE_CONFIG}", path=path)
    return parse_config(load_yaml_file(path), str(path))


def parse_config(doc: Any, path: str) -> Config:
    if doc is None:
        raise ConfigError("file is empty", path=path)
    top = Fields(doc, "", path=path, line=1)
    version = top.int("version", 1)
    if version != 1:
        raise top.error("version", f"unsupported config version {version} (this agentops reads version 1)")
    cfg = Config(path=path)
    cfg.cluster = top.str("cluster", "default") or "default"
    cfg.targets[LOCAL] = local_target()

    raw_targets = top.get("targets", list, [])
    for i, node in enumerate(raw_targets):
        where = f"targets[{i}]"
        line = raw_targets.line_of(i) if isinstance(raw_targets, NodeList) else 0
        t = _parse_target(Fields(node, where, path=path, line=line))
        register_credentials_in(t.address)  # a password in a URL address, whatever characters it holds
        if t.name in cfg.targets:
            raise ConfigError(f"duplicate target name {t.name!r}", path=path, line=line, field=f"{where}.name")
        cfg.targets[t.name] = t
        if t.kind in ("worker", "agentrpc"):
            # Their options belong to the AutoGen subsystem, which owns (and documents) that format.
            from agentops.core.cluster import validate_target

            validate_target(t)

    if top.has("packs"):
        cfg.packs = top.str_list("packs")
        raw_packs = top.node["packs"]
        for i, name in enumerate(cfg.packs):
            why = pack_ref_problem(name)
            if why:
                raise ConfigError(why, path=path, field=f"packs[{i}]", line=raw_packs.line_of(i)
                                  if isinstance(raw_packs, NodeList) else top.node.line_of("packs"))
    base = Path(path).parent
    cfg.pack_dirs = [(base / d) for d in top.str_list("pack_dirs")]
    cfg.checks = list(top.get("checks", list, []))
    d = top.sub("defaults")
    if d:
        cfg.defaults = Defaults(
            timeout=d.number("timeout", 10.0, minimum=0.01, maximum=3600) or 10.0,
            concurrency=d.int("concurrency", 256, minimum=1, maximum=10000) or 256,
            retries=d.int("retries", 0, minimum=0, maximum=100) or 0,
            retry_delay=d.number("retry_delay", 1.0, minimum=0, maximum=3600) or 0.0,
        )
        d.reject_unknown()
    state = top.str("state_dir")
    cfg.state_dir = (base / state) if state else None
    for name in COMMAND_SECTIONS:
        if top.has(name):
            top.get(name, dict)
            cfg.sections[name] = top.node[name]
    top.reject_unknown({"version", "cluster", "targets", "packs", "pack_dirs", "checks", "defaults", "state_dir",
                        *COMMAND_SECTIONS})
    return cfg


def _parse_target(f: Fields) -> Target:
    name = f.str("name", required=True) or ""
    if name == LOCAL:
        raise f.error("name", f"{LOCAL!r} is reserved for this machine")
    kind = f.str("kind", required=True) or ""
    if kind not in TARGET_KINDS:
        raise f.error("kind", f"unknown kind {kind!r} (expected one of: {', '.join(TARGET_KINDS)})")
    t = Target(name=name, kind=kind, where=f"{f.path}:{f.line}")
    t.address = f.str("address")
    if kind in NO_ADDRESS and t.address:
        raise f.error("address", f"a {kind} target has no address ({TARGET_KINDS[kind]})")
    if kind not in NO_ADDRESS and not t.address and not any(f.has(k) for k in ("dsn", "dsn_env", "dsn_file")):
        raise f.error(None, f"target {name!r} of kind {kind} needs an address ({TARGET_KINDS[kind]})")
    if t.address:
        try:
            check_address(kind, t.address)
        except ValueError as exc:
            raise f.error("address", str(exc).split(": ", 1)[-1] if str(exc).startswith("address: ")
                          else str(exc)) from None
    t.username = f.str("username")
    for secret in SECRET_NAMES:
        sources = [(how, f.str(key)) for how, key in
                   (("inline", secret), ("env", f"{secret}_env"), ("file", f"{secret}_file")) if f.has(key)]
        if len(sources) > 1:
            raise f.error(f"{secret}_env", f"give {secret} one way only ({secret}_env or {secret}_file)")
        if sources:
            how, ref = sources[0]
            if how == "inline":
                register_secret(ref)
            t.secret_sources[secret] = (how, ref or "")
    tls = f.sub("tls")
    if tls:
        t.tls = TLSOptions(
            enabled=tls.bool("enabled", True), ca=tls.str("ca"), cert=tls.str("cert"), key=tls.str("key"),
            server_name=tls.str("server_name"), verify=tls.bool("verify", True),
        )
        if bool(t.tls.cert) != bool(t.tls.key):
            raise tls.error("cert", "cert and key go together (mutual TLS needs both)")
        tls.reject_unknown()
    _refuse_unused_fields(f, t)
    t.options = f.mapping("options")
    allowed = TARGET_OPTIONS.get(kind, set())
    if allowed is not None:
        opts = f.sub("options")
        if opts is not None:
            _check_options(kind, opts)
            opts.reject_unknown(allowed)
    labels = f.sub("labels")
    if labels is not None:
        for key, value in labels.node.items():
            if isinstance(value, dict | list) or value is None:
                raise labels.error(key, f"a label is a string, got {value_kind(value)}")
        t.labels = {str(k): str(v) for k, v in labels.node.items()}
    f.reject_unknown({"name", "kind", "address", "username", "tls", "options", "labels",
                      *(k for s in SECRET_NAMES for k in (s, f"{s}_env", f"{s}_file"))})
    return t


def _refuse_unused_fields(f: Fields, t: Target) -> None:
    used = KIND_FIELDS.get(t.kind, set())
    fields = {"tls": ("tls",), "username": ("username",),
              **{s: (s, f"{s}_env", f"{s}_file") for s in SECRET_NAMES}}
    for name, keys in fields.items():
        given = next((k for k in keys if f.has(k)), None)
        if given is not None and name not in used:
            raise f.error(given, f"a {t.kind} target does not use {name}" +
                          (f" (only {', '.join(sorted(used))})" if used else ""))
    tls = f.sub("tls")
    if tls is not None and t.tls.enabled:
        asked = {"verify": not t.tls.verify, "server_name": bool(t.tls.server_name)}
        for key, why in TLS_UNSUPPORTED.get(t.kind, {}).items():
            if asked[key]:
                raise tls.error(key, f"not supported for {t.kind} targets: {why}")

def pack_ref_problem(name: str) -> str | None:
    """Why `name` cannot name a pack, or None. A pack is a name looked up in the pack directories or a path
    ending in .yaml/.yml; anything else (`../../etc/passwd`) is neither, and is never joined as a path."""
    if name.endswith((".yaml", ".yml")) or (_PACK_NAME_RE.match(name) and ".." not in name):
        return None
    return f"{name!r} is neither a pack name nor a .yaml/.yml path"


def check_address(kind: str, address: str) -> None:
    """Raise ValueError (why, one line) when `address` cannot work for a target of `kind`: what the probe
    would otherwise find only at run time."""
    addr = address.strip()
    if kind in ("tcp", "grpc", "agentrpc"):
        split_host_port(addr, what="address")
    elif kind in ("http", "metrics"):
        _check_url(addr, ("http", "https"))
    elif kind == "redis":
        if "://" in addr:
            scheme = _check_url(addr, ("redis", "rediss", "unix"), host_needed=not addr.startswith("unix:"))
            if scheme == "unix" and not urlsplit(addr).path:
                raise ValueError("a unix:// URL needs the socket's path")
        elif not addr.startswith("/"):
            split_host_port(addr, 6379, what="address")
    elif kind.startswith("k8s-"):
        namespace, _, name = addr.partition("/")
        if not namespace or not name or "/" in name:
            raise ValueError(f"expected namespace/name, got {addr!r}")
    elif kind == "postgres":
        if "://" in addr:
            _check_url(addr, ("postgresql", "postgres"), host_needed=False)
        elif "=" in addr:
            _check_conninfo(addr)
        elif not addr.startswith("/"):
            split_host_port(addr, 5432, what="address")


def _check_url(url: str, schemes: tuple[str, ...], *, host_needed: bool = True) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535"
        raise ValueError(f"invalid URL: {exc}") from None
    if parts.scheme not in schemes:
        expected = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} (expected {expected})")
    if host_needed and not parts.hostname:
        raise ValueError("the URL has no host")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return parts.scheme


def _check_conninfo(text: str) -> None:
    pos = 0
    while pos < len(text):
        m = _CONNINFO_RE.match(text, pos)
        if not m:
            raise ValueError(f"invalid DSN: expected key=value at character {pos + 1}")
        key, value = m.group(1), m.group(2)
        if key == "port" and not (value.isdigit() and 0 < int(value) < 65536):
            raise ValueError(f"invalid DSN: port {value} is not a port number")
        if key == "password":
            register_secret(value.strip("'"))
        pos = m.end()


def _check_options(kind: str, opts: Fields) -> None:
    if kind == "redis" and opts.has("db"):
        db = opts.node["db"]
        if isinstance(db, bool) or not ((isinstance(db, int) and db >= 0) or (isinstance(db, str) and db.isdigit())):
            raise opts.error("db", f"expected a database number (0 or more), got {db!r}")
    if kind == "kubernetes":
        for key in opts.node:
            if key == "timeout":
                opts.number("timeout", minimum=0.1, maximum=3600)
            else:
                opts.str(key)  # a string each; selectors are parsed when the source is expanded
        mode = opts.str("service_address")
        if mode is not None and mode not in ("cluster-ip", "dns"):
            raise opts.error("service_address", f"{mode!r} is not cluster-ip or dns")
    if kind == "postgres" and opts.has("sslmode"):
        mode = opts.str("sslmode")
        if mode not in POSTGRES_SSLMODES:
            raise opts.error("sslmode", f"{mode!r} is not one of {', '.join(POSTGRES_SSLMODES)}")
