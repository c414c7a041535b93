"""Measure once, on the real lab cluster: health's `agentrpc` and `worker` probes, `cluster inventory` and the
diagnosis take their AgentRpc inventory, ownership, ping, payload check and process view from the same
registered probes (core.registry), and the diagnosis reads a worker's missing metric series from the metrics
probe's structured fact, not from its message.

How it is proved: the registry's built-in table is pointed at counting subclasses of the real probes (the way a
plugin would replace a kind), so every call that goes through the registry is counted and still measures the
real cluster; a command with its own copy of a step would leave its count at zero. No network is mocked."""

from __future__ import annotations

import asyncio
import sys
import types
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from agentops.core import registry
from agentops.core.cluster import cluster_spec, load_cluster
from agentops.core.config import Target, load_config
from agentops.core.model import Observation
from agentops.probes import agentrpc_steps, metrics, process
from tests.fixtures.servers import run_probe

pytestmark = pytest.mark.lab

CALLS: Counter[str] = Counter()
MODULE = "agentops_test_counting_probes"


class CountingInventory(agentrpc_steps.InventoryStep):
    async def observe(self, client: Any, params: Mapping[str, Any], timeout: float) -> Observation:
        CALLS[self.kind] += 1
        return await super().observe(client, params, timeout)


class CountingOwnership(agentrpc_steps.OwnershipStep):
    async def observe(self, client: Any, params: Mapping[str, Any], timeout: float) -> Observation:
        CALLS[self.kind] += 1
        return await super().observe(client, params, timeout)


class CountingPing(agentrpc_steps.PingStep):
    async def observe(self, client: Any, params: Mapping[str, Any], timeout: float) -> Observation:
        CALLS[self.kind] += 1
        return await super().observe(client, params, timeout)


class CountingPayload(agentrpc_steps.PayloadStep):
    def check(self, params: Mapping[str, Any]) -> Observation:
        CALLS[self.kind] += 1
        return super().check(params)


class CountingProcessView(process.ProcessViewProbe):
    def locate(self, *args: Any, **kwargs: Any) -> Any:
        CALLS[self.kind] += 1
        return super().locate(*args, **kwargs)


class RewordedMetrics(metrics.MetricsProbe):
    """The real metrics probe with its message replaced: whoever still parses the text cannot find 'no series'."""

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        obs = await super().measure(target, params, timeout)
        if obs.reason is not None:
            obs.message = "(reworded: a caller must read the facts)"
        return obs


REPLACED = {
    "agentrpc.inventory": CountingInventory, "agentrpc.ownership": CountingOwnership, "agentrpc.ping": CountingPing,
    "agentrpc.payload": CountingPayload, "process.view": CountingProcessView, "metrics": RewordedMetrics,
}


@pytest.fixture
def counted() -> Iterator[Counter[str]]:
    module = types.ModuleType(MODULE)
    for cls in REPLACED.values():
        setattr(module, cls.__name__, cls)
    saved = dict(registry.BUILTIN_PROBES)
    sys.modules[MODULE] = module
    registry.BUILTIN_PROBES.update({kind: f"{MODULE}:{cls.__name__}" for kind, cls in REPLACED.items()})
    registry.probe.cache_clear()
    CALLS.clear()
    try:
        yield CALLS
    finally:
        registry.BUILTIN_PROBES.clear()
        registry.BUILTIN_PROBES.update(saved)
        registry.probe.cache_clear()
        del sys.modules[MODULE]


def test_health_probes_measure_through_the_registered_steps(lab, counted) -> None:
    hub = Target(name="hub", kind="agentrpc", address=lab.address, where="test:1")
    obs = run_probe("agentrpc", hub, {"ping": {"type": "echo", "payload_type": "Ping", "payload": {"text": "x"}}})
    assert not obs.failed, obs.message
    assert obs.facts["ping"]["outcome"] == "reply" and obs.metrics["ping_ms"] > 0
    assert counted == {"agentrpc.inventory": 1, "agentrpc.ping": 1}

    counted.clear()
    obs = run_probe("worker", load_config(str(lab.config)).targets["w1"])
    assert not obs.failed, obs.message
    assert obs.metrics["processes"] == 1 and obs.metrics["host_connections"] >= 1
    assert counted == {"process.view": 1, "agentrpc.inventory": 1}


