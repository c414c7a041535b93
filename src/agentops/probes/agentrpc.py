"""AutoGen AgentRpc host: is it alive, which agent types are registered, does a ping come back.

The host serves no standard gRPC health service, so liveness is a `GetSubscriptions` call (with the
`client-id` metadata the host requires); it and the ping are the registered steps of probes.agentrpc_steps.
Params (each falls back to the target's `options:` of the same name, see agentops.core.cluster):

    expect_types: [echo, planner]     a type missing from the host's table -> assertion, naming it
    ping: {type: echo, payload_type: Ping, payload: {"text": "hi"}, key: agentops-probe}
                                      one request/reply round trip within the check's timeout

Metrics: subscriptions, agent_types, latency_ms (GetSubscriptions), connect_ms, missing_types (with
expect_types), ping_ms (with ping). Facts: agent_types, topics, and the ping's outcome/request id/trace id.
Reasons: dns, connect, timeout (nothing answers the handshake or the call), protocol (not gRPC, or a gRPC
server without agents.AgentRpc), assertion (a type missing; the ping answered with an error or not at all).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from agentops.core.config import Target
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params
from agentops.probes.agentrpc_steps import ping_params, preload_agentrpc, step


class AgentRpcProbe(Probe):
    kind = "agentrpc"
    target_kinds = ("agentrpc",)
    description = "AutoGen AgentRpc host: GetSubscriptions liveness, expected agent types, optional ping"
    metrics: ClassVar[dict[str, str]] = {
        "subscriptions": "entries in the host's subscription table",
        "agent_types": "agent types with a direct-message subscription (registered by RoutedAgent.register)",
        "latency_ms": "GetSubscriptions round trip",
        "connect_ms": "TCP + HTTP/2 handshake",
        "missing_types": "expected types not registered (with expect_types)",
        "ping_ms": "request -> reply round trip through host and worker (with ping)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"expect_types", "ping"})
        types = params.get("expect_types")
        if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)):
            raise ValueError("expect_types must be a list of agent type names")
        if params.get("ping") is not None:
            ping_params(params["ping"])

    def preload(self) -> None:
        preload_agentrpc()

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.autogen.client import AgentRpcClient
        from agentops.core.cluster import host_spec
        from agentops.core.yamlsrc import ConfigError

        try:
            spec = host_spec(target)
        except ConfigError as exc:
            return Observation.failure(Reason.INTERNAL, f"bad target options: {exc}")
        expect = list(params.get("expect_types") or spec.expect_types)
        ping = params.get("ping")
        if ping is None and spec.ping is not None:
            ping = {"type": spec.ping.agent_type, "payload_type": spec.ping.payload_type,
                    "payload": spec.ping.payload, "key": spec.ping.key}

        import time

        started = time.monotonic()
        async with AgentRpcClient.for_target(target) as client:
            # The same registered steps as `cluster inventory` and the diagnosis (probes.agentrpc_steps).
            inv = await step("agentrpc.inventory").observe(client, {}, timeout)
            if inv.reason is not None:
                return inv
            metrics = {k: inv.metrics[k] for k in ("subscriptions", "agent_types", "latency_ms", "connect_ms")}
            types: list[str] = inv.facts["agent_types"]
            facts: dict[str, Any] = {"agent_types": types, "topics": inv.facts["topics"]}
            problems: list[str] = []
            if expect:
                missing = [t for t in expect if t not in types]
                metrics["missing_types"] = float(len(missing))
                if missing:
                    facts["missing_types"] = missing
                    problems.append(f"agent type{'s' if len(missing) > 1 else ''} not registered: "
                                    f"{', '.join(missing)}")
            ping_text = ""
            if ping is not None and not problems:
                pinged = await step("agentrpc.ping").observe(
                    client, {**ping, "key": ping.get("key") or "agentops-probe"},
                    max(0.05, timeout - (time.monotonic() - started)))
                result = pinged.facts
                facts["ping"] = {k: v for k, v in result.items()
                                 if k in ("outcome", "agent_type", "key", "request_id", "trace_id", "error",
                                          "reply_type", "size_bytes")}
                if result["outcome"] == "reply" and "rtt_ms" in pinged.metrics:
                    metrics["ping_ms"] = pinged.metrics["rtt_ms"]
                    ping_text = f", ping {ping['type']} {pinged.metrics['rtt_ms']:.1f} ms"
                elif result["outcome"] == "connect_failed":
                    return Observation(metrics=metrics, facts=facts, reason=pinged.reason or Reason.CONNECT,
                                       message=f"ping {ping['type']}: {result.get('error')}")
                elif result["outcome"] == "error":
                    problems.append(f"ping {ping['type']}: the handler raised: {result.get('error')}")
                elif result["outcome"] == "too_large":
                    problems.append(f"ping {ping['type']}: {result.get('error')}")
                else:
                    problems.append(f"ping {ping['type']}: no reply within {result.get('timeout_s', 0):.3g}s "
                                    f"(request {result.get('request_id')})")
        if problems:
            return Observation(metrics=metrics, facts=facts, reason=Reason.ASSERTION, message="; ".join(problems))
        shown = ", ".join(types[:8]) + (", …" if len(types) > 8 else "")
        return Observation(metrics=metrics, facts=facts,
                           message=f"{len(types)} agent types ({shown}), {int(metrics['subscriptions'])} "
                                   f"subscriptions, GetSubscriptions {metrics['latency_ms']:.1f} ms{ping_text}")
