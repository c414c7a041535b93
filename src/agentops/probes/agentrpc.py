"""AutoGen AgentRpc host: is it alive, which agent types are registered, does a ping come back.

The host serves no standard gRPC health service, so liveness is a `GetSubscriptions` call (with the
`client-id` metadata the host requires). Params (each falls back to the target's `options:` of the same name,
see agentops.autogen.workers):

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

PING_KEYS = {"type", "payload_type", "payload", "key"}


def _ping_params(ping: Any) -> dict[str, Any]:
    if not isinstance(ping, Mapping):
        raise ValueError("ping must be a mapping with type, payload_type and payload")
    unknown = sorted(set(ping) - PING_KEYS)
    if unknown:
        raise ValueError(f"ping: unknown key {unknown[0]!r} (known: {', '.join(sorted(PING_KEYS))})")
    for key in ("type", "payload_type"):
        if not isinstance(ping.get(key), str) or not ping[key]:
            raise ValueError(f"ping.{key} must be a non-empty string")
    return dict(ping)


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
            _ping_params(params["ping"])

    def preload(self) -> None:
        import grpc.aio  # noqa: F401

        from agentops.autogen.wire import wire

        wire()  # the message classes, built from descriptors on first use

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.autogen.client import AgentRpcClient, AgentRpcError
        from agentops.autogen.workers import host_spec
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
            try:
                inv = await client.inventory(timeout)
            except AgentRpcError as exc:
                return Observation.failure(exc.reason, exc.message)
            metrics = {"subscriptions": float(len(inv.subscriptions)), "agent_types": float(len(inv.agent_types)),
                       "latency_ms": inv.latency_ms, "connect_ms": inv.connect_ms}
            facts: dict[str, Any] = {"agent_types": inv.agent_types, "topics": inv.topics}
            problems: list[str] = []
            if expect:
                missing = [t for t in expect if t not in inv.agent_types]
                metrics["missing_types"] = float(len(missing))
                if missing:
                    facts["missing_types"] = missing
                    problems.append(f"agent type{'s' if len(missing) > 1 else ''} not registered: "
                                    f"{', '.join(missing)}")
            ping_text = ""
            if ping is not None and not problems:
                result = await client.ping(
                    ping["type"], payload_type=ping["payload_type"], payload=ping.get("payload", {}),
                    key=ping.get("key") or "agentops-probe",
                    timeout=max(0.05, timeout - (time.monotonic() - started)))
                facts["ping"] = {k: v for k, v in result.to_dict().items()
                                 if k in ("outcome", "agent_type", "key", "request_id", "trace_id", "error",
                                          "reply_type", "size_bytes")}
                if result.ok and result.latency_ms is not None:
                    metrics["ping_ms"] = round(result.latency_ms, 3)
                    ping_text = f", ping {ping['type']} {result.latency_ms:.1f} ms"
                elif result.outcome == "connect_failed":
                    return Observation(metrics=metrics, facts=facts, reason=result.reason or Reason.CONNECT,
                                       message=f"ping {ping['type']}: {result.error}")
                elif result.outcome == "error":
                    problems.append(f"ping {ping['type']}: the handler raised: {result.error}")
                elif result.outcome == "too_large":
                    problems.append(f"ping {ping['type']}: {result.error}")
                else:
                    problems.append(f"ping {ping['type']}: no reply within {result.timeout_s:.3g}s (request "
                                    f"{result.request_id})")
        if problems:
            return Observation(metrics=metrics, facts=facts, reason=Reason.ASSERTION, message="; ".join(problems))
        shown = ", ".join(inv.agent_types[:8]) + (", …" if len(inv.agent_types) > 8 else "")
        return Observation(metrics=metrics, facts=facts,
                           message=f"{len(inv.agent_types)} agent types ({shown}), {len(inv.subscriptions)} "
                                   f"subscriptions, GetSubscriptions {inv.latency_ms:.1f} ms{ping_text}")
