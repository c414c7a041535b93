"""HTTP(S) endpoints: status, latency, body size, body and JSON assertions, TLS certificate days left.

`fetch()` is also the scrape of the metrics probe: one way to make a request under a deadline and turn
every way it can fail into a reason from the closed vocabulary.

Params (all optional):
    path: /healthz                      appended to the target URL
    method: GET
    headers: {Accept: application/json}
    headers_env: {Authorization: API_TOKEN}   header value read from an environment variable (a secret)
    body: '{"ping": 1}'                 request body
    expect_status: 2xx                  an int, "2xx"-style class, or a list of them (default 2xx)
    body_regex: '"status":\\s*"ok"'      searched in the body
    json: [{path: $.status, equals: ok}, {path: $.checks[0].name, exists: true},
           {path: $.version, matches: '^1\\.'}, {path: $.queue.depth, metric: queue_depth}]
    follow_redirects: false
The target's credentials are sent too: `username` + `password_*` as Basic auth, `token_*` as a Bearer token.
Proxy variables (HTTP_PROXY ...) and ~/.netrc are not used: a probe measures the endpoint itself, and reading
them costs every request ~1 ms.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from agentops.core.config import Target
from agentops.core.errors import causes, error_text
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params
from agentops.core.redact import redact, register_secret
from agentops.core.tls import TlsSetupError, cert_days_left, client_context, describe_ssl_error
from agentops.core.yamlsrc import ConfigError
from agentops.probes import http_light
from agentops.probes._errors import yield_to_other_checks
from agentops.probes._pacing import cpu_turn

MAX_BODY_BYTES = 8 * 1024 * 1024  # read at most this much; a health endpoint that streams gigabytes is a finding
AUTH_STATUSES = (401, 403, 407)


@dataclass
class Fetched:
    status: int
    reason_phrase: str
    headers: Mapping[str, str]
    body: bytes
    body_bytes: int  # the full size, even when `body` was cut at MAX_BODY_BYTES
    elapsed_s: float
    started: float  # time.monotonic() when the request was sent
    http_version: str
    peer_cert: bytes | None
    truncated: bool = False  # reading stopped past the limit (fetch with on_chunk): body_bytes is a lower bound

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def join_url(base: str, path: str | None) -> str:
    if not path:
        return base
    return base.rstrip("/") + "/" + path.lstrip("/")


def target_headers(target: Target) -> dict[str, str]:
    """The Authorization header from the target's credentials: a Bearer token, or Basic username/password
    (encoded as httpx.BasicAuth encodes it, and registered as a secret: a server may echo it)."""
    token = target.secret("token")
    if token:
        return {"Authorization": f"Bearer {token}"}
    password = target.secret("password")
    if target.username and password is not None:
        credential = base64.b64encode(f"{target.username}:{password}".encode()).decode("ascii")
        register_secret(credential)
        return {"Authorization": f"Basic {credential}"}
    return {}


async def fetch(target: Target, url: str, *, timeout: float, method: str = "GET",
                headers: Mapping[str, str] | None = None, content: bytes | None = None,
                follow_redirects: bool = False,
                on_chunk: Callable[[bytes], None] | None = None) -> Fetched | Observation:
    """One request, its body read (up to MAX_BODY_BYTES), all within `timeout`; a failure Observation on
    any transport failure. HTTP status codes are not judged here. With `on_chunk`, the body is streamed to it
    instead of kept, and reading stops once it passes MAX_BODY_BYTES (`truncated`).

    A plain GET goes through probes/http_light.py (a quarter of httpx's CPU per request, measured in
    bench/bench_parallel_checks.py); everything else through httpx."""
    https = url.startswith("https:")
    try:
        context = client_context(target.tls) if https else None
    except TlsSetupError as exc:
        return Observation.failure(Reason.TLS, str(exc), url=redact(url))
    all_headers = {**target_headers(target), **(headers or {})}
    split = urlsplit(url)
    if on_chunk is None and http_light.is_covered(split, method, content, follow_redirects, all_headers):
        return await _fetch_light(target, url, split, all_headers, context, timeout)
    return await _fetch_httpx(target, url, timeout=timeout, method=method, headers=all_headers, content=content,
                              follow_redirects=follow_redirects, on_chunk=on_chunk,
                              verify=context or _unused_context())


async def _fetch_light(target: Target, url: str, split: Any, headers: Mapping[str, str],
                       context: ssl.SSLContext | None, timeout: float) -> Fetched | Observation:
    clock = RequestClock()
    progress = http_light.Progress()
    await yield_to_other_checks(timeout)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            got = await http_light.get(split, headers, context=context, server_name=target.tls.server_name,
                                       keep=MAX_BODY_BYTES, progress=progress, started=clock.start)
    except TimeoutError:
        return _timeout_failure(url, timeout, connecting=not progress.connected)
    except (http_light.ConnectError, http_light.ReadError, http_light.RemoteProtocolError,
            http_light.DecodingError, ssl.SSLError) as exc:
        return _transport_failure(exc, url, answered=progress.answered)
    return Fetched(status=got.status, reason_phrase=got.reason_phrase, headers=got.headers, body=got.body,
                   body_bytes=got.body_bytes, elapsed_s=clock.elapsed(), started=started,
                   http_version=got.http_version, peer_cert=got.peer_cert)


async def _fetch_httpx(target: Target, url: str, *, timeout: float, method: str, headers: Mapping[str, str],
                       content: bytes | None, follow_redirects: bool, on_chunk: Callable[[bytes], None] | None,
                       verify: ssl.SSLContext) -> Fetched | Observation:
    import httpx

    clock = RequestClock()
    extensions: dict[str, Any] = {"trace": clock.trace}
    if target.tls.server_name:
        extensions["sni_hostname"] = target.tls.server_name
    preload_client_library()  # no-op after the runner's preload; a caller outside a run pays it here, untimed
    await yield_to_other_checks(timeout)
    started = time.monotonic()
    response = None
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(
                verify=verify, timeout=httpx.Timeout(timeout), follow_redirects=follow_redirects,
                trust_env=False) as client:
            # A client per request is nearly free here (the SSL context is cached, see _unused_context); one
            # shared per origin within a run was measured: 2 % more Python calls per check, no CPU gained.
            request = client.build_request(method, url, headers=headers, content=content, extensions=extensions)
            response = await client.send(request, stream=True)
            try:
                peer_cert = _peer_cert(response)
                chunks, size, truncated = [], 0, False
                async for chunk in response.aiter_bytes():
                    if on_chunk is not None:
                        await _hand_over(chunk[:max(0, MAX_BODY_BYTES - size)], on_chunk, clock)
                    elif size < MAX_BODY_BYTES:
                        chunks.append(chunk)
                    size += len(chunk)
                    if on_chunk is not None and size > MAX_BODY_BYTES:
                        truncated = True
                        break
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException) as exc:
        return _timeout_failure(url, timeout, connecting=isinstance(exc, httpx.ConnectTimeout))
    except (httpx.HTTPError, ssl.SSLError) as exc:
        # A TLS 1.3 server refuses a client certificate after the handshake, so its alert arrives on the
        # first read, where httpcore lets ssl.SSLError through unwrapped.
        return _transport_failure(exc, url, answered=response is not None)
    return Fetched(status=response.status_code, reason_phrase=response.reason_phrase, headers=response.headers,
                   body=b"".join(chunks)[:MAX_BODY_BYTES], body_bytes=size,
                   elapsed_s=clock.elapsed(), started=started, http_version=response.http_version,
                   peer_cert=peer_cert, truncated=truncated)


class RequestClock:
    """The request's own time, from httpcore's trace events: it starts when the request itself starts (the
    TCP connect, or the request headers on a reused connection), not when the task building the client and
    the request got its turn, so that set-up and the wait for the loop before it are not reported as the
    endpoint's latency."""

    STARTS = ("connection.connect_tcp.started", "connection.connect_unix_socket.started",
              "http11.send_request_headers.started", "http2.send_request_headers.started")

    def __init__(self) -> None:
        self.t0: float | None = None
        self.own = 0.0  # seconds of agentops' own work inside the request (see _hand_over)

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if self.t0 is None and event in self.STARTS:
            self.t0 = time.perf_counter()

    def start(self) -> None:
        """The light path's connect begins (its equivalent of the trace events above)."""
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the request's start, to now (the end of the body), without agentops' own work."""
        return 0.0 if self.t0 is None else time.perf_counter() - self.t0 - self.own


# A streamed body is handed to its consumer this much at a time (~0.5 ms of the metrics probe's line filter).
HAND_OVER_BYTES = 16 * 1024


async def _hand_over(chunk: bytes, on_chunk: Callable[[bytes], None], clock: RequestClock) -> None:
    """Give a read chunk to `on_chunk` in pieces, each in a CPU turn of its own (probes._pacing): twelve
    scrapes filtering 64 KiB each would otherwise hold the loop back to back while other checks' responses
    wait to be read. The wait for the turns and the consumer's work are agentops' time, not the server's,
    so they are left out of the request's clock."""
    began = time.perf_counter()
    for at in range(0, len(chunk), HAND_OVER_BYTES):
        await cpu_turn()
        on_chunk(chunk[at:at + HAND_OVER_BYTES])
    clock.own += time.perf_counter() - began


