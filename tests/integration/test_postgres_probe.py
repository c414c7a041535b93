"""The PostgreSQL probe and the shipped postgres pack against real PostgreSQL servers (initdb'd into temp
dirs, started on free ports): healthy, DSN and password sources, wrong password, stopped, SIGSTOPped, a
silent listener, a port speaking HTTP, sslmode against a server without TLS, max_connections pressure, a
session idle in a transaction, and a streaming standby losing its primary. Nothing is mocked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from agentops.core.model import Reason, Status
from agentops.core.yamlsrc import ConfigError
from agentops.probes.postgres import PostgresProbe, _QueryDeadline
from tests.fixtures.common import SilentListener, assert_no_traceback, run_cli, wait_for
from tests.fixtures.servers import RawReplyServer
from tests.fixtures.services import PostgresServer, run_config, write_config

PASSWORD_ENV = "AGENTOPS_TEST_PG_PASSWORD"
DSN_ENV = "AGENTOPS_TEST_PG_DSN"
PLANTED = "planted-PgSecret-0815"  # a password that must never be printed


def pg_target(server: PostgresServer | None = None, *, address: str | None = None, **extra) -> dict:
    target = {"name": "db", "kind": "postgres", "address": address or (server.address if server else None),
              "username": "postgres", "password_env": PASSWORD_ENV}
    target.update(extra)
    return {k: v for k, v in target.items() if v is not None}


def run_pack(tmp_path: Path, target: dict, only: str = "postgres.*") -> dict:
    return run_config(write_config(tmp_path / "agentops.yaml", [target], packs=["postgres"]), only=[only])


def one_check(tmp_path: Path, target: dict, *, timeout: float = 5, params: dict | None = None,
              warning: dict | None = None, critical: dict | None = None):
    check = {"id": "t.pg", "probe": "postgres", "timeout": timeout, "params": params or {},
             "warning": warning or {}, "critical": critical or {}}
    return run_config(write_config(tmp_path / "agentops.yaml", [target], packs=[], checks=[check]))["t.pg"]


@pytest.fixture
def pg_password(monkeypatch, postgres_server):
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    return postgres_server.password


def test_healthy_server_passes_the_shipped_pack(postgres_server, pg_password, tmp_path):
    results = run_pack(tmp_path, pg_target(postgres_server))
    assert set(results) == {"postgres.connect", "postgres.connections", "postgres.transactions",
                            "postgres.replication", "postgres.wraparound"}
    for r in results.values():
        assert r.status is Status.OK, (r.id, r.reason, r.message)
    connect = results["postgres.connect"]
    assert connect.metrics["connect_ms"] > 0 and connect.metrics["select1_ms"] > 0
    assert "connections" not in connect.metrics  # stats: false
    full = results["postgres.connections"]
    with postgres_server.connect() as conn:
        size = conn.execute("SELECT pg_database_size('postgres')").fetchone()[0]
        version = conn.execute("SHOW server_version").fetchone()[0]
    assert full.metrics["max_connections"] == postgres_server.max_connections == 20
    assert 1 <= full.metrics["connections"] < 20
    assert full.metrics["connections_used_percent"] == pytest.approx(100 * full.metrics["connections"] / 20)
    assert full.metrics["database_size_bytes"] == pytest.approx(size, rel=0.1)
    assert 0 < full.metrics["xid_age"] < 1e6
    assert full.metrics["idle_in_transaction"] == 0 and full.metrics["idle_in_transaction_max_age_s"] == 0
    assert full.facts == {"role": "primary", "server_version": version, "database": "postgres", "replicas": 0}
    assert full.metrics["replicas"] == 0 and "replication_lag_s" not in full.metrics


def test_dsn_from_env_and_file(postgres_server, tmp_path, monkeypatch):
    monkeypatch.setenv(DSN_ENV, postgres_server.dsn)
    from_env = one_check(tmp_path, pg_target(address=None, username=None, password_env=None, dsn_env=DSN_ENV))
    assert from_env.status is Status.OK and from_env.facts["database"] == "postgres"
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text(postgres_server.dsn + "\n")
    from_file = one_check(tmp_path, pg_target(address=None, username=None, password_env=None,
                                              dsn_file=str(dsn_file)))
    assert from_file.status is Status.OK


def test_database_option_and_missing_database(postgres_server, pg_password, tmp_path):
    with postgres_server.connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS agentops_probe_db")
        conn.execute("CREATE DATABASE agentops_probe_db")
    r = one_check(tmp_path, pg_target(postgres_server, options={"database": "agentops_probe_db"}))
    assert r.status is Status.OK and r.facts["database"] == "agentops_probe_db"
    r = one_check(tmp_path, pg_target(postgres_server, options={"database": "no_such_db"}))
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.CONNECT)
    assert 'database "no_such_db" does not exist' in r.message


def test_wrong_password_is_auth_and_never_shown(postgres_server, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PLANTED)
    r = one_check(tmp_path, pg_target(postgres_server))
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.AUTH)
    assert "password authentication failed" in r.message

    wrong_dsn = postgres_server.dsn.replace(postgres_server.password, PLANTED)
    monkeypatch.setenv(DSN_ENV, wrong_dsn)
    d = one_check(tmp_path, pg_target(address=None, username=None, password_env=None, dsn_env=DSN_ENV))
    assert d.reason is Reason.AUTH
    monkeypatch.delenv(PASSWORD_ENV)
    missing = one_check(tmp_path, pg_target(postgres_server, password_env=None))
    assert missing.reason is Reason.AUTH and "no password supplied" in missing.message
    for result in (r, d, missing):
        assert PLANTED not in json.dumps(result.to_dict())


def test_malformed_dsn_is_unknown_without_its_password(tmp_path, monkeypatch):
    monkeypatch.setenv(DSN_ENV, f"postgresql://postgres:{PLANTED}@127.0.0.1:1/db?bogus_option=1")
    r = one_check(tmp_path, pg_target(address=None, username=None, password_env=None, dsn_env=DSN_ENV))
    # The config's fault found at run time: UNKNOWN, and not "internal" (that means a bug in agentops).
    assert (r.status, r.reason) == (Status.UNKNOWN, Reason.UNSUPPORTED) and "invalid DSN" in r.message
    assert PLANTED not in json.dumps(r.to_dict())


def test_stopped_server_is_refused(postgres_factory, tmp_path, monkeypatch):
    server = postgres_factory()
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    assert one_check(tmp_path, pg_target(server)).status is Status.OK
    server.stop()
    r = one_check(tmp_path, pg_target(server))
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.CONNECT)
    assert "Connection refused" in r.message


def test_listener_that_never_answers_ends_at_the_timeout(tmp_path):
    listener = SilentListener()
    try:
        r = one_check(tmp_path, pg_target(address=f"127.0.0.1:{listener.port}", password_env=None), timeout=0.5)
    finally:
        listener.close()
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.TIMEOUT)
    assert r.message == "no answer to connect within 0.5s"


def test_stopped_postmaster_times_out(postgres_server, pg_password, tmp_path):
    server = postgres_server  # paused and resumed, not harmed: the shared instance will do
    server.pause()
    try:
        r = one_check(tmp_path, pg_target(server), timeout=0.5)
    finally:
        server.resume()
    assert r.reason is Reason.TIMEOUT
    assert one_check(tmp_path, pg_target(server)).status is Status.OK


def test_a_query_on_a_hung_backend_ends_at_the_deadline(postgres_server):
    """The query deadline: the server process behind an open connection stops (SIGSTOP), the query is cut
    at the deadline by shutting the socket, not left to psycopg's 5-second cancel dance."""
    import psycopg

    async def scenario() -> tuple[bool, BaseException | None]:
        conn = await psycopg.AsyncConnection.connect(postgres_server.dsn, autocommit=True)
        backend = conn.info.backend_pid
        os.kill(backend, signal.SIGSTOP)
        try:
            deadline = _QueryDeadline(conn, asyncio.get_running_loop().time() + 0.3)
            error = None
            try:
                async with asyncio.timeout(30):  # a safety net for the test only; never reached
                    await conn.execute("SELECT 1")
            except Exception as exc:
                error = exc
            deadline.cancel()
            return deadline.fired, error
        finally:
            os.kill(backend, signal.SIGCONT)
            await conn.close()

    fired, error = asyncio.run(scenario())
    assert fired and isinstance(error, psycopg.OperationalError), error


