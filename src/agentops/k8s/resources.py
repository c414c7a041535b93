"""The API resources agentops reads: where each lives (group, version, plural) and whether it is namespaced.
A snapshot lists each of SNAPSHOT_KINDS once per namespace (or once across all namespaces with -A); the RBAC
Role in deploy/kubernetes/rbac.yaml grants `get`/`list` on exactly these plus `pods/log`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool = True
    # Secrets: ask for metadata only (PartialObjectMetadataList), so no Secret value ever reaches agentops.
    metadata_only: bool = False

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base


RESOURCES: dict[str, Resource] = {r.kind: r for r in (
    Resource("Pod", "", "v1", "pods"),
    Resource("Service", "", "v1", "services"),
    Resource("Endpoints", "", "v1", "endpoints"),
    Resource("Event", "", "v1", "events"),
    Resource("Secret", "", "v1", "secrets", metadata_only=True),
    Resource("Deployment", "apps", "v1", "deployments"),
    Resource("StatefulSet", "apps", "v1", "statefulsets"),
    Resource("Ingress", "networking.k8s.io", "v1", "ingresses"),
    Resource("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets"),
    Resource("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers"),
)}
SNAPSHOT_KINDS = tuple(RESOURCES)