def preload_client_library() -> None:
    """The probes' preload (core.probe.Probe.preload): httpx, and what it imports only on first use —
    httpcore's pool and h11 (when a client is built), httpcore's and anyio's asyncio backends (on the first
    request), about 45 ms here. Done before any latency timer starts: left to the first request, the import
    stalled the one event loop while every other check's timer ran (a lone check of an endpoint answering in
    200 ms reported 245 ms)."""
    global _client_library_loaded
    if _client_library_loaded:
        return
    import anyio._backends._asyncio  # noqa: F401  (anyio picks its backend on the first call that needs one)
    import httpcore._backends.anyio  # noqa: F401
    import httpx

    httpx.AsyncClient(verify=_unused_context(), trust_env=False)
    _client_library_loaded = True


_client_library_loaded = False


@cache
def _unused_context() -> ssl.SSLContext:
    # httpx builds an SSL context for every client, even for plain http (1.5 ms each, or 35 ms when it
    # loads the CA bundle); handing it one that exists makes a client nearly free.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _peer_cert(response: Any) -> bytes | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None


def _timeout_failure(url: str, timeout: float, *, connecting: bool) -> Observation:
    """`connecting`: cut off before the connection (and its TLS handshake) was up."""
    where = redact(url)
    if connecting:
        return Observation.failure(Reason.TIMEOUT, f"could not connect to {where} within {timeout:g}s", url=where)
    return Observation.failure(Reason.TIMEOUT, f"no response from {where} within {timeout:g}s", url=where)


