"""An AutoGen worker: its process (alive? stopped? memory), its connection to the AgentRpc host, and whether
the agent types it should own are registered there.

Everything comes from the `worker` target's options (agentops.core.cluster): `process` (viewed by the
registered `process.view` probe, as the diagnosis views it), `host`, `agent_types` (checked against the host's
table from the registered `agentrpc.inventory` step, as `cluster inventory` reads it). host.process cannot be
used from a pack on worker targets (it requires its locator in the check's params), hence this probe. It also
covers the failure that leaves a worker alive and looking healthy but unreachable: after a host restart the
workers never register again (docs/lab.md), so their types vanish from the host's table — `missing_types` says so.

Params: `check_types: false` skips the registration check (e.g. when the host is checked elsewhere).

Metrics: processes, stopped (state T: SIGSTOP or a debugger — it keeps its connection and registrations but
answers nothing; judged by the pack's threshold), rss_bytes, host_connections (ESTABLISHED TCP connections to
the host's port), expected_types, missing_types, latency_ms (the host's GetSubscriptions). Reasons: assertion
(no process, not connected, types missing), and the client's dns/connect/timeout/protocol when the host cannot
be asked. `process:` is matched on the machine agentops runs on; for a remote worker leave it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from agentops.core.config import Target, split_host_port
from agentops.core.format import size
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params


class WorkerProbe(Probe):
    kind = "worker"
    target_kinds = ("worker",)
    description = "AutoGen worker: connected to its AgentRpc host, its agent types registered there"
    metrics: ClassVar[dict[str, str]] = {
        "processes": "live processes found by the target's process: locator",
        "stopped": "of those, processes in state T (SIGSTOP, debugger)",
        "rss_bytes": "their resident memory, summed",
        "host_connections": "their ESTABLISHED TCP connections to the host's port",
        "expected_types": "agent types the worker should own (options.agent_types)",
        "missing_types": "of those, types the host does not list",
        "latency_ms": "the host's GetSubscriptions round trip",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"check_types"})
        if "check_types" in params and not isinstance(params["check_types"], bool):
            raise ValueError("check_types must be true or false")

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.autogen.client import AgentRpcClient
        from agentops.core import registry
        from agentops.core.cluster import worker_spec
        from agentops.core.yamlsrc import ConfigError
        from agentops.probes.process import established

        try:
            spec = worker_spec(target)
        except ConfigError as exc:
            return Observation.failure(Reason.INTERNAL, f"bad target options: {exc}")
        metrics: dict[str, float] = {}
        facts: dict[str, Any] = {"host": spec.host, "agent_types": spec.agent_types}
        problems: list[str] = []

        if spec.process.configured:
            port = split_host_port(spec.host)[1] if spec.host else None
            found = registry.probe("process.view").locate(spec.process, port)
            alive = found.alive
            metrics["processes"] = float(len(alive))
            metrics["stopped"] = float(sum(v.stopped for v in alive))
            metrics["rss_bytes"] = float(sum(v.rss_bytes for v in alive))
            facts["pids"] = sorted(v.pid for v in alive)
            if not alive:
                problems.append(f"no live process ({spec.process.describe()})")
            elif spec.host:
                metrics["host_connections"] = float(established(found))
                if not metrics["host_connections"]:
                    problems.append(f"not connected to its host {spec.host}")

        if spec.host and spec.agent_types and params.get("check_types", True):
            metrics["expected_types"] = float(len(spec.agent_types))
            async with AgentRpcClient.for_target(target, spec.host) as client:
                inv = await registry.probe("agentrpc.inventory").observe(client, {}, timeout)
            if inv.reason is not None:
                return Observation(metrics=metrics, facts=facts, reason=inv.reason,
                                   message=f"cannot ask its host: {inv.message}")
            metrics["latency_ms"] = inv.metrics["latency_ms"]
            missing = [t for t in spec.agent_types if t not in inv.facts["agent_types"]]
            metrics["missing_types"] = float(len(missing))
            if missing:
                facts["missing_types"] = missing
                hint = (" (alive but not registered: host restarted? workers do not re-register)"
                        if metrics.get("processes") else "")
                problems.append(f"type{'s' if len(missing) > 1 else ''} {', '.join(missing)} not registered on "
                                f"{spec.host}{hint}")
        elif not spec.process.configured:
            return Observation.failure(Reason.UNSUPPORTED, "nothing to check: the target has neither process: "
                                                           "nor host + agent_types options")
        if problems:
            return Observation(metrics=metrics, facts=facts, reason=Reason.ASSERTION, message="; ".join(problems))
        said = []
        if "processes" in metrics:
            said.append(f"pid {', '.join(map(str, facts['pids']))}, rss {size(metrics['rss_bytes'])}"
                        + (", STOPPED" if metrics.get("stopped") else ""))
        if "host_connections" in metrics:
            said.append(f"connected to {spec.host}")
        if "missing_types" in metrics:
            said.append(f"{len(spec.agent_types)}/{len(spec.agent_types)} types registered")
        return Observation(metrics=metrics, facts=facts, message=", ".join(said))
