"""Every audit rule on fixture objects, healthy and failing, judged by the shipped k8s pack: a healthy AutoGen
namespace passes every rule; each failing case changes one thing and names the object and the status the pack
gives it. The seed manifest of the issue, deployed, shows each AutoGen fault it carries."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentops.core.model import Status
from agentops.core.packs import command_specs
from agentops.k8s.audit import RULES, audit
from agentops.k8s.resources import SNAPSHOT_KINDS
from agentops.k8s.snapshot import Snapshot
from tests.fixtures import k8s_objects as k

Obj = dict[str, Any]


def snapshot(objs: list[Obj], denied: dict[str, str] | None = None) -> Snapshot:
    snap = Snapshot(source="API server test", namespaces=[k.NS], denied=dict(denied or {}))
    snap.listed = set(SNAPSHOT_KINDS) - set(snap.denied)
    for o in objs:
        if o["kind"] not in snap.denied:
            snap.add(copy.deepcopy(o))
    return snap


def judged(objs: list[Obj], denied: dict[str, str] | None = None) -> dict[tuple[str, str], Any]:
    return {(r.id, r.target): r for r in audit(snapshot(objs, denied), command_specs("k8s"))}


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def test_a_healthy_namespace_passes_every_rule() -> None:
    results = judged(k.healthy_namespace())
    bad = {key: (r.status.label, r.message) for key, r in results.items() if r.status is not Status.OK}
    assert bad == {}
    rules_seen = {r.probe for r in results.values()}
    # every rule looked at something (warning_events has no Warning event to be about here, and nothing was
    # measured for the rules that take `--scrape`: tests/integration/test_k8s_audit_cli.py, test_k8s_live_rules.py)
    assert rules_seen == set(RULES) - {"k8s.warning_events", "k8s.metrics_annotation", "autogen.worker_owns_types",
                                       "autogen.type_owner", "k8s.ingress_cert"}


def _set(path: list[Any], value: Any) -> Callable[[Obj], None]:
    def apply(o: Obj) -> None:
        cur = o
        for p in path[:-1]:
            cur = cur[p]
        cur[path[-1]] = value
    return apply


def _status_of(objs: list[Obj], name: str) -> Obj:
    return find(objs, "Pod", name)["status"]["containerStatuses"][0]


W1 = "agent-worker-1"
W1_POD = "agent-worker-1-5d8f-a"
HOST_POD = "agent-host-5d8f-a"


def _crash_loop(objs: list[Obj]) -> None:
    st = _status_of(objs, W1_POD)
    st["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    st["lastState"] = {"terminated": {"reason": "Error", "exitCode": 1}}


def _oom(objs: list[Obj]) -> None:
    _status_of(objs, W1_POD)["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}


def _exit_error(objs: list[Obj]) -> None:
    _status_of(objs, W1_POD)["lastState"] = {"terminated": {"reason": "Error", "exitCode": 2}}


def _restarts(n: int) -> Callable[[list[Obj]], None]:
    return lambda objs: _status_of(objs, W1_POD).__setitem__("restartCount", n)


def _unschedulable(objs: list[Obj]) -> None:
    p = find(objs, "Pod", W1_POD)
    p["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                       "reason": "Unschedulable",
                                                       "message": "0/3 nodes are available: 3 Insufficient memory."}]}


def _pending_long(objs: list[Obj]) -> None:
    p = find(objs, "Pod", W1_POD)
    p["metadata"]["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 900))
    p["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}


def _worker_container(objs: list[Obj], name: str = W1) -> Obj:
    return find(objs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def _host_container(objs: list[Obj]) -> Obj:
    return find(objs, "Deployment", "agent-host")["spec"]["template"]["spec"]["containers"][0]


def _stuck(objs: list[Obj]) -> None:
    find(objs, "Deployment", W1)["status"]["conditions"][1] = {
        "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}


def _no_endpoints(objs: list[Obj]) -> None:
    find(objs, "Endpoints", "redis")["subsets"] = [{"notReadyAddresses": [{"ip": "10.0.2.1"}]}]


def _hpa(objs: list[Obj]) -> None:
    objs.append(k.hpa("w1", W1, 4))


def _no_types(objs: list[Obj]) -> None:
    d = find(objs, "Deployment", W1)
    d["spec"]["replicas"] = 3
    d["status"]["readyReplicas"] = 3
    d["spec"]["template"]["metadata"]["annotations"]["agentops.io/agent-types"] = ""


CASES: list[tuple[str, Callable[[list[Obj]], None], str, str, Status]] = [
    ("half ready", lambda o: find(o, "Deployment", W1)["status"].update(readyReplicas=1) or
     find(o, "Deployment", W1)["spec"].update(replicas=2), "k8s.replicas", f"deployment/{W1}", Status.WARNING),
    ("none ready", lambda o: find(o, "StatefulSet", "redis")["status"].update(readyReplicas=0),
     "k8s.replicas", "statefulset/redis", Status.CRITICAL),
    ("rollout stuck", _stuck, "k8s.rollout", f"deployment/{W1}", Status.CRITICAL),
    ("generation not observed", lambda o: find(o, "Deployment", W1)["metadata"].update(generation=3),
     "k8s.rollout", f"deployment/{W1}", Status.WARNING),
    ("crash loop", _crash_loop, "k8s.crash_loop", f"pod/{W1_POD}", Status.CRITICAL),
    ("oom killed", _oom, "k8s.terminations", f"pod/{W1_POD}", Status.CRITICAL),
    ("exit 2", _exit_error, "k8s.terminations", f"pod/{W1_POD}", Status.WARNING),
    ("5 restarts", _restarts(5), "k8s.restarts", f"pod/{W1_POD}", Status.WARNING),
    ("11 restarts", _restarts(11), "k8s.restarts", f"pod/{W1_POD}", Status.CRITICAL),
    ("unschedulable", _unschedulable, "k8s.pending", f"pod/{W1_POD}", Status.CRITICAL),
    ("pending 15 min", _pending_long, "k8s.pending", f"pod/{W1_POD}", Status.WARNING),
    ("no requests", lambda o: _worker_container(o).pop("resources"), "k8s.resources", f"deployment/{W1}",
     Status.WARNING),
    ("no memory limit", lambda o: _worker_container(o)["resources"]["limits"].pop("memory"), "k8s.resources",
     f"deployment/{W1}", Status.WARNING),
    ("no liveness", lambda o: _worker_container(o).pop("livenessProbe"), "k8s.probes", f"deployment/{W1}",
     Status.WARNING),
    ("no readiness", lambda o: _worker_container(o).pop("readinessProbe"), "k8s.probes", f"deployment/{W1}",
     Status.WARNING),
    (":latest", lambda o: _worker_container(o).update(image="registry.example.com/agents/worker:latest"),
     "k8s.latest_image", f"deployment/{W1}", Status.WARNING),
    ("untagged", lambda o: _worker_container(o).update(image="registry.example.com:5000/agents/worker"),
     "k8s.latest_image", f"deployment/{W1}", Status.WARNING),
    ("no ready endpoint", _no_endpoints, "k8s.endpoints", "service/redis", Status.CRITICAL),
    ("tls secret missing", lambda o: o.remove(find(o, "Secret", "agents-tls")), "k8s.ingress_tls",
     "ingress/agents", Status.CRITICAL),
    ("warning event", lambda o: o.append(k.event(find(o, "Pod", W1_POD), "BackOff", "Back-off restarting", count=7)),
     "k8s.warning_events", f"pod/{W1_POD}", Status.WARNING),
    ("grpc probe on the host port", lambda o: _host_container(o).update(livenessProbe={"grpc": {"port": 5000}}),
     "autogen.host_grpc_probe", "deployment/agent-host", Status.CRITICAL),
    ("grpc probe on a worker", lambda o: _worker_container(o).update(readinessProbe={"grpc": {"port": 5000}}),
     "autogen.worker_grpc_probe", f"deployment/{W1}", Status.CRITICAL),
    ("two worker replicas", lambda o: find(o, "Deployment", W1)["spec"].update(replicas=2) or
     find(o, "Deployment", W1)["status"].update(readyReplicas=2), "autogen.worker_replicas", f"deployment/{W1}",
     Status.CRITICAL),
    ("hpa on a worker", _hpa, "autogen.worker_replicas", f"deployment/{W1}", Status.CRITICAL),
    ("two host replicas", lambda o: find(o, "Deployment", "agent-host")["spec"].update(replicas=2) or
     find(o, "Deployment", "agent-host")["status"].update(readyReplicas=2), "autogen.host_replicas",
     "deployment/agent-host", Status.CRITICAL),
    ("one host, no pdb", lambda o: o.remove(find(o, "PodDisruptionBudget", "agent-host")), "autogen.host_pdb",
     "deployment/agent-host", Status.WARNING),
]


@pytest.mark.parametrize(("case", "change", "check", "target", "status"), CASES, ids=[c[0] for c in CASES])
def test_a_failing_case_is_judged_on_its_object(case: str, change: Callable[[list[Obj]], None], check: str,
                                                target: str, status: Status) -> None:
    objs = k.healthy_namespace()
    healthy = judged(objs).get((check, f"{k.NS}/{target}"))  # none: no Warning event is about it yet
    assert healthy is None or healthy.status is Status.OK, healthy.message
    change(objs)
    result = judged(objs)[(check, f"{k.NS}/{target}")]
    assert result.status is status, result.message
    # the other objects the rule looks at are untouched
    others = [r for (cid, t), r in judged(objs).items() if cid == check and t != f"{k.NS}/{target}"]
    assert all(r.status is Status.OK for r in others), [(r.target, r.message) for r in others]


def test_healthy_variants_stay_ok() -> None:
    """What the rules must not flag: a digest-pinned image, a worker declaring no agent types (a client only)
    at 3 replicas, a gRPC probe on a port the host container does not serve (a health sidecar's)."""
    objs = k.healthy_namespace()
    _worker_container(objs)["image"] = "registry.example.com/agents/worker@sha256:" + "a" * 64
    _no_types(objs)
    _host_container(objs)["readinessProbe"] = {"grpc": {"port": 5001}}
    bad = {key: r.message for key, r in judged(objs).items() if r.status is not Status.OK}
    assert bad == {}


def test_without_permission_the_rules_that_need_a_kind_say_they_cannot_tell() -> None:
    objs = k.healthy_namespace()
    why = 'secrets is forbidden: User "system:serviceaccount:agentops:agentops" cannot list resource "secrets"'
    results = judged(objs, {"Secret": why, "Endpoints": why.replace("secrets", "endpoints")})
    tls = results[("k8s.ingress_tls", f"{k.NS}/ingress/agents")]
    assert tls.status is Status.UNKNOWN and "cannot tell" in tls.message and "forbidden" in tls.message
    assert results[("k8s.endpoints", f"{k.NS}/service/redis")].status is Status.UNKNOWN
    snap = results[("k8s.snapshot", "API server test")]
    assert snap.status is Status.WARNING and snap.metrics["denied_kinds"] == 2
    # the rest still ran and passed
    assert results[("k8s.replicas", f"{k.NS}/deployment/{W1}")].status is Status.OK
    # without PodDisruptionBudgets, a one-replica host is not called unprotected: it cannot be told
    no_pdb = judged([o for o in objs if o["kind"] != "PodDisruptionBudget"],
                    {"PodDisruptionBudget": why.replace("secrets", "poddisruptionbudgets")})
    assert no_pdb[("autogen.host_pdb", f"{k.NS}/deployment/agent-host")].status is Status.UNKNOWN


def test_the_deployed_seed_manifest_shows_each_fault_it_carries() -> None:
    results = judged(k.deployed_seed())
    bad = {(cid, t.split("/", 1)[1]): r.status for (cid, t), r in results.items() if r.status is not Status.OK}
    expected = {
        ("autogen.host_grpc_probe", "deployment/agent-host"): Status.CRITICAL,
        ("autogen.worker_grpc_probe", "deployment/agent-worker"): Status.CRITICAL,
        ("autogen.worker_replicas", "deployment/agent-worker"): Status.CRITICAL,
        ("autogen.host_replicas", "deployment/agent-host"): Status.CRITICAL,
        ("k8s.replicas", "deployment/agent-host"): Status.CRITICAL,
        ("k8s.replicas", "deployment/agent-worker"): Status.CRITICAL,
        ("k8s.rollout", "deployment/agent-host"): Status.CRITICAL,
        ("k8s.rollout", "deployment/agent-worker"): Status.CRITICAL,
        ("k8s.endpoints", "service/agent-host"): Status.CRITICAL,
    }
    for i in range(5):
        expected[("k8s.restarts", f"pod/agent-host-7c9-{i}")] = Status.WARNING
        expected[("k8s.terminations", f"pod/agent-host-7c9-{i}")] = Status.WARNING
        expected[("k8s.warning_events", f"pod/agent-host-7c9-{i}")] = Status.WARNING
    for i in range(1, 5):
        expected[("k8s.crash_loop", f"pod/agent-worker-7c9-{i}")] = Status.CRITICAL
        expected[("k8s.restarts", f"pod/agent-worker-7c9-{i}")] = Status.CRITICAL
        expected[("k8s.terminations", f"pod/agent-worker-7c9-{i}")] = Status.WARNING
    assert bad == expected
    term = results[("k8s.terminations", f"{k.NS}/pod/agent-worker-7c9-1")].facts["terminations"][0]
    assert term["exit_code"] == 1 and "already registered" in term["message"]


def test_secret_values_never_enter_a_snapshot() -> None:
    snap = snapshot([*k.deployed_seed(), k.secret("redis-auth", {"password": "c2VjcmV0"})])
    assert all("data" not in s for s in snap.of("Secret"))


def test_a_pack_dir_overrides_a_rule_by_id(tmp_path: Any) -> None:
    """Thresholds are the pack's data: a k8s.yaml in the config's pack_dirs replaces a check by id."""
    from agentops.core.config import Config

    (tmp_path / "k8s.yaml").write_text("pack: k8s\nchecks:\n  - id: k8s.restarts\n    probe: k8s.restarts\n"
                                       "    warning: {restarts: '> 100'}\n")
    objs = k.healthy_namespace()
    _restarts(50)(objs)
    target = (f"{k.NS}/pod/{W1_POD}")
    assert judged(objs)[("k8s.restarts", target)].status is Status.CRITICAL
    specs = command_specs("k8s", Config(path=str(tmp_path / "agentops.yaml"), pack_dirs=[tmp_path]))
    overridden = {(r.id, r.target): r for r in audit(snapshot(objs), specs)}
    assert overridden[("k8s.restarts", target)].status is Status.OK
    assert overridden[("k8s.crash_loop", target)].status is Status.OK  # the other checks stay the shipped ones
