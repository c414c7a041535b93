"""The `k8s.*` health probes: what a kubernetes source's expansion saw (`k8s.discovery`), and one object read
fresh from the API per check, measured by the audit's own rules (k8s/audit.py) so health and the audit
measure a workload, a pod or a Service the same way: `k8s.workload` (ready against desired replicas, a stuck
rollout), `k8s.pod` (restarts, crash loop, last terminations, Pending), `k8s.service` (ready endpoints).

One client per kubeconfig/context/timeout for the whole run (loading a kubeconfig may run an exec plugin),
made on first use inside the run's event loop; requests run off the loop under the access's deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from agentops.core.config import Target
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params

_CLIENTS: dict[tuple[Any, ...], Any] = {}  # (loop id, access) -> asyncio.Task[KubeClient]


async def _client(target: Target, timeout: float) -> Any:
    from agentops.k8s.access import KubeAccess, KubeClient

    o = target.options
    access = KubeAccess(kubeconfig=o.get("kubeconfig"), context=o.get("context"),
                        timeout=min(timeout, float(o.get("timeout") or timeout)))
    key = (id(asyncio.get_running_loop()), access)
    if key not in _CLIENTS:
        _CLIENTS[key] = asyncio.ensure_future(KubeClient.connect(access))
    return await asyncio.shield(_CLIENTS[key])


def _merge(observations: list[Observation]) -> Observation:
    merged = Observation()
    for obs in observations:
        if obs.failed:
            return obs
        merged.metrics.update(obs.metrics)
        merged.facts.update(obs.facts)
    return merged


class _ObjectProbe(Probe):
    """Read one object (and what the rules need beside it), then run the named audit rules on it."""

    resource: ClassVar[str]
    rules: ClassVar[tuple[str, ...]]

    def preload(self) -> None:
        import agentops.k8s.access
        import agentops.k8s.audit  # noqa: F401

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, set())

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.k8s.access import KubeError
        from agentops.k8s.audit import RULES
        from agentops.k8s.snapshot import Snapshot

        namespace, _, name = (target.address or "").partition("/")
        try:
            client = await _client(target, timeout)
            objects = await self.read(client, namespace, name, target)
        except KubeError as exc:
            return Observation.failure(exc.reason, exc.message)
        snap = Snapshot(source=client.connection.server, namespaces=[namespace])
        for obj in objects:
            snap.add(obj)
            snap.listed.add(str(obj.get("kind")))
        snap.listed.add(self.resource)
        measured = [obs for rule in self.rules for _subject, obs in RULES[rule](snap, {})]
        if not measured:
            return Observation.failure(Reason.UNSUPPORTED, f"{self.resource} {namespace}/{name} has nothing to judge "
                                       "(no status yet, or no selector)")
        return _merge(measured)

    def object_kind(self, target: Target) -> str:
        return self.resource

    async def read(self, client: Any, namespace: str, name: str, target: Target) -> list[dict[str, Any]]:
        from agentops.k8s.resources import RESOURCES

        kind = self.object_kind(target)
        obj = await client.get(RESOURCES[kind], namespace, name)
        obj.setdefault("kind", kind)
        return [obj]


class WorkloadProbe(_ObjectProbe):
    kind = "k8s.workload"
    target_kinds = ("k8s-workload",)
    description = "A Deployment's or StatefulSet's ready replicas against desired, and a stuck rollout."
    metrics = {"ready_percent": "ready replicas / desired * 100", "desired_replicas": "spec.replicas",
               "ready_replicas": "status.readyReplicas", "unready_replicas": "desired - ready",
               "rollout_stuck": "1 when Progressing=False (ProgressDeadlineExceeded)",
               "generation_lag": "spec generation not yet observed by the controller"}
    resource = "Deployment"
    rules = ("k8s.replicas", "k8s.rollout")

    def object_kind(self, target: Target) -> str:
        kind = str(target.options.get("object_kind") or "Deployment")
        return kind if kind in ("Deployment", "StatefulSet") else "Deployment"


class PodProbe(_ObjectProbe):
    kind = "k8s.pod"
    target_kinds = ("k8s-pod",)
    description = "A pod's restarts, crash loop, last terminations (OOMKilled, exit codes) and time Pending."
    metrics = {"restarts": "container restarts", "crash_looping_containers": "containers in CrashLoopBackOff",
               "oom_killed_containers": "last termination OOMKilled", "failed_terminations": "other non-zero exits",
               "pending_s": "seconds Pending", "unschedulable": "1 when the scheduler cannot place it"}
    resource = "Pod"
    rules = ("k8s.restarts", "k8s.crash_loop", "k8s.terminations", "k8s.pending")


class ServiceProbe(_ObjectProbe):
    kind = "k8s.service"
    target_kinds = ("k8s-service",)
    description = "A Service's ready and not-ready endpoints."
    metrics = {"ready_endpoints": "ready addresses", "not_ready_endpoints": "addresses not ready"}
    resource = "Service"
    rules = ("k8s.endpoints",)

    async def read(self, client: Any, namespace: str, name: str, target: Target) -> list[dict[str, Any]]:
        from agentops.k8s.access import KubeError
        from agentops.k8s.resources import RESOURCES

        svc = await client.get(RESOURCES["Service"], namespace, name)
        svc.setdefault("kind", "Service")
        try:
            ep = await client.get(RESOURCES["Endpoints"], namespace, name)
        except KubeError as exc:
            if exc.status != 404:  # none yet: no endpoint at all
                raise
            return [svc]
        ep.setdefault("kind", "Endpoints")
        return [svc, ep]


class DiscoveryProbe(Probe):
    kind = "k8s.discovery"
    target_kinds = ("kubernetes",)
    description = "What a kubernetes source's expansion saw: pods, targets made, pods without an address yet."
    metrics = {"pods": "pods listed", "targets": "targets made", "pods_without_address": "role pods with no IP"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, set())

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.k8s.discovery import discovered

        return discovered(target)


async def scrape_annotated(snap: Any, timeout: float) -> None:
    """Scrape every running pod whose prometheus.io/scrape is "true" at its annotated port, with the metrics
    probe (the one health uses), all at once; each observation goes into `snap.scrapes` for the audit's
    k8s.metrics_annotation rule."""
    from agentops.core import registry
    from agentops.core.runner import observe
    from agentops.k8s.discovery import metrics_url
    from agentops.k8s.snapshot import subject

    probe = registry.probe("metrics")
    probe.preload()
    jobs: dict[str, Any] = {}
    for pod in snap.of("Pod"):
        ann = (pod.get("metadata") or {}).get("annotations") or {}
        ip = (pod.get("status") or {}).get("podIP")
        if str(ann.get("prometheus.io/scrape", "")).lower() != "true" or not ip:
            continue
        url = metrics_url(pod, str(ip))
        if url is None:
            snap.scrapes[subject(pod)] = Observation.failure(
                Reason.ASSERTION, "prometheus.io/scrape is true but no prometheus.io/port nor a port named metrics")
            continue
        target = Target(name=subject(pod), kind="metrics", address=url)
        jobs[subject(pod)] = observe(lambda t=target: probe.measure(t, {"compute": []}, timeout), timeout)
    for name, obs in zip(jobs, await asyncio.gather(*jobs.values()), strict=True):
        snap.scrapes[name] = obs