def _transport_failure(exc: BaseException, url: str, *, answered: bool = True) -> Observation:
    """Name the real cause: httpx wraps the socket / TLS / DNS error it met in its own exception types.
    `answered`: whether response headers had arrived when it failed. The light path's exceptions
    (probes/http_light.py) are named and read like httpx's for the same failure."""
    where = redact(url)
    chain = list(causes(exc))
    # The most specific error wins, wherever it sits in the chain (anyio wraps a refusal in a generic OSError).
    cause = next((e for kind in (ssl.SSLError, socket.gaierror, ConnectionRefusedError, OSError)
                  for e in chain if isinstance(e, kind)), exc)
    if isinstance(cause, ssl.SSLError):
        return Observation.failure(Reason.TLS, f"{where}: {describe_ssl_error(cause)}", url=where)
    if isinstance(cause, socket.gaierror):
        return Observation.failure(Reason.DNS, f"{where}: cannot resolve host ({cause.strerror})", url=where)
    light = isinstance(exc, http_light.ConnectError | http_light.ReadError | http_light.RemoteProtocolError
                       | http_light.DecodingError)
    if not light:
        import httpx  # the exception came from httpx: it is loaded
    if isinstance(exc, http_light.ConnectError) or (not light and isinstance(exc, httpx.ConnectError)):
        if isinstance(cause, ConnectionRefusedError):
            return Observation.failure(Reason.CONNECT, f"{where}: connection refused", url=where)
        detail = cause.strerror if isinstance(cause, OSError) and cause.strerror else error_text(cause)
        return Observation.failure(Reason.CONNECT, f"{where}: cannot connect ({detail})", url=where)
    if not light and isinstance(exc, httpx.TooManyRedirects):
        return Observation.failure(Reason.PROTOCOL, f"{where}: too many redirects", url=where)
    cut = (http_light.ReadError, http_light.RemoteProtocolError) if light else (httpx.ReadError,
                                                                             httpx.RemoteProtocolError)
    if not answered and url.startswith("https:") and isinstance(exc, cut):
        # A TLS 1.3 server that wants a client certificate sends its alert after the handshake and hangs up:
        # whether the client reads the alert (an SSLError above) or only the reset is a race, so both are tls.
        return Observation.failure(Reason.TLS, f"{where}: the server closed the connection after the TLS "
                                   "handshake without answering (does it want a client certificate?)", url=where)
    # The server closed the connection without an answer, sent something that is not HTTP, or broke a body.
    return Observation.failure(Reason.PROTOCOL, f"{where}: {type(exc).__name__}: {error_text(exc)}", url=where)


