"""The grpc.health probe against real grpcio servers: grpcio-health-checking's HealthServicer with services
set SERVING / NOT_SERVING, a server without the health service (as an AutoGen host), refused and silent
ports, and TLS / mutual TLS with the suite's test CA."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentops.core.config import Target, TLSOptions
from agentops.core.model import Reason
from agentops.probes.grpc_health import NO_HEALTH_SERVICE
from tests.fixtures.common import assert_no_traceback, free_port, run_cli
from tests.fixtures.servers import CertPair, GrpcHealthServer, run_probe, unique_name
from tests.fixtures.services import TlsFiles


def check(address: str, services: list[str] | None = None, timeout: float = 3.0, tls: TLSOptions | None = None):
    target = Target(name="svc", kind="grpc", address=address, tls=tls or TLSOptions())
    return run_probe("grpc.health", target, {"services": services} if services is not None else {}, timeout)


def test_server_serving_by_default(grpc_health_server):
    obs = check(grpc_health_server.address)
    assert not obs.failed, obs.message
    assert obs.metrics["serving"] == 1
    assert obs.metrics["latency_ms"] > 0
    assert obs.facts["states"] == {"": "SERVING"}


def test_each_listed_service_is_checked(grpc_health_server):
    up, down = unique_name("echo.Echo"), unique_name("store.Store")
    grpc_health_server.set(up, True)
    grpc_health_server.set(down, False)
    obs = check(grpc_health_server.address, ["", up, down])
    assert obs.reason is Reason.ASSERTION
    assert obs.message == f"service {down!r} is NOT_SERVING"
    assert obs.metrics["serving"] == 1
    assert obs.metrics[f"serving:{up}"] == 1
    assert obs.metrics[f"serving:{down}"] == 0
    grpc_health_server.set(down, True)  # it recovers: the same check passes
    assert not check(grpc_health_server.address, ["", up, down]).failed


def test_unknown_service(grpc_health_server):
    name = unique_name("nobody.Knows")
    obs = check(grpc_health_server.address, [name])
    assert obs.reason is Reason.ASSERTION
    assert obs.message == f"service {name!r} is unknown to the server (SERVICE_UNKNOWN)"
    assert obs.metrics[f"serving:{name}"] == 0


def test_server_without_health_service_says_so(grpc_bare_server):
    obs = check(grpc_bare_server.address)
    assert obs.reason is Reason.PROTOCOL
    assert obs.message == f"{grpc_bare_server.address}: {NO_HEALTH_SERVICE}"


def test_refused_is_connect():
    address = f"127.0.0.1:{free_port()}"
    obs = check(address)
    assert obs.reason is Reason.CONNECT
    assert obs.message.startswith(address)


def test_stopped_server_is_connect():
    server = GrpcHealthServer()
    assert not check(server.address).failed
    server.stop()
    assert check(server.address).reason is Reason.CONNECT


def test_silent_listener_is_a_timeout(silent_listener):
    obs = check(f"127.0.0.1:{silent_listener.port}", timeout=0.5)
    assert obs.reason is Reason.TIMEOUT
    assert "no answer within 0.5s" in obs.message


# ---------------------------------------------------------------------------------------------------- TLS

@pytest.fixture(scope="module")
def grpc_tls_server(tls_files: TlsFiles) -> Iterator[GrpcHealthServer]:
    with GrpcHealthServer(cert=CertPair(tls_files.server_cert, tls_files.server_key)) as server:
        yield server


@pytest.fixture(scope="module")
def grpc_mtls_server(tls_files: TlsFiles) -> Iterator[GrpcHealthServer]:
    with GrpcHealthServer(cert=CertPair(tls_files.server_cert, tls_files.server_key),
                          client_ca=tls_files.ca) as server:
        yield server


def test_tls_with_the_ca(grpc_tls_server, tls_files):
    obs = check(grpc_tls_server.address, tls=TLSOptions(enabled=True, ca=str(tls_files.ca)))
    assert not obs.failed, obs.message
    assert obs.metrics["serving"] == 1


def test_tls_server_not_trusted_is_tls(grpc_tls_server):
    obs = check(grpc_tls_server.address, tls=TLSOptions(enabled=True))  # system roots do not know the test CA
    assert obs.reason is Reason.TLS, obs.message


def test_tls_server_name_mismatch_is_tls(grpc_tls_server, tls_files):
    obs = check(grpc_tls_server.address, tls=TLSOptions(enabled=True, ca=str(tls_files.ca),
                                                        server_name="wrong.example"))
    assert obs.reason is Reason.TLS, obs.message


def test_tls_client_against_plaintext_server_is_tls(grpc_health_server, tls_files):
    obs = check(grpc_health_server.address, tls=TLSOptions(enabled=True, ca=str(tls_files.ca)))
    assert obs.reason is Reason.TLS, obs.message


def test_mutual_tls(grpc_mtls_server, tls_files):
    with_cert = TLSOptions(enabled=True, ca=str(tls_files.ca), cert=str(tls_files.client_cert),
                           key=str(tls_files.client_key))
    assert not check(grpc_mtls_server.address, tls=with_cert).failed
    obs = check(grpc_mtls_server.address, tls=TLSOptions(enabled=True, ca=str(tls_files.ca)))
    assert obs.reason is Reason.TLS, obs.message  # the server hangs up on a client without a certificate
    assert "client certificate" in obs.message


def test_plaintext_client_against_tls_server_is_protocol_with_a_tls_hint(grpc_tls_server):
    obs = check(grpc_tls_server.address)
    assert obs.reason is Reason.PROTOCOL, obs.message  # the TCP connection was made: not `connect`
    assert obs.message.endswith("(a TLS port? set tls in the target)")


def test_unreadable_tls_file_and_skip_verify_are_clear(grpc_tls_server, tmp_path):
    obs = check(grpc_tls_server.address, tls=TLSOptions(enabled=True, ca=str(tmp_path / "none.pem")))
    assert obs.reason is Reason.TLS
    assert obs.message == f"cannot read TLS CA file {tmp_path / 'none.pem'}: file not found"
    obs = check(grpc_tls_server.address, tls=TLSOptions(enabled=True, verify=False))
    assert obs.reason is Reason.TLS and "tls.verify: false" in obs.message


@pytest.mark.parametrize(("params", "error"), [
    ({"services": "echo"}, "services: expected a list"),
    ({"services": []}, "services: expected a list"),
    ({"service": ["x"]}, "unknown param 'service'"),
])
def test_bad_params(params, error):
    from agentops.core import registry

    with pytest.raises(ValueError, match=error):
        registry.probe("grpc.health").validate_params(params)


# ------------------------------------------------------------------------------ the grpc pack, end to end

def test_grpc_pack_through_the_cli(grpc_health_server, grpc_bare_server, tmp_path):
    import yaml

    targets = [
        {"name": "serving", "kind": "grpc", "address": grpc_health_server.address},
        {"name": "autogen-like", "kind": "grpc", "address": grpc_bare_server.address},
        {"name": "gone", "kind": "grpc", "address": f"127.0.0.1:{free_port()}"},
    ]
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text(yaml.safe_dump({"version": 1, "targets": targets, "packs": ["grpc"]}))
    result = run_cli("health", "-c", str(cfg), "-o", "json", "--only", "grpc.health")
    assert_no_traceback(result)
    by_target = {r["target"]: r for r in result.json()["results"]}
    assert {t: (r["status"], r["reason"]) for t, r in by_target.items()} == {
        "serving": ("OK", None), "autogen-like": ("CRITICAL", "protocol"), "gone": ("CRITICAL", "connect")}
    assert by_target["autogen-like"]["message"].endswith(NO_HEALTH_SERVICE)
    assert by_target["serving"]["metrics"]["serving"] == 1
    assert result.code == 2
    assert "absl" not in result.stderr and "ssl_transport_security" not in result.stderr
