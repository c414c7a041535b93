"""Finds probes, maintenance steps and heal steps by kind, through entry points (`agentops.probes`,
`agentops.steps`, `agentops.heal_steps`).

Built-ins are declared in pyproject.toml like any plugin. Scanning installed distributions' metadata costs
~100 ms, which would double the start-up of `agentops health`; so the kinds this package ships are looked up
in BUILTIN_* first (a test keeps those tables identical to pyproject's entry points) and the entry-point scan
happens only for a kind not found there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentops.core.yamlsrc import Fields

BUILTIN_PROBES: dict[str, str] = {
    "host.cpu": "agentops.probes.host:CpuProbe",
    "host.memory": "agentops.probes.host:MemoryProbe",
    "host.disk": "agentops.probes.host:DiskProbe",
    "host.load": "agentops.probes.host:LoadProbe",
    "host.fds": "agentops.probes.host:FdProbe",
    "host.process": "agentops.probes.host:ProcessProbe",
    "host.starvation": "agentops.probes.sched:StarvationProbe",
    "host.systemd": "agentops.probes.host:SystemdProbe",
    "host.ports": "agentops.probes.host:PortsProbe",
    "net.dns": "agentops.probes.net:DnsProbe",
    "net.tcp": "agentops.probes.net:TcpProbe",
    "net.icmp": "agentops.probes.net:IcmpProbe",
    "redis": "agentops.probes.redis:RedisProbe",
    "postgres": "agentops.probes.postgres:PostgresProbe",
    "http": "agentops.probes.http:HttpProbe",
    "metrics": "agentops.probes.metrics:MetricsProbe",
    "grpc.health": "agentops.probes.grpc_health:GrpcHealthProbe",
    "agentrpc": "agentops.probes.agentrpc:AgentRpcProbe",
    "worker": "agentops.probes.worker:WorkerProbe",
    "worker.start": "agentops.logs.worker_start:WorkerStartProbe",
    # The AgentRpc steps and the process view: measured once, here, for health, cluster and diagnose alike.
    "agentrpc.inventory": "agentops.probes.agentrpc_steps:InventoryStep",
    "agentrpc.ownership": "agentops.probes.agentrpc_steps:OwnershipStep",
    "agentrpc.ping": "agentops.probes.agentrpc_steps:PingStep",
    "agentrpc.payload": "agentops.probes.agentrpc_steps:PayloadStep",
    "process.view": "agentops.probes.process:ProcessViewProbe",
    "k8s.discovery": "agentops.probes.k8s:DiscoveryProbe",
    "k8s.workload": "agentops.probes.k8s:WorkloadProbe",
    "k8s.pod": "agentops.probes.k8s:PodProbe",
    "k8s.service": "agentops.probes.k8s:ServiceProbe",
}

BUILTIN_STEPS: dict[str, str] = {
    "files.prune": "agentops.maintain.steps.files:FilesPruneStep",
    "postgres.vacuum": "agentops.maintain.steps.postgres:PostgresVacuumStep",
    "postgres.reindex": "agentops.maintain.steps.postgres:PostgresReindexStep",
    "redis.expire_scan": "agentops.maintain.steps.redis:RedisExpireScanStep",
    "redis.memory_purge": "agentops.maintain.steps.redis:RedisMemoryPurgeStep",
    "disk.check": "agentops.maintain.steps.disk:DiskCheckStep",
    "baseline.update": "agentops.maintain.steps.baseline:BaselineUpdateStep",
    "health.gate": "agentops.maintain.steps.health:HealthGateStep",
    "command": "agentops.maintain.steps.command:CommandStep",
}


# heal's remedies (agentops.heal.step.HealStep): a group of their own, since they plan and apply rather than run.
BUILTIN_HEAL_STEPS: dict[str, str] = {
    "worker.resume": "agentops.heal.steps.process:WorkerResumeStep",
    "worker.restart": "agentops.heal.steps.process:WorkerRestartStep",
    "worker.restart_unit": "agentops.heal.steps.process:WorkerRestartUnitStep",
    "worker.failover": "agentops.heal.steps.process:WorkerFailoverStep",
    "k8s.rollout_restart": "agentops.heal.steps.kube:RolloutRestartStep",
    "k8s.delete_pods": "agentops.heal.steps.kube:DeletePodsStep",
    "k8s.scale": "agentops.heal.steps.kube:ScaleStep",
    "redis.clear_prefix": "agentops.heal.steps.redis:ClearPrefixStep",
    "redis.reset_connections": "agentops.heal.steps.redis:ResetConnectionsStep",
    # agentops emergency's protective actions (heal/emergency_steps.py)
    "emergency.isolate": "agentops.heal.emergency_steps:IsolateStep",
    "emergency.flag": "agentops.heal.emergency_steps:FlagStep",
    "emergency.cleanup": "agentops.heal.emergency_steps:CleanupStep",
}


class RegistryError(LookupError):
    pass


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@cache
def _entry_points(group: str) -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=group)}


def _find(group: str, builtins: dict[str, str], kind: str) -> Any:
    if kind in builtins:
        return _load(builtins[kind])
    ep = _entry_points(group).get(kind)
    if ep is None:
        known = sorted(set(builtins) | set(_entry_points(group)))
        raise RegistryError(f"unknown kind {kind!r} (known: {', '.join(known)})")
    return ep.load()


@cache
def probe(kind: str) -> Any:
    """An instance of the probe class registered for `kind`."""
    return _find("agentops.probes", BUILTIN_PROBES, kind)()


def probe_kinds() -> list[str]:
    return sorted(set(BUILTIN_PROBES) | set(_entry_points("agentops.probes")))


def step(kind: str) -> Any:
    return _find("agentops.steps", BUILTIN_STEPS, kind)()


def step_kinds() -> list[str]:
    return sorted(set(BUILTIN_STEPS) | set(_entry_points("agentops.steps")))


def heal_step(kind: str) -> Any:
    """An instance of the heal step class registered for `kind` (group `agentops.heal_steps`)."""
    return _find("agentops.heal_steps", BUILTIN_HEAL_STEPS, kind)()


def heal_step_kinds() -> list[str]:
    return sorted(set(BUILTIN_HEAL_STEPS) | set(_entry_points("agentops.heal_steps")))


def validated_step(f: Fields, lookup: Callable[[str], Any], kind: str, params: dict[str, Any]) -> Any:
    """A playbook's or runbook's step: its plugin looked up (`step` or `heal_step`) and its params checked by it,
    each failure a file:line error on the field at fault."""
    try:
        found = lookup(kind)
    except LookupError as exc:
        raise f.error("step", str(exc)) from None
    try:
        found.validate_params(params)
    except ValueError as exc:
        raise f.error("params", str(exc)) from None
    return found