# ------------------------------------------------------------------------------------- status & body checks

class StatusExpectation:
    """`200`, `"2xx"`, or a list of them."""

    def __init__(self, spec: Any) -> None:
        items = spec if isinstance(spec, list) else [spec]
        if not items:
            raise ValueError("expect_status: empty list")
        self.codes: set[int] = set()
        self.classes: set[int] = set()
        for item in items:
            text = str(item).strip().lower()
            if isinstance(item, bool):
                raise ValueError("expect_status: expected a status code or a class like 2xx, got a boolean")
            if re.fullmatch(r"[1-5]xx", text):
                self.classes.add(int(text[0]))
            elif re.fullmatch(r"[1-5]\d\d", text):
                self.codes.add(int(text))
            else:
                raise ValueError(f"expect_status: {item!r} is not a status code (200) or a class (2xx)")
        self.text = ", ".join(str(i) for i in items)

    def accepts(self, status: int) -> bool:
        return status in self.codes or status // 100 in self.classes


_SEGMENT = re.compile(r"""\.([A-Za-z_][\w-]*)|\[(-?\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")


def parse_json_path(path: str) -> list[str | int]:
    """A JSONPath subset that names one value: `$`, `.key`, `['key']`, `[0]`, `[-1]`."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with $ (e.g. $.status or $.items[0].name)")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if not m:
            raise ValueError(f"JSON path {path!r}: cannot read {path[pos:]!r} (use .key, ['key'] or [index])")
        key, index, q1, q2 = m.groups()
        steps.append(int(index) if index is not None else (key if key is not None else (q1 if q1 is not None else q2)))
        pos = m.end()
    return steps


_MISSING = object()


def json_lookup(doc: Any, steps: list[str | int]) -> Any:
    value = doc
    for step in steps:
        indexable = (isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value)) or \
            (isinstance(step, str) and isinstance(value, dict) and step in value)
        if not indexable:
            return _MISSING
        value = value[step]
    return value


JSON_ASSERTION_KEYS = {"path", "equals", "matches", "exists", "metric"}


def validate_json_assertions(items: Any) -> None:
    if not isinstance(items, list):
        raise ValueError("json: expected a list of {path, equals|matches|exists|metric}")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"json[{i}]: expected a mapping like {{path: $.status, equals: ok}}")
        unknown = sorted(set(item) - JSON_ASSERTION_KEYS)
        if unknown:
            raise ValueError(f"json[{i}]: unknown key {unknown[0]!r} (known: {', '.join(sorted(JSON_ASSERTION_KEYS))})")
        if "path" not in item:
            raise ValueError(f"json[{i}]: missing 'path'")
        parse_json_path(item["path"])
        if not {"equals", "matches", "exists", "metric"} & set(item):
            raise ValueError(f"json[{i}]: say what to check: equals, matches, exists or metric")
        if "matches" in item:
            _compile(item["matches"], f"json[{i}].matches")
        if "exists" in item and not isinstance(item["exists"], bool):
            raise ValueError(f"json[{i}].exists: expected true or false")
        if "metric" in item and not (isinstance(item["metric"], str) and item["metric"]):
            raise ValueError(f"json[{i}].metric: expected a metric name")


def check_json(doc: Any, items: list[dict[str, Any]], metrics: dict[str, float]) -> list[str]:
    """Run the assertions; returns what failed, one phrase each ("$.status: expected "ok", got "down"")."""
    failures = []
    for item in items:
        path = item["path"]
        value = json_lookup(doc, parse_json_path(path))
        found = value is not _MISSING
        if "exists" in item and item["exists"] != found:
            failures.append(f"{path}: not found" if item["exists"] else
                            f"{path}: present (expected absent), value {_show(value)}")
            continue
        if not found:
            if {"equals", "matches", "metric"} & set(item):
                failures.append(f"{path}: not found")
            continue
        if "equals" in item and not _same(value, item["equals"]):
            failures.append(f"{path}: expected {_show(item['equals'])}, got {_show(value)}")
        if "matches" in item:
            text = value if isinstance(value, str) else json.dumps(value)
            if not re.search(item["matches"], text):
                failures.append(f"{path}: {_show(value)} does not match /{item['matches']}/")
        if "metric" in item:
            if isinstance(value, int | float):  # booleans too: true is 1
                metrics[item["metric"]] = float(value)
            else:
                failures.append(f"{path}: expected a number for metric {item['metric']}, got {_show(value)}")
    return failures


