"""heal's Kubernetes steps through the real `kubernetes` client against the stand-in API server with writes
(tests/fixtures/kube_api_write.py): no kube-apiserver can run on these machines. The verification stands in
for the diagnosis (no pod runs here either): it reads the server's recorded state, so a step that wrote
nothing, or the wrong thing, is never verified."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agentops.core.config import Config
from agentops.heal.engine import HealOptions, new_run, run_runbook
from agentops.heal.history import open_history, read_history
from agentops.heal.runbook import ModeRunbook, RunbookStep
from agentops.heal.steps.kube import RESTARTED_AT
from agentops.heal.targets import HealTarget, Verdict
from agentops.k8s.write import WRITES
from tests.fixtures import k8s_objects as k
from tests.fixtures.heal_targets import dead_worker
from tests.fixtures.heal_targets import healthy as healthy_verdict
from tests.fixtures.kube_api_write import KubeApiWrite

pytest.importorskip("kubernetes")

WORKER = {"app": "w1"}
OTHER = {"app": "w2"}


def objects(annotations: dict[str, str] | None = None) -> list[dict[str, Any]]:
    c = [k.container("worker", "agents:1")]
    dep = k.deployment("worker-w1", WORKER, c, replicas=2)
    if annotations:
        dep["metadata"]["annotations"] = dict(annotations)
    other = k.deployment("worker-w2", OTHER, c)
    return [dep, other, k.pod("worker-w1-a", dep, WORKER, c), k.pod("worker-w1-b", dep, WORKER, c, ip="10.0.0.11"),
            k.pod("worker-w2-a", other, OTHER, c, ip="10.0.0.12")]


def target(tmp_path: Path, kubeconfig: Path) -> tuple[Config, HealTarget]:
    return dead_worker(tmp_path, {"kubernetes": {"deployment": f"{k.NS}/worker-w1", "kubeconfig": str(kubeconfig),
                                                 "timeout": 5}})


def heal_with(ct: tuple[Config, HealTarget], tmp_path: Path, steps: list[RunbookStep], healthy: Any, *,
              force: bool = False) -> Any:
    cfg, t = ct
    run = new_run(cfg, HealOptions(state_dir=tmp_path / "state", apply=True, force=force))
    run.history = open_history(run.opts.state_dir, run.run_id, apply=True)
    rb = ModeRunbook(mode="worker-dead", runbook="kube-test", path=tmp_path / "rb.yaml", steps=steps)

    async def verify(target: HealTarget, within_s: float, acted_at: float) -> Verdict:
        return healthy_verdict() if healthy() else target.verdict  # type: ignore[return-value]

    return asyncio.run(run_runbook(rb, t, run, verify))


def test_rollout_restart_patches_the_template_annotation(tmp_path: Path) -> None:
    with KubeApiWrite(objects()) as api:
        t = target(tmp_path, api.kubeconfig(tmp_path))
        out = heal_with(t, tmp_path, [RunbookStep("rollout", "k8s.rollout_restart")],
                        lambda: RESTARTED_AT in (api.deployment(k.NS, "worker-w1")["spec"]["template"]["metadata"]
                                                 .get("annotations") or {}))
        assert out.outcome == "healed", out.message
        [w] = api.writes
        assert w.method == "PATCH" and w.path == f"/apis/apps/v1/namespaces/{k.NS}/deployments/worker-w1"
        assert w.content_type == "application/strategic-merge-patch+json"
        assert set(w.body["spec"]["template"]["metadata"]["annotations"]) == {RESTARTED_AT}
        assert api.deployment(k.NS, "worker-w2")["spec"]["template"]["metadata"].get("annotations") is None
    events = [r["event"] for r in read_history(tmp_path / "state")]
    assert events == ["attempt.start", "step.start", "change", "step", "attempt.end"]


def test_delete_pods_deletes_only_the_deployments_pods(tmp_path: Path) -> None:
    with KubeApiWrite(objects()) as api:
        t = target(tmp_path, api.kubeconfig(tmp_path))
        out = heal_with(t, tmp_path, [RunbookStep("delete", "k8s.delete_pods", params={"max_pods": 5})],
                        lambda: api.pods(k.NS) == ["worker-w2-a"])
        assert out.outcome == "healed", out.message
        assert sorted(w.path.rsplit("/", 1)[1] for w in api.writes if w.method == "DELETE") == ["worker-w1-a",
                                                                                              "worker-w1-b"]
        assert api.pods(k.NS) == ["worker-w2-a"]


def test_scale_adds_replicas_up_to_the_bound(tmp_path: Path) -> None:
    with KubeApiWrite(objects()) as api:
        t = target(tmp_path, api.kubeconfig(tmp_path))
        out = heal_with(t, tmp_path, [RunbookStep("scale", "k8s.scale", params={"add": 5, "max_replicas": 3})],
                        lambda: api.deployment(k.NS, "worker-w1")["spec"]["replicas"] == 3)
        assert out.outcome == "healed", out.message
        assert out.steps[0].outcome.before == {"replicas": 2} and out.steps[0].outcome.after == {"replicas": 3}


@pytest.mark.parametrize("marker", ["argocd.argoproj.io/tracking-id", "kustomize.toolkit.fluxcd.io/name"])
def test_gitops_managed_deployment_is_not_touched_without_force(tmp_path: Path, marker: str) -> None:
    with KubeApiWrite(objects({marker: "agents:apps/Deployment:agents/worker-w1"})) as api:
        t = target(tmp_path, api.kubeconfig(tmp_path))
        out = heal_with(t, tmp_path, [RunbookStep("rollout", "k8s.rollout_restart")], lambda: bool(api.writes))
        assert out.outcome == "failed" and api.writes == []
        assert "managed by GitOps" in out.steps[0].outcome.message and marker in out.steps[0].outcome.message
        t2 = target(tmp_path, api.kubeconfig(tmp_path))
        out = heal_with(t2, tmp_path, [RunbookStep("rollout", "k8s.rollout_restart")], lambda: bool(api.writes),
                        force=True)
        assert out.outcome == "healed" and len(api.writes) == 1


def test_a_forbidden_write_fails_the_step_and_escalates(tmp_path: Path) -> None:
    with KubeApiWrite(objects(), write_forbidden=("deployments",)) as api:
        t = target(tmp_path, api.kubeconfig(tmp_path))
        out = heal_with(t, tmp_path, [RunbookStep("rollout", "k8s.rollout_restart"),
                                      RunbookStep("delete", "k8s.delete_pods")],
                        lambda: "worker-w1-a" not in api.pods(k.NS))
        first, second = out.steps
        assert first.outcome.status.value == "failed" and first.outcome.reason.value == "auth"
        assert "403" in first.outcome.message
        assert second.verified is True and out.outcome == "healed"


def test_the_heal_role_grants_exactly_the_writes_made(tmp_path: Path) -> None:
    """deploy/kubernetes/heal-rbac.yaml against the requests the steps made on the stand-in server."""
    import yaml

    role = next(d for d in yaml.safe_load_all((Path(__file__).parents[2] / "deploy" / "kubernetes" /
                                               "heal-rbac.yaml").read_text()) if d["kind"] == "Role")
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    verbs = {"GET": "get", "PATCH": "patch", "DELETE": "delete"}
    used: set[tuple[str, str, str]] = set()
    with KubeApiWrite(objects()) as api:
        for steps in ([RunbookStep("rollout", "k8s.rollout_restart")], [RunbookStep("delete", "k8s.delete_pods")],
                      [RunbookStep("scale", "k8s.scale", params={"add": 1})]):
            heal_with(target(tmp_path, api.kubeconfig(tmp_path)), tmp_path, steps, lambda: True)
        for req in api.state.requests:
            method, path = req.split(" ", 1)
            parts = path.split("?")[0].strip("/").split("/")
            group = "" if parts[0] == "api" else parts[1]
            rest = parts[2:] if parts[0] == "api" else parts[3:]
            plural, named = rest[2], len(rest) > 3
            used.add((group, plural, verbs[method] if named or method != "GET" else "list"))
    assert used == granted
    # The writes k8s/write.py declares are the role's writes: no write is made anywhere else.
    assert {g for g in granted if g[2] not in ("get", "list")} == set(WRITES)
    assert {g for g in used if g[2] not in ("get", "list")} == set(WRITES)
