"""`diagnose message` / `diagnose agent` for workers that run in Kubernetes pods (worker targets with
`options.pod`), read through the API: the real CLI against a plain AutoGen cluster (autogen-ext's host and
worker runtimes, no agentops code in them) whose workers are pods of the stand-in API server.

No Kubernetes API server or kubelet can run on these machines (no kube-apiserver, kind, k3s or Docker), so
tests/fixtures/kube_api.py stands in for both: the API server speaks the real wire format (the `kubernetes`
client reads it as it would a cluster), and each pod's container is a REAL worker process started by the
fixture as a container runtime would (stdout and stderr into one log file per instance). The pod the API
serves is derived from that process at each request, so the faults are real: a worker killed with SIGKILL
shows as terminated with exit code 137, one that really crashes at start (its import fails) and is restarted
shows its restart count and CrashLoopBackOff, and its logs are the real log files (previous = the instance
before the restart).

Two faults cannot be made for real without a kubelet and a scheduler: an OOM kill (the fixture really
SIGKILLs the worker and reports the termination as OOMKilled, the reason only the kubelet would know) and an
unschedulable pod (a Pending pod with the scheduler's condition and FailedScheduling event, and no process).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.common import assert_no_traceback, run_cli, wait_for
from tests.fixtures.kube_api import KubeApi, ProcessPod, unschedulable_pod
from tests.fixtures.plain_cluster import PING, WORKER_SCRIPT, PlainCluster
from tests.fixtures.report_schema import validate_report

pytest.importorskip("autogen_ext.runtimes.grpc")
pytest.importorskip("kubernetes")
pytestmark = pytest.mark.lab

NS = "agents"
TOKEN = "k8s-bearer-token-7f3a9c0e5d"  # the kubeconfig's credentials: must never reach any output
SECRET_VALUE = "redis-password-Zq81xW"  # a Secret in the namespace: agentops never reads it
# The plain worker with a dependency that is not installed: it dies importing it, before it connects.
BAD_IMPORT = WORKER_SCRIPT.replace("from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime",
                                   "from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime\n"
                                   "import planner_tools_not_installed")
DEADLINE = "20"  # generous: a busy shared machine; nothing here asserts time


@dataclass
class PodCluster:
    dir: Path
    host: PlainCluster
    api: KubeApi
    kubeconfig: Path
    pods: dict[str, ProcessPod]

    def worker_pod(self, name: str, types: tuple[str, ...], *, script: str = "worker.py",
                   wait_ready: bool = True, labels: dict[str, str] | None = None,
                   annotations: dict[str, str] | None = None) -> ProcessPod:
        """A pod whose container is the plain worker for `types`, started and (by default) registered."""
        ready = self.dir / f"{name}.ready"
        argv = [sys.executable, str(self.host.dir / script), "text-pid", "/dev/stderr", self.host.address,
                str(ready), *types]
        pod = self.api.add_pod(ProcessPod(self.dir / "pods", name, argv, namespace=NS, annotations=annotations,
                                          labels={"app": name, "app.kubernetes.io/component": "agent-worker",
                                                  **(labels or {})}))
        self.pods[name] = pod
        self.start(pod, wait_ready)
        return pod

    def start(self, pod: ProcessPod, wait_ready: bool = True) -> None:
        ready = self.dir / f"{pod.name}.ready"
        ready.unlink(missing_ok=True)
        proc = pod.start() if not pod.instances else pod.restart()
        if wait_ready:
            wait_for(lambda: ready.exists() or proc.poll() is not None, timeout=60, what=f"{pod.name} to register")
            assert ready.exists(), pod.current.log.read_text()[-2000:]

    def wait_dropped(self, *types: str) -> None:
        """The host notices the closed connection within milliseconds; the diagnosis must not race it."""
        wait_for(lambda: not set(types) & self.host.registered_types(), timeout=30, what=f"the host to drop {types}")

    def config(self, workers: dict[str, dict[str, Any]], name: str = "agentops.yaml") -> Path:
        hub = {"name": "hub", "kind": "agentrpc", "address": self.host.address,
               "options": {"process": {"pid_file": str(self.host.pid_file("host"))},
                           "logs": [str(self.host.log("host"))]}}
        targets = [hub] + [{"name": w, "kind": "worker",
                            "options": {"host": self.host.address, "ping": dict(PING), **opts}}
                           for w, opts in workers.items()]
        path = self.dir / name
        path.write_text(yaml.safe_dump({"version": 1, "targets": targets}, sort_keys=False))
        return path

    def pod_ref(self, **ref: Any) -> dict[str, Any]:
        return {"namespace": NS, "kubeconfig": str(self.kubeconfig), **ref}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodCluster]:
    d = tmp_path_factory.mktemp("k8s-diag")
    host = PlainCluster(d / "plain", "text-pid", worker_types={})
    (host.dir / "bad_import.py").write_text(BAD_IMPORT)
    secret = {"kind": "Secret", "apiVersion": "v1", "type": "Opaque",
              "metadata": {"name": "redis", "namespace": NS},
              "data": {"password": base64.b64encode(SECRET_VALUE.encode()).decode()}}
    api = KubeApi([secret, *unschedulable_pod("sched-0", namespace=NS, labels={"app": "sched"})], token=TOKEN)
    c = PodCluster(d, host, api, api.kubeconfig(d, namespace=NS), {})
    try:
        host.start_host()
        yield c
    finally:
        for pod in c.pods.values():
            pod.stop()
        host.stop()
        api.stop()


def diagnose(config: Path, *args: str, fmt: str = "json") -> tuple[int, dict[str, Any], str]:
    tmp = config.parent / "cli-tmp"
    tmp.mkdir(exist_ok=True)
    result = run_cli("diagnose", *args, "-c", str(config), "--deadline", DEADLINE, "-o", fmt, timeout=180,
                     env={"TMPDIR": str(tmp)})
    assert_no_traceback(result)
    assert list(tmp.iterdir()) == []  # the pod logs' local copies are gone with the diagnosis
    for text in (result.stdout, result.stderr):
        assert TOKEN not in text and SECRET_VALUE not in text
        assert base64.b64encode(SECRET_VALUE.encode()).decode() not in text
    if fmt != "json":
        return result.code, {}, result.stdout
    doc = result.json()
    validate_report(doc)
    return result.code, doc, result.stdout


def named(cluster: PodCluster, worker: str, agent_type: str, pod: dict[str, Any], mode: str) -> dict[str, Any]:
    """`diagnose message --to TYPE` for one worker in a pod: the verdict must be `mode`, exit 2; the report."""
    config = cluster.config({worker: {"agent_types": [agent_type], "pod": cluster.pod_ref(**pod)}},
                            name=f"{worker}.yaml")
    code, doc, _ = diagnose(config, "message", "--to", agent_type)
    assert doc["verdict"]["id"] == mode and code == 2, doc["verdict"]
    return doc


def pod_result(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["results"] if r["id"] == "worker.pod")


def test_a_running_pod_is_healthy(cluster: PodCluster) -> None:
    cluster.worker_pod("echo-0", ("echo",))
    config = cluster.config({"wecho": {"agent_types": ["echo"], "pod": cluster.pod_ref(name="echo-0")}})
    code, doc, _ = diagnose(config, "message", "--to", "echo")
    assert doc["verdict"]["id"] == "healthy", doc["verdict"]
    pod = pod_result(doc)
    assert pod["status"] == "OK" and pod["target"] == "wecho", pod
    assert pod["facts"]["state"] == "running" and pod["facts"]["restart_count"] == 0
    assert pod["facts"]["logs_read"] == ["current"]
    # the pod's log is the worker's log: the same reader, the worker's records in it
    logs = next(r for r in doc["results"] if r["id"] == "logs.worker")
    assert logs["target"] == "wecho" and logs["facts"]["files"], logs
    assert not any(r["id"] == "worker.process" for r in doc["results"])
    assert code == 0, doc["status_set_by"]


def test_a_killed_worker_s_pod_is_worker_dead_with_its_exit_code(cluster: PodCluster) -> None:
    pod = cluster.worker_pod("leaf-0", ("leaf",))
    assert pod.kill() == 137  # SIGKILL for real: 128 + 9, as a container runtime reports it
    cluster.wait_dropped("leaf")
    config = cluster.config({"wleaf": {"agent_types": ["leaf"], "pod": cluster.pod_ref(name="leaf-0")}},
                            name="dead.yaml")
    for command in (("message", "--to", "leaf"), ("agent", "leaf")):
        code, doc, _ = diagnose(config, *command)
        verdict = doc["verdict"]
        assert verdict["id"] == "worker-dead" and code == 2, verdict
        assert "wleaf" in verdict["title"]
        assert "terminated (Error, exit code 137)" in verdict["cause"], verdict
        facts = pod_result(doc)["facts"]
        assert facts["terminated"]["exit_code"] == 137 and facts["phase"] == "Failed"
        assert any("worker.pod: " in e and "exit code 137" in e for e in verdict["evidence"])


def test_a_restarted_worker_shows_its_restart_count_and_previous_log(cluster: PodCluster) -> None:
    """echo-0 (the healthy test's) killed and restarted by the "kubelet": running again, restart count 1, the
    killed instance as its last termination, and the log before the restart served as `previous`."""
    pod = cluster.pods["echo-0"]
    first_pid = pod.current.proc.pid
    pod.kill()
    cluster.wait_dropped("echo")
    cluster.start(pod)  # restartPolicy Always
    assert pod.restart_count == 1
    config = cluster.config({"wecho": {"agent_types": ["echo"], "pod": cluster.pod_ref(selector="app=echo-0")}},
                            name="restarted.yaml")
    code, doc, _ = diagnose(config, "agent", "echo")
    assert doc["verdict"]["id"] == "healthy" and code == 0, doc["verdict"]
    facts = pod_result(doc)["facts"]
    assert facts["state"] == "running" and facts["restart_count"] == 1, facts
    assert facts["last_termination"]["exit_code"] == 137 and facts["last_termination"]["reason"] == "Error"
    assert facts["logs_read"] == ["current", "previous"]
    # previous = the instance before the restart: its log names the first process (text-pid: %(process)d)
    from agentops.core.cluster import PodRef
    from agentops.k8s.pods import read_pod

    reading = asyncio.run(read_pod(PodRef(name="echo-0", namespace=NS, kubeconfig=str(cluster.kubeconfig)),
                                   timeout=20, since_s=600))
    assert f" {first_pid} " in reading.logs["previous"] and f" {first_pid} " not in reading.logs["current"]
    assert f" {pod.current.proc.pid} " in reading.logs["current"]


def test_a_worker_that_crashes_at_start_and_is_restarted_is_a_crash_loop(cluster: PodCluster) -> None:
    # its types do not matter: it never gets as far as registering them
    pod = cluster.worker_pod("planner-w-0", ("planner",), script="bad_import.py", wait_ready=False)
    for _ in range(3):  # it really exits on its import each time; the "kubelet" restarts it
        assert pod.wait_exit() == 1
        cluster.start(pod, wait_ready=False)
    assert pod.wait_exit() == 1
    pod.back_off()
    config = cluster.config({"wplanner": {"agent_types": ["planner"], "pod": cluster.pod_ref(name="planner-w-0")}},
                            name="loop.yaml")
    code, doc, _ = diagnose(config, "message", "--to", "planner")
    verdict = doc["verdict"]
    assert verdict["id"] == "worker-crash-loop" and code == 2, verdict
    assert "restarted 3 times" in verdict["title"] and "the pod's restartCount" in verdict["title"]
    # why it exits: the traceback its last container's log ends with, read as a local worker's stderr is
    assert "No module named 'planner_tools_not_installed'" in verdict["cause"], verdict
    facts = pod_result(doc)["facts"]
    assert facts["waiting_reason"] == "CrashLoopBackOff" and facts["last_termination"]["exit_code"] == 1
    assert facts["last_error"]["case"] == "import-error"
    assert any("BackOff" in e for e in verdict["evidence"]), verdict["evidence"]


def test_an_oom_killed_worker_is_named(cluster: PodCluster) -> None:
    pod = cluster.worker_pod("failing-0", ("failing",))
    assert pod.oom_kill() == 137  # a real SIGKILL; OOMKilled is the fixture's word (no kernel memory cgroup here)
    cluster.wait_dropped("failing")
    doc = named(cluster, "wfail", "failing", {"name": "failing-0"}, "worker-oom-killed")
    verdict = doc["verdict"]
    assert "OOMKilled (exit code 137)" in verdict["title"] and "256Mi" in verdict["cause"], verdict
    assert pod_result(doc)["facts"]["terminated"]["reason"] == "OOMKilled"


def test_an_unschedulable_worker_pod_is_named(cluster: PodCluster) -> None:
    doc = named(cluster, "wsched", "slow", {"selector": "app=sched"}, "worker-not-scheduled")
    verdict = doc["verdict"]
    assert "sched-0" in verdict["title"] and "Insufficient memory" in verdict["cause"], verdict
    assert any("FailedScheduling" in e for e in verdict["evidence"])
    assert pod_result(doc)["facts"]["phase"] == "Pending"
    # every format carries the verdict, and no credential
    for fmt in ("table", "nagios"):
        code2, _, out = diagnose(cluster.dir / "wsched.yaml", "message", "--to", "slow", fmt=fmt)
        assert code2 == 2 and "sched-0" in out


def test_an_unreachable_api_server_is_said_not_guessed(cluster: PodCluster, tmp_path: Path) -> None:
    """A kubeconfig pointing at a closed port: the pod layer cannot tell (UNKNOWN, its reason), and the verdict
    does not invent a pod state."""
    from tests.fixtures.common import free_port

    bad = tmp_path / "kubeconfig"
    bad.write_text(cluster.kubeconfig.read_text().replace(cluster.api.url, f"http://127.0.0.1:{free_port()}"))
    config = cluster.config({"wx": {"agent_types": ["ghost"], "pod": {"name": "ghost-0", "kubeconfig": str(bad)}}},
                            name="unreachable.yaml")
    _code, doc, _ = diagnose(config, "message", "--to", "ghost")
    pod = pod_result(doc)
    assert pod["status"] == "UNKNOWN" and pod["reason"] == "connect", pod
    assert doc["verdict"]["id"] not in ("worker-dead", "worker-crash-loop", "worker-oom-killed", "worker-not-scheduled")


def test_a_bad_pod_option_is_a_config_error(cluster: PodCluster) -> None:
    config = cluster.config({"wbad": {"agent_types": ["x"], "pod": {"namespace": NS}}}, name="bad.yaml")
    result = run_cli("diagnose", "message", "--to", "x", "-c", str(config), "-o", "json")
    assert result.code == 3 and "pod" in result.stderr and "bad.yaml" in result.stderr, result.stderr
    assert_no_traceback(result)


def test_a_handler_s_traceback_in_the_pod_log_cuts_the_ping_short(cluster: PodCluster) -> None:
    """A handler that returns None to a direct message: the plain worker's runtime cannot serialize the reply,
    writes the traceback to its log and sends nothing, and the host tells the caller nothing
    (autogen-protocol.md). The log is the pod's, read through the API: followed during the ping, the
    traceback ends the wait (the watch, not the ping's timeout) and is the verdict's evidence."""
    cluster.worker_pod("none-0", ("none",))
    doc = named(cluster, "wnone", "none", {"name": "none-0"}, "handler-no-reply")
    verdict = doc["verdict"]
    ping = next(r for r in doc["results"] if r["id"] == "agent.ping")["facts"]
    assert ping["outcome"] == "no_reply" and "Unknown type NoneType" in ping["cut_short_by"], ping
    assert any(e.startswith("worker log: ValueError: Unknown type NoneType") for e in verdict["evidence"]), verdict
    logs = next(r for r in doc["results"] if r["id"] == "logs.worker")["facts"]
    assert [s["line"] for s in logs["during_diagnosis"] if "NoneType" in s["line"]], logs  # the probe's window
    assert any("followed during the ping" in n for n in doc["notes"]), doc["notes"]


def test_a_handler_that_raises_in_a_pod_is_named_and_its_log_shows_the_request(cluster: PodCluster) -> None:
    """A handler that raises: the plain worker answers the RPC with the error string (no traceback is written:
    the runtime only logs the response it sends). handler-raised from the reply; the pod's log followed during
    the ping shows the worker took the probe's request (the lines it wrote during the ping, from the API)."""
    cluster.worker_pod("raises-0", ("failing",))
    doc = named(cluster, "wraise", "failing", {"name": "raises-0"}, "handler-raised")
    assert "order service rejected the request" in doc["verdict"]["title"]
    logs = next(r for r in doc["results"] if r["id"] == "logs.worker")["facts"]
    assert logs["probe_delivered"] is True, logs  # only in what the worker wrote during the ping


def test_a_kubernetes_source_alone_finds_the_host_and_the_pod_owning_the_type(cluster: PodCluster) -> None:
    """No host or worker target in the config: one `kind: kubernetes` source. The host pod's IP and port are
    the plain host's; two replicas declare the same type (leaf: free once the killed-worker test's pod died) (`agentops.io/agent-types`): the second one's
    registration is really refused by the host and it exits, so the owner is the one Ready pod, and the
    diagnosis says which pod it read and why."""
    part = {"app.kubernetes.io/part-of": "disco"}
    port = int(cluster.host.address.rsplit(":", 1)[1])
    cluster.api.state.objects.append({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "disco-host-0", "namespace": NS, "uid": "uid-disco-host-0",
                     "labels": {**part, "app.kubernetes.io/component": "agent-host"},
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "host", "image": "agents/host:1.0",
                                 "ports": [{"name": "agentrpc", "containerPort": port}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "host", "ready": True, "restartCount": 0,
                                          "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}})
    declares = {"agentops.io/agent-types": "leaf"}
    cluster.worker_pod("disco-a", ("leaf",), labels=part, annotations=declares)
    second = cluster.worker_pod("disco-b", ("leaf",), labels=part, annotations=declares, wait_ready=False)
    assert second.wait_exit() == 1, second.current.log.read_text()[-2000:]  # "already registered"
    path = cluster.dir / "source-only.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "targets": [{"name": "disco", "kind": "kubernetes", "options": {
        "kubeconfig": str(cluster.kubeconfig), "namespace": NS,
        "selector": "app.kubernetes.io/part-of=disco"}}]}, sort_keys=False))
    ping = ("--payload-type", PING["payload_type"], "--payload", json.dumps(PING["payload"]))
    code, doc, _ = diagnose(path, "message", "--to", "leaf", *ping)
    assert doc["verdict"]["id"] == "healthy" and code == 0, doc["verdict"]
    pod = pod_result(doc)
    assert pod["target"] == "disco/worker/disco-a" and pod["facts"]["pod"] == "disco-a", pod
    why = pod["facts"]["mapped_by"]
    assert "the one Ready pod" in why and "disco-b" in why, why
    assert any(n.startswith("disco/worker/disco-a is the owner diagnosed") for n in doc["notes"]), doc["notes"]
    assert next(r for r in doc["results"] if r["id"] == "agent.ping")["status"] == "OK"

    # the owner dies: the diagnosis, still from the source alone, reads a pod that does not run
    cluster.pods["disco-a"].kill()
    cluster.wait_dropped("leaf")
    code, doc, _ = diagnose(path, "message", "--to", "leaf", *ping)
    assert doc["verdict"]["id"] == "worker-dead" and code == 2, doc["verdict"]
    assert "no pod declaring leaf is Ready" in pod_result(doc)["facts"]["mapped_by"]
