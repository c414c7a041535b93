"""A plain HTTP/1.1 GET on asyncio streams: the http probe's path for the requests it covers (probes/http.py
`fetch` routes them here; everything else goes through httpx).

Why: measured in bench/bench_parallel_checks.py, httpx's request machinery (client, pool, h11, anyio) was
nearly all of an HTTP check's CPU (0.9 ms of ~1 ms), four times what blackbox_exporter spends per probe.
One request on one connection (`Connection: close`) needs none of it.

Covered: GET without a body, no redirect following, http and https (the caller's ssl.SSLContext and server
name), Content-Length, chunked and read-to-close bodies, gzip and deflate (decoded as httpx decodes them, the
decoded size counted), interim 1xx responses skipped. Failures are raised as the exceptions below, named like
httpx's for the same failure, so a probe's message reads the same whichever path made the request.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import SplitResult

from agentops.probes.net import ip_family

# h11, which httpx uses, refuses a response head larger than this.
MAX_HEAD_BYTES = 16 * 1024
READ_BYTES = 64 * 1024
_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3})(?: ([^\r\n]*))?\r?\n")
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*?)[ \t]*\r?\n")
_NO_BODY = frozenset({204, 304})


class ConnectError(Exception):
    """The TCP connection (or the name lookup before it) failed; `cause` is the most telling OSError."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class ReadError(Exception):
    """The connection broke while the request was written or the response read (httpx.ReadError)."""


class RemoteProtocolError(Exception):
    """The server closed without an answer, or what it sent is not HTTP/1.1 (httpx.RemoteProtocolError)."""


class DecodingError(Exception):
    """The body does not decode with its Content-Encoding (httpx.DecodingError)."""


class Headers(Mapping[str, str]):
    """Response headers looked up case-insensitively; a repeated header's values joined with ", " (as
    httpx.Headers.get does)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            self._values[key] = f"{self._values[key]}, {value}" if key in self._values else value

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass
class Response:
    status: int
    reason_phrase: str
    http_version: str
    headers: Headers
    body: bytes  # decoded, at most `keep` bytes
    body_bytes: int  # the decoded size, all of it
    peer_cert: bytes | None


@dataclass
class Progress:
    """How far a request got, for the caller's failure message when it is cut off by its deadline."""

    connected: bool = False  # TCP connected and, for https, the TLS handshake done
    answered: bool = False  # a response head arrived


def is_covered(url: SplitResult, method: str, content: bytes | None, follow_redirects: bool,
               headers: Mapping[str, str]) -> bool:
    """Whether this path can make the request exactly as httpx would: a GET with no body and no redirects to
    follow, to an http(s) URL without credentials in it (httpx would send those as Basic auth) and in plain
    ASCII (httpx would percent-encode the rest), with header names and values of printable ASCII (httpx
    refuses the others, with its own error)."""
    return (method == "GET" and content is None and not follow_redirects and url.scheme in ("http", "https")
            and bool(url.hostname) and "@" not in url.netloc and url.geturl().isascii()
            and all(_PRINTABLE.fullmatch(f"{name}{value}") for name, value in headers.items()))


_PRINTABLE = re.compile(r"[\x20-\x7e\t]*")


