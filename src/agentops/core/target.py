"""One target of agentops.yaml as the probes, the cluster model and the config parser use it: its name, kind,
address, TLS settings and secrets (resolved when used, registered with the redactor). Below core.config, so
that core.cluster (which core.config calls to validate worker and agentrpc options) can use it without a cycle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agentops.core.files import FileProblem, read_text
from agentops.core.redact import register_secret
from agentops.core.yamlsrc import ConfigError

# A password, token or DSN file (a Kubernetes secret mount) is small; a link to /dev/zero is not a secret.
MAX_SECRET_FILE_BYTES = 64 * 1024


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
                value = read_text(ref, limit=MAX_SECRET_FILE_BYTES).strip()
            except FileProblem as exc:
                raise ConfigError(f"target {self.name!r}: cannot read {name} file {ref}: {exc}") from None
        register_secret(value)
        return value

    def host_port(self, default_port: int | None = None) -> tuple[str, int]:
        return split_host_port(self.address or "", default_port, what=f"target {self.name!r} address")


def split_host_port(address: str, default_port: int | None = None, *, what: str = "address") -> tuple[str, int]:
    addr = address.strip()
    if "://" in addr:
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
