"""hop.follow: bounded depth, no cycles, one deadline. The caller's outgoing calls come from a real
agentops.instrument registry served over HTTP and read by the real metrics probe; the layers of each
downstream type are stood in for by a function that records the results a cluster would give (a→b→c with
b also calling a back, c's worker dead), so the walk itself is what is tested here. The live walk on a real
AutoGen cluster is tests/e2e/test_diagnose_hop.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agentops.core.cluster import Cluster, ProcessLocator, WorkerSpec
from agentops.core.config import Target
from agentops.core.model import Reason, Result, Status
from agentops.diagnose.engine import DOWNSTREAM_TAG, Deadline, Evidence
from agentops.diagnose.hop import follow, hop_chain
from agentops.diagnose.layers import Layers
from agentops.diagnose.verdict import Subject, diagnose
from agentops.instrument import AgentMetrics
from tests.fixtures.servers import HttpTestServer

DEAD = {"c"}  # c's worker is not running


@pytest.fixture
def worker() -> Iterator[WorkerSpec]:
    metrics = AgentMetrics(worker="w", process_metrics=False)
    for caller, callee in (("a", "b"), ("b", "a"), ("b", "c")):  # b calls a back: a cycle
        metrics.outgoing_in_flight.labels("w", caller, callee).inc()
    with HttpTestServer() as server:
        url = server.metrics_route("/metrics", metrics.registry)
        yield WorkerSpec(name="w", host=None, process=ProcessLocator(), logs=[], log_format=None, metrics_url=url,
                         agent_types=["a", "b", "c"], pings={})


def ok(check_id: str, target: str, **facts: object) -> Result:
    return Result(id=check_id, target=target, probe="test", status=Status.OK, message=check_id, facts=dict(facts),
                  tags=["diagnose"])


def record_type(ev: Evidence, agent_type: str) -> None:
    """What a cluster's layers give for `agent_type`: owned, its worker running (c's: dead), no reply."""
    ev.record(ok("agent.registration", agent_type, owned=True))
    if agent_type in DEAD:
        ev.record(Result(id="worker.process", target="w", probe="test", status=Status.CRITICAL,
                         reason=Reason.ASSERTION, message="worker w is not running", facts={"processes": []},
                         tags=["diagnose"]))
    else:
        ev.record(ok("worker.process", "w", processes=[{"pid": 1, "state": "S"}]))
    ev.record(Result(id="agent.ping", target=f"{agent_type}/agentops-probe", probe="test", status=Status.CRITICAL,
                     reason=Reason.TIMEOUT, message=f"no reply from {agent_type}",
                     facts={"outcome": "no_reply", "timeout_s": 0.5}, tags=["diagnose"]))


def run_walk(worker: WorkerSpec, depth: int) -> tuple[Evidence, list[str]]:
    cluster = Cluster(address="127.0.0.1:1", target=Target(name="hub", kind="agentrpc", address="127.0.0.1:1"),
                      workers=[worker])
    measured: list[str] = []
    deadline = Deadline(5.0)

    async def run(layers: Layers, ev: Evidence, subject: Subject, depth_left: int) -> None:
        assert ev.deadline is deadline  # one deadline for the whole walk
        measured.append(subject.to_type)
        layers.owner = worker
        record_type(ev, subject.to_type)

    async def main() -> Evidence:
        ev = Evidence(deadline)
        async with Layers(cluster, ev) as layers:
            layers.owner, layers.registered = worker, ["a", "b", "c"]
            record_type(ev, "a")
            await follow(layers, ev, Subject(to_type="a", key="agentops-probe"), run, depth=depth)
        return ev

    return asyncio.run(main()), measured


def test_the_walk_stops_at_the_chain_and_the_depth(worker: WorkerSpec) -> None:
    ev, measured = run_walk(worker, depth=2)
    assert measured == ["b", "c"]  # a is never measured again, though b calls it
    assert any("already on the chain (a → b)" in n for n in ev.notes), ev.notes
    assert [(h["from"], h["to"], h["depth"]) for h in hop_chain(ev)] == [("a", "b", 1), ("b", "c", 2)]
    assert hop_chain(ev)[0]["chain"] == ["a", "b", "c"]  # from the target to the broken end
    v = diagnose(ev, Subject(to_type="a", key="agentops-probe"))[0]
    assert v.id == "downstream-broken"
    assert v.title == "a waits on b, which waits on c: worker w, which owns c, is not running", v.title
    # The downstream's results are in the report, named and tagged; the target's own evidence is untouched.
    downstream = [r for r in ev.results if DOWNSTREAM_TAG in r.tags]
    assert {r.target for r in downstream if r.id == "worker.process"} == {"b: w", "c: w"}
    assert ev.get("worker.process").target == "w" and ev.get("worker.process").status is Status.OK


def test_depth_one_follows_one_hop(worker: WorkerSpec) -> None:
    ev, measured = run_walk(worker, depth=1)
    assert measured == ["b"]
    assert [(h["from"], h["to"]) for h in hop_chain(ev)] == [("a", "b")]
    # b's own verdict is then all there is: no reply and nothing that explains it.
    assert hop_chain(ev)[0]["verdict"] == "unexplained"


def test_depth_zero_follows_nothing(worker: WorkerSpec) -> None:
    ev, measured = run_walk(worker, depth=0)
    assert measured == [] and hop_chain(ev) == [] and ev.get("hop.calls") is None
