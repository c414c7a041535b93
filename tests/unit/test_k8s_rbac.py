"""deploy/kubernetes/rbac.yaml grants exactly what agentops reads: get/list on each kind of a snapshot, get on
pods/log, list on secrets (names only) in a Role of its own; no other verb, no other resource."""

from __future__ import annotations

from pathlib import Path

import yaml

from agentops.k8s.resources import RESOURCES

RBAC = Path(__file__).parents[2] / "deploy" / "kubernetes" / "rbac.yaml"


def _grants(kind: str) -> dict[str, set[tuple[str, str, str]]]:
    out: dict[str, set[tuple[str, str, str]]] = {}
    for doc in yaml.safe_load_all(RBAC.read_text()):
        if doc and doc["kind"] == kind:
            out[doc["metadata"]["name"]] = {(g, r, v) for rule in doc["rules"] for g in rule["apiGroups"]
                                            for r in rule["resources"] for v in rule["verbs"]}
    return out


def test_the_roles_grant_exactly_the_reads_agentops_makes() -> None:
    used = {(r.group, r.plural, v) for r in RESOURCES.values() if not r.metadata_only for v in ("get", "list")}
    used.add(("", "pods/log", "get"))
    for kind in ("Role", "ClusterRole"):
        grants = _grants(kind)
        assert grants["agentops-read"] == used, kind
    assert _grants("Role")["agentops-secret-names"] == {("", "secrets", "list")}
    assert [r.plural for r in RESOURCES.values() if r.metadata_only] == ["secrets"]
