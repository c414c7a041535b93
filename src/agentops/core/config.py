"""The cluster file (`agentops.yaml`): which targets exist, how to reach them, which packs to run.

Credentials are never required inline: each secret comes from `<name>_env` (an environment variable) or
`<name>_file` (a file, e.g. a Kubernetes secret mount); an inline value is accepted but discouraged. Every
secret read is registered with the redactor the moment it is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.redact import register_secret
from agentops.core.yamlsrc import ConfigError, Fields, NodeList, load_yaml_file

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
}

SECRET_NAMES = ("password", "token", "dsn")

# Kind-specific `options:` keys; None = validated by the subsystem that owns the kind (worker: autogen.workers).
TARGET_OPTIONS: dict[str, set[str] | None] = {
    "redis": {"db"},
    "postgres": {"database", "sslmode"},
    "metrics": {"memory_limit_bytes"},  # the worker's memory limit, for the kpi pack's memory_percent
    "worker": None,
    "agentrpc": None,  # process, logs, expect_types, ping: validated by agentops.autogen.workers
}

LOCAL = "local"


@dataclass
class TLSOptions:
    enabled: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None
    verify: bool = True


@dataclass
class Target:
    name: str
    kind: str
    address: str | None = None
    tls: TLSOptions = field(default_factory=TLSOptions)
    username: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    secret_sources: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (env|file|inline, ref)
    where: str = ""  # file:line, for errors about this target

    def secret(self, name: str = "password") -> str | None:
        """Resolve a secret now (not at load time, so `config validate` works without it)."""
        source = self.secret_sources.get(name)
        if source is None:
            return None
        how, ref = source
        if how == "inline":
            value = ref
        elif how == "env":
            value = os.environ.get(ref)
            if value is None:
                raise ConfigError(f"target {self.name!r}: environment variable {ref} ({name}) is not set")
        else:
            try:
                value = Path(ref).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"target {self.name!r}: cannot read {name} file {ref}: "
                                  f"{exc.strerror or exc}") from None
        register_secret(value)
        return value

    def host_port(self, default_port: int | None = None) -> tuple[str, int]:
        return split_host_port(self.address or "", default_port, what=f"target {self.name!r} address")


def split_host_port(address: str, default_port: int | None = None, *, what: str = "address") -> tuple[str, int]:
    addr = address.strip()
    if "://" in addr:
        from urllib.parse import urlsplit

        parts = urlsplit(addr)
        host, port = parts.hostname or "", parts.port
    elif addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    elif addr.count(":") == 1:
        host, _, p = addr.partition(":")
        if not p.isdigit():
            raise ValueError(f"{what}: port {p!r} is not a number")
        port = int(p)
    else:
        host, port = addr, None
    if port is None:
        if default_port is None:
            raise ValueError(f"{what}: {address!r} has no port (expected host:port)")
        port = default_port
    if not host:
        raise ValueError(f"{what}: {address!r} has no host")
    if not 0 < port < 65536:
        raise ValueError(f"{what}: port {port} out of range")
    return host, port


@dataclass
class Defaults:
    timeout: float = 10.0
    # Checks wait on sockets, not CPU: 256 in flight keeps a 200-endpoint run to one wave and stays far below
    # the usual 1024 file-descriptor limit.
    concurrency: int = 256
    retries: int = 0
    retry_delay: float = 1.0


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
        if t.name in cfg.targets:
            raise ConfigError(f"duplicate target name {t.name!r}", path=path, line=line, field=f"{where}.name")
        cfg.targets[t.name] = t
        if t.kind in ("worker", "agentrpc"):
            # Their options belong to the AutoGen subsystem, which owns (and documents) that format.
            from agentops.autogen.workers import validate_target

            validate_target(t)

    if top.has("packs"):
        cfg.packs = top.str_list("packs")
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
    top.reject_unknown({"version", "cluster", "targets", "packs", "pack_dirs", "checks", "defaults", "state_dir"})
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
    if kind not in ("host", "worker") and not t.address and not f.has("dsn_env") and not f.has("dsn_file"):
        raise f.error(None, f"target {name!r} of kind {kind} needs an address ({TARGET_KINDS[kind]})")
    if t.address and kind in ("tcp", "grpc", "agentrpc"):
        try:
            split_host_port(t.address, what="address")
        except ValueError as exc:
            raise f.error("address", str(exc).split(": ", 1)[-1]) from None
    if t.address and kind in ("http", "metrics") and not t.address.startswith(("http://", "https://")):
        raise f.error("address", f"expected an http:// or https:// URL, got {t.address!r}")
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
    t.options = f.mapping("options")
    allowed = TARGET_OPTIONS.get(kind, set())
    if allowed is not None:
        opts = f.sub("options")
        if opts is not None:
            opts.reject_unknown(allowed)
    t.labels = {str(k): str(v) for k, v in f.mapping("labels").items()}
    f.reject_unknown({"name", "kind", "address", "username", "tls", "options", "labels",
                      *(k for s in SECRET_NAMES for k in (s, f"{s}_env", f"{s}_file"))})
    return t
