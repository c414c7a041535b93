"""The writes agentops makes to a cluster, all of them, and only for `agentops heal` (heal/steps/kube.py): patch a
Deployment (a rollout restart's annotation, a scale) and delete a pod. Everything else agentops does with the
API is a read (access.py), under the read-only role of deploy/kubernetes/rbac.yaml.

A write goes through the read client's connection (`KubeClient.connect`: kubeconfig, context, exec plugins),
in a thread under its deadline, and fails as a read fails (a `KubeError` with the closed vocabulary: auth for
401/403, connect, tls, timeout, protocol). `WRITES` names the verbs these calls need; deploy/kubernetes/
heal-rbac.yaml grants exactly them plus the reads the steps make first (tests/unit/test_heal_kube.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentops.k8s.access import KubeClient
from agentops.k8s.resources import RESOURCES

# A strategic merge patch, as `kubectl patch` and `kubectl rollout restart` send.
MERGE_PATCH = "application/strategic-merge-patch+json"
# (API group, resource, verb) of each write below: the write half of heal's Role.
WRITES = frozenset({(RESOURCES["Deployment"].group, RESOURCES["Deployment"].plural, "patch"),
                    (RESOURCES["Pod"].group, RESOURCES["Pod"].plural, "delete")})


async def patch_deployment(client: KubeClient, namespace: str, name: str,
                           body: Mapping[str, Any]) -> dict[str, Any]:
    """Strategic-merge `body` into the Deployment; the Deployment as the server now has it."""
    path = RESOURCES["Deployment"].path(namespace, name)
    doc: dict[str, Any] = json.loads(await client._request("PATCH", path, body=body, content_type=MERGE_PATCH))
    return doc


async def delete_pod(client: KubeClient, namespace: str, name: str) -> None:
    """Delete one pod (its ReplicaSet makes a new one)."""
    await client._request("DELETE", RESOURCES["Pod"].path(namespace, name), content_type="application/json")