def test_a_port_that_is_not_postgres_is_a_protocol_failure(tmp_path):
    http = RawReplyServer(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    try:
        # the default sslmode (prefer) asks for TLS first; with disable the startup packet goes first
        r = one_check(tmp_path, pg_target(address=f"127.0.0.1:{http.port}", password_env=None))
        plain = one_check(tmp_path, pg_target(address=f"127.0.0.1:{http.port}", password_env=None,
                                              options={"sslmode": "disable"}))
    finally:
        http.close()
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.PROTOCOL), r.message
    assert (plain.reason, "expected authentication request" in plain.message) == (Reason.PROTOCOL, True)


def test_sslmode_require_against_a_server_without_tls(postgres_server, pg_password, tmp_path):
    r = one_check(tmp_path, pg_target(postgres_server, options={"sslmode": "require"}))
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.TLS)
    assert "server does not support SSL" in r.message
    tls = one_check(tmp_path, pg_target(postgres_server, tls={"enabled": True, "verify": False}))
    assert tls.reason is Reason.TLS
    prefer = one_check(tmp_path, pg_target(postgres_server, options={"sslmode": "prefer"}))
    assert prefer.status is Status.OK
    with pytest.raises(ConfigError, match=r"options.sslmode: 'sometimes' is not one of"):  # refused at load
        one_check(tmp_path, pg_target(postgres_server, options={"sslmode": "sometimes"}))


