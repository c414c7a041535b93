"""`agentops k8s audit` as users run it: against the stand-in API server (tests/fixtures/kube_api.py stands in
for a cluster: no kube-apiserver, kind, k3s or Docker can run on these machines) serving the issue's seed
manifest as deployed, in every output format, with --fail-on; offline on the dumps real `kubectl get -o json`
made of the same server (the same results); and the failures a user meets (an unreachable server, a bad
bundle, no permission to list Secrets)."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import k8s_objects as k
from tests.fixtures.common import assert_no_traceback, free_port, run_cli
from tests.fixtures.kube_api import KubeApi
from tests.fixtures.report_schema import validate_report

KUBECTL = shutil.which("kubectl")


@pytest.fixture
def seed_api() -> Any:
    with KubeApi(k.deployed_seed()) as server:
        yield server


def audit(*args: str) -> Any:
    r = run_cli("k8s", "audit", *args)
    assert_no_traceback(r)
    return r


def not_ok(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["id"], r["target"]): r["status"] for r in doc["results"] if r["status"] != "OK"}


def test_the_deployed_seed_is_critical_and_names_each_fault(seed_api: KubeApi, tmp_path: Path) -> None:
    kc = seed_api.kubeconfig(tmp_path, namespace=k.NS)
    r = audit("--kubeconfig", str(kc), "-o", "json")
    assert r.code == 2, r.stderr
    doc = r.json()
    validate_report(doc)
    assert doc["kind"] == "k8s.audit" and doc["data"]["namespaces"] == [k.NS]
    assert doc["data"]["source"] == f"API server {seed_api.url}"
    bad = not_ok(doc)
    for check, target in (("autogen.host_grpc_probe", "deployment/agent-host"),
                          ("autogen.worker_replicas", "deployment/agent-worker"),
                          ("autogen.host_replicas", "deployment/agent-host"),
                          ("k8s.crash_loop", "pod/agent-worker-7c9-1"),
                          ("k8s.endpoints", "service/agent-host")):
        assert bad[(check, f"{k.NS}/{target}")] == "CRITICAL", (check, target)
    # Secret values never reach the report (the seed's Secrets hold base64 values)
    assert "c2VjcmV0LXJlZGlzLXZhbHVl" not in r.stdout
    assert "autogen.host_grpc_probe@agents/deployment/agent-host" in doc["status_set_by"]


def test_every_output_format_and_fail_on(seed_api: KubeApi, tmp_path: Path) -> None:
    kc = str(seed_api.kubeconfig(tmp_path, namespace=k.NS))
    table = audit("--kubeconfig", kc)
    assert table.code == 2 and "autogen.worker_replicas" in table.stdout and "agents/deployment/agent-worker" in table.stdout
    nagios = audit("--kubeconfig", kc, "-o", "nagios")
    assert nagios.stdout.startswith("AGENTOPS CRITICAL") and nagios.code == 2
    junit = audit("--kubeconfig", kc, "-o", "junit")
    cases = ET.fromstring(junit.stdout).iter("testcase")
    assert any(c.find("failure") is not None and c.get("name") == "autogen.worker_replicas"
               and "agents/deployment/agent-worker" in (c.get("classname") or "") for c in cases)
    prom = audit("--kubeconfig", kc, "-o", "prometheus")
    assert 'check="autogen.host_replicas"' in prom.stdout
    assert audit("--kubeconfig", kc, "--fail-on", "never").code == 0
    # only warnings left (one host replica with a PDB missing, nothing else): --fail-on critical passes
    with KubeApi(k.healthy_namespace()) as healthy:
        hk = str(healthy.kubeconfig(tmp_path, namespace=k.NS))
        assert audit("--kubeconfig", hk).code == 0
        healthy.state.objects = [o for o in healthy.state.objects if o["kind"] != "PodDisruptionBudget"]
        assert audit("--kubeconfig", hk).code == 1
        assert audit("--kubeconfig", hk, "--fail-on", "critical").code == 0


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")
def test_from_bundle_reads_kubectl_dumps_and_judges_the_same(seed_api: KubeApi, tmp_path: Path) -> None:
    kc = seed_api.kubeconfig(tmp_path, namespace=k.NS)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    assert KUBECTL is not None
    dump = subprocess.run([KUBECTL, "--kubeconfig", str(kc), "get",
                           "deploy,sts,pods,svc,endpoints,events,ingress,pdb,hpa,secrets", "-o", "json"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert dump.returncode == 0, dump.stderr
    (bundle / "agents.json").write_text(dump.stdout)
    live = audit("--kubeconfig", str(kc), "-o", "json").json()
    offline = audit("--from-bundle", str(bundle), "-o", "json")
    assert offline.code == 2
    doc = offline.json()
    validate_report(doc)
    assert doc["data"]["source"] == f"bundle {bundle}"
    # the same rules on the same objects: the same judgements (the pending rule's clock is the only input
    # that differs, and nothing in the seed is Pending)
    assert {key: s for key, s in not_ok(doc).items() if key[0] != "k8s.snapshot"} == \
        {key: s for key, s in not_ok(live).items() if key[0] != "k8s.snapshot"}
    assert "c2VjcmV0LXJlZGlzLXZhbHVl" not in offline.stdout


def test_namespace_flag_and_all_namespaces(tmp_path: Path) -> None:
    other = {"kind": "Pod", "metadata": {"name": "looping", "namespace": "other"},
             "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
             "status": {"phase": "Running", "containerStatuses": [
                 {"name": "c", "restartCount": 1, "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    with KubeApi([*k.healthy_namespace(), other]) as server:
        kc = str(server.kubeconfig(tmp_path, namespace=k.NS))
        assert audit("--kubeconfig", kc, "-o", "json").code == 0
        doc = audit("--kubeconfig", kc, "-n", "other", "-o", "json").json()
        assert not_ok(doc)[("k8s.crash_loop", "other/pod/looping")] == "CRITICAL"
        assert {r["target"].split("/")[0] for r in doc["results"] if r["id"] != "k8s.snapshot"} == {"other"}
        every = audit("--kubeconfig", kc, "-A", "-o", "json").json()
        assert every["data"]["namespaces"] is None and ("k8s.crash_loop", "other/pod/looping") in not_ok(every)


def test_no_permission_on_secrets_is_unknown_not_a_failure(tmp_path: Path) -> None:
    with KubeApi(k.healthy_namespace(), forbidden={"secrets"}) as server:
        r = audit("--kubeconfig", str(server.kubeconfig(tmp_path, namespace=k.NS)), "-o", "json")
    doc = r.json()
    validate_report(doc)
    assert not_ok(doc) == {("k8s.ingress_tls", f"{k.NS}/ingress/agents"): "UNKNOWN",
                           ("k8s.snapshot", f"API server {server.url}"): "WARNING"}
    assert r.code == 3
    tls = next(x for x in doc["results"] if x["id"] == "k8s.ingress_tls")
    assert "cannot tell" in tls["message"] and "forbidden" in tls["message"]
    assert [d["kind"] for d in doc["data"]["denied"]] == ["Secret"]
    assert "forbidden" in doc["data"]["denied"][0]["message"]


def test_an_unreachable_api_server_is_one_critical_result(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                              "clusters": [{"name": "s", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
                              "users": [{"name": "u", "user": {}}],
                              "contexts": [{"name": "c", "context": {"cluster": "s", "user": "u"}}]}))
    r = audit("--kubeconfig", str(kc), "--timeout", "5", "-o", "json")
    assert r.code == 2
    doc = r.json()
    validate_report(doc)
    assert [(x["id"], x["status"], x["reason"]) for x in doc["results"]] == [("k8s.snapshot", "CRITICAL", "connect")]


def test_bad_bundles_are_one_line_and_exit_3(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    r = audit("--from-bundle", str(tmp_path))
    assert r.code == 3 and r.stderr.count("\n") == 1 and "broken.json" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = audit("--from-bundle", str(empty))
    assert r.code == 3 and "no .json or .yaml file" in r.stderr
    r = audit("--from-bundle", str(tmp_path / "absent"))
    assert r.code == 3 and r.stderr.startswith("agentops: error:")


def test_scrape_checks_each_prometheus_annotation_answers_with_metrics(http_server: Any, tmp_path: Path) -> None:
    """A worker pod whose annotated port serves a real exposition passes; one whose port is closed, and one
    whose port answers with something that is not metrics, warn, each named."""
    from prometheus_client import CollectorRegistry, Counter

    registry = CollectorRegistry()
    Counter("agent_messages", "messages", registry=registry).inc()
    http_server.metrics_route("/k8s-metrics", registry)
    http_server.route("/k8s-not-metrics", body="<html>hello</html>", content_type="text/html")
    objs = k.healthy_namespace()
    ports = {"agent-worker-1-5d8f-a": (http_server.port, "/k8s-metrics"),
             "agent-worker-2-5d8f-a": (free_port(), "/metrics"),
             "agent-host-5d8f-a": (http_server.port, "/k8s-not-metrics")}
    for o in objs:
        if o["kind"] == "Pod" and o["metadata"]["name"] in ports:
            port, path = ports[o["metadata"]["name"]]
            o["status"]["podIP"] = "127.0.0.1"
            o["metadata"]["annotations"] = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                                            "prometheus.io/path": path}
    with KubeApi(objs) as server:
        kc = str(server.kubeconfig(tmp_path, namespace=k.NS))
        without = audit("--kubeconfig", kc, "-o", "json").json()
        r = audit("--kubeconfig", kc, "--scrape", "--timeout", "5", "-o", "json")
    assert not [x for x in without["results"] if x["id"] == "k8s.metrics_annotation"]
    doc = r.json()
    validate_report(doc)
    scraped = {x["target"]: (x["status"], x["reason"]) for x in doc["results"] if x["id"] == "k8s.metrics_annotation"}
    assert scraped[f"{k.NS}/pod/agent-worker-1-5d8f-a"] == ("OK", None)
    assert scraped[f"{k.NS}/pod/agent-worker-2-5d8f-a"] == ("WARNING", "connect")
    assert scraped[f"{k.NS}/pod/agent-host-5d8f-a"][0] == "WARNING"
    # --scrape also asks the AgentRpc host (its pod IP 10.0.0.10 is no address here) and reads the Ingress's
    # certificate (it has no address yet): both cannot tell, so the run is UNKNOWN, never OK by omission
    # (tests/integration/test_k8s_live_rules.py measures them for real)
    unknown = {x["id"] for x in doc["results"] if x["status"] == "UNKNOWN"}
    assert unknown == {"autogen.worker_owns_types", "autogen.type_owner", "k8s.ingress_cert"}
    assert r.code == 3
