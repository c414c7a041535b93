"""Kubernetes access against the stand-in API server (tests/fixtures/kube_api.py).

This stands in for a cluster: no kube-apiserver, kind, k3s or Docker can be installed or run on these
machines. The stand-in speaks the API server's wire format (discovery, lists with label/field selectors, get,
pods/{name}/log, Status errors), and it is checked here with the real clients of that format, the
`kubernetes` Python client and `kubectl`, before agentops' own access (agentops.k8s.access) is tested against
it: kubeconfig contexts and namespaces, a bearer token, an exec auth plugin, the in-cluster service account
over TLS, refusals (401, 403, 404) and deadlines (a server that accepts and never answers).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentops.core.model import Reason
from agentops.k8s.access import KubeAccess, KubeClient, KubeError
from agentops.k8s.resources import RESOURCES
from agentops.k8s.snapshot import read_api
from tests.fixtures import k8s_objects as k
from tests.fixtures.common import free_port
from tests.fixtures.kube_api import KubeApi

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")


@pytest.fixture
def api() -> Any:
    with KubeApi([*k.healthy_namespace(), k.event(k.healthy_namespace()[0], "BackOff", "x")],
                 forbidden={"secrets"}) as server:
        now = time.time()
        server.state.logs[(k.NS, "agent-worker-1-5d8f-a", "worker", False)] = [
            (now - 3600, "started an hour ago"), (now - 5, "worker w1 ready")]
        server.state.logs[(k.NS, "agent-worker-1-5d8f-a", "worker", True)] = [
            (now - 4000, "ValueError: Agent type echo already registered")]
        yield server


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "--request-timeout=20s", *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def kubeconfig_for(directory: Path, server: str) -> Path:
    """A kubeconfig for a server that is not the stand-in (a silent socket, a closed port)."""
    kc = directory / "kubeconfig"
    kc.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                              "clusters": [{"name": "s", "cluster": {"server": server}}],
                              "users": [{"name": "u", "user": {}}],
                              "contexts": [{"name": "c", "context": {"cluster": "s", "user": "u"}}]}))
    return kc


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- the stand-in, through the real clients --------------------------------------------------------------


def test_the_kubernetes_client_reads_the_stand_in(api: KubeApi, tmp_path: Path) -> None:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    api_client = config.new_client_from_config(str(api.kubeconfig(tmp_path, namespace=k.NS)))
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    pods = core.list_namespaced_pod(k.NS, label_selector="app.kubernetes.io/component=agent-worker",
                                    _request_timeout=10)
    assert sorted(p.metadata.name for p in pods.items) == ["agent-worker-1-5d8f-a", "agent-worker-2-5d8f-a"]
    in_set = core.list_namespaced_pod(k.NS, label_selector="agentops.io/worker in (w2, w9)", _request_timeout=10)
    assert [p.metadata.name for p in in_set.items] == ["agent-worker-2-5d8f-a"]
    by_field = core.list_pod_for_all_namespaces(field_selector="metadata.name=redis-0", _request_timeout=10)
    assert [p.metadata.name for p in by_field.items] == ["redis-0"]
    assert apps.read_namespaced_deployment("agent-host", k.NS, _request_timeout=10).spec.replicas == 1
    log = core.read_namespaced_pod_log("agent-worker-1-5d8f-a", k.NS, since_seconds=60, _request_timeout=10)
    assert log == "worker w1 ready\n"
    previous = core.read_namespaced_pod_log("agent-worker-1-5d8f-a", k.NS, previous=True, _request_timeout=10)
    assert "already registered" in previous
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("nope", k.NS, _request_timeout=10)
    assert missing.value.status == 404 and json.loads(missing.value.body)["reason"] == "NotFound"
    with pytest.raises(ApiException) as refused:
        core.list_namespaced_secret(k.NS, _request_timeout=10)
    assert refused.value.status == 403


@needs_kubectl
def test_kubectl_reads_the_stand_in(api: KubeApi, tmp_path: Path) -> None:
    kc = api.kubeconfig(tmp_path, namespace=k.NS)
    pods = kubectl(kc, "get", "pods", "-l", "app.kubernetes.io/component=agent-worker", "-o", "json")
    assert pods.returncode == 0, pods.stderr
    assert sorted(i["metadata"]["name"] for i in json.loads(pods.stdout)["items"]) == [
        "agent-worker-1-5d8f-a", "agent-worker-2-5d8f-a"]
    running = kubectl(kc, "get", "pods", "--field-selector", "status.phase=Running", "-o", "json")
    assert len(json.loads(running.stdout)["items"]) == 4, running.stderr
    deploys = kubectl(kc, "get", "deploy,sts", "-A", "-o", "json")
    assert deploys.returncode == 0, deploys.stderr
    assert {i["kind"] for i in json.loads(deploys.stdout)["items"]} == {"Deployment", "StatefulSet"}
    logs = kubectl(kc, "logs", "agent-worker-1-5d8f-a", "--since=1m")
    assert logs.stdout == "worker w1 ready\n", logs.stderr
    previous = kubectl(kc, "logs", "agent-worker-1-5d8f-a", "--previous")
    assert "already registered" in previous.stdout, previous.stderr
    missing = kubectl(kc, "get", "pod", "nope", "-o", "json")
    assert missing.returncode != 0 and 'pods "nope" not found' in missing.stderr
    refused = kubectl(kc, "get", "secrets", "-o", "json")
    assert refused.returncode != 0 and "Forbidden" in refused.stderr


# --- agentops' access ----------------------------------------------------------------------------------------


def test_context_namespace_and_all_namespaces(api: KubeApi, tmp_path: Path) -> None:
    api.state.objects.append({"kind": "Pod", "metadata": {"name": "other-pod", "namespace": "other"},
                              "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
                              "status": {"phase": "Running"}})
    kc = api.kubeconfig(tmp_path, namespace=k.NS, extra_contexts=[("other-ctx", "other")])
    snap = run(read_api(KubeAccess(kubeconfig=str(kc))))
    assert snap.namespaces == [k.NS] and "other-pod" not in {p["metadata"]["name"] for p in snap.of("Pod")}
    assert snap.denied.keys() == {"Secret"} and "forbidden" in snap.denied["Secret"]
    other = run(read_api(KubeAccess(kubeconfig=str(kc), context="other-ctx")))
    assert [p["metadata"]["name"] for p in other.of("Pod")] == ["other-pod"]
    every = run(read_api(KubeAccess(kubeconfig=str(kc), all_namespaces=True)))
    assert every.namespaces is None and len(every.of("Pod")) == 5
    # one list per kind across all namespaces, as kubectl -A does
    assert any(r.startswith("GET /api/v1/pods") for r in api.state.requests)
    with pytest.raises(KubeError) as bad:
        run(read_api(KubeAccess(kubeconfig=str(kc), context="nope")))
    assert "no context 'nope'" in bad.value.message and "other-ctx" in bad.value.message


def test_log_current_previous_and_since(api: KubeApi, tmp_path: Path) -> None:
    async def go() -> tuple[str, str, str]:
        c = await KubeClient.connect(KubeAccess(kubeconfig=str(api.kubeconfig(tmp_path, namespace=k.NS))))
        try:
            return (await c.log(k.NS, "agent-worker-1-5d8f-a"),
                    await c.log(k.NS, "agent-worker-1-5d8f-a", container="worker", since_seconds=60),
                    await c.log(k.NS, "agent-worker-1-5d8f-a", previous=True))
        finally:
            c.close()

    full, recent, previous = run(go())
    assert full == "started an hour ago\nworker w1 ready\n" and recent == "worker w1 ready\n"
    assert "already registered" in previous


def test_secrets_are_asked_for_metadata_only(tmp_path: Path) -> None:
    objs = [k.secret("redis-auth", {"password": "c3VwZXItc2VjcmV0"})]
    with KubeApi(objs) as server:
        snap = run(read_api(KubeAccess(kubeconfig=str(server.kubeconfig(tmp_path, namespace=k.NS)))))
    assert [s["metadata"]["name"] for s in snap.of("Secret")] == ["redis-auth"]
    assert "data" not in snap.of("Secret")[0]
    assert "c3VwZXItc2VjcmV0" not in json.dumps(snap.objects)


def test_a_bearer_token_and_a_wrong_one(tmp_path: Path) -> None:
    with KubeApi(k.healthy_namespace(), token="right-token") as server:
        good = run(read_api(KubeAccess(kubeconfig=str(server.kubeconfig(tmp_path, namespace=k.NS)))))
        assert len(good.of("Pod")) == 4
        bad_kc = server.kubeconfig(tmp_path, namespace=k.NS, user={"token": "wrong-token"})
        with pytest.raises(KubeError) as refused:
            run(read_api(KubeAccess(kubeconfig=str(bad_kc))))
    # a 401 on every list: not a permission on one kind, the snapshot cannot be taken
    assert refused.value.reason is Reason.AUTH and refused.value.status == 401
    assert "wrong-token" not in refused.value.message


def test_an_exec_auth_plugin_supplies_the_token(tmp_path: Path) -> None:
    plugin = tmp_path / "token-plugin"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": "token-from-exec"}}
    plugin.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(credential))})\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                     "interactiveMode": "Never"}}
    with KubeApi(k.healthy_namespace(), token="token-from-exec") as server:
        snap = run(read_api(KubeAccess(kubeconfig=str(server.kubeconfig(tmp_path, namespace=k.NS, user=user)))))
        # the server takes only the plugin's token: the lists went through, so the plugin ran
        assert len(snap.of("Deployment")) == 3 and len(snap.of("StatefulSet")) == 1


def test_in_cluster_service_account_over_tls(tls_files: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    shutil.copy(tls_files.ca, sa / "ca.crt")
    (sa / "namespace").write_text(k.NS)
    with KubeApi(k.healthy_namespace(), token="sa-token", tls=(tls_files.server_cert, tls_files.server_key)) as server:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
        snap = run(read_api(KubeAccess(service_account_dir=sa)))
    assert snap.namespaces == [k.NS] and len(snap.of("Pod")) == 4
    assert snap.source == f"API server https://127.0.0.1:{server.port}"


def test_a_server_that_never_answers_is_a_timeout_within_the_deadline(silent_listener: Any, tmp_path: Path) -> None:
    kc = kubeconfig_for(tmp_path, f"http://127.0.0.1:{silent_listener.port}")
    with pytest.raises(KubeError) as slow:
        run(read_api(KubeAccess(kubeconfig=str(kc), timeout=0.5)))
    assert slow.value.reason is Reason.TIMEOUT


def test_a_refused_connection_and_no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kc = kubeconfig_for(tmp_path, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(KubeError) as refused:
        run(read_api(KubeAccess(kubeconfig=str(kc), timeout=5)))
    assert refused.value.reason is Reason.CONNECT
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeError) as none:
        run(read_api(KubeAccess(kubeconfig=str(tmp_path / "absent"))))
    assert none.value.reason is Reason.UNSUPPORTED and "no kubeconfig" in none.value.message


def test_every_request_runs_off_the_event_loop(api: KubeApi, tmp_path: Path) -> None:
    """While the snapshot's requests are in flight, the loop keeps turning: a ticker task advances."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def go() -> int:
        t = asyncio.create_task(ticker())
        c = await KubeClient.connect(KubeAccess(kubeconfig=str(api.kubeconfig(tmp_path, namespace=k.NS))))
        before = ticks
        await c.list(RESOURCES["Pod"], k.NS)
        c.close()
        t.cancel()
        return ticks - before

    assert run(go()) > 0


def test_a_resource_the_server_does_not_serve_is_recorded_not_fatal(tmp_path: Path) -> None:
    """An API server without autoscaling/v2 (before 1.23): the HPA list is a 404, the rest of the snapshot
    stands, and the kind is recorded as not served."""
    with KubeApi(k.healthy_namespace(), absent={"horizontalpodautoscalers"}) as server:
        snap = run(read_api(KubeAccess(kubeconfig=str(server.kubeconfig(tmp_path, namespace=k.NS)))))
    assert len(snap.of("Pod")) == 4
    assert snap.denied.keys() == {"HorizontalPodAutoscaler"}
    assert "not served" in snap.denied["HorizontalPodAutoscaler"]
