"""The Redis probe and the shipped redis pack against real redis-server processes started on free ports:
healthy, AUTH, TLS, stopped, SIGSTOPped, a silent listener, a port speaking HTTP, maxmemory and maxclients
pressure, and a replica losing its primary. Every fault is real; nothing is mocked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentops.core.model import Reason, Status
from agentops.core.yamlsrc import ConfigError
from agentops.probes.redis import RedisProbe
from tests.fixtures.common import SilentListener, assert_no_traceback, run_cli, wait_for
from tests.fixtures.servers import RawReplyServer
from tests.fixtures.services import RedisServer, run_config, write_config

PLANTED = "planted-Secret-4711"  # a password that must never be printed


def redis_target(server: RedisServer | None = None, *, address: str | None = None, **extra) -> dict:
    target = {"name": "cache", "kind": "redis", "address": address or (server.address if server else "")}
    if server is not None and server.password and "password_env" not in extra:
        extra["password_env"] = "AGENTOPS_TEST_REDIS_PASSWORD"
    target.update(extra)
    return {k: v for k, v in target.items() if v is not None}


def run_pack(tmp_path: Path, target: dict, only: str = "redis.*", checks: list | None = None) -> dict:
    return run_config(write_config(tmp_path / "agentops.yaml", [target], packs=["redis"], checks=checks),
                      only=[only])


def one_check(tmp_path: Path, target: dict, *, timeout: float = 3, params: dict | None = None,
              warning: dict | None = None, critical: dict | None = None):
    check = {"id": "t.redis", "probe": "redis", "timeout": timeout, "params": params or {},
             "warning": warning or {}, "critical": critical or {}}
    cfg = write_config(tmp_path / "agentops.yaml", [target], packs=[], checks=[check])
    return run_config(cfg)["t.redis"]


def fill(server: RedisServer, until_percent: float, *, value_bytes: int = 8192) -> float:
    """SET values until used_memory reaches `until_percent` of maxmemory (or writes are refused)."""
    import redis

    client = server.client()
    maxmemory = int(client.config_get("maxmemory")["maxmemory"])
    i = 0
    while True:
        used = client.info("memory")["used_memory"]
        if 100 * used / maxmemory >= until_percent:
            return 100 * used / maxmemory
        try:
            client.set(f"k{i}", b"x" * value_bytes)
        except redis.exceptions.ResponseError:  # OOM under noeviction: as full as it gets
            return 100 * client.info("memory")["used_memory"] / maxmemory
        i += 1


@pytest.fixture
def redis_password(monkeypatch):
    monkeypatch.setenv("AGENTOPS_TEST_REDIS_PASSWORD", PLANTED)
    return PLANTED


def test_healthy_server_passes_the_shipped_pack(redis_server, tmp_path):
    client = redis_server.client()
    client.set("present", "1")
    client.get("present")
    client.get("absent")
    results = run_pack(tmp_path, redis_target(redis_server))
    assert set(results) == {"redis.ping", "redis.memory", "redis.clients", "redis.persistence",
                            "redis.replication"}
    for r in results.values():
        assert r.status is Status.OK, (r.id, r.reason, r.message)
    ping = results["redis.ping"]
    assert ping.metrics["ping_ms"] > 0 and ping.metrics["connect_ms"] > 0
    assert "used_memory_bytes" not in ping.metrics  # info: false
    full = results["redis.memory"]
    info = client.info()
    assert full.facts["redis_version"] == info["redis_version"]
    assert full.facts["role"] == "primary" and full.metrics["connected_slaves"] == 0
    assert full.metrics["maxmemory_bytes"] == 0 and "memory_used_percent" not in full.metrics
    assert full.metrics["used_memory_bytes"] > 0 and full.metrics["keys"] >= 1
    assert full.metrics["connected_clients"] >= 2  # the test's client and the probe itself
    assert 0 < full.metrics["keyspace_hit_rate"] < 1
    assert full.metrics["keyspace_hits"] >= 1 and full.metrics["keyspace_misses"] >= 1


def test_url_address_and_db_option(redis_server, tmp_path):
    redis_server.client(db=3).set("in-db-3", "1")
    r = one_check(tmp_path, redis_target(address=f"redis://{redis_server.address}/3"))
    assert r.status is Status.OK and r.metrics["ping_ms"] > 0
    # A db that is not a number is the config's error, found at load (it used to be UNKNOWN at run time).
    with pytest.raises(ConfigError, match=r"options.db: expected a database number \(0 or more\), got 'three'"):
        one_check(tmp_path, redis_target(redis_server, options={"db": "three"}))


def test_password_right_wrong_and_missing(redis_factory, tmp_path, monkeypatch, redis_password):
    server = redis_factory(password=redis_password)
    assert one_check(tmp_path, redis_target(server)).status is Status.OK

    monkeypatch.setenv("AGENTOPS_TEST_REDIS_PASSWORD", "wrong-" + PLANTED)
    r = one_check(tmp_path, redis_target(server))
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.AUTH)
    assert "invalid username-password" in r.message and PLANTED not in r.message

    r = one_check(tmp_path, redis_target(server, password_env=None))
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.AUTH)
    assert "no password configured" in r.message

    r = one_check(tmp_path, redis_target(server, username="nobody"))
    assert r.reason is Reason.AUTH


def test_password_in_the_url_is_used_and_never_shown(redis_factory, tmp_path):
    server = redis_factory(password=PLANTED)
    ok = one_check(tmp_path, redis_target(address=f"redis://:{PLANTED}@{server.address}/0"))
    assert ok.status is Status.OK
    bad = one_check(tmp_path, redis_target(address=f"redis://:{PLANTED}x@{server.address}/0"))
    assert bad.reason is Reason.AUTH
    for r in (ok, bad):
        assert PLANTED not in json.dumps(r.to_dict())


def test_stopped_server_is_refused(redis_factory, tmp_path):
    server = redis_factory()
    assert one_check(tmp_path, redis_target(server)).status is Status.OK
    server.stop()
    r = one_check(tmp_path, redis_target(server))
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.CONNECT)
    assert "connecting to" in r.message


def test_listener_that_never_answers_ends_at_the_timeout(tmp_path):
    listener = SilentListener()
    try:
        r = one_check(tmp_path, redis_target(address=f"127.0.0.1:{listener.port}"), timeout=0.5)
    finally:
        listener.close()
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.TIMEOUT)
    assert "no answer to PING within 0.5s" in r.message


def test_stopped_process_times_out(redis_factory, tmp_path):
    server = redis_factory()
    server.pause()
    try:
        r = one_check(tmp_path, redis_target(server), timeout=0.5)
    finally:
        server.resume()
    assert r.reason is Reason.TIMEOUT
    assert one_check(tmp_path, redis_target(server)).status is Status.OK


def test_a_port_that_is_not_redis_is_a_protocol_failure(tmp_path):
    http = RawReplyServer(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    try:
        r = one_check(tmp_path, redis_target(address=f"127.0.0.1:{http.port}"))
    finally:
        http.close()
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.PROTOCOL)


def test_unresolvable_host_is_dns(tmp_path):
    r = one_check(tmp_path, redis_target(address="no-such-host.invalid:6379"))
    assert r.reason is Reason.DNS


def test_tls(redis_factory, tls_files, tmp_path):
    server = redis_factory(tls=tls_files)
    verified = one_check(tmp_path, redis_target(server, tls={"ca": str(tls_files.ca)}))
    assert verified.status is Status.OK and verified.metrics["ping_ms"] > 0
    url = one_check(tmp_path, redis_target(address=f"rediss://{server.address}", tls={"verify": False}))
    assert url.status is Status.OK
    unknown_ca = one_check(tmp_path, redis_target(server, tls={"enabled": True}))
    assert (unknown_ca.reason, "CERTIFICATE_VERIFY_FAILED" in unknown_ca.message) == (Reason.TLS, True)
    plain_to_tls = one_check(tmp_path, redis_target(server))
    assert plain_to_tls.reason is Reason.PROTOCOL and "tls" in plain_to_tls.message.lower()


def test_mutual_tls(redis_factory, tls_files, tmp_path):
    server = redis_factory(tls=tls_files, tls_auth_clients=True)
    with_cert = {"ca": str(tls_files.ca), "cert": str(tls_files.client_cert), "key": str(tls_files.client_key)}
    assert one_check(tmp_path, redis_target(server, tls=with_cert)).status is Status.OK
    r = one_check(tmp_path, redis_target(server, tls={"ca": str(tls_files.ca)}))
    assert r.status is Status.CRITICAL and r.reason in (Reason.TLS, Reason.PROTOCOL), r.message


def test_memory_near_maxmemory_warns(redis_factory, tmp_path):
    server = redis_factory(maxmemory="4mb", maxmemory_policy="noeviction")
    reached = fill(server, 83)
    assert 83 <= reached < 88
    r = run_pack(tmp_path, redis_target(server), only="redis.memory")["redis.memory"]
    assert (r.status, r.reason) == (Status.WARNING, Reason.THRESHOLD), r.message
    assert "memory_used_percent=" in r.message and "(warning > 80)" in r.message
    assert r.metrics["maxmemory_bytes"] == 4 * 1024 * 1024 and r.metrics["evicted_keys"] == 0
    assert r.facts["maxmemory_policy"] == "noeviction"


def test_memory_at_maxmemory_with_evictions_is_critical(redis_factory, tmp_path):
    server = redis_factory(maxmemory="4mb", maxmemory_policy="allkeys-lru")
    client = server.client()
    for i in range(1200):  # ~10 MB into a 4 MB limit: Redis must evict
        client.set(f"k{i}", b"x" * 8192)
    r = run_pack(tmp_path, redis_target(server), only="redis.memory")["redis.memory"]
    assert r.status is Status.CRITICAL and r.reason is Reason.THRESHOLD, r.message
    assert r.metrics["memory_used_percent"] > 90
    assert r.metrics["evicted_keys"] == client.info("stats")["evicted_keys"] > 0
    assert "evicted_keys=" in r.message


def test_maxclients_pressure_refuses_and_counts_rejections(redis_factory, tmp_path):
    server = redis_factory(extra=["--maxclients", "4"])
    held = []
    try:
        for _ in range(4):
            c = server.client(single_connection_client=True)
            c.ping()
            held.append(c)
        full = one_check(tmp_path, redis_target(server))
        assert (full.status, full.reason) == (Status.CRITICAL, Reason.CONNECT)
        assert "max number of clients" in full.message
        held.pop().close()
        r = run_pack(tmp_path, redis_target(server), only="redis.clients")["redis.clients"]
    finally:
        for c in held:
            c.close()
    assert r.status is Status.CRITICAL, r.message  # 4 of 4 clients in use (3 held + the probe)
    assert r.metrics["clients_used_percent"] == 100 and r.metrics["rejected_connections"] >= 1
    assert "rejected_connections=" in r.message


def test_replica_link_up_then_primary_lost(redis_factory, tmp_path):
    primary = redis_factory(extra=["--repl-diskless-sync-delay", "0"])
    replica = redis_factory(extra=["--replicaof", "127.0.0.1", str(primary.port)])
    wait_for(lambda: replica.client().info("replication")["master_link_status"] == "up", timeout=20,
             what="replica link up")
    r = run_pack(tmp_path, redis_target(replica), only="redis.replication")["redis.replication"]
    assert r.status is Status.OK, r.message
    assert r.facts["role"] == "replica" and r.facts["master"] == primary.address
    assert r.metrics["master_link_up"] == 1 and "connected_slaves" not in r.metrics
    p = run_pack(tmp_path, redis_target(primary), only="redis.replication")["redis.replication"]
    assert p.facts["role"] == "primary" and p.metrics["connected_slaves"] == 1

    primary.stop()
    wait_for(lambda: replica.client().info("replication")["master_link_status"] == "down", timeout=20,
             what="replica link down")
    r = run_pack(tmp_path, redis_target(replica), only="redis.replication")["redis.replication"]
    assert (r.status, r.reason) == (Status.CRITICAL, Reason.THRESHOLD)
    assert "master_link_up=0" in r.message


def test_params_are_validated():
    probe = RedisProbe()
    probe.validate_params({"info": False})
    with pytest.raises(ValueError, match="unknown param 'pings'"):
        probe.validate_params({"pings": 3})
    with pytest.raises(ValueError, match="true or false"):
        probe.validate_params({"info": "no"})


def test_unknown_param_in_a_config_is_a_config_error(redis_server, tmp_path):
    check = {"id": "bad", "probe": "redis", "params": {"color": "red"}}
    cfg = write_config(tmp_path / "agentops.yaml", [redis_target(redis_server)], packs=[], checks=[check])
    result = run_cli("health", "-c", str(cfg))
    assert_no_traceback(result)
    assert result.code == 3 and "unknown param 'color'" in result.stderr


# --- the CLI, end to end --------------------------------------------------------------------------------

def test_cli_health_json_healthy(redis_server, tmp_path):
    cfg = write_config(tmp_path / "agentops.yaml", [redis_target(redis_server)], packs=["redis"])
    result = run_cli("health", "-c", str(cfg), "-o", "json", "--only", "redis.*")
    assert_no_traceback(result)
    doc = result.json()
    assert result.code == 0, doc
    assert {r["id"] for r in doc["results"]} == {"redis.ping", "redis.memory", "redis.clients",
                                                  "redis.persistence", "redis.replication"}
    assert all(r["status"] == "OK" and r["target"] == "cache" for r in doc["results"])


def test_cli_health_stopped_and_wrong_password(redis_factory, tmp_path):
    server = redis_factory(password=PLANTED)
    cfg = write_config(tmp_path / "agentops.yaml", [redis_target(server)], packs=["redis"])
    wrong = run_cli("health", "-c", str(cfg), "-o", "json", "--only", "redis.ping",
                    env={"AGENTOPS_TEST_REDIS_PASSWORD": PLANTED + "-wrong"})
    assert_no_traceback(wrong)
    assert wrong.code == 2
    (res,) = wrong.json()["results"]
    assert (res["status"], res["reason"]) == ("CRITICAL", "auth")
    assert PLANTED not in wrong.stdout + wrong.stderr

    server.stop()
    env = {"AGENTOPS_TEST_REDIS_PASSWORD": PLANTED}
    down = run_cli("health", "-c", str(cfg), "-o", "json", "--only", "redis.ping", env=env)
    assert_no_traceback(down)
    assert down.code == 2 and down.json()["results"][0]["reason"] == "connect"
    table = run_cli("health", "-c", str(cfg), "-o", "table", "--only", "redis.ping", env=env)
    assert_no_traceback(table)
    assert table.code == 2 and PLANTED not in table.stdout + table.stderr
    assert "connect" in table.stdout


def test_probe_closes_its_connection(redis_server, tmp_path):
    """Each check opens one connection and closes it: nothing accumulates on the server."""
    before = redis_server.client().info("clients")["connected_clients"]
    for _ in range(5):
        assert one_check(tmp_path, redis_target(redis_server)).status is Status.OK
    wait_for(lambda: redis_server.client().info("clients")["connected_clients"] <= before, timeout=5,
             what="probe connections closed")


def test_connection_options_from_a_url():
    from agentops.core.config import Target
    from agentops.core.redact import redact
    from agentops.probes.redis import connection_options

    url_secret = "only-in-this-url-9c2d"
    opts = connection_options(Target("c", "redis", f"rediss://app:{url_secret}@cache.example:6380/5"), 2.5)
    assert (opts["host"], opts["port"], opts["db"], opts["username"], opts["password"], opts["ssl"]) == \
        ("cache.example", 6380, 5, "app", url_secret, True)
    assert opts["socket_timeout"] == opts["socket_connect_timeout"] == 2.5 and opts["protocol"] == 2
    assert redact(f"echoed {url_secret}") == "echoed ***"  # a password read from a URL is registered
    plain = connection_options(Target("c", "redis", "cache.example", options={"db": 2}), 1)
    assert (plain["port"], plain["db"], "ssl" in plain) == (6379, 2, False)
    assert connection_options(Target("c", "redis", "unix:///run/redis.sock"), 1)["unix_socket_path"] == \
        "/run/redis.sock"
    with pytest.raises(ValueError, match="unsupported URL scheme"):
        connection_options(Target("c", "redis", "http://cache.example"), 1)
