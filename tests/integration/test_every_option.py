"""Every documented option of every target kind does what it says: one case per (kind, option), each showing a
real difference in behaviour against a real server (with the option vs without it), or that validation refuses
the option for that kind. Options come from docs/config.md, core/config.py and core/cluster.py.

A case that a kind's probe cannot honour is refused by `config validate` (exit 3, file:line: field), so no
option is accepted and then ignored. The top-level and `defaults` fields and the AutoGen options that the
diagnosis reads (agentrpc/worker `process`, `logs`, `log_format`, `metrics_url`, `ping`) are in
test_every_option_cluster.py."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentops.core.config import Target, parse_config
from agentops.core.model import Reason
from agentops.core.yamlsrc import ConfigError
from tests.fixtures.common import assert_no_traceback, free_port, run_cli
from tests.fixtures.servers import CertPair, GrpcHealthServer, unique_name
from tests.fixtures.servers import run_probe as measure

PROM = b"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 250\n"


def target(doc: dict[str, Any]) -> Target:
    """The target as `agentops.yaml` would give it (parsed and validated by the real config loader)."""
    doc = {"name": "t", **doc}
    return parse_config({"version": 1, "targets": [doc]}, "agentops.yaml").targets[doc["name"]]


def probe(kind: str, doc: dict[str, Any], params: dict[str, Any] | None = None, timeout: float = 3.0) -> Any:
    return measure(kind, target(doc), params, timeout)


def refused(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        target(doc)
    assert field in str(err.value), str(err.value)


def ok(obs: Any) -> None:
    assert obs.reason is None, f"{obs.reason}: {obs.message}"


def failed(obs: Any, *reasons: Reason) -> None:
    assert obs.reason in reasons, f"{obs.reason}: {obs.message}"


# ------------------------------------------------------------------------------------------------ redis

def _redis_commands(server: Any) -> list[list[str]]:
    """Every command the server ran since the last call (slowlog with a 0 µs threshold logs all of them)."""
    client = server.client()
    entries = client.slowlog_get(1000)
    client.slowlog_reset()
    return [[a.decode() if isinstance(a, bytes) else str(a) for a in e["command"].split()]
            if isinstance(e["command"], bytes | str) else list(e["command"]) for e in entries]


def _redis_logging(redis_factory: Callable[..., Any], **kw: Any) -> Any:
    server = redis_factory(**kw)
    server.client().config_set("slowlog-log-slower-than", 0)
    server.client().config_set("slowlog-max-len", 1000)
    _redis_commands(server)
    return server


def redis_db(r: pytest.FixtureRequest) -> None:
    server = _redis_logging(r.getfixturevalue("redis_factory"))
    ok(probe("redis", {"kind": "redis", "address": server.address, "options": {"db": 3}}))
    assert ["SELECT", "3"] in _redis_commands(server)
    ok(probe("redis", {"kind": "redis", "address": server.address}))
    assert not [c for c in _redis_commands(server) if c[0] == "SELECT"]


def redis_address_url(r: pytest.FixtureRequest) -> None:
    server = _redis_logging(r.getfixturevalue("redis_factory"))
    ok(probe("redis", {"kind": "redis", "address": f"redis://{server.address}/5"}))
    assert ["SELECT", "5"] in _redis_commands(server)


def redis_password(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("redis_factory")(password="opt-pw-1")
    ok(probe("redis", {"kind": "redis", "address": server.address, "password": "opt-pw-1"}))
    failed(probe("redis", {"kind": "redis", "address": server.address}), Reason.AUTH)


def redis_username(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("redis_factory")(password="opt-pw-2")
    ok(probe("redis", {"kind": "redis", "address": server.address, "username": "default", "password": "opt-pw-2"}))
    failed(probe("redis", {"kind": "redis", "address": server.address, "username": "nobody",
                           "password": "opt-pw-2"}), Reason.AUTH)


def redis_tls_ca(r: pytest.FixtureRequest) -> None:
    tls = r.getfixturevalue("tls_files")
    server = r.getfixturevalue("redis_factory")(tls=tls)
    ok(probe("redis", {"kind": "redis", "address": server.address, "tls": {"ca": str(tls.ca)}}))
    failed(probe("redis", {"kind": "redis", "address": server.address, "tls": {"enabled": True}}), Reason.TLS)


def redis_tls_enabled(r: pytest.FixtureRequest) -> None:
    tls = r.getfixturevalue("tls_files")
    server = r.getfixturevalue("redis_factory")(tls=tls)
    failed(probe("redis", {"kind": "redis", "address": server.address, "tls": {"enabled": False, "ca": str(tls.ca)}}),
           Reason.PROTOCOL, Reason.TLS)


def redis_tls_verify(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("redis_factory")(tls=r.getfixturevalue("tls_files"))
    ok(probe("redis", {"kind": "redis", "address": server.address, "tls": {"verify": False}}))


def redis_tls_cert_key(r: pytest.FixtureRequest) -> None:
    tls = r.getfixturevalue("tls_files")
    server = r.getfixturevalue("redis_factory")(tls=tls, tls_auth_clients=True)
    ok(probe("redis", {"kind": "redis", "address": server.address, "tls": {
        "ca": str(tls.ca), "cert": str(tls.client_cert), "key": str(tls.client_key)}}))
    assert probe("redis", {"kind": "redis", "address": server.address, "tls": {"ca": str(tls.ca)}}).reason


def redis_tls_server_name(r: pytest.FixtureRequest) -> None:
    refused({"kind": "redis", "address": "127.0.0.1:6379", "tls": {"server_name": "x"}}, "server_name")


def redis_token(r: pytest.FixtureRequest) -> None:
    refused({"kind": "redis", "address": "127.0.0.1:6379", "token": "x"}, "token")


def redis_dsn(r: pytest.FixtureRequest) -> None:
    refused({"kind": "redis", "address": "127.0.0.1:6379", "dsn": "redis://x"}, "dsn")


# --------------------------------------------------------------------------------------------- postgres

def _pg(server: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": "postgres", "address": f"127.0.0.1:{server.port}", "username": server.user,
            "password": server.password, **extra}


def postgres_database(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("postgres_server")
    obs = probe("postgres", _pg(server, options={"database": "template1"}))
    ok(obs)
    assert obs.facts["database"] == "template1"
    assert probe("postgres", _pg(server)).facts["database"] == "postgres"


def postgres_sslmode(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("postgres_server")  # serves no TLS
    failed(probe("postgres", _pg(server, options={"sslmode": "require"})), Reason.TLS)
    ok(probe("postgres", _pg(server, options={"sslmode": "disable"})))


def postgres_dsn(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("postgres_server")
    obs = probe("postgres", {"kind": "postgres", "dsn": server.dsn.rsplit("/", 1)[0] + "/template1"})
    ok(obs)
    assert obs.facts["database"] == "template1"


def postgres_username(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("postgres_server")
    failed(probe("postgres", _pg(server, username="nobody")), Reason.AUTH)


def postgres_password(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("postgres_server")
    failed(probe("postgres", _pg(server, password="wrong")), Reason.AUTH)


def postgres_tls_enabled(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("postgres_server")  # serves no TLS: a client that insists on it fails
    failed(probe("postgres", _pg(server, tls={"enabled": True, "verify": False})), Reason.TLS)


def postgres_tls_ca_server_name(r: pytest.FixtureRequest) -> None:
    tls = r.getfixturevalue("tls_files")
    server = r.getfixturevalue("postgres_factory")(tls=tls)
    ok(probe("postgres", _pg(server, tls={"ca": str(tls.ca)})))
    failed(probe("postgres", _pg(server, tls={"enabled": True})), Reason.TLS)  # system CAs: unknown
    failed(probe("postgres", _pg(server, tls={"ca": str(tls.ca), "server_name": "wrong.example"})), Reason.TLS)
    ok(probe("postgres", _pg(server, tls={"ca": str(tls.ca), "server_name": "localhost"})))


def postgres_token(r: pytest.FixtureRequest) -> None:
    refused({"kind": "postgres", "address": "127.0.0.1:5432", "token": "x"}, "token")


# ------------------------------------------------------------------------------------------ http, metrics

def _seen(server: Any, path: str) -> dict[str, str]:
    return next(req.headers for req in reversed(server.requests) if req.path == path)


def _http_auth(kind: str, r: pytest.FixtureRequest, extra: dict[str, Any], expect: str) -> None:
    server = r.getfixturevalue("http_server")
    path = f"/{unique_name('opt')}"
    url = server.route(path, body=PROM, content_type="text/plain; version=0.0.4")
    params = {"compute": [{"name": "rss", "series": "process_resident_memory_bytes"}]} if kind == "metrics" else {}
    ok(probe(kind, {"kind": kind, "address": url, **extra}, params))
    assert _seen(server, path).get("Authorization", "").startswith(expect)
    ok(probe(kind, {"kind": kind, "address": url}, params))
    assert "Authorization" not in _seen(server, path)


def http_username_password(r: pytest.FixtureRequest) -> None:
    _http_auth("http", r, {"username": "u", "password": "p"}, "Basic ")


def http_token(r: pytest.FixtureRequest) -> None:
    _http_auth("http", r, {"token": "tok"}, "Bearer ")


def metrics_username_password(r: pytest.FixtureRequest) -> None:
    _http_auth("metrics", r, {"username": "u", "password": "p"}, "Basic ")


def metrics_token(r: pytest.FixtureRequest) -> None:
    _http_auth("metrics", r, {"token": "tok"}, "Bearer ")


def http_tls_ca(r: pytest.FixtureRequest) -> None:
    server, pki = r.getfixturevalue("https_server"), r.getfixturevalue("pki")
    url = server.route(f"/{unique_name('opt')}")
    ok(probe("http", {"kind": "http", "address": url, "tls": {"ca": str(pki.ca)}}))
    failed(probe("http", {"kind": "http", "address": url}), Reason.TLS)


def http_tls_verify(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("https_server")
    url = server.route(f"/{unique_name('opt')}")
    ok(probe("http", {"kind": "http", "address": url, "tls": {"verify": False}}))


def http_tls_server_name(r: pytest.FixtureRequest) -> None:
    server, pki = r.getfixturevalue("https_server"), r.getfixturevalue("pki")
    url = server.route(f"/{unique_name('opt')}")
    failed(probe("http", {"kind": "http", "address": url,
                          "tls": {"ca": str(pki.ca), "server_name": "wrong.example"}}), Reason.TLS)


def http_tls_cert_key(r: pytest.FixtureRequest) -> None:
    from tests.fixtures.servers import HttpTestServer

    pki, tls = r.getfixturevalue("pki"), r.getfixturevalue("tls_files")
    with HttpTestServer(pki.issue(unique_name("mtls"), days=3)) as server:
        assert server.ssl_context is not None
        server.ssl_context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: a client certificate from the CA
        server.ssl_context.load_verify_locations(str(tls.ca))
        url = server.route("/m")
        ok(probe("http", {"kind": "http", "address": url, "tls": {
            "ca": str(pki.ca), "cert": str(tls.client_cert), "key": str(tls.client_key)}}))
        failed(probe("http", {"kind": "http", "address": url, "tls": {"ca": str(pki.ca)}}), Reason.TLS)


def http_dsn(r: pytest.FixtureRequest) -> None:
    refused({"kind": "http", "address": "http://x/", "dsn": "x"}, "dsn")


def metrics_memory_limit_bytes(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("http_server")
    url = server.route(f"/{unique_name('opt')}", body=PROM)
    params = {"compute": [{"name": "memory_percent", "scale": 100, "ratio": {
        "numerator": "process_resident_memory_bytes", "denominator": {"option": "memory_limit_bytes"}}}]}
    obs = probe("metrics", {"kind": "metrics", "address": url, "options": {"memory_limit_bytes": 1000}}, params)
    assert obs.metrics["memory_percent"] == pytest.approx(25.0)
    failed(probe("metrics", {"kind": "metrics", "address": url}, params), Reason.UNSUPPORTED)


# ------------------------------------------------------------------------------------------------- grpc

def _grpc_tls(r: pytest.FixtureRequest, *, mutual: bool) -> tuple[Any, Any]:
    tls = r.getfixturevalue("tls_files")
    server = GrpcHealthServer(cert=CertPair(tls.server_cert, tls.server_key), client_ca=tls.ca if mutual else None)
    r.addfinalizer(server.stop)
    return server, tls


def grpc_tls_ca(r: pytest.FixtureRequest) -> None:
    server, tls = _grpc_tls(r, mutual=False)
    ok(probe("grpc.health", {"kind": "grpc", "address": server.address, "tls": {"ca": str(tls.ca)}}))
    failed(probe("grpc.health", {"kind": "grpc", "address": server.address, "tls": {"enabled": True}}), Reason.TLS)


def grpc_tls_server_name(r: pytest.FixtureRequest) -> None:
    server, tls = _grpc_tls(r, mutual=False)
    failed(probe("grpc.health", {"kind": "grpc", "address": server.address,
                                 "tls": {"ca": str(tls.ca), "server_name": "wrong.example"}}), Reason.TLS)


def grpc_tls_cert_key(r: pytest.FixtureRequest) -> None:
    server, tls = _grpc_tls(r, mutual=True)
    ok(probe("grpc.health", {"kind": "grpc", "address": server.address, "tls": {
        "ca": str(tls.ca), "cert": str(tls.client_cert), "key": str(tls.client_key)}}))
    failed(probe("grpc.health", {"kind": "grpc", "address": server.address, "tls": {"ca": str(tls.ca)}}),
           Reason.TLS)


def grpc_tls_verify(r: pytest.FixtureRequest) -> None:
    refused({"kind": "grpc", "address": "127.0.0.1:1", "tls": {"verify": False}}, "verify")


def grpc_password(r: pytest.FixtureRequest) -> None:
    refused({"kind": "grpc", "address": "127.0.0.1:1", "password": "x"}, "password")


# -------------------------------------------------------------------------------------- agentrpc, worker

def _tls_host(r: pytest.FixtureRequest) -> tuple[Any, Any]:
    pytest.importorskip("autogen_ext")
    from tests.fixtures.agentrpc_tls import AgentRpcTlsHost

    tls = r.getfixturevalue("tls_files")
    host = AgentRpcTlsHost(tls)
    r.addfinalizer(host.stop)
    return host, tls


def _mtls(tls: Any) -> dict[str, str]:
    return {"ca": str(tls.ca), "cert": str(tls.client_cert), "key": str(tls.client_key)}


def agentrpc_tls_ca(r: pytest.FixtureRequest) -> None:
    host, tls = _tls_host(r)
    ok(probe("agentrpc", {"kind": "agentrpc", "address": host.tls, "tls": {"ca": str(tls.ca)}}))
    failed(probe("agentrpc", {"kind": "agentrpc", "address": host.tls, "tls": {"enabled": True}}), Reason.TLS)


def agentrpc_tls_enabled(r: pytest.FixtureRequest) -> None:
    host, tls = _tls_host(r)  # a TLS client at the plaintext port is refused, where plaintext is OK
    failed(probe("agentrpc", {"kind": "agentrpc", "address": host.plain, "tls": {"ca": str(tls.ca)}}),
           Reason.TLS, Reason.PROTOCOL)
    ok(probe("agentrpc", {"kind": "agentrpc", "address": host.plain, "tls": {"enabled": False, "ca": str(tls.ca)}}))


def agentrpc_tls_cert_key(r: pytest.FixtureRequest) -> None:
    host, tls = _tls_host(r)
    ok(probe("agentrpc", {"kind": "agentrpc", "address": host.mtls, "tls": _mtls(tls)}))
    failed(probe("agentrpc", {"kind": "agentrpc", "address": host.mtls, "tls": {"ca": str(tls.ca)}}),
           Reason.TLS, Reason.AUTH)


def agentrpc_tls_server_name(r: pytest.FixtureRequest) -> None:
    host, tls = _tls_host(r)
    failed(probe("agentrpc", {"kind": "agentrpc", "address": host.tls,
                              "tls": {"ca": str(tls.ca), "server_name": "wrong.example"}}), Reason.TLS)
    ok(probe("agentrpc", {"kind": "agentrpc", "address": host.tls,
                          "tls": {"ca": str(tls.ca), "server_name": "localhost"}}))


def agentrpc_tls_verify(r: pytest.FixtureRequest) -> None:
    refused({"kind": "agentrpc", "address": "127.0.0.1:1", "tls": {"verify": False}}, "verify")


def agentrpc_expect_types(r: pytest.FixtureRequest) -> None:
    host, _ = _tls_host(r)
    obs = probe("agentrpc", {"kind": "agentrpc", "address": host.plain, "options": {"expect_types": ["ghost"]}})
    failed(obs, Reason.ASSERTION)
    assert "ghost" in obs.message


def agentrpc_ping(r: pytest.FixtureRequest) -> None:
    host, _ = _tls_host(r)
    obs = probe("agentrpc", {"kind": "agentrpc", "address": host.plain, "options": {
        "ping": {"type": "ghost", "payload_type": "Ping", "payload": {}}}}, timeout=1.0)
    failed(obs, Reason.ASSERTION)
    assert obs.facts["ping"]["outcome"] == "no_reply"


def agentrpc_username(r: pytest.FixtureRequest) -> None:
    refused({"kind": "agentrpc", "address": "127.0.0.1:1", "username": "x"}, "username")


def _sleeper(r: pytest.FixtureRequest, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    marker = f"agentops-option-sleeper-{unique_name()}"
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", marker], stdin=subprocess.PIPE)

    def stop() -> None:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)

    r.addfinalizer(stop)
    pid_file = tmp_path / "w.pid"
    pid_file.write_text(f"{proc.pid}\n")
    return proc, pid_file


def worker_process(r: pytest.FixtureRequest) -> None:
    proc, pid_file = _sleeper(r, r.getfixturevalue("tmp_path"))
    cmdline = proc.args[-1]  # type: ignore[index]
    for process in ({"pid_file": str(pid_file)}, {"cmdline": cmdline}, {"match": cmdline}):
        obs = probe("worker", {"kind": "worker", "options": {"process": process}})
        ok(obs)
        assert obs.facts["pids"] == [proc.pid], process
    failed(probe("worker", {"kind": "worker", "options": {"process": {"cmdline": "no-such-process-xyz"}}}),
           Reason.ASSERTION)


def worker_host_agent_types(r: pytest.FixtureRequest) -> None:
    host, _ = _tls_host(r)
    obs = probe("worker", {"kind": "worker", "options": {"host": host.plain, "agent_types": ["echo"]}})
    failed(obs, Reason.ASSERTION)
    assert "echo not registered" in obs.message
    failed(probe("worker", {"kind": "worker", "options": {"host": f"127.0.0.1:{free_port()}",
                                                         "agent_types": ["echo"]}}), Reason.CONNECT)


def worker_tls(r: pytest.FixtureRequest) -> None:
    host, tls = _tls_host(r)
    opts = {"host": host.mtls, "agent_types": ["echo"]}
    failed(probe("worker", {"kind": "worker", "options": opts, "tls": _mtls(tls)}), Reason.ASSERTION)
    failed(probe("worker", {"kind": "worker", "options": opts}), Reason.PROTOCOL, Reason.TLS)


def worker_address(r: pytest.FixtureRequest) -> None:
    refused({"kind": "worker", "address": "127.0.0.1:1"}, "address")


# ------------------------------------------------------------------------------- kinds without a client

def tcp_tls(r: pytest.FixtureRequest) -> None:
    refused({"kind": "tcp", "address": "127.0.0.1:1", "tls": {"enabled": True}}, "tls")
    config = r.getfixturevalue("tmp_path") / "agentops.yaml"  # as a user meets it: file:line: field, exit 3
    config.write_text("version: 1\ntargets:\n  - name: port\n    kind: tcp\n    address: 127.0.0.1:1\n"
                      "    tls: {enabled: true}\n")
    result = run_cli("config", "validate", "-c", str(config))
    assert_no_traceback(result)
    assert result.code == 3 and "agentops.yaml:6: targets[0].tls: a tcp target does not use tls" in result.stderr


def dns_password(r: pytest.FixtureRequest) -> None:
    refused({"kind": "dns", "address": "localhost", "password": "x"}, "password")


def icmp_username(r: pytest.FixtureRequest) -> None:
    refused({"kind": "icmp", "address": "127.0.0.1", "username": "x"}, "username")


def host_address(r: pytest.FixtureRequest) -> None:
    refused({"kind": "host", "address": "10.0.0.1"}, "address")


# ----------------------------------------------------------------------------- every kind, and defaults

def _health(r: pytest.FixtureRequest, doc: dict[str, Any]) -> Any:
    config = r.getfixturevalue("tmp_path") / f"{unique_name('cfg')}.yaml"
    config.write_text(json.dumps(doc))
    result = run_cli("health", "-c", str(config), "--only", "net.tcp", "-o", "json")
    assert_no_traceback(result)
    return result.json()


def _tcp(**extra: Any) -> dict[str, Any]:
    return {"name": "port", "kind": "tcp", "address": f"127.0.0.1:{extra.pop('port')}", **extra}


def any_labels(r: pytest.FixtureRequest) -> None:
    port = r.getfixturevalue("http_server").port
    doc = {"version": 1, "packs": [], "checks": [{"id": "net.tcp", "probe": "net.tcp", "target": "port"}]}
    labelled = _health(r, {**doc, "targets": [_tcp(port=port, labels={"team": "agents", "tier": "1"})]})
    assert labelled["results"][0]["facts"]["labels"] == {"team": "agents", "tier": "1"}
    plain = _health(r, {**doc, "targets": [_tcp(port=port)]})
    assert "labels" not in plain["results"][0]["facts"]


def defaults_timeout(r: pytest.FixtureRequest) -> None:
    port = r.getfixturevalue("silent_listener").port
    doc = {"version": 1, "packs": [], "targets": [{"name": "port", "kind": "agentrpc", "address": f"127.0.0.1:{port}"}],
           "checks": [{"id": "net.tcp", "probe": "agentrpc", "target": "port"}]}
    short = _health(r, {**doc, "defaults": {"timeout": 0.3}})["results"][0]
    longer = _health(r, {**doc, "defaults": {"timeout": 0.6}})["results"][0]
    assert short["reason"] == longer["reason"] == "timeout"
    assert "0.3s" in short["message"] and "0.6s" in longer["message"]


def defaults_retries(r: pytest.FixtureRequest) -> None:
    doc = {"version": 1, "packs": [], "targets": [_tcp(port=free_port())],
           "checks": [{"id": "net.tcp", "probe": "net.tcp", "target": "port"}]}
    once = _health(r, doc)["results"][0]
    twice = _health(r, {**doc, "defaults": {"retries": 1, "retry_delay": 0}})["results"][0]
    assert (once["attempts"], twice["attempts"]) == (1, 2)


CASES: dict[str, Callable[[pytest.FixtureRequest], None]] = {
    name: fn for name, fn in list(globals().items())
    if callable(fn) and name.split("_", 1)[0] in ("redis", "postgres", "http", "metrics", "grpc", "agentrpc",
                                                  "worker", "tcp", "dns", "icmp", "host", "any", "defaults")
    and not name.startswith("_")
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_option(case: str, request: pytest.FixtureRequest) -> None:
    CASES[case](request)
