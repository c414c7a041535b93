"""The http probe's light path (probes/http_light.py) against httpx, the reference: the same raw responses
from a real socket server, measured through each path, must give the same observation (status, body size,
reason and message; latency aside). Each case also proves which path it took, so a routing change cannot
make the comparison compare httpx with itself."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from agentops.core.config import Target
from agentops.probes import http, http_light
from tests.fixtures.servers import RawReplyServer, run_probe, unique_name

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"

CASES: dict[str, bytes] = {
    "content-length": HEAD + b"Content-Length: 5\r\n\r\nhello",
    "chunked": HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
    "read to close": HEAD + b"\r\nuntil the server hangs up",
    "http/1.0": b"HTTP/1.0 200 OK\r\n\r\nold",
    "gzip": HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gzip.compress(b"z" * 5000))
    + gzip.compress(b"z" * 5000),
    "deflate (zlib)": HEAD + b"Content-Encoding: deflate\r\n\r\n" + zlib.compress(b"d" * 3000),
    "deflate (raw)": HEAD + b"Content-Encoding: deflate\r\n\r\n" + zlib.compress(b"r" * 3000, wbits=-15),
    "bad gzip": HEAD + b"Content-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip",
    "unknown coding": HEAD + b"Content-Encoding: br-maybe\r\nContent-Length: 3\r\n\r\nabc",
    "no content": b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "interim 100 then 200": b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + b"Content-Length: 2\r\n\r\nok",
    "status without reason": b"HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n",
    "server error": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown",
    "cut body": HEAD + b"Content-Length: 10\r\n\r\nabc",
    "cut chunked body": HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel",
    "cut head": b"HTTP/1.1 200 OK\r\nContent-Le",
    "no answer": b"",
    "not http": b"SSH-2.0-OpenSSH_9.2 this is not HTTP\r\n",
    "bad header line": b"HTTP/1.1 200 OK\r\nthis is no header\r\n\r\n",
}


@pytest.fixture(params=sorted(CASES), ids=sorted(CASES))
def raw_server(request: pytest.FixtureRequest) -> Iterator[RawReplyServer]:
    server = RawReplyServer(CASES[request.param])
    yield server
    server.close()


def measure(url: str, params: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *, light: bool) -> dict[str, Any]:
    taken: list[str] = []
    real_get, real_httpx = http_light.get, http._fetch_httpx

    async def via_light(*a: Any, **kw: Any) -> Any:
        taken.append("light")
        return await real_get(*a, **kw)

    async def via_httpx(*a: Any, **kw: Any) -> Any:
        taken.append("httpx")
        return await real_httpx(*a, **kw)

    with monkeypatch.context() as m:
        m.setattr(http_light, "get", via_light)
        m.setattr(http, "_fetch_httpx", via_httpx)
        if not light:
            m.setattr(http_light, "is_covered", lambda *a: False)
        obs = run_probe("http", Target(name="w", kind="http", address=url), params, 3.0)
    assert taken == ["light" if light else "httpx"]
    metrics = {k: v for k, v in obs.metrics.items() if k != "latency_ms"}
    return {"reason": obs.reason, "message": obs.message, "metrics": metrics, "facts": obs.facts}


# Where the light path words a failure more precisely than httpx, deliberately: the reason is the same.
MORE_PRECISE = {"not http": "illegal status line: bytearray(b'SSH-2.0-OpenSSH_9.2 this is not HTTP')"}


def test_light_path_reads_every_response_as_httpx_does(raw_server: RawReplyServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{raw_server.port}/{unique_name('raw')}?q=1"
    params = {"expect_status": ["2xx", 503]}
    light, reference = measure(url, params, monkeypatch, light=True), measure(url, params, monkeypatch, light=False)
    case = next(name for name, reply in CASES.items() if reply == raw_server.reply)
    if case in MORE_PRECISE:
        assert light.pop("message") == f"{url}: RemoteProtocolError: {MORE_PRECISE[case]}"
        assert reference.pop("message").startswith(f"{url}: RemoteProtocolError: ")
    assert light == reference


def test_light_body_sizes_are_the_decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The parity test above cannot fail by both paths agreeing on a wrong number: pin a few sizes.
    for case, size in (("gzip", 5000), ("chunked", 11), ("deflate (raw)", 3000), ("read to close", 25)):
        server = RawReplyServer(CASES[case])
        try:
            got = measure(f"http://127.0.0.1:{server.port}/", {}, monkeypatch, light=True)
        finally:
            server.close()
        assert got["metrics"]["body_bytes"] == size, case
        assert got["reason"] is None, got["message"]


def test_basic_credentials_are_sent_as_httpx_would(http_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    monkeypatch.setenv("AGENTOPS_TEST_PW", "s3cret:ü")
    path = f"/{unique_name('basic')}"
    url = http_server.route(path, body="ok\n")
    target = Target(name="w", kind="http", address=url, username="ops",
                    secret_sources={"password": ("env", "AGENTOPS_TEST_PW")})
    assert not run_probe("http", target, {}, 3.0).failed
    sent = [r for r in http_server.requests if r.path == path][-1].headers.get("Authorization")
    expected = httpx.BasicAuth("ops", "s3cret:ü").auth_flow(httpx.Request("GET", url)).__next__()
    assert sent == expected.headers["Authorization"]


@pytest.mark.parametrize(("method", "content", "follow", "headers", "url", "covered"), [
    ("GET", None, False, {"X-A": "1"}, "http://h:1/p?q", True),
    ("GET", None, False, {}, "https://h/p", True),
    ("POST", None, False, {}, "http://h/", False),
    ("GET", b"x", False, {}, "http://h/", False),
    ("GET", None, True, {}, "http://h/", False),
    ("GET", None, False, {}, "http://u:p@h/", False),  # httpx sends the URL's credentials
    ("GET", None, False, {}, "http://h/caf\u00e9", False),  # httpx percent-encodes it
    ("GET", None, False, {"X-A": "a\r\nX-B: b"}, "http://h/", False),  # httpx refuses it
])
def test_what_the_light_path_covers(method: str, content: bytes | None, follow: bool, headers: dict[str, str],
                                    url: str, covered: bool) -> None:
    from urllib.parse import urlsplit

    assert http_light.is_covered(urlsplit(url), method, content, follow, headers) is covered


def test_headers_are_case_insensitive_and_repeats_joined() -> None:
    h = http_light.Headers([("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    assert h["content-type"] == h.get("CONTENT-TYPE") == "text/plain"
    assert h["Set-Cookie"] == "a=1, b=2" and "SET-COOKIE" in h and len(h) == 2
