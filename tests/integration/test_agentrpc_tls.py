"""TLS and mutual TLS for agentrpc targets, against the real AutoGen host servicer served on TLS ports
(tests/fixtures/agentrpc_tls.py: autogen-ext's GrpcWorkerAgentRuntimeHostServicer in a grpc.aio server with
ssl_server_credentials; certificates from the suite's openssl-made test CA)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from agentops.autogen.client import AgentRpcClient
from agentops.core.config import Target, TLSOptions
from agentops.core.model import Reason
from tests.fixtures.agentrpc_tls import AgentRpcTlsHost
from tests.fixtures.common import assert_no_traceback, run_cli
from tests.fixtures.servers import Pki, run_probe
from tests.fixtures.services import TlsFiles

pytest.importorskip("autogen_ext")
pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def tls_host(tls_files: TlsFiles) -> Iterator[AgentRpcTlsHost]:
    with AgentRpcTlsHost(tls_files) as host:
        yield host


def target(address: str, tls: TLSOptions | None = None) -> Target:
    return Target(name="h", kind="agentrpc", address=address, tls=tls or TLSOptions())


def verified(tls_files: TlsFiles, **kw: object) -> TLSOptions:
    return TLSOptions(enabled=True, ca=str(tls_files.ca), **kw)  # type: ignore[arg-type]


def mutual(tls_files: TlsFiles) -> TLSOptions:
    return verified(tls_files, cert=str(tls_files.client_cert), key=str(tls_files.client_key))


def test_tls_with_the_ca_is_ok(tls_host, tls_files):
    obs = run_probe("agentrpc", target(tls_host.tls, verified(tls_files)))
    assert obs.reason is None, obs.message
    assert obs.metrics["subscriptions"] == 0 and obs.metrics["connect_ms"] > 0


def test_mutual_tls_runs_every_client_operation(tls_host, tls_files):
    async def go():
        async with AgentRpcClient.for_target(target(tls_host.mtls, mutual(tls_files))) as client:
            inv = await client.inventory(3)
            # ownership opens the OpenChannel stream, registers and answers its own request over it
            own = await client.ownership("tls-probe-type", 3)
            return inv, own

    inv, own = asyncio.run(go())
    assert inv.agent_types == [] and not own.owned and own.released


def test_wrong_ca_is_tls(tls_host, pki: Pki):
    other = pki.self_signed("agentrpc-other-ca", days=3)  # a certificate no one signed the server with
    obs = run_probe("agentrpc", target(tls_host.tls, TLSOptions(enabled=True, ca=str(other.cert))))
    assert obs.reason is Reason.TLS, obs.message
    assert "certificate" in obs.message.lower()


def test_system_trust_store_does_not_know_the_test_ca(tls_host):
    obs = run_probe("agentrpc", target(tls_host.tls, TLSOptions(enabled=True)))
    assert obs.reason is Reason.TLS, obs.message


def test_server_name_mismatch_is_tls(tls_host, tls_files):
    obs = run_probe("agentrpc", target(tls_host.tls, verified(tls_files, server_name="wrong.example")))
    assert obs.reason is Reason.TLS, obs.message
    assert "wrong.example" in obs.message


def test_mutual_tls_required_and_no_client_certificate_is_tls(tls_host, tls_files):
    obs = run_probe("agentrpc", target(tls_host.mtls, verified(tls_files)))
    assert obs.reason in (Reason.TLS, Reason.AUTH), obs.message
    assert "client certificate" in obs.message


def test_tls_client_at_a_plaintext_host_is_not_ok(tls_host, tls_files):
    obs = run_probe("agentrpc", target(tls_host.plain, verified(tls_files)))
    assert obs.reason in (Reason.TLS, Reason.PROTOCOL), obs.message


@pytest.mark.parametrize("port", ["tls", "mtls"])
def test_plain_client_at_a_tls_host_is_protocol_not_connect(tls_host, port):
    obs = run_probe("agentrpc", target(getattr(tls_host, port)))
    assert obs.reason in (Reason.TLS, Reason.PROTOCOL), obs.message
    assert "TLS" in obs.message  # the hint: set tls in the target


def test_an_unreadable_ca_file_is_tls(tls_host, tmp_path):
    obs = run_probe("agentrpc", target(tls_host.tls, TLSOptions(enabled=True, ca=str(tmp_path / "none.pem"))))
    assert obs.reason is Reason.TLS, obs.message
    assert "none.pem" in obs.message


def test_cluster_inventory_uses_the_targets_tls(tls_host, tls_files, tmp_path):
    config = tmp_path / "agentops.yaml"
    config.write_text(json.dumps({"version": 1, "targets": [
        {"name": "tls-host", "kind": "agentrpc", "address": tls_host.mtls,
         "tls": {"ca": str(tls_files.ca), "cert": str(tls_files.client_cert), "key": str(tls_files.client_key)}},
    ]}))
    result = run_cli("cluster", "inventory", "-c", str(config), "-o", "json")
    assert_no_traceback(result)
    assert result.code == 0, result.stdout + result.stderr


def _tls_config(tmp_path, address: str, tls_files: TlsFiles, *, tls: bool = True) -> str:
    host = {"name": "tls-host", "kind": "agentrpc", "address": address,
            "options": {"ping": {"type": "nobody", "payload_type": "Ping", "payload": {}}}}
    if tls:
        host["tls"] = {"ca": str(tls_files.ca), "cert": str(tls_files.client_cert), "key": str(tls_files.client_key)}
    config = tmp_path / f"agentops-{'tls' if tls else 'plain'}.yaml"
    config.write_text(json.dumps({"version": 1, "targets": [host]}))
    return str(config)


@pytest.mark.parametrize("tls", [True, False])
def test_load_opens_its_stream_with_the_targets_tls(tls_host, tls_files, tmp_path, tls):
    config = _tls_config(tmp_path, tls_host.mtls, tls_files, tls=tls)
    result = run_cli("load", "-c", config, "--to", "nobody", "-C", "1", "-n", "1", "--timeout", "0.2",
                     "-o", "json")
    assert_no_traceback(result)
    run = next(r for r in result.json()["results"] if r["id"] == "load.run")
    if tls:  # the stream opened over mTLS; nobody answers the one request
        assert run["reason"] not in ("tls", "protocol", "connect"), run
        assert run["metrics"]["missing"] == 1
    else:
        assert run["reason"] in ("tls", "protocol"), run


def test_diagnose_reaches_a_tls_host_through_its_channel_layer(tls_host, tls_files, tmp_path):
    config = _tls_config(tmp_path, tls_host.mtls, tls_files)
    result = run_cli("diagnose", "message", "-c", config, "--to", "nobody", "-o", "json")
    assert_no_traceback(result)
    by_id = {r["id"]: r for r in result.json()["results"]}
    assert by_id["agentrpc.channel"]["status"] == "OK", by_id["agentrpc.channel"]
    assert by_id["agentrpc.inventory"]["status"] == "OK", by_id["agentrpc.inventory"]


def test_a_worker_target_asks_its_host_with_its_tls(tls_host, tls_files):
    def worker(tls: TLSOptions) -> Target:
        return Target(name="w", kind="worker", tls=tls, where="test:1",
                      options={"host": tls_host.mtls, "agent_types": ["echo"]})

    obs = run_probe("worker", worker(mutual(tls_files)))
    assert obs.reason is Reason.ASSERTION and "echo not registered" in obs.message, obs.message
    plain = run_probe("worker", worker(TLSOptions()))
    assert plain.reason in (Reason.TLS, Reason.PROTOCOL), plain.message
