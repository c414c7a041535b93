"""The cluster a diagnosis looks at, from the config (the `agentrpc` target and the `worker` targets, parsed by
`agentops.autogen.workers`) or from `--host HOST:PORT`; what the config does not describe is not guessed."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from agentops.core.config import Config, Target, split_host_port
from agentops.core.yamlsrc import ConfigError


@dataclass
class Cluster:
    """What the diagnosis knows about the cluster: the host address and, from the config, host and workers."""

    address: str
    target: Target
    host: Any = None  # autogen.workers.HostSpec
    workers: list[Any] = field(default_factory=list)  # autogen.workers.WorkerSpec
    config_path: str | None = None
    # The diagnose command pack (shipped, with the config's pack_dirs' overrides): how the layers are judged.
    checks: dict[str, Any] = field(default_factory=dict)

    def owner_of(self, agent_type: str) -> Any:
        return next((w for w in self.workers if agent_type in w.agent_types), None)

    def ping_for(self, agent_type: str) -> Any:
        """The configured ping (payload type and body) for `agent_type`, if any."""
        owner = self.owner_of(agent_type)
        spec = owner.ping_for(agent_type) if owner else None
        if spec is None and self.host is not None and self.host.ping is not None:
            spec = self.host.ping
        return spec


def load_cluster(cfg: Config, host: str | None) -> Cluster:
    """The cluster from the config's agentrpc target (or `--host HOST:PORT`) and its worker targets."""
    from agentops.autogen.workers import cluster_spec

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
    from agentops.core.packs import command_specs

    return Cluster(address=address, target=target, host=hspec, workers=spec.workers_of(address),
                   config_path=cfg.path, checks=command_specs("diagnose", cfg))


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
