"""A small HTTP/1.1 edge on asyncio: GET and HEAD, one request per connection (`Connection: close`, which
Prometheus and every load balancer accept). Bounded everywhere a client could make it grow or wait: the request
head's size and read time, the connections open at once. No third-party server: serve's routes answer from
memory, and the checks share this one event loop."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from agentops.serve.log import log
from agentops.serve.options import ServeOptions


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, (text if text.endswith("\n") else text + "\n").encode())


Handler = Callable[[Request], Awaitable[Response]]


def parse_head(head: bytes) -> Request:
    """The request line and headers; ValueError on anything that is not a well-formed HTTP/1.x head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("not an HTTP/1.x request line")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError("malformed header line")
        headers[name.strip().lower()] = value.strip()
    url = urlsplit(target)
    return Request(method=method.upper(), path=url.path or "/", query=parse_qs(url.query), headers=headers)


class HttpEdge:
    def __init__(self, handler: Handler, options: ServeOptions) -> None:
        self.handler, self.options = handler, options
        self.open = 0
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        """Listen (over TLS with `tls`); the port bound (so `--listen 127.0.0.1:0` works)."""
        self.server = await asyncio.start_server(self._serve, host, port, limit=self.options.max_request_bytes,
                                                 reuse_address=True, ssl=tls,
                                                 ssl_handshake_timeout=self.options.request_read_timeout_s
                                                 if tls else None)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            if self.open > self.options.max_connections:
                await self._write(writer, Response.text(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections"),
                                  head_only=False)
                return
            try:
                # asyncio.timeout, not wait_for: wait_for wraps each await in a task of its own, a cost paid
                # three times per request (the head, the drain, the close).
                async with asyncio.timeout(self.options.request_read_timeout_s):
                    head = await reader.readuntil(b"\r\n\r\n")
                request = parse_head(head[:-4])
            except (asyncio.LimitOverrunError, ValueError):
                await self._write(writer, Response.text(HTTPStatus.BAD_REQUEST, "bad request"), head_only=False)
                return
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return  # a client that sends nothing (or half a head) in time gets nothing
            if request.method not in ("GET", "HEAD"):
                response = Response.text(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD")
                response.headers["Allow"] = "GET, HEAD"
            else:
                try:
                    response = await self.handler(request)
                except Exception as exc:  # a route's bug answers 500 and is logged; the service goes on
                    log("route_failed", level="error", path=request.path, error=f"{type(exc).__name__}: {exc}")
                    response = Response.text(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
            await self._write(writer, response, head_only=request.method == "HEAD")
        finally:
            self.open -= 1
            writer.close()
            try:
                async with asyncio.timeout(self.options.request_read_timeout_s):
                    await writer.wait_closed()
            except (TimeoutError, ConnectionError, OSError):
                pass

    async def _write(self, writer: asyncio.StreamWriter, response: Response, *, head_only: bool) -> None:
        reason = HTTPStatus(response.status).phrase
        headers = {"Content-Type": response.content_type, "Content-Length": str(len(response.body)),
                   "Connection": "close", **response.headers}
        head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        try:
            writer.write(head.encode("latin-1") + b"\r\n" + (b"" if head_only else response.body))
            if writer.transport.get_write_buffer_size():  # what the socket did not take at once
                async with asyncio.timeout(self.options.request_read_timeout_s):
                    await writer.drain()
        except (TimeoutError, ConnectionError, OSError):
            pass  # the client went away or stopped reading: nothing more to tell it
