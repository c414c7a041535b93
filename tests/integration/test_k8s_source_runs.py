"""A `kind: kubernetes` source expanded by the runs that live inside an event loop: `agentops serve` (at start,
on SIGHUP and once per check interval, so /metrics and /probe cover every replica, and a replica that comes
or goes changes the plan) and `agentops bundle`'s health collector (per-replica targets in health.json).
Both await the one expansion (k8s.discovery.expand_async) that health's `expand` runs.

tests/fixtures/kube_api.py stands in for the cluster (no kube-apiserver, kind, k3s or Docker can run on these
machines); its objects are the ones the discovery tests use, changed in place to make a new replica."""

from __future__ import annotations

import copy
import json
import os
import signal
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import k8s_objects as k
from tests.fixtures.common import assert_no_traceback, free_port, run_cli, wait_for
from tests.fixtures.kube_api import KubeApi
from tests.fixtures.serve import ServeProcess
from tests.integration.test_k8s_discovery import cluster_objects, write_config

pytest.importorskip("kubernetes")

POD_CHECK = "k8s.pod.restarts"


def _pods_in_metrics(serve: ServeProcess) -> set[str]:
    return {labels["target"] for labels, _v in serve.series("agentops_check_status")
            if labels.get("check") == POD_CHECK}


def _new_replica(api: KubeApi, name: str) -> None:
    """A second replica of worker 1, Running and Ready, as a scale-up makes it."""
    first = next(o for o in api.state.objects if o["kind"] == "Pod" and o["metadata"]["name"].startswith(
        "agent-worker-1"))
    pod = copy.deepcopy(first)
    pod["metadata"]["name"] = name
    api.state.objects.append(pod)


def test_serve_covers_every_replica_and_follows_a_scale_up(redis_server: Any, tmp_path: Path) -> None:
    with KubeApi(cluster_objects(redis_server.port, free_port())) as api:
        cfg = write_config(tmp_path, api.kubeconfig(tmp_path, namespace="default"))
        with ServeProcess(cfg, "--pack", "kubernetes", "--only", "k8s.*", "--interval", "0.5") as serve:
            serve.wait_event("listening")
            first = {"agents/pod/agent-host-5d8f-a", "agents/pod/agent-worker-1-5d8f-a",
                     "agents/pod/agent-worker-2-5d8f-a", "agents/pod/redis-0"}
            wait_for(lambda: _pods_in_metrics(serve) == first, timeout=60, what="a series for every pod")
            status, text = serve.get("/probe?target=agents/pod/agent-worker-2-5d8f-a&pack=kubernetes")
            assert status == 200, text
            assert 'check="k8s.pod.restarts"' in text and "agent-worker-2-5d8f-a" in text

            # a replica appears: the next interval's listing adds it to the plan, without a reload
            seen = len(serve.events)
            _new_replica(api, "agent-worker-1-5d8f-b")
            serve.wait_event("rediscovered", after=seen)
            wait_for(lambda: "agents/pod/agent-worker-1-5d8f-b" in _pods_in_metrics(serve), timeout=60,
                     what="the new replica's series")

            # it goes again: SIGHUP re-expands too, and its series leaves /metrics
            api.state.objects[:] = [o for o in api.state.objects if o["metadata"]["name"] != "agent-worker-1-5d8f-b"]
            seen = len(serve.events)
            os.kill(serve.pid, signal.SIGHUP)
            serve.wait_event("reloaded", after=seen)
            wait_for(lambda: _pods_in_metrics(serve) == first, timeout=60, what="the gone replica's series to go")

            # the listing fails (Deployments forbidden): the replicas' series stay, the discovery check says why
            api.state.forbidden.add("deployments")
            wait_for(lambda: serve.value("agentops_check_status", check="k8s.discovery", target="agents") == 2,
                     timeout=60, what="the discovery check to go CRITICAL")
            assert _pods_in_metrics(serve) == first
            assert serve.proc.poll() is None


def test_serve_without_a_reachable_source_says_so_in_its_discovery_check(tmp_path: Path) -> None:
    dead = tmp_path / "kc"
    dead.mkdir()
    with KubeApi([]) as api:
        kubeconfig = api.kubeconfig(dead)
    cfg = write_config(tmp_path, kubeconfig, timeout=3)  # the server is gone: its port refuses
    with ServeProcess(cfg, "--pack", "kubernetes", "--interval", "0.5") as serve:
        serve.wait_event("listening")
        wait_for(lambda: serve.value("agentops_check_status", check="k8s.discovery", target="agents") is not None,
                 timeout=60, what="the discovery check's series")
        status, text = serve.get("/report")
        assert status == 200, text
        doc = json.loads(text)
        found = next(r for r in doc["results"] if r["id"] == "k8s.discovery")
        assert (found["status"], found["reason"]) == ("CRITICAL", "connect"), found


def test_bundle_health_checks_every_replica(redis_server: Any, tmp_path: Path) -> None:
    objects = cluster_objects(redis_server.port, free_port())
    worker = next(o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"].startswith("agent-worker-2"))
    worker["status"]["containerStatuses"] = [{"name": "worker", "ready": False, "restartCount": 12,
                                              "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
    with KubeApi(objects) as api:
        cfg = write_config(tmp_path, api.kubeconfig(tmp_path, namespace=k.NS))
        archive = tmp_path / "b.tar.gz"
        out = run_cli("bundle", "-c", str(cfg), "-f", str(archive), "--profile-seconds", "0", "-o", "json",
                      timeout=300, cwd=tmp_path)
    assert_no_traceback(out)
    assert out.code == 0, out.stderr
    with tarfile.open(archive, "r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/health.json"))
        handle = tar.extractfile(member)
        assert handle is not None
        health = json.loads(handle.read())
    pods = {r["facts"]["labels"]["pod"]: r["status"] for r in health["results"] if r["id"] == POD_CHECK}
    assert set(pods) == {o["metadata"]["name"] for o in objects if o["kind"] == "Pod"}, pods
    assert pods[worker["metadata"]["name"]] == "CRITICAL"
    assert [s for p, s in pods.items() if p != worker["metadata"]["name"]] == ["OK"] * (len(pods) - 1)
    discovery = next(r for r in health["results"] if r["id"] == "k8s.discovery")
    assert discovery["status"] == "OK" and discovery["metrics"]["pods"] == len(pods)
