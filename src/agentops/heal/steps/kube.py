"""Kubernetes remedies for a worker run by a Deployment (`options.heal.kubernetes.deployment`): a rollout
restart (what `kubectl rollout restart` does: PATCH the pod template's `kubectl.kubernetes.io/restartedAt`
annotation), deleting its pods (the ReplicaSet makes new ones), and scaling it.

Writes need more than the read-only role of deploy/kubernetes/rbac.yaml: deploy/kubernetes/heal-rbac.yaml
grants exactly these verbs (patch deployments, delete pods, list pods). An object a GitOps controller manages
(an Argo CD or Flux label or annotation on the Deployment) is never touched without --force: the controller
would revert the change, or worse, fight it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentops.core.model import Reason
from agentops.heal.step import HealContext, HealStep, StepPlan
from agentops.heal.targets import KubeRef
from agentops.maintain.step import Outcome, StepOutcome

if TYPE_CHECKING:
    from agentops.k8s.access import KubeClient

# Label or annotation key parts that mean a GitOps controller owns the object.
GITOPS_MARKERS = ("argocd.argoproj.io/", "toolkit.fluxcd.io/")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def gitops_owner(obj: Mapping[str, Any]) -> str | None:
    """The first label or annotation key that names a GitOps controller, or None."""
    meta = obj.get("metadata") or {}
    for key in [*(meta.get("labels") or {}), *(meta.get("annotations") or {})]:
        if any(m in key for m in GITOPS_MARKERS):
            return str(key)
    return None


class KubeWriter:
    """The read client's connection (kubeconfig, context, exec plugins, deadline) for one Deployment: its reads,
    and the two writes heal makes through k8s/write.py (the one place agentops writes to a cluster)."""

    def __init__(self, ref: KubeRef) -> None:
        self.ref = ref
        self.client: KubeClient | None = None

    async def __aenter__(self) -> KubeWriter:
        from agentops.k8s.access import KubeAccess, KubeClient

        self.client = await KubeClient.connect(KubeAccess(kubeconfig=self.ref.kubeconfig, context=self.ref.context,
                                                          namespace=self.ref.namespace, timeout=self.ref.timeout))
        return self

    @property
    def api(self) -> KubeClient:
        assert self.client is not None, "used outside `async with`"
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()

    async def deployment(self) -> dict[str, Any]:
        from agentops.k8s.resources import RESOURCES

        doc: dict[str, Any] = await self.api.get(RESOURCES["Deployment"], self.ref.namespace, self.ref.deployment)
        return doc

    async def pods(self, deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
        from agentops.k8s.resources import RESOURCES

        labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        if not selector:
            return []
        items: list[dict[str, Any]] = await self.api.list(RESOURCES["Pod"], self.ref.namespace,
                                                             label_selector=selector)
        return items

    async def patch_deployment(self, body: Mapping[str, Any]) -> dict[str, Any]:
        from agentops.k8s.write import patch_deployment

        return await patch_deployment(self.api, self.ref.namespace, self.ref.deployment, body)

    async def delete_pod(self, name: str) -> None:
        from agentops.k8s.write import delete_pod

        await delete_pod(self.api, self.ref.namespace, name)


def _why(ctx: HealContext) -> str:
    v = ctx.target.verdict
    return f"{v.mode}: {v.title}" if v else "the diagnosis found it unhealthy"


class _KubeStep(HealStep):
    default_timeout = 60.0

    def ref(self, ctx: HealContext) -> KubeRef:
        ref = ctx.target.options.kubernetes
        assert ref is not None
        return ref

    def applicable(self, ctx: HealContext) -> str | None:
        if ctx.target.options.kubernetes is None:
            return f"{ctx.target.name} names no options.heal.kubernetes.deployment"
        return None

    def to(self, ctx: HealContext) -> str:
        ref = self.ref(ctx)
        return f"deployment {ref.namespace}/{ref.deployment} (worker {ctx.target.name})"

    async def apply(self, ctx: HealContext) -> StepOutcome:
        from agentops.k8s.access import KubeError

        try:
            async with KubeWriter(self.ref(ctx)) as kube:
                dep = await kube.deployment()
                owner = gitops_owner(dep)
                if owner and not ctx.force:
                    return StepOutcome.failure(Reason.ASSERTION, f"{self.to(ctx)} is managed by GitOps ({owner}): not "
                                               f"touched without --force (change it in its repository)")
                return await self.act(ctx, kube, dep)
        except KubeError as exc:
            return StepOutcome.failure(exc.reason, f"kubernetes: {exc.message}")

    async def act(self, ctx: HealContext, kube: KubeWriter, dep: dict[str, Any]) -> StepOutcome:
        raise NotImplementedError


class RolloutRestartStep(_KubeStep):
    kind = "k8s.rollout_restart"
    description = "restart a Deployment's pods one by one (kubectl rollout restart: the restartedAt annotation)"

    def plan(self, ctx: HealContext) -> StepPlan:
        return StepPlan(action=f"PATCH spec.template annotation {RESTARTED_AT} (a rollout restart)", why=_why(ctx),
                        to=self.to(ctx))

    async def act(self, ctx: HealContext, kube: KubeWriter, dep: dict[str, Any]) -> StepOutcome:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await kube.patch_deployment({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}})
        out = StepOutcome(Outcome.CHANGED, f"rollout restart of {self.to(ctx)}")
        ctx.record_change(out, f"patched {RESTARTED_AT}={stamp} on {self.to(ctx)}")
        return out


class DeletePodsStep(_KubeStep):
    kind = "k8s.delete_pods"
    description = "delete a Deployment's pods (its ReplicaSet starts new ones); at most `max_pods`"
    params_doc = {"max_pods": "delete at most this many pods (default 10)",
                  "only_not_ready": "delete only pods that are not Ready (default false)"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        n = params.get("max_pods", 10)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
            raise ValueError(f"max_pods: expected an integer from 1 to 1000, got {n!r}")
        if not isinstance(params.get("only_not_ready", False), bool):
            raise ValueError("only_not_ready: expected true or false")

    def plan(self, ctx: HealContext) -> StepPlan:
        which = "its pods that are not Ready" if ctx.params.get("only_not_ready") else "its pods"
        return StepPlan(action=f"DELETE {which} (at most {ctx.params.get('max_pods', 10)})", why=_why(ctx),
                        to=self.to(ctx))

    async def act(self, ctx: HealContext, kube: KubeWriter, dep: dict[str, Any]) -> StepOutcome:
        pods = await kube.pods(dep)
        if ctx.params.get("only_not_ready"):
            pods = [p for p in pods if not _ready(p)]
        pods = pods[: int(ctx.params.get("max_pods", 10))]
        if not pods:
            return StepOutcome.failure(Reason.ASSERTION, f"no pod of {self.to(ctx)} to delete")
        out = StepOutcome(Outcome.CHANGED)
        for pod in pods:
            name = str((pod.get("metadata") or {}).get("name"))
            await kube.delete_pod(name)
            ctx.record_change(out, f"deleted pod {self.ref(ctx).namespace}/{name}")
        out.message = f"deleted {len(pods)} pod{'s' if len(pods) != 1 else ''} of {self.to(ctx)}"
        return out


def _ready(pod: Mapping[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


class ScaleStep(_KubeStep):
    kind = "k8s.scale"
    description = "set a Deployment's replicas (`replicas`), or add `add` replicas, never above `max_replicas`"
    params_doc = {"replicas": "the replica count to set", "add": "replicas to add to the current count",
                  "max_replicas": "never scale above this (default 20)"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        if ("replicas" in params) == ("add" in params):
            raise ValueError("give exactly one of replicas or add")
        for key in ("replicas", "add", "max_replicas"):
            v = params.get(key, 1)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10000:
                raise ValueError(f"{key}: expected an integer from 0 to 10000, got {v!r}")

    def plan(self, ctx: HealContext) -> StepPlan:
        how = (f"set replicas to {ctx.params['replicas']}" if "replicas" in ctx.params
               else f"add {ctx.params['add']} replicas")
        return StepPlan(action=f"PATCH spec.replicas: {how} (at most {ctx.params.get('max_replicas', 20)})",
                        why=_why(ctx), to=self.to(ctx))

    async def act(self, ctx: HealContext, kube: KubeWriter, dep: dict[str, Any]) -> StepOutcome:
        current = int((dep.get("spec") or {}).get("replicas", 1))
        wanted = int(ctx.params["replicas"]) if "replicas" in ctx.params else current + int(ctx.params["add"])
        wanted = min(wanted, int(ctx.params.get("max_replicas", 20)))
        out = StepOutcome(Outcome.OK if wanted == current else Outcome.CHANGED, before={"replicas": current},
                          after={"replicas": wanted})
        if wanted == current:
            out.message = f"{self.to(ctx)} already has {current} replicas"
            return out
        await kube.patch_deployment({"spec": {"replicas": wanted}})
        ctx.record_change(out, f"scaled {self.to(ctx)} from {current} to {wanted} replicas")
        out.message = f"scaled from {current} to {wanted} replicas"
        return out
