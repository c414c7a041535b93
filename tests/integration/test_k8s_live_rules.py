"""`agentops k8s audit --scrape` rules that measure what the cluster serves, not only what the API says:
worker pods against the live AgentRpc host's owners, and the certificate each Ingress TLS host serves.

The pods are objects the stand-in API server serves (tests/fixtures/kube_api.py stands in for a cluster: no
kube-apiserver, kind, k3s or Docker can run on these machines); what they point at is real: the AutoGen lab's
host and workers (tests/fixtures/lab.py: its host pod's IP is 127.0.0.1 and its agentrpc port the lab host's),
and a real TLS server on loopback serving, by SNI, certificates issued for 5 and for 300 days."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import k8s_objects as k
from tests.fixtures.common import assert_no_traceback, free_port, run_cli
from tests.fixtures.kube_api import KubeApi
from tests.fixtures.lab import LabHandle
from tests.fixtures.report_schema import validate_report
from tests.fixtures.servers import Pki

W1_TYPES, W2_TYPES = "echo,slow,leak", "failing,none,echo2"  # agentops.lab.layout.DEFAULT_WORKERS


def audit(*args: str) -> Any:
    r = run_cli("k8s", "audit", *args)
    assert_no_traceback(r)
    return r


def by_check(doc: dict[str, Any], check: str) -> dict[str, dict[str, Any]]:
    return {r["target"]: r for r in doc["results"] if r["id"] == check}


def _obj(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def lab_namespace(lab_port: int) -> list[dict[str, Any]]:
    """The healthy namespace with the lab behind it: the host pod at 127.0.0.1:<lab port>, worker 1 and 2
    declaring the lab workers' types, and a third worker, Ready, declaring a type no lab worker registers."""
    objs = k.healthy_namespace()
    host_pod = _obj(objs, "Pod", "agent-host-5d8f-a")
    host_pod["status"]["podIP"] = "127.0.0.1"
    host_pod["spec"]["containers"][0]["ports"][0]["containerPort"] = lab_port
    for i, types in ((1, W1_TYPES), (2, W2_TYPES)):
        w = _obj(objs, "Deployment", f"agent-worker-{i}")
        w["spec"]["template"]["metadata"]["annotations"]["agentops.io/agent-types"] = types
        _obj(objs, "Pod", f"agent-worker-{i}-5d8f-a")["status"]["podIP"] = "127.0.0.1"
    wc = _obj(objs, "Deployment", "agent-worker-2")["spec"]["template"]["spec"]["containers"]
    labels = {**k.WORKER, "agentops.io/worker": "w3"}
    w3 = k.deployment("agent-worker-3", labels, wc, annotations={"agentops.io/agent-types": "planner"})
    objs += [w3, k.pod("agent-worker-3-5d8f-a", w3, labels, wc, ip="127.0.0.1")]
    return objs


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[Any]:
    servers: list[KubeApi] = []

    def serve(objs: list[dict[str, Any]]) -> str:
        server = KubeApi(objs).__enter__()
        servers.append(server)
        where = tmp_path / str(len(servers))
        where.mkdir()
        return str(server.kubeconfig(where, namespace=k.NS))

    yield serve
    for s in servers:
        s.__exit__(None, None, None)


def test_worker_pods_are_matched_to_the_hosts_owners(lab: LabHandle, kube: Any) -> None:
    kc = kube(lab_namespace(lab.port))
    without = audit("--kubeconfig", kc, "-o", "json").json()
    assert not by_check(without, "autogen.worker_owns_types") and not by_check(without, "autogen.type_owner")

    r = audit("--kubeconfig", kc, "--scrape", "--timeout", "10", "-o", "json")
    doc = r.json()
    validate_report(doc)
    pods = by_check(doc, "autogen.worker_owns_types")
    w1, w2, w3 = (pods[f"{k.NS}/pod/agent-worker-{i}-5d8f-a"] for i in (1, 2, 3))
    assert w1["status"] == "OK" and w1["metrics"] == {"declared_types": 3, "owned_types": 3}
    # the host names the owner by the client id the lab worker recorded at start
    assert w1["facts"]["owner_client_ids"] == [lab.client_id("w1")]
    assert w2["status"] == "OK" and w2["facts"]["owner_client_ids"] == [lab.client_id("w2")]
    assert w3["status"] == "CRITICAL" and w3["metrics"]["owned_types"] == 0 and w3["facts"]["not_owned"] == ["planner"]
    types = by_check(doc, "autogen.type_owner")
    assert types[f"{k.NS}/agent-type/echo"]["status"] == "OK"
    assert types[f"{k.NS}/agent-type/echo"]["facts"]["owner_client_id"] == lab.client_id("w1")
    planner = types[f"{k.NS}/agent-type/planner"]
    assert planner["status"] == "CRITICAL" and planner["metrics"] == {"live_owner_pods": 0, "owned_on_host": 0}
    assert planner["facts"]["declared_by"] == ["agent-worker-3-5d8f-a"]
    assert r.code == 2
    # asking about the free type held it for a few ms only: the host still has no owner for it
    again = by_check(audit("--kubeconfig", kc, "--scrape", "-o", "json").json(), "autogen.type_owner")
    assert again[f"{k.NS}/agent-type/planner"]["metrics"]["owned_on_host"] == 0


