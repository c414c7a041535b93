"""`process.view`: the processes of a worker or AgentRpc host target (its `options.process` locator), each
viewed as core.osproc sees it: state (stopped since when), memory, threads, connections to the host's port.

One view for every command: the worker probe, the diagnosis (host process, owning worker, the cluster's
workers) look it up in the registry and call `locate` (sync: psutil reads /proc in microseconds); as a check,
`measure` returns the same as metrics and facts. Params: `host_port` (count connections to it; a worker
target's default is the port of its options.host).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from agentops.core.config import Target, split_host_port
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params

if TYPE_CHECKING:
    from agentops.core.cluster import ProcessLocator
    from agentops.core.osproc import Located


class ProcessViewProbe(Probe):
    kind = "process.view"
    target_kinds = ("worker", "agentrpc")
    description = "the processes of a worker or AgentRpc host target: state, stopped since, memory, connections"
    metrics: ClassVar[dict[str, str]] = {
        "processes": "live processes found by the target's process: locator",
        "stopped": "of those, processes in state T (SIGSTOP, debugger)",
        "rss_bytes": "their resident memory, summed",
        "host_connections": "their ESTABLISHED TCP connections to the host's port (with a host port)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"host_port"})
        port = params.get("host_port")
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise ValueError("host_port must be a port number")

    def locate(self, locator: ProcessLocator, host_port: int | None = None,
               host_ips: set[str] | None = None) -> Located:
        """The locator's processes (this one excluded), viewed."""
        from agentops.core.osproc import locate

        return locate(locator, host_port, host_ips)

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.core.cluster import host_spec, worker_spec
        from agentops.core.yamlsrc import ConfigError

        try:
            spec = worker_spec(target) if target.kind == "worker" else host_spec(target)
        except ConfigError as exc:
            return Observation.failure(Reason.INTERNAL, f"bad target options: {exc}")
        if not spec.process.configured:
            return Observation.failure(Reason.UNSUPPORTED, "the target has no options.process to find it by")
        port = params.get("host_port")
        host = getattr(spec, "host", None)
        if port is None and host:
            port = split_host_port(host)[1]
        return observation(self.locate(spec.process, port))


def observation(found: Located) -> Observation:
    """Metrics and facts of a located set of processes (what `measure` returns)."""
    alive = found.alive
    metrics = {"processes": float(len(alive)), "stopped": float(sum(v.stopped for v in alive)),
               "rss_bytes": float(sum(v.rss_bytes for v in alive))}
    if any(v.host_connections is not None for v in alive):
        metrics["host_connections"] = float(established(found))
    facts = {"located_by": found.how, "pids": sorted(v.pid for v in alive),
             "processes": [v.to_dict() for v in found.views]}
    if not alive:
        return Observation(metrics=metrics, facts=facts, reason=Reason.ASSERTION,
                           message=f"no live process ({found.how})")
    return Observation(metrics=metrics, facts=facts,
                       message=", ".join(f"pid {v.pid} state {v.state}" for v in alive))


def established(found: Located) -> int:
    """ESTABLISHED connections to the host port, over the live processes."""
    return sum(c.endswith("ESTABLISHED") for v in found.alive for c in v.host_connections or [])