def request_head(url: SplitResult, headers: Mapping[str, str]) -> bytes:
    """The request line and headers: httpx's defaults (Accept, the encodings it decodes), then the caller's,
    a caller's header replacing a default of the same name whatever its case."""
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    fields = {"host": ("Host", url.netloc), "accept": ("Accept", "*/*"),
              "accept-encoding": ("Accept-Encoding", "gzip, deflate"), "connection": ("Connection", "close")}
    for name, value in headers.items():
        fields[name.lower()] = (name, value)
    lines = [f"GET {target} HTTP/1.1"] + [f"{name}: {value}" for name, value in fields.values()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def get(url: SplitResult, headers: Mapping[str, str], *, context: ssl.SSLContext | None,
              server_name: str | None, keep: int, progress: Progress, started: Callable[[], None]) -> Response:
    """One GET; `started()` is called as the TCP connect begins (the request's own clock, as httpx's trace
    event `connection.connect_tcp.started`). The caller puts it under its deadline."""
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    head = request_head(url, headers)
    started()
    reader, writer = await _connect(host, port, context, server_name or host)
    progress.connected = True
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        peer_cert = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        try:
            writer.write(head)
            await writer.drain()
        except OSError as exc:
            raise ReadError(str(exc)) from exc
        status, reason, version, fields = await _read_head(reader)
        progress.answered = True
        body, size = await _read_body(reader, status, fields, keep)
    finally:
        writer.transport.abort()  # one request per connection: nothing to say goodbye to
    return Response(status=status, reason_phrase=reason, http_version=version, headers=fields, body=body,
                    body_bytes=size, peer_cert=peer_cert)


async def _connect(host: str, port: int, context: ssl.SSLContext | None,
                   server_name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Each address of `host` in turn; when all fail, the most telling error (a refusal over an unreachable
    network), so `localhost` refused on ::1 and 127.0.0.1 reads "connection refused"."""
    if ip_family(host) is not None:
        addresses = [host]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ConnectError(exc) from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    errors: list[OSError] = []
    for address in addresses:
        try:
            return await asyncio.open_connection(
                address, port, ssl=context, server_hostname=server_name if context is not None else None,
                limit=READ_BYTES)
        except ssl.SSLError:
            raise
        except OSError as exc:
            errors.append(exc)
    cause = next((e for kind in (ConnectionRefusedError, OSError) for e in errors if isinstance(e, kind)),
                 OSError(f"no address for {host}"))
    raise ConnectError(cause) from cause


_NO_ANSWER = "Server disconnected without sending a response."  # a head cut anywhere, as httpx words it
_CUT_CHUNKED = "peer closed connection without sending complete message body (incomplete chunked read)"


@contextmanager
def _reading(cut: str, too_long: str | None = None) -> Iterator[None]:
    """Read failures in httpx's words: the stream ending early is `cut` (a line past the reader's limit is
    `too_long`, else `cut` too), a broken connection a ReadError; a TLS error stays itself."""
    try:
        yield
    except asyncio.IncompleteReadError:
        raise RemoteProtocolError(cut) from None
    except asyncio.LimitOverrunError:
        raise RemoteProtocolError(too_long or cut) from None
    except ssl.SSLError:
        raise
    except OSError as exc:
        raise ReadError(str(exc)) from exc


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, str, Headers]:
    """The status line and headers of the final response (interim 1xx ones skipped, as h11 does). The status
    line is judged as soon as it arrives: a server that is not HTTP (an SSH banner, then waiting for the
    client) is a protocol failure at once, where httpx waits for a blank line it will never get and times
    out."""
    while True:
        line = await _line(reader)
        m = _STATUS_LINE.fullmatch(line)
        if m is None:
            raise RemoteProtocolError(f"illegal status line: {_shown(line)}")
        size = len(line)
        items: list[tuple[str, str]] = []
        while (line := await _line(reader)) not in (b"\r\n", b"\n"):
            size += len(line)
            if size > MAX_HEAD_BYTES:
                raise RemoteProtocolError("response head too big")
            h = _HEADER_LINE.fullmatch(line)
            if h is None:
                raise RemoteProtocolError(f"illegal header line: {_shown(line)}")
            items.append((h[1].decode("latin-1"), h[2].decode("latin-1")))
        status = int(m[2])
        if 100 <= status < 200:  # 100 Continue, 103 Early Hints: the answer is still to come
            continue
        return status, (m[3] or b"").decode("ascii", errors="ignore"), f"HTTP/{m[1].decode()}", Headers(items)


async def _line(reader: asyncio.StreamReader) -> bytes:
    with _reading(_NO_ANSWER, too_long="response head too big"):
        return await reader.readuntil(b"\n")


def _shown(data: bytes) -> str:
    line = bytes(data).rstrip(b"\r\n")
    return f"bytearray({line!r})"  # as h11 words it (the message is bounded where it is shown)


async def _read_body(reader: asyncio.StreamReader, status: int, headers: Headers, keep: int) -> tuple[bytes, int]:
    if status in _NO_BODY:
        return b"", 0
    decoder = _Decoder(headers.get("content-encoding", ""), keep)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        await _read_chunked(reader, decoder)
    elif "content-length" in headers:
        text = headers["content-length"].split(",")[0].strip()
        if not text.isdigit():
            raise RemoteProtocolError(f"bad Content-Length: {text!r}")
        expected, received = int(text), 0
        while received < expected:
            with _reading(_NO_ANSWER):
                data = await reader.read(min(READ_BYTES, expected - received))
            if not data:
                raise RemoteProtocolError("peer closed connection without sending complete message body "
                                          f"(received {received} bytes, expected {expected})")
            received += len(data)
            decoder.feed(data)
    else:  # no length: the body ends when the server closes
        while True:
            with _reading(_NO_ANSWER):
                data = await reader.read(READ_BYTES)
            if not data:
                break
            decoder.feed(data)
    return decoder.finish()


async def _read_chunked(reader: asyncio.StreamReader, decoder: _Decoder) -> None:
    while True:
        line = await _chunk_line(reader)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise RemoteProtocolError(f"illegal chunk header: {_shown(line)}") from None
        if size == 0:
            while await _chunk_line(reader) not in (b"\r\n", b"\n"):  # trailers, not kept (nor by httpx)
                pass
            return
        with _reading(_CUT_CHUNKED):
            decoder.feed(await reader.readexactly(size))
            await reader.readexactly(2)  # the CRLF after the chunk


async def _chunk_line(reader: asyncio.StreamReader) -> bytes:
    with _reading(_CUT_CHUNKED):
        return await reader.readuntil(b"\n")


class _Decoder:
    """Content-Encoding undone as httpx does (gzip; deflate as zlib or raw; unknown codings passed through),
    keeping at most `keep` bytes of the result and counting all of it."""

    def __init__(self, encoding: str, keep: int) -> None:
        self.steps: list[_Step] = [_Step(c) for c in (c.strip().lower() for c in encoding.split(","))
                                   if c in ("gzip", "deflate")]
        self.keep = keep
        self.parts: list[bytes] = []
        self.kept = 0
        self.size = 0

    def feed(self, data: bytes) -> None:
        for step in reversed(self.steps):  # the last coding applied is undone first
            data = step.decode(data)
        self._add(data)

    def finish(self) -> tuple[bytes, int]:
        order = self.steps[::-1]
        for i, step in enumerate(order):  # what each decoder still holds, through the decoders after it
            data = step.flush()
            for later in order[i + 1:]:
                data = later.decode(data)
            self._add(data)
        return b"".join(self.parts), self.size

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.kept < self.keep and data:
            piece = data[:self.keep - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)


class _Step:
    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.first = True
        self.z = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS)

    def decode(self, data: bytes) -> bytes:
        if not data:
            return b""
        try:
            out = self.z.decompress(data)
        except zlib.error as exc:
            if self.coding == "deflate" and self.first:  # raw deflate, without the zlib header (as httpx tries)
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                self.first = False
                return self.decode(data)
            raise DecodingError(str(exc)) from exc
        self.first = False
        return out

    def flush(self) -> bytes:
        try:
            return self.z.flush()
        except zlib.error as exc:
            raise DecodingError(str(exc)) from exc
