"""Many RPC requests in flight on ONE `OpenChannel` stream of an `AgentRpcClient`, replies matched to
requests by request id — what a load run needs and what `AgentRpcClient.ping` (one stream per request, one
request per stream) does not offer.

Request ids are a random per-stream prefix plus a counter: globally unique (so replies can never be confused
with another caller's, microsoft/autogen#7016) and cheaper than a uuid per request. The request is one
protobuf message whose `request_id` is changed before each serialisation, so a request costs one
serialisation, one stream write and one future. Writes are serialised by a lock (gRPC allows one outstanding
write per call); one reader task resolves the futures.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

from agentops.autogen.client import AgentRpcClient, AgentRpcError, build_request, encode_payload
from agentops.autogen.wire import method_path, wire
from agentops.core.model import Reason

_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def payload_problem(payload_type: str, payload: Any) -> str | None:
    """Why this body cannot be sent as a `payload_type` message, or None. The body is read exactly as it would
    go on the wire (`encode_payload`, as `diagnose message` checks it). AutoGen's JSON serializers build the
    message class (a dataclass or pydantic model) from a JSON *object*, so any other body is never handled and
    every request of a load run would only end at its deadline."""
    try:
        value = json.loads(encode_payload(payload))
    except ValueError as exc:  # UnicodeDecodeError included
        return f"the {payload_type} payload is not valid JSON ({exc})"
    if not isinstance(value, dict):
        kind = "null" if value is None else f"a JSON {_JSON_KINDS.get(type(value), type(value).__name__)}"
        return (f"the {payload_type} payload is {kind}, not an object (AutoGen builds the message class from a JSON "
                f"object)")
    return None


class NoReply(TimeoutError):
    """No reply by the request's deadline (see autogen-protocol.md: most failures look like this)."""


class StreamClosed(AgentRpcError):
    """The stream ended (host gone, connection dropped) while requests were in flight or being sent."""


@dataclass
class Reply:
    request_id: str
    error: str  # the handler's error text; "" for a reply
    payload_type: str


class RequestStream:
    """Use: `async with RequestStream(client, "echo", "k", "Ping", b'{"text":"x"}') as s: ... await s.send()`.

    `send()` returns (request id, future); the future resolves to a Reply, or fails with StreamClosed when the
    stream ends first.
    `abandon(request_id)` gives up on one request (its deadline passed): its future fails with NoReply, and a
    reply arriving later is counted in `late_replies`.
    """

    def __init__(self, client: AgentRpcClient, agent_type: str, key: str, payload_type: str, payload: Any) -> None:
        self.client = client
        self._message = build_request(agent_type, key, payload_type, payload, request_id="x")
        self._request = self._message.request
        self._prefix = uuid.uuid4().hex + "-"
        self._counter = 0
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._lock = asyncio.Lock()
        self._call: Any = None
        self._reader: asyncio.Task[None] | None = None
        self.closed: StreamClosed | None = None
        self.late_replies = 0
        self.size_bytes = self._message.ByteSize()

    async def __aenter__(self) -> RequestStream:
        await self.open(timeout=10.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def open(self, timeout: float) -> float:
        """Connect (AgentRpcError with a Reason when that fails) and open the stream; returns connect ms."""
        connect_ms = await self.client.connect(timeout)
        w = wire()
        # Requests are serialised by hand (one message reused, see the module docstring): bytes pass through.
        stream = self.client.channel.stream_stream(method_path("OpenChannel"), request_serializer=None,
                                                   response_deserializer=w.Message.FromString)
        self._call = stream(metadata=(("client-id", self.client.client_id),))
        try:
            await asyncio.wait_for(self._call.wait_for_connection(), timeout)
        except TimeoutError:
            self._call.cancel()
            raise AgentRpcError(Reason.TIMEOUT, f"{self.client.address}: OpenChannel not established within "
                                                f"{timeout:g}s") from None
        except Exception as exc:
            raise self.client.classify(exc) from None
        self._reader = asyncio.create_task(self._read(), name="agentops-load-reader")
        return connect_ms

    async def send(self) -> tuple[str, asyncio.Future[Reply]]:
        """Write one request; returns its request id and the future of its reply."""
        if self.closed is not None:
            raise self.closed
        self._counter += 1
        request_id = f"{self._prefix}{self._counter}"
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        async with self._lock:
            self._request.request_id = request_id
            data = self._message.SerializeToString()
            try:
                await self._call.write(data)
            except Exception as exc:
                self._pending.pop(request_id, None)
                self._fail(exc)
                assert self.closed is not None
                raise self.closed from None
        return request_id, future

    def abandon(self, request_id: str) -> None:
        future = self._pending.pop(request_id, None)
        if future is not None and not future.done():
            future.set_exception(NoReply(request_id))

    async def _read(self) -> None:
        import grpc

        try:
            while True:
                message = await self._call.read()
                if message is grpc.aio.EOF:
                    raise StreamClosed(Reason.PROTOCOL, f"{self.client.address} closed the channel")
                if message.WhichOneof("message") != "response":
                    continue
                response = message.response
                future = self._pending.pop(response.request_id, None)
                if future is None:
                    self.late_replies += 1
                elif not future.done():
                    future.set_result(Reply(response.request_id, response.error, response.payload.data_type))
        except asyncio.CancelledError:
            self._fail(StreamClosed(Reason.PROTOCOL, "the stream was closed"))
            raise
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self.closed is None:
            if isinstance(exc, StreamClosed):
                self.closed = exc
            else:
                err = self.client.classify(exc) if isinstance(exc, Exception) else None
                self.closed = StreamClosed(err.reason if err else Reason.PROTOCOL,
                                           err.message if err else str(exc))
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(self.closed)

    async def close(self) -> None:
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
            self._reader = None
        self._fail(StreamClosed(Reason.PROTOCOL, "the stream was closed"))
