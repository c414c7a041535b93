"""The AutoGen view of one agentrpc target, collected on an interval: the series AutoGen itself does not export.

Measured through the registered AgentRpc steps (`agentrpc.inventory`, `.ownership`, `.ping`: the same
measurements as health, `cluster inventory` and the diagnosis), so a plugin replacing one replaces it here:

- the subscription table: registered agent types, and per topic its subscriptions;
- per registered type its owner (RegisterAgent's answer, named as the configured worker when the config ties
  the client to one: core.cluster.name_owners), so a type with no owner can be alerted on;
- per topic how many of its subscribed types are owned: a topic whose every subscriber type has no owner
  reaches nobody (the host drops events to it silently: autogen-protocol.md);
- per configured worker whether it is connected: every type it should own is owned (a killed worker's types
  are removed by the host at once);
- per type with a configured ping, a round-trip histogram and the failures by outcome.

The view is data (`TargetView.to_dict`); render/prometheus.py presents it. Memory is bounded: the view of a
target is replaced each cycle, histograms have fixed buckets, and a table larger than the options allow is
cut (and says so) rather than growing the exposition without limit.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from agentops.core import registry
from agentops.core.cluster import ClusterSpec, PingSpec, WorkerSpec, host_spec, name_owners, owner_of
from agentops.core.config import Target
from agentops.core.model import Reason
from agentops.probes.agentrpc_steps import ping_on_own_client
from agentops.serve.options import ServeOptions


@dataclass
class RoundTrips:
    """A cumulative histogram of ping round trips (Prometheus `le` buckets, seconds): fixed size for ever."""

    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    count: int = 0
    total_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)

    def record(self, seconds: float) -> None:
        self.count += 1
        self.total_s += seconds
        for i, le in enumerate(self.buckets):
            if seconds <= le:
                self.counts[i] += 1

    def to_dict(self) -> dict[str, Any]:
        return {"buckets": [[le, n] for le, n in zip(self.buckets, self.counts, strict=True)],
                "count": self.count, "sum": self.total_s}


@dataclass
class TargetView:
    target: str
    address: str
    up: bool = False
    reason: str | None = None
    message: str = ""
    collected_at: float = 0.0
    owners_asked: bool = False
    types: dict[str, dict[str, Any]] = field(default_factory=dict)  # type -> {registered, owned, worker, client_id}
    topics: list[dict[str, Any]] = field(default_factory=list)  # {topic, kind, subscriptions, live}
    workers: dict[str, bool] = field(default_factory=dict)  # configured worker -> connected
    truncated: bool = False
    # Kept across cycles (cumulative, as Prometheus expects of a histogram and a counter).
    pings: dict[str, RoundTrips] = field(default_factory=dict)
    ping_failures: dict[tuple[str, str], int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "address": self.address, "up": self.up, "reason": self.reason,
                "message": self.message, "collected_at": self.collected_at, "owners_asked": self.owners_asked,
                "types": self.types, "topics": self.topics, "workers": self.workers, "truncated": self.truncated,
                "pings": {t: h.to_dict() for t, h in self.pings.items()},
                "ping_failures": [{"agent_type": t, "outcome": o, "count": n}
                                  for (t, o), n in sorted(self.ping_failures.items())]}


def pings_of(target: Target, spec: ClusterSpec) -> dict[str, PingSpec]:
    """The configured ping of each type: the host's `ping:` and every worker's pings for its agent types."""
    found: dict[str, PingSpec] = {}
    for worker in spec.workers_of(target.address or ""):
        for agent_type in worker.agent_types:
            ping = worker.ping_for(agent_type)
            if ping is not None:
                found.setdefault(agent_type, ping)
    host_ping = host_spec(target).ping
    if host_ping is not None and host_ping.agent_type:
        found.setdefault(host_ping.agent_type, host_ping)
    return found


def expected_types(target: Target, workers: list[WorkerSpec]) -> list[str]:
    """The types the config says should be registered: the host's expect_types and its workers' agent_types."""
    found = list(host_spec(target).expect_types)
    for worker in workers:
        found += worker.agent_types
    return list(dict.fromkeys(found))


async def collect(target: Target, spec: ClusterSpec, options: ServeOptions, previous: TargetView | None,
                  timeout: float) -> TargetView:
    """One cycle of the view, within `timeout` seconds (a host that hangs ends as not up, with the reason)."""
    view = TargetView(target=target.name, address=target.address or "")
    if previous is not None:
        view.pings, view.ping_failures = previous.pings, previous.ping_failures
    started = time.monotonic()
    try:
        await asyncio.wait_for(_collect(view, target, spec, options, timeout), timeout + options.cluster_grace_s)
    except TimeoutError:
        view.up, view.reason = False, Reason.TIMEOUT.value
        view.message = f"no complete answer within {timeout:.3g}s"
    view.collected_at = time.time()
    view.message = view.message or f"collected in {time.monotonic() - started:.3f}s"
    return view


async def _collect(view: TargetView, target: Target, spec: ClusterSpec, options: ServeOptions,
                   timeout: float) -> None:
    from agentops.autogen.client import AgentRpcClient
    from agentops.autogen.topics import topic_table

    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(0.05, deadline - time.monotonic())

    workers = spec.workers_of(target.address or "")
    pings = pings_of(target, spec)
    async with AgentRpcClient.for_target(target) as client:
        inv = await registry.probe("agentrpc.inventory").observe(client, {}, left())
        if inv.reason is not None:
            view.up, view.reason, view.message = False, inv.reason.value, inv.message
            return
        view.up = True
        types: list[str] = list(inv.facts["agent_types"])
        rows = topic_table(inv.facts["subscriptions"])
        limit = options.max_series_per_target
        if len(types) + len(rows) > limit:
            view.truncated = True
            types, rows = types[:limit // 2], rows[:limit // 2]
        owners: dict[str, str | None] = {}
        if options.owners:
            view.owners_asked = True
            for agent_type in types:
                own = await registry.probe("agentrpc.ownership").observe(client, {"agent_type": agent_type}, left())
                if "owned" not in own.facts:  # the host stopped answering: what was read so far stands
                    view.message = f"ownership of {agent_type}: {own.message}"
                    break
                owners[agent_type] = own.facts.get("owner_client_id") if own.facts["owned"] else None
    named = name_owners(workers, owners)
    for agent_type in types:
        owned = owners.get(agent_type) is not None if options.owners else True
        owner = named.get(agent_type)
        configured = owner_of(workers, agent_type)
        view.types[agent_type] = {"registered": True, "owned": owned,
                                  "worker": owner.worker if owner else (configured.name if configured else None),
                                  "client_id": owner.client_id if owner else None}
    # A type the config expects that the host does not list at all (its worker died: the host removes the
    # type with its client) has no owner either; it is named with the worker configured to own it.
    for agent_type in expected_types(target, workers):
        if agent_type not in view.types and len(view.types) < limit:
            configured = owner_of(workers, agent_type)
            view.types[agent_type] = {"registered": False, "owned": False, "client_id": None,
                                      "worker": configured.name if configured else None}
    for row in rows:
        live = sum(1 for t in row["agent_types"] if view.types.get(t, {}).get("owned"))
        view.topics.append({"topic": row["topic"], "kind": row["kind"],
                            "subscriptions": len(row["agent_types"]), "live": live})
    for worker in workers:
        expected = worker.agent_types or [t for t, o in named.items() if o.worker == worker.name]
        view.workers[worker.name] = bool(expected) and all(view.types.get(t, {}).get("owned") for t in expected)
    if pings:
        results = await asyncio.gather(*(ping_on_own_client(target, t, p, left()) for t, p in pings.items()))
        for agent_type, obs in zip(pings, results, strict=True):
            if obs.reason is None and "rtt_ms" in obs.metrics:
                hist = view.pings.setdefault(agent_type, RoundTrips(options.ping_buckets_s))
                hist.record(obs.metrics["rtt_ms"] / 1000.0)
            else:
                outcome = str(obs.facts.get("outcome") or (obs.reason.value if obs.reason else "failed"))
                key = (agent_type, outcome)
                view.ping_failures[key] = view.ping_failures.get(key, 0) + 1