def test_a_type_owned_by_a_client_that_is_no_ready_pod(lab: LabHandle, kube: Any) -> None:
    """Worker 2's pod is not Ready (its container crash-looping) while the host still routes its types to a
    live client: none of those types has a live owner pod, and the pod is not judged as serving."""
    objs = lab_namespace(lab.port)
    pod2 = _obj(objs, "Pod", "agent-worker-2-5d8f-a")
    pod2["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    doc = audit("--kubeconfig", kube(objs), "--scrape", "-o", "json").json()
    types = by_check(doc, "autogen.type_owner")
    for t in W2_TYPES.split(","):
        got = types[f"{k.NS}/agent-type/{t}"]
        assert got["status"] == "CRITICAL" and got["metrics"] == {"live_owner_pods": 0, "owned_on_host": 1}, t
        assert got["facts"]["owner_client_id"] == lab.client_id("w2") and got["facts"]["ready_pods"] == []
    assert f"{k.NS}/pod/agent-worker-2-5d8f-a" not in by_check(doc, "autogen.worker_owns_types")
    assert types[f"{k.NS}/agent-type/echo"]["status"] == "OK"


def test_replicas_declaring_the_same_types_cannot_be_told_apart(lab: LabHandle, kube: Any) -> None:
    objs = lab_namespace(lab.port)
    w1 = _obj(objs, "Deployment", "agent-worker-1")
    labels = w1["spec"]["template"]["metadata"]["labels"]
    objs.append(k.pod("agent-worker-1-5d8f-b", w1, labels, w1["spec"]["template"]["spec"]["containers"],
                      ip="127.0.0.2"))
    pods = by_check(audit("--kubeconfig", kube(objs), "--scrape", "-o", "json").json(), "autogen.worker_owns_types")
    for name in ("agent-worker-1-5d8f-a", "agent-worker-1-5d8f-b"):
        got = pods[f"{k.NS}/pod/{name}"]
        assert got["status"] == "UNKNOWN" and "cannot tell" in got["message"], got
        assert lab.client_id("w1") in got["message"]


def test_an_unreachable_host_is_cannot_tell_never_ok(kube: Any) -> None:
    objs = lab_namespace(free_port())  # the host pod's port: nothing listens there
    kc = kube(objs)
    for extra in ([], ["--agentrpc-host", f"127.0.0.1:{free_port()}"]):
        r = audit("--kubeconfig", kc, "--scrape", "--timeout", "5", *extra, "-o", "json")
        doc = r.json()
        validate_report(doc)
        live = [*by_check(doc, "autogen.worker_owns_types").values(), *by_check(doc, "autogen.type_owner").values()]
        assert len(live) == 3 + 7  # three Ready declaring pods; the seven types they declare
        assert {(x["status"], x["reason"]) for x in live} == {("UNKNOWN", "connect")}, live
        assert all(x["message"].startswith("cannot tell") for x in live)
        assert r.code == 3


def test_bad_overrides_are_one_line_usage_errors(kube: Any) -> None:
    kc = kube(k.healthy_namespace())
    r = audit("--kubeconfig", kc, "--agentrpc-host", "127.0.0.1:1")
    assert r.code == 3 and r.stderr.count("\n") == 1 and "--scrape" in r.stderr
    for flag, value, words in (("--agentrpc-host", "hostonly", "has no port"),
                               ("--agentrpc-host", "h:notaport", "not a number"),
                               ("--ingress-address", "h:70000", "out of range")):
        r = audit("--kubeconfig", kc, "--scrape", flag, value)
        assert r.code == 3 and r.stdout == "" and r.stderr.count("\n") == 1, r
        assert r.stderr.startswith(f"agentops: error: {flag}") and words in r.stderr, r.stderr


# --- Ingress certificates ---------------------------------------------------------------------------------


class SniTlsServer:
    """A real TLS server on a free loopback port that picks its certificate by the client's SNI, as an Ingress
    controller does for the hosts of its Ingresses; it completes the handshake and closes."""

    def __init__(self, certs: dict[str, Any]) -> None:
        self.contexts = {}
        for name, pair in certs.items():
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(pair.cert), str(pair.key))
            self.contexts[name] = ctx
        first = next(iter(self.contexts.values()))
        self.default = first
        first.sni_callback = self._pick
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _pick(self, sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        if name in self.contexts:
            sock.context = self.contexts[name]

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            try:
                with self.default.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)  # until the client closes
            except (OSError, ssl.SSLError):
                conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.sock.close()
        self.thread.join(timeout=10)


