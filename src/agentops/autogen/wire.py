"""The AgentRpc message classes, built at run time from the committed descriptor set in a private pool.

A private pool (not protobuf's default one) lets agentops and AutoGen's own generated stubs, which use the
same message names, live in one process; see `protogen.py` for the whole story. Use `wire()` once per call
site and construct messages from it: `w = wire(); w.RpcRequest(request_id=..., target=w.AgentId(...))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

SERVICE = "agents.AgentRpc"

# gRPC method paths; the names are checked against the service descriptor when the pool is built.
METHODS = ("OpenChannel", "OpenControlChannel", "RegisterAgent", "AddSubscription", "RemoveSubscription",
           "GetSubscriptions")


def method_path(name: str) -> str:
    return f"/{SERVICE}/{name}"


@dataclass(frozen=True)
class Wire:
    """Message classes of `agent_worker.proto` and `cloudevent.proto` (attribute = proto message name)."""

    AgentId: Any
    Payload: Any
    RpcRequest: Any
    RpcResponse: Any
    RegisterAgentTypeRequest: Any
    RegisterAgentTypeResponse: Any
    TypeSubscription: Any
    TypePrefixSubscription: Any
    Subscription: Any
    AddSubscriptionRequest: Any
    AddSubscriptionResponse: Any
    RemoveSubscriptionRequest: Any
    RemoveSubscriptionResponse: Any
    GetSubscriptionsRequest: Any
    GetSubscriptionsResponse: Any
    Message: Any
    ControlMessage: Any
    CloudEvent: Any
    pool: Any


@cache
def wire() -> Wire:
    from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

    from agentops.autogen._descriptors import FILE_DESCRIPTOR_SET

    pool = descriptor_pool.DescriptorPool()
    for well_known in (any_pb2, timestamp_pb2):
        pool.AddSerializedFile(well_known.DESCRIPTOR.serialized_pb)
    for file_proto in descriptor_pb2.FileDescriptorSet.FromString(FILE_DESCRIPTOR_SET).file:
        pool.Add(file_proto)

    service = pool.FindServiceByName(SERVICE)
    missing = set(METHODS) - {m.name for m in service.methods}
    if missing:  # a programming error in the committed proto, caught by the unit tests
        raise RuntimeError(f"{SERVICE} descriptor lacks {sorted(missing)}")

    def cls(full_name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))

    names = [f for f in Wire.__dataclass_fields__ if f not in ("pool", "CloudEvent")]
    return Wire(**{n: cls(f"agents.{n}") for n in names}, CloudEvent=cls("io.cloudevents.v1.CloudEvent"),
                pool=pool)
