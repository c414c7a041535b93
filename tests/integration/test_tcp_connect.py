"""net.tcp's connect (probes/net.py connect_and_close, a bare socket rather than asyncio streams) against
real sockets: an IP literal and a name that resolves, a refusal, a name that does not resolve, a port that
never completes the handshake, and IPv6."""

from __future__ import annotations

import asyncio
import socket

import pytest

from agentops.core.config import Target
from agentops.core.model import Reason
from agentops.probes.net import connect_and_close, ip_family
from tests.fixtures.common import free_port
from tests.fixtures.servers import run_probe


def tcp(address: str, timeout: float = 3.0):
    return run_probe("net.tcp", Target(name="t", kind="tcp", address=address), {}, timeout)


@pytest.fixture
def listener():
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_an_ip_literal_and_a_name_connect(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    for host in ("127.0.0.1", "localhost"):  # localhost may resolve to ::1 first, which refuses: the next one
        obs = tcp(f"{host}:{port}")
        assert not obs.failed, obs.message
        assert obs.metrics["connect_ms"] > 0
        listener.settimeout(5)
        listener.accept()[0].close()  # the connection really reached the listener


def test_refused_is_connect_with_the_address() -> None:
    port = free_port()
    obs = tcp(f"127.0.0.1:{port}")
    assert obs.reason is Reason.CONNECT
    assert obs.message == f"connection to 127.0.0.1:{port} refused"


def test_a_name_that_does_not_resolve_is_dns() -> None:
    obs = tcp("agentops-no-such-host.invalid:80")
    assert obs.reason in (Reason.DNS, Reason.TIMEOUT)  # a resolver that never answers is a timeout
    if obs.reason is Reason.DNS:
        assert obs.message.startswith("cannot resolve agentops-no-such-host.invalid")


def test_a_handshake_that_never_completes_is_a_timeout() -> None:
    # A listener with a full accept queue: the kernel drops further SYNs, so the connect never completes.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    port = sock.getsockname()[1]
    held = []
    try:
        for _ in range(8):  # fill the queue (its length is backlog + 1 on Linux)
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            held.append(c)
        obs = tcp(f"127.0.0.1:{port}", timeout=0.5)
        assert obs.reason is Reason.TIMEOUT, obs.message
        assert obs.message == f"TCP connect to 127.0.0.1:{port} took longer than 0.5s"
    finally:
        for c in held:
            c.close()
        sock.close()


def test_ipv6_literal() -> None:
    try:
        sock = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert ip_family("::1") is socket.AF_INET6 and ip_family("localhost") is None
        asyncio.run(connect_and_close("::1", sock.getsockname()[1]))
        obs = tcp(f"[::1]:{sock.getsockname()[1]}")
        assert not obs.failed, obs.message
    finally:
        sock.close()