def test_cluster_inventory_measures_through_the_registered_steps(lab, counted) -> None:
    from agentops.diagnose.inventory import inventory as _inventory

    cfg = load_config(str(lab.config))
    host = cfg.targets_of("agentrpc")[0]
    result, entry = asyncio.run(_inventory(host, 5.0, True, cluster_spec(cfg).workers_of(host.address or "")))
    assert result.reason is None, result.message
    assert entry["owner_workers"]["echo"]["worker"] == "w1"
    assert counted == {"agentrpc.inventory": 1, "agentrpc.ownership": len(entry["owners"])}


def test_diagnosis_measures_through_the_registered_steps(lab, counted) -> None:
    from agentops.diagnose.message import MessageQuery, diagnose_message

    cluster = load_cluster(load_config(str(lab.config)), None)
    report = asyncio.run(diagnose_message(cluster, MessageQuery(to_type="echo", deadline_s=20.0)))
    by_id = {r.id: r for r in report.results}
    assert by_id["agentrpc.inventory"].reason is None and by_id["agent.ping"].reason is None
    assert counted["agentrpc.inventory"] == 1 and counted["agentrpc.ping"] == 1
    assert counted["agentrpc.ownership"] == 1 and counted["agentrpc.payload"] == 1
    assert counted["process.view"] >= 2  # the host's process and the owning worker's


def test_missing_series_are_a_fact_the_diagnosis_reads(lab, counted) -> None:
    from agentops.diagnose.message import MessageQuery, diagnose_message

    url = lab.metrics_url("w1")
    obs = run_probe("metrics", Target(name="w1-metrics", kind="metrics", address=url, where="test:1"),
                    {"compute": [{"name": "gone", "series": "no_such_family"},
                                 {"name": "messages", "series": "agent_message_count"}]})
    assert obs.facts["missing_families"] == ["no_such_family"]
    assert obs.facts["missing_items"] == obs.facts["failed_items"] == ["gone"]
    assert "messages" in obs.metrics and obs.message.startswith("(reworded")

    # The lab exports the unsuffixed histogram name only, so agent_response_time_seconds is missing; the
    # diagnosis must see that from the fact (the message it would once have parsed is reworded here).
    cluster = load_cluster(load_config(str(lab.config)), None)
    report = asyncio.run(diagnose_message(cluster, MessageQuery(to_type="echo", deadline_s=20.0)))
    worker_metrics = next(r for r in report.results if r.id == "worker.metrics")
    assert worker_metrics.reason is None, worker_metrics.message
    assert worker_metrics.facts["missing_families"] == ["agent_response_time_seconds_bucket"]
    assert worker_metrics.metrics["p95_s"] >= 0 and worker_metrics.message.startswith("echo: ")


def test_the_steps_run_as_checks_too(lab) -> None:
    """Registered probes, so a pack may name them: on a worker target they view its process and ask its host."""
    w1 = load_config(str(lab.config)).targets["w1"]
    viewed = run_probe("process.view", w1)
    assert not viewed.failed, viewed.message
    assert viewed.metrics["processes"] == 1 and viewed.metrics["host_connections"] >= 1
    assert viewed.facts["pids"] == [lab.pid("w1")]
    inv = run_probe("agentrpc.inventory", w1)
    assert not inv.failed and "echo" in inv.facts["agent_types"]
    owner = run_probe("agentrpc.ownership", w1, {"agent_type": "echo"})
    assert owner.facts["owner_client_id"] == lab.client_id("w1")
    ping = run_probe("agentrpc.ping", w1, {"type": "echo", "payload_type": "Ping", "payload": {"text": "x"}})
    assert ping.reason is None and ping.metrics["rtt_ms"] > 0
    big = run_probe("agentrpc.payload", w1, {"agent_type": "echo", "payload_type": "Ping",
                                             "payload": {"text": "x" * (5 * 2**20)}})
    assert big.facts["too_large"] is True and big.reason is not None
