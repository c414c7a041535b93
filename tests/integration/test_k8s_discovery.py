"""A `kind: kubernetes` source in agentops.yaml, expanded at run time, against the stand-in API server
(tests/fixtures/kube_api.py stands in for a cluster: no kube-apiserver, kind, k3s or Docker can run on these
machines). Its pods carry loopback IPs so that the targets they become reach real processes: the Redis
Service's cluster IP and port are a real redis-server's. `checks list` shows the expansion; `health` checks
every replica and names the pod of each result; a fault made in the cluster's state shows on its pod."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import k8s_objects as k
from tests.fixtures.common import assert_no_traceback, free_port, run_cli
from tests.fixtures.kube_api import KubeApi
from tests.fixtures.report_schema import validate_report


def cluster_objects(redis_port: int, host_port: int) -> list[dict[str, Any]]:
    objs = k.healthy_namespace()
    for o in objs:
        if o["kind"] == "Pod":
            o["status"]["podIP"] = "127.0.0.1"
            if o["metadata"]["name"].startswith("agent-worker"):
                o["metadata"]["annotations"] = {"prometheus.io/scrape": "true", "prometheus.io/port": "9100"}
            if o["metadata"]["name"].startswith("agent-host"):
                o["spec"]["containers"][0]["ports"][0]["containerPort"] = host_port
        if o["kind"] == "Service" and o["metadata"]["name"] == "redis":
            o["spec"]["clusterIP"] = "127.0.0.1"
            o["spec"]["ports"][0]["port"] = redis_port
    return objs


def write_config(tmp_path: Path, kubeconfig: Path, **options: Any) -> Path:
    extra = "".join(f"        {key}: {value!r}\n" for key, value in options.items())
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text("version: 1\ntargets:\n  - name: agents\n    kind: kubernetes\n    options:\n"
                   f"        kubeconfig: {str(kubeconfig)!r}\n        namespace: agents\n{extra}")
    return cfg


@pytest.fixture
def cluster(redis_server: Any, tmp_path: Path) -> Any:
    with KubeApi(cluster_objects(redis_server.port, free_port())) as api:
        yield api, write_config(tmp_path, api.kubeconfig(tmp_path, namespace="default"))


def test_checks_list_shows_the_expansion(cluster: Any) -> None:
    _api, cfg = cluster
    r = run_cli("checks", "list", "-c", str(cfg), "-p", "kubernetes,autogen,redis,kpi", "-o", "json")
    assert_no_traceback(r)
    assert r.code == 0, r.stderr
    by_target: dict[str, set[str]] = {}
    for row in r.json()["checks"]:
        by_target.setdefault(row["target"], set()).add(row["id"])
    assert "k8s.discovery" in by_target["agents"]
    assert {"k8s.pod.restarts"} <= by_target["agents/pod/agent-worker-1-5d8f-a"]
    assert "k8s.workload.replicas" in by_target["agents/deployment/agent-host"]
    assert "k8s.workload.replicas" in by_target["agents/statefulset/redis"]
    assert "k8s.service.endpoints" in by_target["agents/service/redis"]
    assert "redis.ping" in by_target["agents/redis/redis"]
    assert any(c.startswith("agentrpc") or c.startswith("autogen") for c in by_target["agents/host/agent-host-5d8f-a"])
    # every worker replica is a metrics target of its own (prometheus.io/port), judged by the kpi pack
    assert {t for t in by_target if t.startswith("agents/worker/")} == {
        "agents/worker/agent-worker-1-5d8f-a", "agents/worker/agent-worker-2-5d8f-a"}


def test_health_checks_every_replica_and_names_its_pod(cluster: Any) -> None:
    api, cfg = cluster
    r = run_cli("health", "-c", str(cfg), "--only", "k8s.*,redis.ping", "-o", "json")
    assert_no_traceback(r)
    doc = r.json()
    validate_report(doc)
    assert r.code == 0, [(x["id"], x["target"], x["message"]) for x in doc["results"] if x["status"] != "OK"]
    pods = {x["facts"]["labels"]["pod"] for x in doc["results"] if x["id"] == "k8s.pod.restarts"}
    assert pods == {"agent-host-5d8f-a", "agent-worker-1-5d8f-a", "agent-worker-2-5d8f-a", "redis-0"}
    redis = next(x for x in doc["results"] if x["id"] == "redis.ping")
    assert redis["target"] == "agents/redis/redis" and redis["status"] == "OK"  # a real PING through the Service
    discovery = next(x for x in doc["results"] if x["id"] == "k8s.discovery")
    assert discovery["metrics"]["pods"] == 4

    # a worker replica starts crash-looping: its pod is named, the other replica stays OK
    pod = next(o for o in api.state.objects if o["metadata"]["name"] == "agent-worker-2-5d8f-a")
    pod["status"]["containerStatuses"][0].update(
        restartCount=12, ready=False, state={"waiting": {"reason": "CrashLoopBackOff"}},
        lastState={"terminated": {"reason": "Error", "exitCode": 1}})
    r = run_cli("health", "-c", str(cfg), "--only", "k8s.pod.*", "-o", "json")
    doc = r.json()
    assert r.code == 2
    bad = {(x["target"], x["status"]) for x in doc["results"] if x["status"] != "OK"}
    assert bad == {("agents/pod/agent-worker-2-5d8f-a", "CRITICAL")}


def test_an_unreachable_source_is_its_discovery_check(tmp_path: Path) -> None:
    dead = tmp_path / "kc"
    dead.mkdir()
    with KubeApi([]) as api:
        kubeconfig = api.kubeconfig(dead)
    # the server is gone: its port refuses
    cfg = write_config(tmp_path, kubeconfig, timeout=3)
    r = run_cli("health", "-c", str(cfg), "--only", "k8s.*", "-o", "json")
    assert_no_traceback(r)
    doc = r.json()
    assert r.code == 2
    assert [(x["id"], x["target"], x["status"], x["reason"]) for x in doc["results"]] == [
        ("k8s.discovery", "agents", "CRITICAL", "connect")]


def test_a_bad_selector_is_a_config_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, tmp_path / "absent", host_selector="app in (a, b")
    r = run_cli("checks", "list", "-c", str(cfg))
    assert_no_traceback(r)
    assert r.code == 3 and "host_selector" in r.stderr and r.stderr.count("\n") == 1
