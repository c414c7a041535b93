"""The AgentRpc measurements, each a registered probe: `agentrpc.inventory` (GetSubscriptions),
`agentrpc.ownership` (who owns a type), `agentrpc.ping` (one request/reply round trip) and `agentrpc.payload`
(is a body JSON, and is the message under gRPC's 4 MiB).

They are measured once, here, for every command: health's `agentrpc` and `worker` probes, `cluster inventory`
and the diagnosis all look them up in the registry (`core.registry.probe(kind)`) and call `observe` with the
AgentRpc client they already hold, so a command that asks a host several things keeps one channel. Run as a
check (`measure`), a step opens its own client to the target (a worker target's host is `options.host`).

Facts are what callers build on: the inventory's `agent_types`, `topics`, `subscriptions`; the ownership's
`owned`, `owner_client_id`; the ping's outcome, request id, trace id, reply type, error.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from agentops.core.config import Target
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params

if TYPE_CHECKING:
    from agentops.autogen.client import AgentRpcClient
    from agentops.core.cluster import PingSpec

PING_KEYS = {"type", "payload_type", "payload", "key"}
DEFAULT_KEY = "agentops-probe"
REPLY_SHOWN = 300  # characters of a reply kept in the facts


def preload_agentrpc() -> None:
    """What an AgentRpc measurement imports lazily: grpc, and the message classes (built on first use)."""
    import grpc.aio  # noqa: F401

    from agentops.autogen.wire import wire

    wire()


class AgentRpcStep(Probe):
    """One AgentRpc measurement. `observe` measures with a client the caller holds; `measure` opens one."""

    target_kinds = ("agentrpc", "worker")

    def preload(self) -> None:
        preload_agentrpc()

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.autogen.client import AgentRpcClient

        address = None
        if target.kind == "worker":
            address = str(target.options.get("host") or "")
            if not address:
                return Observation.failure(Reason.UNSUPPORTED, "the worker target has no options.host to ask")
        async with AgentRpcClient.for_target(target, address) as client:
            return await self.observe(client, params, timeout)

    @abstractmethod
    async def observe(self, client: AgentRpcClient, params: Mapping[str, Any], timeout: float) -> Observation:
        """Measure through `client` within `timeout` seconds."""


class InventoryStep(AgentRpcStep):
    kind = "agentrpc.inventory"
    description = "AgentRpc host: its subscription table (GetSubscriptions): agent types, topics"
    metrics: ClassVar[dict[str, str]] = {
        "subscriptions": "entries in the host's subscription table",
        "agent_types": "agent types with a direct-message subscription (registered by RoutedAgent.register)",
        "topics": "distinct topics subscribed to",
        "latency_ms": "GetSubscriptions round trip",
        "connect_ms": "TCP + HTTP/2 handshake",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, set())

    async def observe(self, client: AgentRpcClient, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.autogen.client import AgentRpcError

        try:
            inv = await client.inventory(timeout)
        except AgentRpcError as exc:
            return Observation.failure(exc.reason, exc.message)
        shown = ", ".join(inv.agent_types[:8]) + (", …" if len(inv.agent_types) > 8 else "")
        return Observation(
            metrics={"subscriptions": float(len(inv.subscriptions)), "agent_types": float(len(inv.agent_types)),
                     "topics": float(len(inv.topics)), "latency_ms": inv.latency_ms, "connect_ms": inv.connect_ms},
            facts={"agent_types": inv.agent_types, "topics": inv.topics,
                   "subscriptions": inv.to_dict()["subscriptions"]},
            message=f"{len(inv.agent_types)} agent types ({shown or 'none'}), {len(inv.subscriptions)} "
                    f"subscriptions, GetSubscriptions {inv.latency_ms:.1f} ms")


class OwnershipStep(AgentRpcStep):
    kind = "agentrpc.ownership"
    description = "AgentRpc host: which client (worker connection) owns an agent type (RegisterAgent's answer)"
    metrics: ClassVar[dict[str, str]] = {"latency_ms": "the RegisterAgent round trip"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"agent_type"})
        if not isinstance(params.get("agent_type"), str) or not params["agent_type"]:
            raise ValueError("agent_type must be a non-empty string")

    async def observe(self, client: AgentRpcClient, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.autogen.client import AgentRpcError

        agent_type = str(params["agent_type"])
        try:
            own = await client.ownership(agent_type, timeout)
        except AgentRpcError as exc:
            return Observation.failure(exc.reason, exc.message)
        facts: dict[str, Any] = {"agent_type": agent_type, "owned": own.owned,
                                 "owner_client_id": own.owner_client_id}
        if not own.owned:
            return Observation(facts=facts, reason=Reason.ASSERTION,
                               message=f"{agent_type} is not registered on the host: no worker owns it "
                                       f"(a RegisterAgent for it was accepted, then released)")
        who = f"client {own.owner_client_id}" if own.owner_client_id else "a client the host did not name"
        return Observation(metrics={"latency_ms": round(own.latency_ms, 3)}, facts=facts,
                           message=f"{agent_type} is registered, owned by {who}")


def ping_params(ping: Any, extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A ping mapping (type, payload_type, payload, key), checked; ValueError with a one-line reason."""
    if not isinstance(ping, Mapping):
        raise ValueError("ping must be a mapping with type, payload_type and payload")
    known = PING_KEYS | extra
    unknown = sorted(set(ping) - known)
    if unknown:
        raise ValueError(f"ping: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    for key in ("type", "payload_type"):
        if not isinstance(ping.get(key), str) or not ping[key]:
            raise ValueError(f"ping.{key} must be a non-empty string")
    return dict(ping)


class PingStep(AgentRpcStep):
    kind = "agentrpc.ping"
    description = "AgentRpc: one request to an agent type and its reply, through the host and the owning worker"
    metrics: ClassVar[dict[str, str]] = {"rtt_ms": "request -> reply round trip"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        ping_params(params, frozenset({"source"}))  # source: (type, key) of the sender, for the diagnosis

    async def observe(self, client: AgentRpcClient, params: Mapping[str, Any], timeout: float) -> Observation:
        agent_type, key = str(params["type"]), str(params.get("key") or DEFAULT_KEY)
        result = await client.ping(agent_type, payload_type=str(params["payload_type"]),
                                   payload=params.get("payload", {}), key=key, timeout=timeout,
                                   source=params.get("source"))
        facts = {k: v for k, v in result.to_dict().items() if k != "reply" and v is not None}
        if result.reply is not None:
            facts["reply"] = str(result.reply)[:REPLY_SHOWN]
        where = f"{agent_type}/{key}"
        if result.outcome == "reply":
            return Observation(metrics={"rtt_ms": round(result.latency_ms or 0.0, 3)}, facts=facts,
                               message=f"{where} replied {result.reply_type} in {result.latency_ms:.1f} ms")
        if result.outcome == "error":
            return Observation(facts=facts, reason=Reason.ASSERTION,
                               message=f"{where} answered with an error: {result.error}")
        if result.outcome == "no_reply":
            return Observation(facts=facts, reason=Reason.TIMEOUT,
                               message=f"no reply from {where} within {timeout:.2g}s (request {result.request_id})")
        if result.outcome == "too_large":
            return Observation(facts=facts, reason=Reason.ASSERTION, message=result.error or "too large")
        return Observation(facts=facts, reason=result.reason or Reason.CONNECT, message=result.error or "")


class PayloadStep(AgentRpcStep):
    """No network: the message a ping or a load would send, checked before it is sent (`check`)."""

    kind = "agentrpc.payload"
    description = "AgentRpc: is a message body JSON, and is the message under gRPC's 4 MiB limit"
    metrics: ClassVar[dict[str, str]] = {"size_bytes": "the encoded RpcRequest message"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"agent_type", "key", "payload_type", "payload"})
        for key in ("agent_type", "payload_type"):
            if not isinstance(params.get(key), str) or not params[key]:
                raise ValueError(f"{key} must be a non-empty string")

    async def observe(self, client: AgentRpcClient, params: Mapping[str, Any], timeout: float) -> Observation:
        return self.check(params)

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        return self.check(params)

    def check(self, params: Mapping[str, Any]) -> Observation:
        from agentops.autogen.client import MAX_MESSAGE_BYTES, encode_payload, message_size

        agent_type, payload_type = str(params["agent_type"]), str(params["payload_type"])
        body = encode_payload(params.get("payload", {}))
        size = message_size(agent_type, payload_type, body, key=str(params.get("key") or DEFAULT_KEY))
        facts: dict[str, Any] = {"payload_type": payload_type, "size_bytes": size, "limit_bytes": MAX_MESSAGE_BYTES,
                                 "payload_bytes": len(body), "too_large": size > MAX_MESSAGE_BYTES}
        obs = Observation(metrics={"size_bytes": float(size)}, facts=facts,
                          message=f"{payload_type} payload: a message of {size} bytes (limit {MAX_MESSAGE_BYTES})")
        try:
            json.loads(body)
            facts["json_valid"] = True
        except ValueError as exc:
            facts["json_valid"] = False
            # Not JSON: the host forwards it anyway, and the handler fails to decode it (a protocol fault).
            obs.reason, obs.message = Reason.PROTOCOL, f"the {payload_type} payload is not valid JSON ({exc})"
        if facts["too_large"]:
            obs.reason = Reason.ASSERTION
            obs.message = (f"the message would be {size} bytes, over the {MAX_MESSAGE_BYTES}-byte gRPC limit: not "
                           f"sent (the host would drop the sender's whole connection)")
        return obs


def step(kind: str) -> Any:
    """The registered probe of an AgentRpc step (core.registry), so a plugin or a test may replace it."""
    from agentops.core import registry

    return registry.probe(kind)


async def ping_on_own_client(target: Target, agent_type: str, ping: PingSpec, timeout: float) -> Observation:
    """One ping (the registered agentrpc.ping step) on a client of its own, so pings to several types run at once and
    a silent type delays none: serve's AutoGen view and emergency's cascade detection."""
    from agentops.autogen.client import AgentRpcClient

    params: dict[str, Any] = {"type": agent_type, "payload_type": ping.payload_type, "payload": ping.payload}
    if ping.key:
        params["key"] = ping.key
    async with AgentRpcClient.for_target(target) as client:
        obs: Observation = await step("agentrpc.ping").observe(client, params, timeout)
        return obs
