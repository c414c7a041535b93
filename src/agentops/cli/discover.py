"""What listens on this machine, found by speaking each protocol: the groundwork of `agentops config init`.

A port is only named what it answered as: an AgentRpc host (HTTP/2 SETTINGS, then AutoGen's
GetSubscriptions), Redis (PING), a Prometheus /metrics endpoint (HTTP/1 200 with `# TYPE`/`# HELP` lines),
PostgreSQL (the SSLRequest answer `S`/`N`). Every connection has a short deadline; a port that accepts and
never answers costs only those deadlines. Only loopback is contacted. Nothing is authenticated and no secret
is read: a Redis that wants a password is reported as such, and the config gets a `password_env` for it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
MAX_PORTS = 512  # a machine with more listeners than this: pass --ports
MAX_REPLY = 64 << 10
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS
_PG_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


@dataclass
class Found:
    kind: str  # agentrpc | redis | metrics | postgres
    port: int
    address: str
    notes: list[str] = field(default_factory=list)
    agent_types: list[str] = field(default_factory=list)
    needs_password: bool = False


def listening_ports() -> list[int]:
    """TCP ports listening on loopback or on every address of this machine (psutil), lowest first."""
    import psutil

    ports: set[int] = set()
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return []
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.ip in ("127.0.0.1", "0.0.0.0", "::", "::1"):
            ports.add(c.laddr.port)
    return sorted(ports)[:MAX_PORTS]


async def _exchange(port: int, send: bytes, deadline: float, want: int = MAX_REPLY) -> bytes:
    """Send `send`, read what comes back within the deadline (up to `want` bytes); b"" on any failure."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, port), deadline)
    except (TimeoutError, OSError):
        return b""
    data = b""
    try:
        writer.write(send)
        await asyncio.wait_for(writer.drain(), deadline)
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while len(data) < want and (left := end - loop.time()) > 0:
            chunk = await asyncio.wait_for(reader.read(want - len(data)), left)
            if not chunk:
                break
            data += chunk
            if _complete(data):
                break
    except (TimeoutError, OSError):
        pass
    finally:
        writer.close()
    return data


def _complete(data: bytes) -> bool:
    """Whether a reply already says what it is: a Redis line, PostgreSQL's one byte, an HTTP/2 frame header.
    An HTTP/1 reply is read to its end (HTTP/1.0: the server closes), since its body tells /metrics apart."""
    if data.startswith((b"+", b"-")):
        return b"\r\n" in data
    return data in (b"S", b"N") or (len(data) >= 9 and data[3] == 0x04)


async def identify(port: int, deadline: float) -> Found | None:
    address = f"{LOOPBACK}:{port}"
    h2 = await _exchange(port, _H2_PREFACE, deadline, want=9)
    if len(h2) >= 9 and h2[3] == 0x04:  # a SETTINGS frame: an HTTP/2 server, perhaps gRPC
        return await _agentrpc(port, address, deadline)
    redis = await _exchange(port, b"PING\r\n", deadline, want=256)
    if redis.startswith(b"+PONG"):
        return Found("redis", port, address)
    if redis.startswith((b"-NOAUTH", b"-WRONGPASS")) or (redis.startswith(b"-ERR") and b"auth" in redis.lower()):
        return Found("redis", port, address, needs_password=True)
    http = await _exchange(port, f"GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n".encode(), deadline)
    if http.startswith(b"HTTP/1.") and http.split(b" ", 2)[1:2] == [b"200"] and (
            b"\n# TYPE " in http or b"\n# HELP " in http):
        return Found("metrics", port, f"http://{address}/metrics")
    if http.startswith(b"HTTP/1."):
        return None  # a web server without /metrics: nothing to guess about what it should answer
    pg = await _exchange(port, _PG_SSL_REQUEST, deadline, want=1)
    if pg in (b"S", b"N"):
        return Found("postgres", port, address)
    return None


async def _agentrpc(port: int, address: str, deadline: float) -> Found | None:
    from agentops.autogen.client import AgentRpcClient
    from agentops.core import registry

    async with AgentRpcClient(address) as client:  # the inventory step health and diagnose use
        inv = await registry.probe("agentrpc.inventory").observe(client, {}, max(deadline, 1.0))
    if inv.reason is not None:
        return None  # gRPC or other HTTP/2, but not an AgentRpc host
    return Found("agentrpc", port, address, agent_types=list(inv.facts["agent_types"]))


async def discover(ports: list[int], deadline: float, concurrency: int = 32) -> list[Found]:
    gate = asyncio.Semaphore(concurrency)

    async def one(port: int) -> Found | None:
        async with gate:
            return await identify(port, deadline)

    found = await asyncio.gather(*(one(p) for p in ports))
    return [f for f in found if f is not None]


def render_config(found: list[Found]) -> str:
    """An annotated agentops.yaml for what was found; secrets only as the names of variables to set."""
    lines = ["# agentops.yaml written by `agentops config init` from what answered on this machine's loopback.",
             "# Reference: docs/config.md (and agentops.example.yaml). Check it: agentops config validate -c FILE",
             "version: 1", "targets:"]
    if not found:
        lines[-1] = "targets: []   # nothing answered as AgentRpc, Redis, PostgreSQL or /metrics"
    counts: dict[str, int] = {}
    for f in found:
        counts[f.kind] = counts.get(f.kind, 0) + 1
        name = f.kind if counts[f.kind] == 1 else f"{f.kind}-{f.port}"
        lines += [f"  - name: {name}", f"    kind: {f.kind}", f"    address: {_quote(f.address)}"]
        if f.kind == "agentrpc" and f.agent_types:
            lines.append("    options:")
            lines.append("      expect_types: [" + ", ".join(_quote(t) for t in f.agent_types) + "]"
                         "   # registered when config init ran")
        if f.kind == "redis" and f.needs_password:
            lines.append("    password_env: REDIS_PASSWORD   # this Redis wants a password: set the variable")
        if f.kind == "postgres":
            lines.append("    # dsn_env: AGENTOPS_PG_DSN   # a DSN with user and password (postgresql://u:p@host:port/db)")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a YAML string: no type drift, nothing interpreted