def test_unresolvable_host_is_dns(tmp_path):
    assert one_check(tmp_path, pg_target(address="no-such-host.invalid:5432", password_env=None)).reason is Reason.DNS


def settled(held: list) -> None:
    """Wait until the server counts exactly the client connections this test holds."""
    def count() -> int:
        row = held[0].execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        return row.fetchone()[0]
    wait_for(lambda: count() == len(held), timeout=30, interval=0.05, what="the probe's backend to exit")


def test_max_connections_pressure(postgres_factory, tmp_path, monkeypatch):
    server = postgres_factory(max_connections=10)
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    held = []
    try:
        for _ in range(8):
            held.append(server.connect())
        # 8 held + the probe itself = 9 of 10
        r = run_pack(tmp_path, pg_target(server), only="postgres.connections")["postgres.connections"]
        assert (r.status, r.reason) == (Status.WARNING, Reason.THRESHOLD), r.message
        assert r.metrics["connections"] == 9 and r.metrics["connections_used_percent"] == 90
        # The probe's backend exits after its client has gone: wait for its slot to be free again, or the
        # next connection of our own can be the one turned away on a busy machine.
        settled(held)
        held.append(server.connect())
        r = run_pack(tmp_path, pg_target(server), only="postgres.connections")["postgres.connections"]
        assert r.status is Status.CRITICAL and r.metrics["connections_used_percent"] == 100
        settled(held)
        held.append(server.connect())
        full = run_pack(tmp_path, pg_target(server), only="postgres.connections")["postgres.connections"]
        assert (full.status, full.reason) == (Status.CRITICAL, Reason.CONNECT)
        assert "too many clients" in full.message
    finally:
        for conn in held:
            conn.close()


def test_idle_in_transaction_crosses_a_threshold(postgres_server, pg_password, tmp_path):
    thresholds = {"warning": {"idle_in_transaction_max_age_s": "> 0.3"},
                  "critical": {"idle_in_transaction_max_age_s": "> 600"}}
    idle = postgres_server.connect(autocommit=False)
    try:
        idle.execute("SELECT 1")  # opens the transaction, then the session sits idle in it
        r = wait_for(lambda: (res := one_check(tmp_path, pg_target(postgres_server), **thresholds))
                     .status is Status.WARNING and res, timeout=20, interval=0.2, what="idle in transaction")
    finally:
        idle.close()
    assert r.reason is Reason.THRESHOLD and "idle_in_transaction_max_age_s=" in r.message
    assert r.metrics["idle_in_transaction"] == 1
    assert r.metrics["oldest_xact_age_s"] >= r.metrics["idle_in_transaction_max_age_s"] > 0.3
    after = one_check(tmp_path, pg_target(postgres_server), **thresholds)
    assert after.status is Status.OK and after.metrics["idle_in_transaction"] == 0


def test_standby_replication_and_a_lost_primary(postgres_factory, tmp_path, monkeypatch):
    primary = postgres_factory(settings={"wal_sender_timeout": "2s"})
    standby = postgres_factory(standby_of=primary, settings={"wal_receiver_timeout": "2s",
                                                             "wal_retrieve_retry_interval": "500ms"})
    monkeypatch.setenv(PASSWORD_ENV, primary.password)
    with primary.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")

    s = run_pack(tmp_path, pg_target(standby), only="postgres.replication")["postgres.replication"]
    assert s.status is Status.OK, s.message
    assert s.facts["role"] == "standby" and s.facts["wal_receiver_status"] == "streaming"
    assert s.metrics["wal_receiver_up"] == 1 and s.metrics["replication_lag_s"] >= 0
    assert "replicas" not in s.metrics
    p = run_pack(tmp_path, pg_target(primary), only="postgres.replication")["postgres.replication"]
    assert p.status is Status.OK and p.facts["replicas"] == 1 and p.metrics["replicas"] == 1
    assert p.metrics["replication_lag_s"] >= 0

    primary.stop()
    r = wait_for(lambda: (res := run_pack(tmp_path, pg_target(standby), only="postgres.replication")
                          ["postgres.replication"]).status is Status.CRITICAL and res,
                 timeout=30, interval=0.3, what="standby noticing the lost primary")
    assert r.reason is Reason.THRESHOLD and r.metrics["wal_receiver_up"] == 0
    assert "wal_receiver_up=0" in r.message


