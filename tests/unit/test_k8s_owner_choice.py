"""Which discovered worker pod a diagnosis reads as a type's owner (k8s/discovery.choose_owners), by the audit's
mapping (audit.declaring_pods): the one pod declaring it, the one Ready pod among several, the oldest of
several Ready ones (said as a guess the host cannot settle), the newest when none is Ready."""

from __future__ import annotations

from typing import Any

from agentops.k8s.discovery import choose_owners

ANNOTATION = "agentops.io/agent-types"


def pod(name: str, types: str | None, *, ready: bool = True, created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "agents", "labels": {"app": "w"}, "creationTimestamp": created}
    if types is not None:
        meta["annotations"] = {ANNOTATION: types}
    return {"kind": "Pod", "metadata": meta, "status": {
        "phase": "Running" if ready else "Pending", "conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_the_one_pod_declaring_a_type_owns_it() -> None:
    chosen = choose_owners([pod("a", "echo,planner"), pod("b", "leaf"), pod("c", None), pod("d", "")], [])
    assert {t: p["metadata"]["name"] for t, (p, _why) in chosen.items()} == {"echo": "a", "planner": "a",
                                                                            "leaf": "b"}
    assert "the one worker pod declaring echo" in chosen["echo"][1]


def test_among_replicas_the_one_ready_pod_owns_it() -> None:
    chosen = choose_owners([pod("a", "echo", ready=False), pod("b", "echo")], [])
    owner, why = chosen["echo"]
    assert owner["metadata"]["name"] == "b" and "the one Ready pod" in why and "a, b" in why


def test_several_ready_replicas_are_said_to_be_undecidable_and_the_oldest_is_read() -> None:
    chosen = choose_owners([pod("new", "echo", created="2026-01-02T00:00:00Z"),
                            pod("old", "echo", created="2026-01-01T00:00:00Z")], [])
    owner, why = chosen["echo"]
    assert owner["metadata"]["name"] == "old"
    assert "cannot be told from outside" in why and "2 Ready pods" in why


def test_no_ready_replica_reads_the_newest() -> None:
    chosen = choose_owners([pod("x", "echo", ready=False, created="2026-01-01T00:00:00Z"),
                            pod("y", "echo", ready=False, created="2026-01-03T00:00:00Z")], [])
    owner, why = chosen["echo"]
    assert owner["metadata"]["name"] == "y" and "no pod declaring echo is Ready" in why


def test_a_workload_s_annotation_declares_for_its_pods() -> None:
    workload = {"kind": "Deployment", "metadata": {"name": "w", "namespace": "agents"},
                "spec": {"selector": {"matchLabels": {"app": "w"}},
                         "template": {"metadata": {"annotations": {ANNOTATION: "relay"}}}}}
    chosen = choose_owners([pod("a", None)], [workload])
    assert chosen["relay"][0]["metadata"]["name"] == "a"