def tls_ingress(name: str, hosts: list[str], lb: dict[str, Any] | None = None) -> dict[str, Any]:
    ing = k.ingress(name, f"{name}-tls")
    ing["spec"]["tls"] = [{"hosts": hosts, "secretName": f"{name}-tls"}]
    ing["spec"]["rules"] = [{"host": h} for h in hosts]
    if lb is not None:
        ing["status"] = {"loadBalancer": {"ingress": [lb]}}
    return ing


def test_ingress_certificates_are_read_at_the_ingress_address_by_sni(pki: Pki, kube: Any) -> None:
    soon, later = pki.issue("ing-soon", days=5), pki.issue("ing-later", days=300)
    server = SniTlsServer({"later.example.com": later, "soon.example.com": soon})
    try:
        objs = k.healthy_namespace()
        objs = [o for o in objs if o["kind"] != "Ingress"]
        objs += [tls_ingress("web", ["later.example.com", "soon.example.com"],
                             {"ip": "127.0.0.1", "ports": [{"port": server.port, "protocol": "TCP"}]}),
                 tls_ingress("closed", ["shop.example.com"], {"ip": "127.0.0.1", "ports": [{"port": free_port()}]}),
                 tls_ingress("fresh", ["new.example.com"]),  # no address yet
                 k.secret("web-tls", {}), k.secret("closed-tls", {}), k.secret("fresh-tls", {})]
        kc = kube(objs)
        r = audit("--kubeconfig", kc, "--scrape", "--timeout", "5", "-o", "json")
        doc = r.json()
        validate_report(doc)
        certs = by_check(doc, "k8s.ingress_cert")
        ok, near = certs[f"{k.NS}/ingress/web/later.example.com"], certs[f"{k.NS}/ingress/web/soon.example.com"]
        assert ok["status"] == "OK" and 299 < ok["metrics"]["cert_days_left"] <= 300
        assert near["status"] == "CRITICAL" and 4 < near["metrics"]["cert_days_left"] <= 5
        assert near["facts"]["sni"] == "soon.example.com" and near["facts"]["address"] == f"127.0.0.1:{server.port}"
        closed, fresh = certs[f"{k.NS}/ingress/closed/shop.example.com"], certs[f"{k.NS}/ingress/fresh/new.example.com"]
        assert (closed["status"], closed["reason"]) == ("UNKNOWN", "connect")
        assert (fresh["status"], fresh["reason"]) == ("UNKNOWN", "unsupported") and "loadBalancer" in fresh["message"]
        # --ingress-address replaces every Ingress's address (a port-forward to the controller)
        over = by_check(audit("--kubeconfig", kc, "--scrape", "--ingress-address", f"127.0.0.1:{server.port}",
                              "-o", "json").json(), "k8s.ingress_cert")
        assert over[f"{k.NS}/ingress/fresh/new.example.com"]["status"] == "OK"  # the default certificate
        assert over[f"{k.NS}/ingress/web/soon.example.com"]["status"] == "CRITICAL"
        without = audit("--kubeconfig", kc, "-o", "json").json()
        assert not by_check(without, "k8s.ingress_cert")
    finally:
        server.stop()


def test_after_a_host_restart_every_ready_worker_pod_owns_nothing(fresh_lab: LabHandle, kube: Any) -> None:
    """The fault the rule exists for, made for real: the host restarts, the workers stay up (and Ready: the
    kubelet sees a live process) but never register again, so every request to their types goes unanswered."""
    fresh_lab.restart("host")  # returns once the new host answers, with an empty registry
    doc = audit("--kubeconfig", kube(lab_namespace(fresh_lab.port)), "--scrape", "-o", "json").json()
    pods = by_check(doc, "autogen.worker_owns_types")
    for i in (1, 2, 3):
        got = pods[f"{k.NS}/pod/agent-worker-{i}-5d8f-a"]
        assert got["status"] == "CRITICAL" and got["metrics"]["owned_types"] == 0, got
    assert "routes none of echo, slow, leak" in pods[f"{k.NS}/pod/agent-worker-1-5d8f-a"]["message"]
    types = by_check(doc, "autogen.type_owner")
    assert {t.rsplit("/", 1)[1] for t, x in types.items() if x["status"] == "CRITICAL"} >= {
        *W1_TYPES.split(","), *W2_TYPES.split(","), "planner"}
