"""`agentops health -c cluster.yaml` on a `kind: kubernetes` source covers the workloads (deployment replicas,
pod restarts, Service endpoints) beside Redis, PostgreSQL and the AgentRpc host, in one report, each result
naming the pod (or Service, or workload) it is about.

The objects come from the stand-in API server (tests/fixtures/kube_api.py stands in for a cluster: no
kube-apiserver, kind, k3s or Docker can run on these machines); what their addresses reach is real: the host
pod's IP:port is the AutoGen lab's host, the worker pods' prometheus.io ports are the lab workers' /metrics,
the Redis and PostgreSQL Services' cluster IPs and ports are a real redis-server's and PostgreSQL's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fixtures import k8s_objects as k
from tests.fixtures.common import assert_no_traceback, run_cli
from tests.fixtures.kube_api import KubeApi
from tests.fixtures.lab import LabHandle
from tests.fixtures.report_schema import validate_report

PG_PASSWORD_ENV = "AGENTOPS_TEST_K8S_PG_PASSWORD"


def objects(lab: LabHandle, redis_port: int, pg_port: int) -> list[dict[str, Any]]:
    objs = k.healthy_namespace()
    metrics_ports = {f"agent-worker-{i}-5d8f-a": lab.metrics_url(w).rsplit(":", 1)[1].split("/")[0]
                     for i, w in ((1, "w1"), (2, "w2"))}
    for o in objs:
        name = o["metadata"]["name"]
        if o["kind"] == "Pod":
            o["status"]["podIP"] = "127.0.0.1"
            if name in metrics_ports:
                o["metadata"]["annotations"] = {"prometheus.io/scrape": "true", "prometheus.io/port": metrics_ports[name]}
            if name.startswith("agent-host"):
                o["spec"]["containers"][0]["ports"][0]["containerPort"] = lab.port
        if o["kind"] == "Service" and name == "redis":
            o["spec"]["clusterIP"] = "127.0.0.1"
            o["spec"]["ports"][0]["port"] = redis_port
    pg_labels = {"app.kubernetes.io/name": "postgresql"}
    pc = k.container("postgres", "postgres:16.2", [{"name": "postgres", "containerPort": 5432}],
                     livenessProbe={"tcpSocket": {"port": 5432}}, readinessProbe={"tcpSocket": {"port": 5432}})
    pg = k.deployment("postgres", pg_labels, [pc], kind="StatefulSet")
    svc = k.service("postgres", pg_labels, [{"name": "postgres", "port": pg_port}])
    svc["spec"]["clusterIP"] = "127.0.0.1"
    objs += [pg, k.pod("postgres-0", pg, pg_labels, [pc], ip="127.0.0.1"), svc,
             k.endpoints("postgres", ["127.0.0.1"], port=pg_port)]
    return objs


def test_one_health_report_covers_workloads_and_services_each_naming_its_object(
        lab: LabHandle, redis_server: Any, postgres_server: Any, tmp_path: Path) -> None:
    with KubeApi(objects(lab, redis_server.port, postgres_server.port)) as api:
        cfg = tmp_path / "cluster.yaml"
        cfg.write_text("version: 1\ntargets:\n  - name: agents\n    kind: kubernetes\n    options:\n"
                       f"      kubeconfig: {str(api.kubeconfig(tmp_path, namespace='default'))!r}\n"
                       "      namespace: agents\n"
                       f"      postgres_password_env: {PG_PASSWORD_ENV}\n"
                       f"      postgres_username: {postgres_server.user}\n")
        # every default pack; the machine's own host.* checks are about this busy test box, not the cluster
        r = run_cli("health", "-c", str(cfg), "--skip", "host.*", "-o", "json",
                    env={PG_PASSWORD_ENV: postgres_server.password})
        assert_no_traceback(r)
        doc = r.json()
        validate_report(doc)
    results = doc["results"]
    by = {(x["id"], x["target"]): x for x in results}
    about = {
        ("k8s.workload.replicas", "agents/deployment/agent-host"): ("deployment", "agent-host"),
        ("k8s.workload.replicas", "agents/statefulset/postgres"): ("statefulset", "postgres"),
        ("k8s.pod.restarts", "agents/pod/agent-worker-1-5d8f-a"): ("pod", "agent-worker-1-5d8f-a"),
        ("k8s.pod.restarts", "agents/pod/postgres-0"): ("pod", "postgres-0"),
        ("k8s.service.endpoints", "agents/service/redis"): ("service", "redis"),
        ("k8s.service.endpoints", "agents/service/postgres"): ("service", "postgres"),
        ("redis.ping", "agents/redis/redis"): ("service", "redis"),
        ("postgres.connect", "agents/postgres/postgres"): ("service", "postgres"),
        ("autogen.host", "agents/host/agent-host-5d8f-a"): ("pod", "agent-host-5d8f-a"),
    }
    for key, (label, name) in about.items():
        assert key in by, (key, sorted(by))
        got = by[key]
        assert got["status"] == "OK", (key, got["message"])
        assert got["facts"]["labels"][label] == name and got["facts"]["labels"]["namespace"] == "agents", key
    # the host check is a real GetSubscriptions of the lab host through the pod's address
    assert by[("autogen.host", "agents/host/agent-host-5d8f-a")]["metrics"]["agent_types"] >= 6
    # every result about something the source discovered names its pod, Service or workload
    discovered = [x for x in results if x["target"].startswith("agents/")]
    assert discovered and all({"pod", "service", "deployment", "statefulset"} & set(x["facts"]["labels"])
                              for x in discovered), [x["target"] for x in discovered
                                                     if not {"pod", "service", "deployment", "statefulset"}
                                                     & set(x["facts"]["labels"])]
    # the password reached PostgreSQL (the connect is OK) and no output
    assert postgres_server.password not in r.stdout and postgres_server.password not in r.stderr