def _same(value: Any, expected: Any) -> bool:
    # YAML `1` equals JSON 1.0, but true is not 1 and "1" is not 1.
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    return bool(value == expected)


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _compile(pattern: Any, what: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise ValueError(f"{what}: expected a regular expression string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{what}: bad regular expression {pattern!r}: {exc}") from None


def env_headers(spec: Mapping[str, str]) -> dict[str, str]:
    """Header values read from environment variables now, each registered as a secret."""
    out = {}
    for header, var in spec.items():
        value = os.environ.get(str(var))
        if value is None:
            raise ConfigError(f"environment variable {var} (header {header}) is not set")
        register_header_secret(value)
        out[str(header)] = value
    return out


def register_header_secret(value: str) -> None:
    """Mask a credential header's value, and its credential alone ("Bearer <token>" -> the token too)."""
    register_secret(value)
    scheme, _, credential = value.partition(" ")
    if credential and scheme.isalpha():
        register_secret(credential.strip())


# ----------------------------------------------------------------------------------------------- the probe

class HttpProbe(Probe):
    kind = "http"
    target_kinds = ("http",)
    description = "HTTP(S) request: status, latency, body and JSON assertions, TLS certificate days left"
    metrics = {
        "status_code": "HTTP status code of the response",
        "latency_ms": "time from sending the request to the end of the body",
        "body_bytes": "size of the response body",
        "tls_cert_days_left": "days until the server certificate expires (https only; negative once expired)",
    }
    PARAMS = {"path", "method", "headers", "headers_env", "body", "expect_status", "body_regex", "json",
              "follow_redirects"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, self.PARAMS)
        for key in ("path", "method", "body"):
            if key in params and not isinstance(params[key], str):
                raise ValueError(f"{key}: expected a string")
        if "method" in params and not re.fullmatch(r"[A-Za-z]+", params["method"]):
            raise ValueError(f"method: {params['method']!r} is not an HTTP method")
        for key in ("headers", "headers_env"):
            value = params.get(key, {})
            if not isinstance(value, dict) or not all(isinstance(v, str | int | float) for v in value.values()):
                raise ValueError(f"{key}: expected a mapping of header name to string")
        StatusExpectation(params.get("expect_status", "2xx"))
        if "body_regex" in params:
            _compile(params["body_regex"], "body_regex")
        if "json" in params:
            validate_json_assertions(params["json"])
        if not isinstance(params.get("follow_redirects", False), bool):
            raise ValueError("follow_redirects: expected true or false")

    def preload(self) -> None:
        preload_client_library()

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        url = join_url(target.address or "", params.get("path"))
        headers = {str(k): str(v) for k, v in params.get("headers", {}).items()}
        for name, value in headers.items():
            if name.lower() in ("authorization", "proxy-authorization", "x-api-key"):
                register_header_secret(value)
        headers.update(env_headers(params.get("headers_env", {})))
        body = params.get("body")
        got = await fetch(target, url, timeout=timeout, method=str(params.get("method", "GET")).upper(),
                          headers=headers, content=body.encode() if body is not None else None,
                          follow_redirects=bool(params.get("follow_redirects", False)))
        if isinstance(got, Observation):
            return got
        metrics = {"status_code": float(got.status), "latency_ms": got.elapsed_s * 1000.0,
                   "body_bytes": float(got.body_bytes)}
        if got.peer_cert:
            metrics["tls_cert_days_left"] = round(cert_days_left(got.peer_cert), 3)
        facts = {"url": redact(url), "http_version": got.http_version}
        obs = Observation(metrics=metrics, facts=facts)

        expect = StatusExpectation(params.get("expect_status", "2xx"))
        if not expect.accepts(got.status):
            obs.reason = Reason.AUTH if got.status in AUTH_STATUSES else Reason.ASSERTION
            obs.message = f"expected status {expect.text}, got {got.status} {got.reason_phrase}".rstrip()
            return obs
        failures = []
        if "body_regex" in params and not re.search(params["body_regex"], got.text()):
            failures.append(f"body does not match /{params['body_regex']}/ (body: {_snippet(got.text())})")
        if "json" in params:
            try:
                doc = json.loads(got.body)
            except ValueError as exc:
                failures.append(f"body is not JSON ({exc.__class__.__name__}: {exc})")
            else:
                failures += check_json(doc, params["json"], metrics)
        if failures:
            obs.reason = Reason.ASSERTION
            obs.message = "; ".join(failures)
        return obs
