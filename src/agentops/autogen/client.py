"""AgentRpcClient: what a diagnosis can learn from an AutoGen `GrpcWorkerAgentRuntimeHost` over the wire.

    async with AgentRpcClient("127.0.0.1:50051") as client:
        inv = await client.inventory(timeout=2)            # agent types, topics, subscriptions
        own = await client.ownership("echo", timeout=2)    # owned by which client id, or free
        res = await client.ping("echo", payload_type="Ping", payload='{"text": "hi"}', timeout=2)
        res.outcome  # "reply" | "error" | "no_reply" | "connect_failed" | "too_large"

Every operation runs under its `timeout` (seconds, connection included) and every call carries the
`client-id` metadata the host requires. Expected failures surface as `AgentRpcError(reason, message)` with a
core `Reason` (dns, connect, tls, auth, timeout, protocol) — except `ping`, which reports them as its outcome,
because "no reply" and "cannot connect" are answers a diagnosis needs, not errors.

`AgentRpcClient.for_target(target)` honours the target's `tls:` block (TLS against the system trust store or
`tls.ca`, mutual TLS with `tls.cert`/`tls.key`, `tls.server_name`), through the channel builder the grpc.health
probe uses (agentops.core.grpc_channel).

Each client has its own gRPC channel and connection (a local subchannel pool), so an oversized message or a
cancelled stream of one client never disturbs another client in the same process. grpc is imported lazily.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from agentops.autogen.wire import method_path, wire
from agentops.core.config import Target, TLSOptions
from agentops.core.model import Reason

DEFAULT_PROBE_KEY = "agentops-probe"
JSON_CONTENT_TYPE = "application/json"
# gRPC's default maximum received message size, which neither the AutoGen host nor its workers change. A
# bigger message does not just fail: the host drops the sender's whole connection.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

_OWNER = re.compile(r"already registered with client (?P<client>[^\s.]+)")

# What a probe's stream answers to a real request that reaches it while it holds a type for an ownership check.
PROBE_HOLD_ERROR = "agentops ownership probe holds this agent type for a moment; retry"


class AgentRpcError(Exception):
    """A failed call, classified: `reason` is a core Reason (dns, connect, timeout, protocol)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class SubscriptionEntry:
    id: str
    kind: str  # "type" (TypeSubscription) | "prefix" (TypePrefixSubscription)
    topic: str  # the topic type, or the topic type prefix
    agent_type: str


@dataclass
class Inventory:
    """The host's subscription table. `agent_types` are the types with the direct-message subscription
    "<type>:" that `RoutedAgent.register` adds — registered types, though not which worker owns each."""

    address: str
    agent_types: list[str]
    topics: list[str]
    subscriptions: list[SubscriptionEntry]
    connect_ms: float
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Ownership:
    agent_type: str
    owned: bool
    owner_client_id: str | None  # the worker's AgentRpc client id, when owned
    latency_ms: float  # the RegisterAgent round trip
    # True when the type was free: the probe held it for a moment on its own channel and released it by
    # closing that channel (the host's disconnect cleanup removes the registration).
    released: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PingResult:
    outcome: str  # reply | error | no_reply | connect_failed | too_large
    agent_type: str
    key: str
    payload_type: str
    request_id: str
    trace_id: str  # sent as W3C traceparent: the worker's log lines for this ping carry it
    size_bytes: int  # the serialized Message, compared with MAX_MESSAGE_BYTES
    connect_ms: float | None = None
    latency_ms: float | None = None  # request sent -> response read
    reply_type: str | None = None
    reply: Any = None  # the decoded JSON reply, or the raw text
    error: str | None = None  # the handler's error string (outcome "error") or why it could not connect
    reason: Reason | None = None  # for connect_failed: dns | connect | timeout | protocol
    timeout_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "reply"

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["reason"] = self.reason.value if self.reason else None
        return doc


@dataclass
class _Deadline:
    timeout: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.timeout - (time.monotonic() - self.started))


