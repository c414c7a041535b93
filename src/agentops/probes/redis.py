"""Redis: connect (TCP, TLS, AUTH) and PING latency, then the INFO figures an operator judges a Redis by.

The client is redis-py's asyncio API, imported only when a Redis check runs. It is configured to fail
rather than hide: no client-side retries (the runner retries per check), RESP2 so a plain connection sends
nothing before PING (works with every server version, and a silent peer is caught at PING), no CLIENT
SETINFO round trips, every socket operation bounded by the check's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from agentops.core.config import Target, split_host_port
from agentops.core.errors import causes, error_text, network_reason
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params
from agentops.core.redact import register_secret
from agentops.core.tls import check_files
from agentops.core.yamlsrc import ConfigError
from agentops.probes._errors import setup_failure, yield_to_other_checks

DEFAULT_PORT = 6379
CLOSE_TIMEOUT_S = 0.5

# INFO field -> metric name, copied as numbers when present.
_INFO_METRICS = {
    "used_memory": "used_memory_bytes",
    "used_memory_rss": "used_memory_rss_bytes",
    "maxmemory": "maxmemory_bytes",
    "mem_fragmentation_ratio": "mem_fragmentation_ratio",
    "evicted_keys": "evicted_keys",
    "expired_keys": "expired_keys",
    "rejected_connections": "rejected_connections",
    "connected_clients": "connected_clients",
    "blocked_clients": "blocked_clients",
    "maxclients": "maxclients",
    "keyspace_hits": "keyspace_hits",
    "keyspace_misses": "keyspace_misses",
    "instantaneous_ops_per_sec": "ops_per_sec",
    "uptime_in_seconds": "uptime_s",
}


class RedisProbe(Probe):
    kind = "redis"
    target_kinds = ("redis",)
    description = "Redis: connect + PING latency; INFO memory, evictions, clients, keyspace, replication"
    metrics = {
        "connect_ms": "TCP (+TLS, +AUTH) connection time",
        "ping_ms": "PING round trip on the open connection",
        "used_memory_bytes": "memory used by the data set (INFO used_memory)",
        "used_memory_rss_bytes": "resident memory of the redis-server process",
        "maxmemory_bytes": "configured maxmemory (0 = no limit)",
        "memory_used_percent": "used_memory as a percentage of maxmemory (absent when maxmemory is 0)",
        "mem_fragmentation_ratio": "RSS / used_memory",
        "evicted_keys": "keys evicted for maxmemory since start (counter; CONFIG RESETSTAT resets it)",
        "expired_keys": "keys expired since start (counter)",
        "rejected_connections": "connections refused at maxclients since start (counter)",
        "connected_clients": "client connections now",
        "blocked_clients": "clients blocked in BLPOP/XREAD/WAIT...",
        "maxclients": "configured maxclients",
        "clients_used_percent": "connected_clients as a percentage of maxclients",
        "keyspace_hits": "successful key lookups since start (counter)",
        "keyspace_misses": "failed key lookups since start (counter)",
        "keyspace_hit_rate": "hits / (hits + misses), 0..1 (absent before the first lookup)",
        "keys": "keys in all databases",
        "ops_per_sec": "commands per second (Redis' own instantaneous figure)",
        "uptime_s": "seconds since the server started",
        "rdb_last_bgsave_ok": "1 when the last RDB save succeeded, 0 when it failed (writes may be refused)",
        "connected_slaves": "replicas attached (primary only)",
        "master_link_up": "1 when the replica's link to its primary is up, 0 when down (replica only)",
        "master_last_io_seconds_ago": "seconds since the replica last heard from its primary (replica only)",
        "master_sync_in_progress": "1 while the replica is doing a full resync (replica only)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"info"})
        if "info" in params and not isinstance(params["info"], bool):
            raise ValueError("info must be true or false (false = PING only)")

    def preload(self) -> None:
        import redis.asyncio
        import redis.backoff
        import redis.retry  # noqa: F401

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        try:
            if target.tls.enabled:
                check_files(target.tls)  # redis-py reads them itself, unbounded; a bad one looked like "connect"
            options = connection_options(target, timeout)
        except (ValueError, ConfigError) as exc:
            return setup_failure(exc)
        from redis.asyncio import Redis

        await yield_to_other_checks(timeout)
        obs = Observation()
        stage = "connect"
        client = None
        try:
            async with asyncio.timeout(timeout):
                client = Redis(**options)
                t0 = time.perf_counter()
                await client.initialize()
                obs.metrics["connect_ms"] = (time.perf_counter() - t0) * 1000
                stage = "PING"
                t0 = time.perf_counter()
                await client.ping()
                obs.metrics["ping_ms"] = (time.perf_counter() - t0) * 1000
                if params.get("info", True):
                    stage = "INFO"
                    info = await client.info()
                    obs.metrics.update(info_metrics(info))
                    obs.facts.update(info_facts(info))
        except Exception as exc:  # every failure becomes a reason; none may escape as a crash
            obs.reason, obs.message = failure(exc, stage, timeout, tls="ssl" in options,
                                              has_password="password" in options)
        finally:
            if client is not None:
                await _close(client)
        return obs


async def _close(client: Any) -> None:
    # Bounded: closing a TLS connection to a peer that stopped answering must not outlive the check.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await client.aclose()


def connection_options(target: Target, timeout: float) -> dict[str, Any]:
    """redis-py client keyword arguments for the target: address (host:port, redis://, rediss://, unix://),
    db, username, password (Target.secret wins over one in the URL) and TLS."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    address = (target.address or "").strip()
    url = urlsplit(address) if "://" in address else None
    opts: dict[str, Any] = {
        "socket_connect_timeout": timeout, "socket_timeout": timeout, "retry": Retry(NoBackoff(), 0),
        "protocol": 2, "single_connection_client": True, "health_check_interval": 0,
        **_no_client_setinfo(),
    }
    db: Any = target.options.get("db")
    username, password = target.username, target.secret("password")
    use_tls = target.tls.enabled
    if url is not None:
        if url.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"target {target.name!r}: unsupported URL scheme {url.scheme!r} "
                             f"(expected redis://, rediss:// or unix://)")
        if url.password:
            register_secret(unquote(url.password))
        username = username or (unquote(url.username) if url.username else None)
        password = password or (unquote(url.password) if url.password else None)
        use_tls = use_tls or url.scheme == "rediss"
        if url.scheme == "unix":
            opts["unix_socket_path"] = url.path
        else:
            opts["host"], opts["port"] = split_host_port(address, DEFAULT_PORT, what=f"target {target.name!r}")
            path_db = url.path.strip("/")
            if db is None and path_db:
                db = path_db
    elif address.startswith("/"):
        opts["unix_socket_path"] = address
    else:
        opts["host"], opts["port"] = target.host_port(DEFAULT_PORT)
    if db is not None:
        if isinstance(db, bool) or not str(db).isdigit():
            raise ValueError(f"target {target.name!r}: db must be a database number, got {db!r}")
        opts["db"] = int(db)
    if username:
        opts["username"] = username
    if password:
        opts["password"] = password
    if use_tls:
        if "unix_socket_path" in opts:
            raise ValueError(f"target {target.name!r}: TLS over a unix socket is not supported")
        opts.update(_tls_options(target))
    return opts


