"""The audit rules that judge what `--scrape` measured (the AgentRpc host's owners, the Ingress certificates),
on what a host would have said, judged by the shipped k8s pack: the cases the live tests
(tests/integration/test_k8s_live_rules.py, a real host and real TLS) do not reach — a worker that declares
nothing, a pure client, a type owned by a client no declared pod can be, a host that could not say — and the
measuring side's decisions that need no network (no host pod, no Ingress address, a wildcard host)."""

from __future__ import annotations

import asyncio
from typing import Any

from agentops.core.model import Observation, Reason, Status
from agentops.core.packs import command_specs
from agentops.k8s.audit import audit, role_params
from agentops.k8s.resources import SNAPSHOT_KINDS
from agentops.k8s.snapshot import HostRegistrations, Snapshot
from agentops.probes.k8s import ask_hosts, ingress_address, served_certificate
from tests.fixtures import k8s_objects as k

Obj = dict[str, Any]
LIVE = ("autogen.worker_owns_types", "autogen.type_owner")


def snapshot(objs: list[Obj], hosts: list[HostRegistrations] | None = None) -> Snapshot:
    snap = Snapshot(source="API server test", namespaces=[k.NS])
    snap.listed = set(SNAPSHOT_KINDS)
    for o in objs:
        snap.add(o)
    if hosts is not None:
        snap.hosts[k.NS] = hosts
    return snap


def judged(snap: Snapshot) -> dict[tuple[str, str], Any]:
    return {(r.id, r.target): r for r in audit(snap, command_specs("k8s")) if r.id in LIVE}


def owners(**by_type: str | None) -> list[HostRegistrations]:
    return [HostRegistrations("10.0.0.10:5000", owners=dict(by_type))]


def _pod(objs: list[Obj], name: str) -> Obj:
    return next(o for o in objs if o["kind"] == "Pod" and o["metadata"]["name"] == name)


def test_nothing_is_said_without_a_measurement() -> None:
    assert judged(snapshot(k.healthy_namespace())) == {}


def test_the_healthy_namespace_with_its_owners_passes() -> None:
    got = judged(snapshot(k.healthy_namespace(), owners(echo="c-1", planner="c-2")))
    assert {key: r.status for key, r in got.items()} == {
        ("autogen.worker_owns_types", "agents/pod/agent-worker-1-5d8f-a"): Status.OK,
        ("autogen.worker_owns_types", "agents/pod/agent-worker-2-5d8f-a"): Status.OK,
        ("autogen.type_owner", "agents/agent-type/echo"): Status.OK,
        ("autogen.type_owner", "agents/agent-type/planner"): Status.OK}


def test_a_host_that_could_not_say_makes_every_answer_unknown() -> None:
    failed = [HostRegistrations("10.0.0.10:5000", failure=Observation.failure(Reason.TIMEOUT, "no answer in 5s"))]
    got = judged(snapshot(k.healthy_namespace(), failed))
    assert len(got) == 4
    assert {(r.status, r.reason) for r in got.values()} == {(Status.UNKNOWN, Reason.TIMEOUT)}
    assert all(r.message.startswith("cannot tell: no answer") for r in got.values())


def test_one_host_of_two_failing_is_still_cannot_tell() -> None:
    views = [*owners(echo="c-1", planner="c-2"),
             HostRegistrations("10.0.0.11:5000", failure=Observation.failure(Reason.CONNECT, "refused"))]
    assert {r.status for r in judged(snapshot(k.healthy_namespace(), views)).values()} == {Status.UNKNOWN}


def test_undeclared_workers_are_cannot_tell_and_pure_clients_are_not_judged() -> None:
    objs = k.healthy_namespace()
    for o in objs:
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "agent-worker-1":
            del o["spec"]["template"]["metadata"]["annotations"]["agentops.io/agent-types"]
    _pod(objs, "agent-worker-2-5d8f-a")["metadata"]["annotations"] = {"agentops.io/agent-types": ""}
    got = judged(snapshot(objs, owners(echo="c-1")))
    w1 = got[("autogen.worker_owns_types", "agents/pod/agent-worker-1-5d8f-a")]
    assert w1.status is Status.UNKNOWN and "agentops.io/agent-types" in w1.message
    assert ("autogen.worker_owns_types", "agents/pod/agent-worker-2-5d8f-a") not in got
    # echo is owned, no pod declares it, and an undeclared Ready pod might be its owner: cannot tell
    echo = got[("autogen.type_owner", "agents/agent-type/echo")]
    assert echo.status is Status.UNKNOWN and "c-1" in echo.message


def test_a_type_owned_by_no_pod_and_a_pod_owning_nothing() -> None:
    got = judged(snapshot(k.healthy_namespace(), owners(echo=None, planner="c-2", stray="c-9")))
    w1 = got[("autogen.worker_owns_types", "agents/pod/agent-worker-1-5d8f-a")]
    assert w1.status is Status.CRITICAL and w1.facts["not_owned"] == ["echo"]
    assert "routes none of echo" in w1.message
    echo = got[("autogen.type_owner", "agents/agent-type/echo")]
    assert echo.status is Status.CRITICAL and "not registered on the host" in echo.message
    stray = got[("autogen.type_owner", "agents/agent-type/stray")]  # registered by a process that is no pod
    assert stray.status is Status.CRITICAL and stray.metrics == {"live_owner_pods": 0.0, "owned_on_host": 1.0}


def test_without_a_host_pod_the_host_cannot_be_asked() -> None:
    objs = [o for o in k.healthy_namespace() if o["metadata"]["name"] != "agent-host-5d8f-a"]
    snap = snapshot(objs)
    asyncio.run(ask_hosts(snap, role_params(command_specs("k8s")), 1.0))
    assert [(v.address, v.failure.reason) for v in snap.hosts[k.NS] if v.failure] == [("", Reason.UNSUPPORTED)]
    assert {r.status for r in judged(snap).values()} == {Status.UNKNOWN}


def test_the_ingress_address_and_what_cannot_be_read() -> None:
    lb: Obj = {"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}}
    assert ingress_address(lb) == "lb.example.com"
    assert ingress_address({"status": {"loadBalancer": {"ingress": [{"ip": "fd00::1", "ports": [{"port": 8443}]}]}}}) \
        == "[fd00::1]:8443"
    assert ingress_address({}) is None
    for address, host, words in ((None, "a.example.com", "no address"), ("127.0.0.1", "*.example.com", "wildcard"),
                                 ("127.0.0.1:99999", "a.example.com", "out of range")):
        obs = asyncio.run(served_certificate(address, host, 1.0))
        assert obs.reason is Reason.UNSUPPORTED and words in obs.message, obs