def classify(exc: Exception, address: str, tls_enabled: bool = False) -> AgentRpcError:
    """An AioRpcError (or anything else a call raised) as a Reason and a one-line message."""
    import grpc

    if isinstance(exc, AgentRpcError):
        return exc
    if isinstance(exc, TimeoutError):
        return AgentRpcError(Reason.TIMEOUT, f"{address}: no answer before the deadline")
    if not isinstance(exc, grpc.aio.AioRpcError):
        return AgentRpcError(Reason.PROTOCOL, f"{address}: {type(exc).__name__}: {exc}")
    code, details = exc.code(), (exc.details() or "").strip()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return AgentRpcError(Reason.TIMEOUT, f"{address}: no answer before the deadline")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return AgentRpcError(Reason.PROTOCOL, f"{address} is a gRPC server without the agents.AgentRpc "
                                              f"service (UNIMPLEMENTED: {details})")
    if code == grpc.StatusCode.UNAVAILABLE:
        from agentops.core.grpc_channel import unavailable

        reason, text = unavailable(details, tls_enabled)
        if reason is Reason.DNS:
            return AgentRpcError(reason, f"cannot resolve {address}: {text}")
        if reason is Reason.CONNECT:
            return AgentRpcError(reason, f"cannot connect to {address}: {text}")
        return AgentRpcError(reason, f"{address}: {text}")
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return AgentRpcError(Reason.AUTH, f"{address}: {code.name}: {details}")
    return AgentRpcError(Reason.PROTOCOL, f"{address}: {code.name}: {details}")


