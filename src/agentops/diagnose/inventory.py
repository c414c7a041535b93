"""`cluster inventory`'s measurement and report: what an AgentRpc host has registered (and, with owners, which
client owns each type), through the registered AgentRpc steps health and the diagnosis use too
(probes.agentrpc_steps), judged by the `cluster` command pack. Shared by `agentops cluster inventory` and
`agentops bundle`, so both write the same document."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agentops.core.cluster import ClusterSpec
from agentops.core.config import Target
from agentops.core.format import utc_stamp
from agentops.core.model import Report, Result


async def inventory(target: Target, timeout: float, owners: bool, workers: list[Any]) -> tuple[Result, dict[str, Any]]:
    from agentops.autogen.client import AgentRpcClient
    from agentops.autogen.topics import topic_table
    from agentops.core import registry
    from agentops.core.cluster import name_owners
    from agentops.core.model import Observation
    from agentops.core.packs import command_specs
    from agentops.core.runner import judge

    name, address = target.name, target.address or ""
    spec = command_specs("cluster")["cluster.inventory"]
    entry: dict[str, Any] = {"target": name, "address": address, "inventory": None, "owners": None}
    async with AgentRpcClient.for_target(target) as client:
        # The registered steps health and the diagnosis use too (probes.agentrpc_steps).
        inv = await registry.probe("agentrpc.inventory").observe(client, {}, timeout)
        failed = inv if inv.reason is not None else None
        if failed is None:
            entry["inventory"] = {"address": address, **{k: inv.facts[k] for k in ("agent_types", "topics",
                                                                                    "subscriptions")},
                                  "connect_ms": inv.metrics["connect_ms"], "latency_ms": inv.metrics["latency_ms"]}
            # Topics and the agent types behind each: who an event published to a topic reaches.
            entry["inventory"]["topic_types"] = topic_table(inv.facts["subscriptions"])
            if owners:
                entry["owners"] = {}
                for agent_type in inv.facts["agent_types"]:  # registered types: RegisterAgent only reads their owner
                    own = await registry.probe("agentrpc.ownership").observe(client, {"agent_type": agent_type},
                                                                             timeout)
                    if own.reason is not None and "owned" not in own.facts:
                        failed = own
                        break
                    entry["owners"][agent_type] = own.facts.get("owner_client_id")
                else:
                    named = name_owners(workers, entry["owners"])
                    entry["owner_workers"] = {t: o.to_dict() for t, o in named.items()}
        if failed is not None:
            return judge(spec, name, Observation.failure(failed.reason, failed.message), 0.0), entry
    types, topics = inv.facts["agent_types"], inv.facts["topics"]
    n_subs = len(inv.facts["subscriptions"])
    obs = Observation(metrics={"agent_types": float(len(types)), "topics": float(len(topics)),
                               "subscriptions": float(n_subs), "latency_ms": inv.metrics["latency_ms"]},
                      facts={"agent_types": types, "topics": topics},
                      message=f"{len(types)} agent types, {len(topics)} topics, {n_subs} subscriptions")
    return judge(spec, name, obs, 0.0), entry


async def inventory_report(hosts: list[Target], cluster: ClusterSpec | None, timeout: float,
                           owners: bool) -> Report:
    """Every host asked at once: the `cluster.inventory` report."""
    started_at = utc_stamp()
    t0 = time.perf_counter()
    answers = await asyncio.gather(*(inventory(t, timeout, owners,
                                               cluster.workers_of(t.address or "") if cluster else [])
                                     for t in hosts))
    return Report(kind="cluster.inventory", started_at=started_at, duration_s=time.perf_counter() - t0,
                  results=[r for r, _ in answers], data={"hosts": [e for _, e in answers]})