def _no_client_setinfo() -> dict[str, Any]:
    # CLIENT SETINFO costs a round trip per connection and fails on servers before 7.2. redis-py 7+ spells
    # "do not send it" as driver_info; older versions as lib_name/lib_version (deprecated since).
    try:
        from redis.driver_info import DriverInfo
    except ImportError:
        return {"lib_name": None, "lib_version": None}
    return {"driver_info": DriverInfo(name=None, lib_version=None)}


def _tls_options(target: Target) -> dict[str, Any]:
    tls = target.tls
    if tls.server_name:
        # redis-py offers no way to set the SNI / verified name apart from the host it connects to.
        raise ValueError(f"target {target.name!r}: tls.server_name is not supported for Redis; "
                         f"address the server by the name in its certificate")
    opts: dict[str, Any] = {"ssl": True}
    if tls.ca:
        opts["ssl_ca_certs"] = tls.ca
    if tls.cert:
        opts["ssl_certfile"], opts["ssl_keyfile"] = tls.cert, tls.key
    if not tls.verify:
        opts["ssl_cert_reqs"], opts["ssl_check_hostname"] = "none", False
    return opts


def info_metrics(info: Mapping[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for field, name in _INFO_METRICS.items():
        value = _number(info.get(field))
        if value is not None:
            metrics[name] = value
    if metrics.get("maxmemory_bytes") and "used_memory_bytes" in metrics:
        metrics["memory_used_percent"] = 100.0 * metrics["used_memory_bytes"] / metrics["maxmemory_bytes"]
    if metrics.get("maxclients") and "connected_clients" in metrics:
        metrics["clients_used_percent"] = 100.0 * metrics["connected_clients"] / metrics["maxclients"]
    lookups = metrics.get("keyspace_hits", 0.0) + metrics.get("keyspace_misses", 0.0)
    if lookups > 0:
        metrics["keyspace_hit_rate"] = metrics.get("keyspace_hits", 0.0) / lookups
    metrics["keys"] = float(sum(v.get("keys", 0) for k, v in info.items()
                                if k.startswith("db") and isinstance(v, dict)))
    if "rdb_last_bgsave_status" in info:
        metrics["rdb_last_bgsave_ok"] = 1.0 if info["rdb_last_bgsave_status"] == "ok" else 0.0
    if info.get("role") == "slave":
        metrics["master_link_up"] = 1.0 if info.get("master_link_status") == "up" else 0.0
        for field in ("master_last_io_seconds_ago", "master_sync_in_progress"):
            value = _number(info.get(field))
            # -1 means "never talked to the primary": no age to judge, the link metric says it all.
            if value is not None and value >= 0:
                metrics[field] = value
    elif "connected_slaves" in info:
        metrics["connected_slaves"] = float(info["connected_slaves"])
    return metrics


def info_facts(info: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {"role": "replica" if info.get("role") == "slave" else "primary"}
    for field in ("redis_version", "maxmemory_policy", "redis_mode"):
        if field in info:
            facts[field] = str(info[field])
    if info.get("role") == "slave":
        facts["master"] = f"{info.get('master_host')}:{info.get('master_port')}"
        facts["master_link_status"] = str(info.get("master_link_status"))
    return facts


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def failure(exc: BaseException, stage: str, timeout: float, *, tls: bool,
            has_password: bool) -> tuple[Reason, str]:
    """The reason and message for an exception raised at `stage` (connect, PING, INFO)."""
    from redis import exceptions as rex

    text = error_text(exc)
    if isinstance(exc, TimeoutError | rex.TimeoutError):
        during = " (during the TLS handshake?)" if tls and stage == "connect" else ""
        return Reason.TIMEOUT, f"no answer to {stage} within {timeout:g}s{during}"
    if isinstance(exc, rex.AuthenticationError | rex.NoPermissionError) or text.startswith(
            ("NOAUTH", "WRONGPASS", "NOPERM")):
        if not has_password:
            text += " (no password configured for this target: set password_env or password_file)"
        return Reason.AUTH, f"{stage}: {text}"
    if "max number of clients" in text:
        return Reason.CONNECT, f"{stage}: server refused the connection: max number of clients reached"
    if isinstance(exc, rex.InvalidResponse) or "Protocol Error" in text:
        return Reason.PROTOCOL, f"{stage}: not a Redis reply ({text})"
    reason = network_reason(exc)
    closed = "Connection closed by server" in text or any(
        isinstance(e, ConnectionResetError) for e in causes(exc))
    if closed and stage in ("connect", "PING"):
        # A Redis server answers its first command; a peer that hangs up on it speaks something else.
        hint = "not Redis, or a TLS port without tls.enabled?" if not tls else "not a Redis server?"
        return Reason.PROTOCOL, f"{stage}: the server closed the connection ({hint}): {text}"
    if reason is not None:
        return reason, f"{stage}: {text}"
    if isinstance(exc, rex.ConnectionError):
        return Reason.CONNECT, f"{stage}: {text}"
    if isinstance(exc, rex.ResponseError):
        return Reason.PROTOCOL, f"{stage}: {text}"
    return Reason.INTERNAL, f"{stage}: {type(exc).__name__}: {text}"


