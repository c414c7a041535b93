"""Network reachability: DNS resolution, TCP connect latency, ICMP echo."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from typing import Any

from agentops.core.config import Target
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params
from agentops.probes._errors import yield_to_other_checks

# Every target kind that has a network address can be resolved, connected to and pinged.
ADDRESSED_KINDS = ("tcp", "dns", "icmp", "redis", "postgres", "http", "metrics", "grpc", "agentrpc")
DEFAULT_PORTS = {"redis": 6379, "postgres": 5432, "http": 80, "metrics": 80, "grpc": 443, "agentrpc": 50051}


def target_host(target: Target) -> str:
    addr = (target.address or "").strip()
    if "://" in addr:
        from urllib.parse import urlsplit

        return urlsplit(addr).hostname or ""
    if addr.startswith("["):
        return addr[1:].split("]", 1)[0]
    return addr.rsplit(":", 1)[0] if addr.count(":") == 1 else addr


def target_port(target: Target, params: Mapping[str, Any]) -> int:
    if "port" in params:
        return int(params["port"])
    addr = target.address or ""
    if addr.startswith("https://"):
        default = 443
    else:
        default = DEFAULT_PORTS.get(target.kind)
    return target.host_port(default)[1]


async def resolve(host: str, timeout: float) -> list[str]:
    """Addresses for `host`; raises TimeoutError or socket.gaierror."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout)
    return sorted({info[4][0] for info in infos})


async def tcp_connect(host: str, port: int, timeout: float) -> tuple[Observation | None, float]:
    """Connect once; (failure observation or None, connect seconds, the name lookup included). Shared by
    probes that need a socket first."""
    await yield_to_other_checks(timeout)
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await connect_and_close(host, port)
    except TimeoutError:
        return Observation.failure(Reason.TIMEOUT, f"TCP connect to {host}:{port} took longer than {timeout:g}s"), 0
    except socket.gaierror as exc:
        return Observation.failure(Reason.DNS, f"cannot resolve {host}: {exc.strerror}"), 0
    except ConnectionRefusedError:
        return Observation.failure(Reason.CONNECT, f"connection to {host}:{port} refused"), 0
    except OSError as exc:
        return Observation.failure(Reason.CONNECT, f"cannot connect to {host}:{port}: {exc.strerror or exc}"), 0
    return None, time.perf_counter() - t0


async def connect_and_close(host: str, port: int) -> None:
    """A TCP connect to each address of `host` in turn until one answers, then closed: a bare non-blocking
    socket and `loop.sock_connect`, without the transport, protocol and stream objects (and the wait for
    their closing) that `asyncio.open_connection` builds for a connection nobody reads — 0.18 ms of CPU per
    check against 0.04 ms for the connect itself (bench/bench_tcp_checks.py). Errors as open_connection
    raises them: one address's own error, or one OSError naming all when they differ."""
    loop = asyncio.get_running_loop()
    family = ip_family(host)
    if family is not None:
        addresses = [(family, (host, port))]
    else:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [(info[0], info[4]) for info in infos]
    errors: list[OSError] = []
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
            return
        except OSError as exc:
            errors.append(exc)
        finally:
            sock.close()
    if len(errors) == 1 or all(str(e) == str(errors[0]) for e in errors):
        raise errors[0]
    raise OSError(f"Multiple exceptions: {', '.join(str(e) for e in errors)}")


def ip_family(host: str) -> socket.AddressFamily | None:
    """The family of an IP address literal; None for a name (to be looked up)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return family
        except OSError:
            continue
    return None


class DnsProbe(Probe):
    kind = "net.dns"
    target_kinds = ADDRESSED_KINDS
    description = "resolve the target's host name"
    metrics = {"resolve_ms": "resolution time", "addresses": "number of addresses returned"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"expect_address"})

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        host = target_host(target)
        await yield_to_other_checks(timeout)
        t0 = time.perf_counter()
        try:
            addrs = await resolve(host, timeout)
        except TimeoutError:
            return Observation.failure(Reason.TIMEOUT, f"resolving {host} took longer than {timeout:g}s")
        except socket.gaierror as exc:
            return Observation.failure(Reason.DNS, f"cannot resolve {host}: {exc.strerror}")
        obs = Observation(metrics={"resolve_ms": round((time.perf_counter() - t0) * 1000, 3),
                                   "addresses": float(len(addrs))}, facts={"addresses": addrs})
        expected = params.get("expect_address")
        if expected and str(expected) not in addrs:
            obs.reason, obs.message = Reason.ASSERTION, f"{host} resolves to {', '.join(addrs)}, not {expected}"
        return obs


class TcpProbe(Probe):
    kind = "net.tcp"
    target_kinds = ADDRESSED_KINDS
    description = "TCP connect latency to the target's host:port"
    metrics = {"connect_ms": "time to an established connection"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"port"})

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        try:
            host, port = target_host(target), target_port(target, params)
        except ValueError as exc:
            return Observation.failure(Reason.INTERNAL, str(exc))
        failure, elapsed = await tcp_connect(host, port, timeout)
        if failure:
            return failure
        return Observation(metrics={"connect_ms": round(elapsed * 1000, 3)})


class IcmpProbe(Probe):
    kind = "net.icmp"
    target_kinds = ADDRESSED_KINDS
    description = "ICMP echo round trip (needs raw sockets or net.ipv4.ping_group_range)"
    metrics = {"rtt_ms": "mean round trip of the replies", "loss_percent": "echoes without reply"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"count"})
        count = params.get("count", 3)
        if not isinstance(count, int) or not 1 <= count <= 100:
            raise ValueError("count must be an integer from 1 to 100")

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        import ping3

        host = target_host(target)
        count = int(params.get("count", 3))
        per_echo = max(0.05, timeout / (count + 1))
        rtts = []
        for seq in range(count):
            try:
                # ping3 is a blocking library; one short-lived thread per echo keeps the event loop free.
                rtt = await asyncio.to_thread(_ping_raising, ping3, host, per_echo, seq)
            except PermissionError:
                return Observation.failure(
                    Reason.UNSUPPORTED, "ICMP needs raw sockets (root/CAP_NET_RAW) or net.ipv4.ping_group_range "
                    "including this user; not permitted here, so reachability is unknown (not down)")
            except ping3.errors.HostUnknown:
                return Observation.failure(Reason.DNS, f"cannot resolve {host}")
            except ping3.errors.PingError:
                rtt = None
            except OSError as exc:
                return Observation.failure(Reason.CONNECT, f"ICMP to {host} failed: {exc.strerror or exc}")
            if rtt is not None:
                rtts.append(rtt * 1000)
        loss = 100.0 * (count - len(rtts)) / count
        metrics = {"loss_percent": loss}
        if rtts:
            metrics["rtt_ms"] = round(sum(rtts) / len(rtts), 3)
        if not rtts:
            return Observation(metrics=metrics, reason=Reason.TIMEOUT,
                               message=f"no ICMP echo reply from {host} ({count} sent)")
        return Observation(metrics=metrics)


def _ping_raising(ping3: Any, host: str, timeout: float, seq: int) -> float | None:
    ping3.EXCEPTIONS = True  # distinguish "unknown host" and "no permission" from "no reply"
    try:
        return ping3.ping(host, timeout=timeout, seq=seq)
    except ping3.errors.Timeout:
        return None