def test_params_are_validated():
    probe = PostgresProbe()
    probe.validate_params({"stats": False})
    with pytest.raises(ValueError, match="unknown param 'query'"):
        probe.validate_params({"query": "SELECT 1"})
    with pytest.raises(ValueError, match="true or false"):
        probe.validate_params({"stats": 1})


def test_probe_leaves_no_session_behind(postgres_server, pg_password, tmp_path):
    def agentops_sessions() -> int:
        with postgres_server.connect() as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity "
                                "WHERE application_name = 'agentops'").fetchone()[0]

    for _ in range(3):
        assert one_check(tmp_path, pg_target(postgres_server)).status is Status.OK
    wait_for(lambda: agentops_sessions() == 0, timeout=5, what="probe sessions closed")


# --- the CLI, end to end --------------------------------------------------------------------------------

def test_cli_health_json(postgres_server, tmp_path):
    cfg = write_config(tmp_path / "agentops.yaml", [pg_target(postgres_server)], packs=["postgres"])
    ok = run_cli("health", "-c", str(cfg), "-o", "json", "--only", "postgres.*",
                 env={PASSWORD_ENV: postgres_server.password})
    assert_no_traceback(ok)
    doc = ok.json()
    assert ok.code == 0, doc
    assert {r["id"] for r in doc["results"]} == {"postgres.connect", "postgres.connections",
                                                  "postgres.transactions", "postgres.replication",
                                                  "postgres.wraparound"}
    assert all(r["status"] == "OK" for r in doc["results"])


def test_cli_planted_dsn_password_never_printed(postgres_server, tmp_path):
    target = pg_target(address=None, username=None, password_env=None, dsn_env=DSN_ENV)
    cfg = write_config(tmp_path / "agentops.yaml", [target], packs=["postgres"])
    wrong_dsn = postgres_server.dsn.replace(postgres_server.password, PLANTED)
    for output in ("json", "table"):  # tests/e2e/test_secrets.py covers every format
        result = run_cli("health", "-c", str(cfg), "-o", output, "--only", "postgres.connections",
                         env={DSN_ENV: wrong_dsn})
        assert_no_traceback(result)
        assert result.code == 2, (output, result.stdout, result.stderr)
        assert PLANTED not in result.stdout + result.stderr, output


def test_connection_string_lays_target_settings_over_the_dsn():
    from psycopg.conninfo import conninfo_to_dict

    from agentops.core.config import Target, TLSOptions
    from agentops.core.redact import redact
    from agentops.probes.postgres import connection_string

    t = Target("db", "postgres", "10.0.0.5:6543", username="monitor", options={"database": "agents"},
               tls=TLSOptions(enabled=True, ca="/etc/ca.pem", server_name="db.internal"),
               secret_sources={"password": ("inline", PLANTED)})
    params = conninfo_to_dict(connection_string(t, 0.5))
    assert params == {"host": "db.internal", "hostaddr": "10.0.0.5", "port": "6543", "dbname": "agents",
                      "user": "monitor", "password": PLANTED, "sslmode": "verify-full",
                      "sslrootcert": "/etc/ca.pem", "connect_timeout": "2", "application_name": "agentops"}

    url_secret = "only-in-this-url-5b1e"
    url = Target("db", "postgres", f"postgresql://app:{url_secret}@db.example:5433/app?application_name=x")
    params = conninfo_to_dict(connection_string(url, 7.2))
    assert (params["host"], params["port"], params["connect_timeout"], params["application_name"]) == \
        ("db.example", "5433", "8", "x")
    assert redact(f"echoed {url_secret}") == "echoed ***"  # a password read from a DSN is registered

    with pytest.raises(ValueError, match="needs the address as an IP"):
        connection_string(Target("db", "postgres", "db.example:5432",
                                 tls=TLSOptions(enabled=True, server_name="other")), 1)


def test_tls_server_verified_unverified_and_unknown_ca(postgres_factory, tls_files, tmp_path, monkeypatch):
    server = postgres_factory(tls=tls_files)
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    verified = one_check(tmp_path, pg_target(server, tls={"ca": str(tls_files.ca)}))
    assert verified.status is Status.OK, verified.message
    with server.connect(sslmode="require") as conn:  # the server really speaks TLS
        assert conn.info.pgconn.ssl_in_use
    unverified = one_check(tmp_path, pg_target(server, tls={"enabled": True, "verify": False}))
    assert unverified.status is Status.OK
    unknown_ca = one_check(tmp_path, pg_target(server, tls={"enabled": True}))
    assert (unknown_ca.status, unknown_ca.reason) == (Status.CRITICAL, Reason.TLS), unknown_ca.message
    wrong_name = one_check(tmp_path, pg_target(server, tls={"ca": str(tls_files.ca),
                                                            "server_name": "not-in-the-cert"}))
    assert wrong_name.reason is Reason.TLS and "not-in-the-cert" in wrong_name.message