def encode_payload(payload: Any) -> bytes:
    """Bytes sent as is, str as UTF-8, anything else JSON-encoded. No validation: a diagnosis may send a
    malformed payload on purpose."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload).encode("utf-8")


def new_traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def build_request(agent_type: str, key: str, payload_type: str, payload: Any, *, request_id: str | None = None,
                  source: tuple[str, str] | None = None, traceparent: str | None = None) -> Any:
    """The `Message{request: RpcRequest}` a ping sends (also what `message_size` measures)."""
    w = wire()
    request = w.RpcRequest(
        request_id=request_id or uuid.uuid4().hex,
        target=w.AgentId(type=agent_type, key=key),
        payload=w.Payload(data_type=payload_type, data_content_type=JSON_CONTENT_TYPE,
                          data=encode_payload(payload)),
    )
    if source:
        request.source.CopyFrom(w.AgentId(type=source[0], key=source[1]))
    if traceparent:
        request.metadata["traceparent"] = traceparent
    return w.Message(request=request)


def message_size(agent_type: str, payload_type: str, payload: Any, key: str = DEFAULT_PROBE_KEY) -> int:
    """Serialized size in bytes of the message that would carry this payload to `agent_type`."""
    return build_request(agent_type, key, payload_type, payload).ByteSize()


def fits_limit(size_bytes: int, limit: int = MAX_MESSAGE_BYTES) -> bool:
    return size_bytes <= limit


def decode_payload(payload: Any) -> Any:
    data = bytes(payload.data)
    if payload.data_content_type == JSON_CONTENT_TYPE:
        try:
            return json.loads(data)
        except ValueError:
            pass
    return data.decode("utf-8", "replace")


class AgentRpcClient:
    """A client of one AgentRpc host. Use as an async context manager (or call `close()`)."""

    def __init__(self, address: str, *, client_id: str | None = None, tls: TLSOptions | None = None) -> None:
        self.address = address
        self.client_id = client_id or str(uuid.uuid4())
        self.tls = tls or TLSOptions()
        self._channel: Any = None

    @classmethod
    def for_target(cls, target: Target, address: str | None = None) -> AgentRpcClient:
        """The client of an `agentrpc` target (or of `address`, e.g. a worker's host, with the target's `tls`):
        every command that talks to a host builds its client here, so all of them honour `tls:`."""
        return cls(address if address is not None else target.address or "", tls=target.tls)

    def classify(self, exc: Exception) -> AgentRpcError:
        return classify(exc, self.address, self.tls.enabled)

    async def __aenter__(self) -> AgentRpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close(grace=None)

    @property
    def channel(self) -> Any:
        """The channel (plaintext, TLS or mTLS from `tls`); AgentRpcError(TLS) when a TLS file is unusable."""
        if self._channel is None:
            from agentops.core.grpc_channel import open_channel
            from agentops.core.tls import TlsSetupError

            try:
                # A local subchannel pool: this client's connection is its own (see the module docstring).
                self._channel = open_channel(self.address, self.tls, [("grpc.use_local_subchannel_pool", 1)])
            except TlsSetupError as exc:
                raise AgentRpcError(Reason.TLS, f"{self.address}: {exc}") from None
        return self._channel

    def _metadata(self, client_id: str | None = None) -> tuple[tuple[str, str], ...]:
        return (("client-id", client_id or self.client_id),)

    def _unary(self, name: str, response: Any) -> Any:
        return self.channel.unary_unary(method_path(name), request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=response.FromString)

    def _stream(self) -> Any:
        w = wire()
        return self.channel.stream_stream(method_path("OpenChannel"),
                                          request_serializer=lambda m: m.SerializeToString(),
                                          response_deserializer=w.Message.FromString)

    async def connect(self, timeout: float) -> float:
        """Wait until the channel is READY (TCP + HTTP/2 handshake) and return the time it took in ms.

        A refused port, a failed DNS lookup or a peer that does not speak HTTP/2 fail at once with their
        reason; a peer that accepts and never answers fails with Reason.TIMEOUT when `timeout` runs out.
        """
        import grpc

        deadline = _Deadline(timeout)
        started = time.perf_counter()
        channel = self.channel
        state = channel.get_state(try_to_connect=True)
        while state != grpc.ChannelConnectivity.READY:
            if state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN):
                # A call on a failed channel fails at once with the channel's last error, which says why.
                w = wire()
                try:
                    await self._unary("GetSubscriptions", w.GetSubscriptionsResponse)(
                        w.GetSubscriptionsRequest(), timeout=max(deadline.remaining(), 0.01),
                        metadata=self._metadata())
                except Exception as exc:
                    raise self.classify(exc) from None
                break
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), deadline.remaining())
            except TimeoutError:
                raise AgentRpcError(Reason.TIMEOUT, f"{self.address}: no gRPC connection within {timeout:g}s "
                                                    f"(the port accepts but nothing answers the handshake?)"
                                    if state == grpc.ChannelConnectivity.CONNECTING else
                                    f"{self.address}: no gRPC connection within {timeout:g}s") from None
            state = channel.get_state(try_to_connect=True)
        return (time.perf_counter() - started) * 1000

    async def inventory(self, timeout: float) -> Inventory:
        w = wire()
        deadline = _Deadline(timeout)
        connect_ms = await self.connect(timeout)
        started = time.perf_counter()
        try:
            response = await self._unary("GetSubscriptions", w.GetSubscriptionsResponse)(
                w.GetSubscriptionsRequest(), timeout=max(deadline.remaining(), 0.001), metadata=self._metadata())
        except Exception as exc:
            raise self.classify(exc) from None
        latency_ms = (time.perf_counter() - started) * 1000
        return parse_inventory(self.address, response, connect_ms, latency_ms)

    async def ownership(self, agent_type: str, timeout: float) -> Ownership:
        """Who owns `agent_type`: RegisterAgent answers "already registered with client <uuid>" for an owned
        type. For a free type the same call registers it to the prober, so it is made on a client id whose
        OpenChannel stream is open first and closed afterwards — the host's disconnect cleanup then removes
        the registration. Before closing, a request addressed to the type comes back on that stream: proof
        that the host holds the stream, so the cleanup will run.

        Caveat (protocol, not this client): while a free type is held (a few ms), a worker that registers it
        fails with "already registered", and real requests to it get PROBE_HOLD_ERROR. Types listed by
        `inventory()` are registered, so prefer asking about those, or about types known to be missing.
        """
        w = wire()
        deadline = _Deadline(timeout)
        await self.connect(timeout)
        probe_id = str(uuid.uuid4())
        metadata = self._metadata(probe_id)
        call = self._stream()(metadata=metadata, timeout=timeout)
        try:
            await asyncio.wait_for(call.wait_for_connection(), deadline.remaining())
            started = time.perf_counter()
            try:
                await self._unary("RegisterAgent", w.RegisterAgentTypeResponse)(
                    w.RegisterAgentTypeRequest(type=agent_type), timeout=max(deadline.remaining(), 0.001),
                    metadata=metadata)
            except Exception as exc:
                latency_ms = (time.perf_counter() - started) * 1000
                err = self.classify(exc)
                match = _OWNER.search(err.message)
                if match:
                    return Ownership(agent_type, True, match.group("client"), latency_ms)
                raise err from None
            latency_ms = (time.perf_counter() - started) * 1000
            await self._confirm_hold(call, agent_type, deadline)
            return Ownership(agent_type, False, None, latency_ms, released=True)
        except AgentRpcError:
            raise
        except TimeoutError:
            raise AgentRpcError(Reason.TIMEOUT, f"{self.address}: ownership check of {agent_type!r} did not "
                                                f"finish within {timeout:g}s") from None
        except Exception as exc:
            raise self.classify(exc) from None
        finally:
            call.cancel()

    async def _confirm_hold(self, call: Any, agent_type: str, deadline: _Deadline) -> None:
        """Send a request to the type we now hold and answer it on our own stream (see `ownership`)."""
        w = wire()
        marker = f"agentops-hold-{uuid.uuid4().hex}"
        await call.write(build_request(agent_type, DEFAULT_PROBE_KEY, "agentops.Hold", b"{}", request_id=marker))
        got_response = False
        while not got_response:
            message = await asyncio.wait_for(call.read(), deadline.remaining())
            if message is _eof():
                raise AgentRpcError(Reason.PROTOCOL, f"{self.address} closed the channel during the ownership "
                                                     f"check of {agent_type!r}")
            kind = message.WhichOneof("message")
            if kind == "request":
                # Ours (the marker) or a real caller's that arrived while we hold the type: answer either,
                # so no caller is left waiting and the host keeps no pending reply slot for us.
                await call.write(w.Message(response=w.RpcResponse(request_id=message.request.request_id,
                                                                  error=PROBE_HOLD_ERROR)))
            elif kind == "response" and message.response.request_id == marker:
                got_response = True

    async def ping(self, agent_type: str, *, payload_type: str, payload: Any, key: str = DEFAULT_PROBE_KEY,
                   timeout: float = 5.0, source: tuple[str, str] | None = None,
                   max_message_bytes: int = MAX_MESSAGE_BYTES) -> PingResult:
        """One RpcRequest to `agent_type`/`key` with a uuid4 request id, answered or not within `timeout`.

        Outcomes: reply (latency_ms, reply_type, reply), error (the handler raised: `error` is its text),
        no_reply (nothing by the deadline: type not registered, handler returned nothing, bad payload, dead
        or frozen worker — combine with inventory, ownership, processes and logs to tell which),
        connect_failed (reason and error say why), too_large (not sent: over the 4 MiB limit, which would make
        the host drop this connection).
        """
        deadline = _Deadline(timeout)
        trace_id, traceparent = new_traceparent()
        message = build_request(agent_type, key, payload_type, payload, source=source, traceparent=traceparent)
        request_id = message.request.request_id
        result = PingResult(outcome="no_reply", agent_type=agent_type, key=key, payload_type=payload_type,
                            request_id=request_id, trace_id=trace_id, size_bytes=message.ByteSize(),
                            timeout_s=timeout)
        if not fits_limit(result.size_bytes, max_message_bytes):
            result.outcome = "too_large"
            result.error = (f"message is {result.size_bytes} bytes, over the {max_message_bytes}-byte limit; "
                            f"not sent (the host would drop the connection)")
            return result
        try:
            result.connect_ms = await self.connect(timeout)
        except AgentRpcError as exc:
            result.outcome, result.reason, result.error = "connect_failed", exc.reason, exc.message
            return result
        # A fresh client id per ping stream: the 0.7.5 host keys a stream by client id, and when a previous
        # stream of the same id closes, its cleanup (`del _data_connections[client_id]`, pending replies
        # cancelled) can run after the next stream registered — and silently drop that stream's reply.
        call = self._stream()(metadata=self._metadata(str(uuid.uuid4())),
                              timeout=max(deadline.remaining(), 0.001))
        try:
            started = time.perf_counter()
            await call.write(message)
            while True:
                incoming = await asyncio.wait_for(call.read(), deadline.remaining())
                if incoming is _eof():
                    result.outcome, result.reason = "connect_failed", Reason.PROTOCOL
                    result.error = f"{self.address} closed the channel before replying"
                    return result
                if incoming.WhichOneof("message") != "response" or incoming.response.request_id != request_id:
                    continue
                result.latency_ms = (time.perf_counter() - started) * 1000
                response = incoming.response
                if response.error:
                    result.outcome, result.error = "error", response.error
                else:
                    result.outcome = "reply"
                    result.reply_type = response.payload.data_type
                    result.reply = decode_payload(response.payload)
                return result
        except TimeoutError:
            return result  # no_reply
        except Exception as exc:
            err = self.classify(exc)
            if err.reason is Reason.TIMEOUT:
                return result
            result.outcome, result.reason, result.error = "connect_failed", err.reason, err.message
            return result
        finally:
            call.cancel()


def _eof() -> Any:
    import grpc

    return grpc.aio.EOF


def parse_inventory(address: str, response: Any, connect_ms: float, latency_ms: float) -> Inventory:
    entries: list[SubscriptionEntry] = []
    for sub in response.subscriptions:
        kind = sub.WhichOneof("subscription")
        if kind == "typeSubscription":
            s = sub.typeSubscription
            entries.append(SubscriptionEntry(sub.id, "type", s.topic_type, s.agent_type))
        elif kind == "typePrefixSubscription":
            p = sub.typePrefixSubscription
            entries.append(SubscriptionEntry(sub.id, "prefix", p.topic_type_prefix, p.agent_type))
    agent_types = sorted({e.agent_type for e in entries if e.kind == "prefix" and e.topic == f"{e.agent_type}:"})
    topics = sorted({e.topic for e in entries if e.kind == "type"}
                    | {f"{e.topic}*" for e in entries if e.kind == "prefix" and e.topic != f"{e.agent_type}:"})
    entries.sort(key=lambda e: (e.agent_type, e.kind, e.topic))
    return Inventory(address, agent_types, topics, entries, round(connect_ms, 3), round(latency_ms, 3))
