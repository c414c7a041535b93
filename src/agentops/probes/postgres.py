"""PostgreSQL: connect and `SELECT 1` latency, then one statement that reads the figures an operator judges a
server by: connections against max_connections, the oldest transaction, idle-in-transaction sessions,
replication lag, transaction-id age and the database size.

psycopg 3's async API, imported only when a PostgreSQL check runs. The session is autocommit (the probe must
never itself show up as "idle in transaction") and uses no prepared statements (pgbouncer in transaction
mode). Deadlines: the connect is cancelled at the check's deadline; a query still running then is ended by
shutting the socket down, because cancelling psycopg mid-query makes it send a cancel request and wait up
to 5 s for the server, far past the check's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from agentops.core.config import POSTGRES_SSLMODES, Target
from agentops.core.errors import error_text, network_reason, reason_from_text
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params
from agentops.core.redact import redact, register_secret
from agentops.core.tls import check_files
from agentops.core.yamlsrc import ConfigError
from agentops.probes._errors import setup_failure, yield_to_other_checks

DEFAULT_PORT = 5432
SSLMODES = POSTGRES_SSLMODES
# The backstop after the socket shutdown, in case the library does not notice it.
SHUTDOWN_GRACE_S = 0.2

# One round trip. Sessions of other roles show their state only to superusers and pg_monitor members
# (pg_read_all_stats); `sees_all` tells whether the activity figures are complete.
STATS_SQL = """
SELECT
  current_setting('server_version') AS server_version,
  current_database() AS database,
  current_setting('max_connections')::int AS max_connections,
  pg_is_in_recovery() AS in_recovery,
  pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') AS sees_all,
  pg_database_size(current_database()) AS database_size_bytes,
  (SELECT max(age(datfrozenxid)) FROM pg_database) AS xid_age,
  a.connections, a.oldest_xact_age_s, a.idle_in_transaction, a.idle_in_transaction_max_age_s,
  (SELECT count(*) FROM pg_stat_replication) AS replicas,
  (SELECT extract(epoch FROM max(coalesce(replay_lag, interval '0'))) FROM pg_stat_replication) AS primary_lag_s,
  CASE WHEN pg_is_in_recovery() THEN
    CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
      THEN 0
      ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END
  END AS standby_lag_s,
  (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS wal_receiver_status
FROM (
  SELECT
    count(*) FILTER (WHERE backend_type = 'client backend') AS connections,
    coalesce(extract(epoch FROM max(now() - xact_start)
      FILTER (WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())), 0) AS oldest_xact_age_s,
    count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_in_transaction,
    coalesce(extract(epoch FROM max(now() - state_change)
      FILTER (WHERE state LIKE 'idle in transaction%')), 0) AS idle_in_transaction_max_age_s
  FROM pg_stat_activity
) AS a
"""

# libpq's own words for failures it reports only as text; checked before the generic network fragments.
_PG_TEXT_REASONS: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    (Reason.AUTH, ("password authentication failed", "no password supplied", "no pg_hba.conf entry",
                   "authentication failed", 'role "', "permission denied", "scram")),
    (Reason.PROTOCOL, ("expected authentication request", "invalid response", "unexpected message",
                       "received invalid", "lost synchronization", "invalid length of startup packet",
                       "unsupported frontend protocol", "bogus")),
    (Reason.CONNECT, ("too many clients", "too many connections", "connection slots are reserved",
                      "does not exist", "starting up", "shutting down", "in recovery mode",
                      "not yet accepting connections")),
)
# The end of libpq's "no pg_hba.conf entry for host …, no encryption": a rule would admit it over TLS only.
_NO_ENCRYPTION, _SSL_ENCRYPTION = ", no encryption", ", ssl encryption"
_SQLSTATE_REASONS = {"28P01": Reason.AUTH, "28000": Reason.AUTH, "42501": Reason.AUTH,
                     "53300": Reason.CONNECT, "57P03": Reason.CONNECT, "3D000": Reason.CONNECT,
                     "57014": Reason.TIMEOUT}


class PostgresProbe(Probe):
    kind = "postgres"
    target_kinds = ("postgres",)
    description = "PostgreSQL: connect + SELECT 1 latency; connections, transactions, replication, xid age, size"
    metrics = {
        "connect_ms": "connection time (TCP, TLS, authentication, backend start)",
        "select1_ms": "SELECT 1 round trip on the open connection",
        "connections": "client backends connected now",
        "max_connections": "configured max_connections",
        "connections_used_percent": "connections as a percentage of max_connections",
        "oldest_xact_age_s": "age of the oldest open transaction of any client (0 when none)",
        "idle_in_transaction": "sessions idle inside an open transaction",
        "idle_in_transaction_max_age_s": "longest time a session has been idle in a transaction (0 when none)",
        "xid_age": "transaction-id age of the oldest database (wraparound at ~2.1e9)",
        "database_size_bytes": "size of the connected database",
        "replicas": "standbys streaming from this server (primary)",
        "replication_lag_s": "primary: the largest replay lag of its standbys; standby: its own replay lag",
        "wal_receiver_up": "standby: 1 while the WAL receiver is streaming from the primary, else 0",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"stats"})
        if "stats" in params and not isinstance(params["stats"], bool):
            raise ValueError("stats must be true or false (false = connect and SELECT 1 only)")

    def preload(self) -> None:
        import psycopg  # noqa: F401

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        try:
            if target.tls.enabled:
                check_files(target.tls)  # libpq reads them itself, unbounded; a bad one looked like a connect failure
            conninfo = connection_string(target, timeout)
        except (ValueError, ConfigError) as exc:
            return setup_failure(exc)
        import psycopg

        await yield_to_other_checks(timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        obs = Observation()
        stage = "connect"
        conn = None
        watchdog: _QueryDeadline | None = None
        try:
            t0 = time.perf_counter()
            async with asyncio.timeout_at(deadline):
                conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, prepare_threshold=None)
            obs.metrics["connect_ms"] = (time.perf_counter() - t0) * 1000
            watchdog = _QueryDeadline(conn, deadline)
            async with asyncio.timeout_at(deadline + SHUTDOWN_GRACE_S):
                stage = "SELECT 1"
                t0 = time.perf_counter()
                await (await conn.execute("SELECT 1")).fetchone()
                obs.metrics["select1_ms"] = (time.perf_counter() - t0) * 1000
                if params.get("stats", True):
                    stage = "statistics query"
                    cur = await conn.execute(STATS_SQL)
                    row = await cur.fetchone()
                    names = [c.name for c in cur.description or ()]
                    stats = dict(zip(names, row or (), strict=True))
                    obs.metrics.update(stats_metrics(stats))
                    obs.facts.update(stats_facts(stats))
        except Exception as exc:  # every failure becomes a reason; none may escape as a crash
            if (watchdog is not None and watchdog.fired) or isinstance(exc, TimeoutError):
                obs.reason, obs.message = Reason.TIMEOUT, f"no answer to {stage} within {timeout:g}s"
            else:
                obs.reason, obs.message = failure(exc, stage)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        return obs


class _QueryDeadline:
    """At the deadline, shut the connection's socket down: the pending read then fails at once."""

    def __init__(self, conn: Any, when: float) -> None:
        self.fired = False
        self._conn = conn
        self._handle = asyncio.get_running_loop().call_at(when, self._fire)

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(Exception):
            # A duplicate descriptor, so the library's own descriptor stays valid until it closes it (closing
            # it under the event loop could let another check's socket reuse the number).
            sock = socket.socket(fileno=os.dup(self._conn.pgconn.socket))
            with sock:
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._handle.cancel()


def connection_string(target: Target, timeout: float) -> str:
    """A libpq conninfo for the target: a DSN (dsn_env / dsn_file, or a URL address) with host:port,
    options.database / options.sslmode, username, password and TLS files laid over it."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    dsn = target.secret("dsn")
    address = (target.address or "").strip()
    overrides: dict[str, Any] = {}
    if dsn is None and ("://" in address or "=" in address):
        dsn = address
    elif dsn is None and address:
        if address.startswith("/"):  # a unix socket directory
            overrides["host"], overrides["port"] = address, DEFAULT_PORT
        else:
            overrides["host"], overrides["port"] = target.host_port(DEFAULT_PORT)
    try:
        base = conninfo_to_dict(dsn or "")
    except Exception as exc:  # psycopg.ProgrammingError; its text may quote the DSN
        raise ValueError(f"target {target.name!r}: invalid DSN: {redact(error_text(exc))}") from None
    register_secret(base.get("password"))
    if target.options.get("database"):
        overrides["dbname"] = str(target.options["database"])
    if target.username:
        overrides["user"] = target.username
    password = target.secret("password")
    if password:
        overrides["password"] = password
    overrides.update(_tls_params(target))
    if target.tls.enabled and target.tls.server_name:
        # libpq verifies the certificate against `host`; connecting elsewhere is what `hostaddr` is for.
        host = str(overrides.get("host") or base.get("host") or "")
        if not _is_ip(host):
            raise ValueError(f"target {target.name!r}: tls.server_name needs the address as an IP address")
        overrides["hostaddr"], overrides["host"] = host, target.tls.server_name
    if target.options.get("sslmode") is not None:
        sslmode = str(target.options["sslmode"])
        if sslmode not in SSLMODES:
            raise ValueError(f"target {target.name!r}: sslmode {sslmode!r} is not one of {', '.join(SSLMODES)}")
        overrides["sslmode"] = sslmode
    # libpq counts whole seconds and at least 2; the asyncio deadline is what actually bounds the connect.
    overrides["connect_timeout"] = max(2, math.ceil(timeout))
    if "application_name" not in base:
        overrides["application_name"] = "agentops"
    return make_conninfo(dsn or "", **overrides)


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _tls_params(target: Target) -> dict[str, str]:
    tls = target.tls
    if not tls.enabled:
        return {}
    if not tls.verify:
        params = {"sslmode": "require"}
    else:
        # Without a CA file, verify against the system's trust store (libpq 16+ spells it "system").
        params = {"sslmode": "verify-full", "sslrootcert": tls.ca or "system"}
    if tls.cert and tls.key:
        params["sslcert"], params["sslkey"] = tls.cert, tls.key
    return params


def stats_metrics(stats: Mapping[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for name in ("connections", "max_connections", "oldest_xact_age_s", "idle_in_transaction",
                 "idle_in_transaction_max_age_s", "xid_age", "database_size_bytes"):
        if stats.get(name) is not None:
            metrics[name] = float(stats[name])
    if metrics.get("max_connections"):
        metrics["connections_used_percent"] = 100.0 * metrics.get("connections", 0.0) / metrics["max_connections"]
    if stats.get("in_recovery"):
        if stats.get("standby_lag_s") is not None:
            metrics["replication_lag_s"] = max(0.0, float(stats["standby_lag_s"]))
        if stats.get("sees_all"):
            metrics["wal_receiver_up"] = 1.0 if stats.get("wal_receiver_status") == "streaming" else 0.0
    else:
        metrics["replicas"] = float(stats.get("replicas") or 0)
        if stats.get("replicas") and stats.get("primary_lag_s") is not None:
            metrics["replication_lag_s"] = float(stats["primary_lag_s"])
    return metrics


def stats_facts(stats: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "role": "standby" if stats.get("in_recovery") else "primary",
        "server_version": str(stats.get("server_version")),
        "database": str(stats.get("database")),
    }
    if stats.get("in_recovery"):
        facts["wal_receiver_status"] = stats.get("wal_receiver_status")
    else:
        facts["replicas"] = int(stats.get("replicas") or 0)
    if not stats.get("sees_all"):
        facts["stats_visibility"] = ("limited: other roles' sessions are hidden; grant pg_monitor to the "
                                     "monitoring role")
    return facts


def failure(exc: BaseException, stage: str) -> tuple[Reason, str]:
    """The reason and a redacted one-line message for a psycopg (libpq) error raised at `stage`."""
    import psycopg

    text = error_text(exc).removeprefix("connection failed: ")
    if isinstance(exc, psycopg.errors.ConnectionTimeout):
        return Reason.TIMEOUT, f"{stage}: {text}"
    if _NO_ENCRYPTION in text and _SSL_ENCRYPTION not in text.lower():
        # PostgreSQL negotiates TLS on its one port; a client that tried only plaintext (sslmode disable) at a
        # server that takes TCP clients only over TLS (hostssl) is turned away by pg_hba.conf with sqlstate
        # 28000: not a credential problem. (With "prefer", libpq tried TLS too, and both lines are there.)
        return Reason.TLS, (f"{stage}: {text} (no pg_hba.conf rule admits it without TLS: if the server "
                            f"requires TLS, set tls in the target)")
    reason = _SQLSTATE_REASONS.get(getattr(exc, "sqlstate", None) or "")
    if reason is None:
        low = text.lower()
        reason = next((r for r, fragments in _PG_TEXT_REASONS if any(f in low for f in fragments)), None)
    reason = reason or reason_from_text(text) or network_reason(exc)
    if reason is None:
        reason = Reason.CONNECT if isinstance(exc, psycopg.OperationalError) else Reason.INTERNAL
    return reason, f"{stage}: {text}"
