"""A plaintext client at a TLS port is `tls` or `protocol` (with a hint to set tls), never `connect`: the TCP
connection was made, so the port is not refused, and an operator must not go looking for a dead server. One
case per target kind that can have TLS, each against a real TLS-only server."""

from __future__ import annotations

import shutil

import pytest

from agentops.core.config import Target
from agentops.core.model import Reason
from tests.fixtures.servers import CertPair, GrpcHealthServer, run_probe
from tests.fixtures.services import TlsFiles, _private_tmpdir

NOT_CONNECT = (Reason.TLS, Reason.PROTOCOL)


def assert_tls_or_protocol(obs) -> None:
    assert obs.reason in NOT_CONNECT, f"{obs.reason}: {obs.message}"
    assert "tls" in obs.message.lower(), obs.message  # says what to do: speak TLS


@pytest.mark.lab
def test_agentrpc(tls_files: TlsFiles):
    pytest.importorskip("autogen_ext")
    from tests.fixtures.agentrpc_tls import AgentRpcTlsHost

    with AgentRpcTlsHost(tls_files) as host:
        assert_tls_or_protocol(run_probe("agentrpc", Target(name="h", kind="agentrpc", address=host.tls)))


def test_grpc_health(tls_files: TlsFiles):
    with GrpcHealthServer(cert=CertPair(tls_files.server_cert, tls_files.server_key)) as server:
        assert_tls_or_protocol(run_probe("grpc.health", Target(name="g", kind="grpc", address=server.address)))


def test_http(https_server):
    url = https_server.route("/plain-at-tls").replace("https://", "http://")
    assert_tls_or_protocol(run_probe("http", Target(name="w", kind="http", address=url)))


def test_redis(redis_factory, tls_files: TlsFiles):
    server = redis_factory(tls=tls_files)
    assert_tls_or_protocol(run_probe("redis", Target(name="r", kind="redis", address=server.address)))


def test_postgres(postgres_factory, tls_files: TlsFiles):
    # TLS-only: PostgreSQL negotiates TLS on its one port, so "a TLS port" is a server whose pg_hba.conf
    # accepts TCP clients only over TLS (hostssl), as a production server that requires TLS does.
    hba_dir = _private_tmpdir("agentops-hba-")  # readable by the server's own OS user
    hba = hba_dir / "pg_hba.conf"
    hba.write_text("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n")
    hba.chmod(0o644)
    try:
        server = postgres_factory(tls=tls_files, settings={"hba_file": str(hba)})
    finally:
        shutil.rmtree(hba_dir, ignore_errors=True)  # read once at start-up
    target = Target(name="db", kind="postgres", address=f"127.0.0.1:{server.port}", username=server.user,
                    options={"sslmode": "disable"}, secret_sources={"password": ("inline", server.password)})
    assert_tls_or_protocol(run_probe("postgres", target))
