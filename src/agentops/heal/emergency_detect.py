"""What `agentops emergency TYPE` measures to tell whether an incident is on. Each detection returns
Observations (metrics and facts, never a status); the `emergency` command pack (checks/emergency.yaml) judges
them, so "3 types failing is a cascade" and "a queue of 1000 is an overflow" are data a config can override.

- cascade: every configured agent type pinged at once; a type fails when its ping gets no reply or an error
  reply, or its worker's process (on this machine) is gone or stopped. Failures are appended to
  `<state_dir>/emergency/failures.jsonl` and counted per type over the pack's `window_s`, so runs a few
  seconds apart (cron, heal --watch) see failures spread over the window as one cascade.
- overflow: each worker's `runtime_message_queue_size` (diagnose.layers.QUEUE_SERIES) from its metrics_url.
- memory: the machine's memory in use, and each local worker process's RSS.
- partition: the AgentRpc host unreachable while this machine's workers are up.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentops.core.cluster import Cluster, PingSpec, WorkerSpec, cluster_spec
from agentops.core.config import LOCAL, Target
from agentops.core.evaluate import evaluate
from agentops.core.model import Observation, Reason, Result
from agentops.core.osproc import ProcessView, locate
from agentops.core.packs import CheckSpec
from agentops.core.redact import redact, redact_obj
from agentops.diagnose.layers import QUEUE_SERIES

TYPES = ("cascade", "overflow", "memory", "partition")
FAILURE_LOG = "failures.jsonl"
# Reasons that mean "nothing answered" (as opposed to an answer we did not like: tls, auth, protocol).
UNREACHABLE = (Reason.CONNECT, Reason.TIMEOUT, Reason.DNS)
MIB = 1024 * 1024


@dataclass
class WorkerState:
    """A configured worker as this machine sees it: checkable here or not, and its live processes."""

    spec: WorkerSpec
    checkable: bool
    views: list[ProcessView]

    @property
    def alive(self) -> list[ProcessView]:
        return [v for v in self.views if not v.zombie]

    @property
    def down(self) -> str | None:
        """Why the worker cannot serve, from its processes alone (None: running, or not checkable here)."""
        if not self.checkable:
            return None
        if not self.alive:
            return "its process is not running"
        if all(v.stopped for v in self.alive):
            return "its process is stopped (SIGSTOP)"
        return None


def worker_states(cluster: Cluster) -> list[WorkerState]:
    host_port = _port(cluster.address)
    states = []
    for w in cluster.workers:
        checkable = w.process.configured and w.runs_here(cluster.address)
        views = locate(w.process, host_port).views if checkable else []
        states.append(WorkerState(w, checkable, views))
    return states


def _port(address: str) -> int | None:
    tail = address.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def judge(spec: CheckSpec, target: str, obs: Observation, duration_s: float = 0.0) -> Result:
    status, reason, message = evaluate(spec, obs)
    return Result(id=spec.id, target=target, probe=spec.probe, status=status, reason=reason,
                  message=redact(message), metrics=dict(obs.metrics), facts=redact_obj(obs.facts),
                  duration_s=duration_s, tags=list(spec.tags))


# ------------------------------------------------------------------------------------------------ cascade

def pings_of(cluster: Cluster) -> dict[str, PingSpec | None]:
    """Every type the config says should be served (host expect_types, workers' agent_types) and its ping."""
    from agentops.serve.cluster import expected_types
    from agentops.serve.cluster import pings_of as configured_pings

    assert cluster.config is not None
    pings = configured_pings(cluster.target, cluster_spec(cluster.config))
    return {t: pings.get(t) for t in expected_types(cluster.target, cluster.workers)}


async def _reachable(target: Target, timeout: float) -> Observation:
    from agentops.autogen.client import AgentRpcClient
    from agentops.core import registry

    async with AgentRpcClient.for_target(target) as client:
        return await registry.probe("agentrpc.inventory").observe(client, {}, timeout)


def failure_log(state_dir: Path) -> Path:
    return state_dir / "emergency" / FAILURE_LOG


def remember_failures(state_dir: Path, failing: Mapping[str, str], now: float, window_s: float) -> dict[str, dict]:
    """Append this run's failures and return every type's latest failure within the window (type -> record).
    The file is rewritten without entries older than the window when it holds many of them."""
    path = failure_log(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for agent_type, why in failing.items():
            f.write(json.dumps({"ts": now, "type": agent_type, "why": redact(why)}) + "\n")
    recent: dict[str, dict] = {}
    kept, total = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        total += 1
        try:
            rec = json.loads(line)
            ts = float(rec["ts"])
        except (ValueError, KeyError, TypeError):
            continue
        if now - ts <= window_s:
            kept.append(line)
            recent[str(rec["type"])] = rec
    if total - len(kept) > 1000:  # bounded file: old failures are of no use to any window
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
        os.replace(tmp, path)
    return recent


async def measure_cascade(cluster: Cluster, params: Mapping[str, Any], state_dir: Path) -> Observation:
    window_s = float(params.get("window_s", 60))
    ping_timeout = float(params.get("ping_timeout_s", 5))
    reach = await _reachable(cluster.target, ping_timeout)
    if reach.reason is not None:
        # Every type fails when the host does not answer: that is not a cascade of agents (see partition).
        return Observation.failure(reach.reason, f"the AgentRpc host {cluster.address} did not answer "
                                   f"({reach.message}); a cascade of agents cannot be told from a host that "
                                   f"does not answer: see `agentops emergency partition`")
    states = worker_states(cluster)
    owner: dict[str, WorkerState] = {t: s for s in states for t in s.spec.agent_types}
    pings = pings_of(cluster)
    failing: dict[str, str] = {}
    for agent_type in pings:
        s = owner.get(agent_type)
        if s is not None and s.down:
            failing[agent_type] = f"worker {s.spec.name}: {s.down}"
    # serve's ping: one client per type, so pings run at once and a silent type delays none.
    from agentops.probes.agentrpc_steps import ping_on_own_client

    asked = {t: p for t, p in pings.items() if p is not None and t not in failing}
    answers = await asyncio.gather(*(ping_on_own_client(cluster.target, t, p, ping_timeout) for t, p in asked.items()))
    for agent_type, obs in zip(asked, answers, strict=True):
        if obs.reason is not None:
            failing[agent_type] = obs.message
    now = time.time()
    recent = remember_failures(state_dir, failing, now, window_s)
    rows = [{"type": t, "worker": owner[t].spec.name if t in owner else None, "failing_now": t in failing,
             "why": rec.get("why", ""), "seen_s_ago": round(now - float(rec["ts"]), 1)}
            for t, rec in sorted(recent.items())]
    unpinged = sorted(t for t, p in pings.items() if p is None and t not in failing)
    names = ", ".join(f"{r['type']} ({r['why']})" for r in rows[:5]) or "none"
    return Observation(
        metrics={"failing_types": float(len(recent)), "failing_now": float(len(failing)),
                 "types": float(len(pings)), "window_s": window_s},
        facts={"failing": rows, "types_checked": sorted(pings), "not_pinged": unpinged,
               "failure_log": str(failure_log(state_dir))},
        message=f"{len(recent)} of {len(pings)} agent types failing within {window_s:g}s: {names}")


# ----------------------------------------------------------------------------------------------- overflow

async def measure_queues(cluster: Cluster, timeout: float) -> list[tuple[str, Observation]]:
    """(worker, observation of its queue) for every worker with a metrics_url."""
    from agentops.core import registry

    probe = registry.probe("metrics")
    probe.preload()
    workers = [w for w in cluster.workers if w.metrics_url]

    async def one(w: WorkerSpec) -> Observation:
        target = Target(name=f"{w.name}-metrics", kind="metrics", address=w.metrics_url,
                        where="worker options.metrics_url")
        obs = await probe.measure(target, {"compute": [{"name": "queue_size", "series": QUEUE_SERIES,
                                                        "agg": "max"}]}, timeout)
        if obs.reason is None:
            obs.message = f"{QUEUE_SERIES} {obs.metrics.get('queue_size', 0):.0f}"
        return obs

    found = await asyncio.gather(*(one(w) for w in workers))
    return [(w.name, o) for w, o in zip(workers, found, strict=True)]


# ------------------------------------------------------------------------------------------------- memory

async def measure_machine_memory(timeout: float) -> Observation:
    from agentops.core import registry

    target = Target(name=LOCAL, kind="host", where="this machine")
    obs = await registry.probe("host.memory").measure(target, {}, timeout)
    if obs.reason is None:
        obs.message = f"memory in use {obs.metrics.get('memory_used_percent', 0):.1f}%"
    return obs


def measure_worker_memory(cluster: Cluster) -> list[tuple[str, Observation]]:
    found = []
    for s in worker_states(cluster):
        if not s.checkable:
            continue
        if not s.alive:
            found.append((s.spec.name, Observation.failure(Reason.CONNECT, f"worker {s.spec.name}: no process "
                                                           f"({s.spec.process.describe()})")))
            continue
        rss = sum(v.rss_bytes for v in s.alive)
        found.append((s.spec.name, Observation(
            metrics={"rss_mib": round(rss / MIB, 1), "processes": float(len(s.alive))},
            facts={"pids": [v.pid for v in s.alive]},
            message=f"RSS {rss / MIB:.0f} MiB in {len(s.alive)} process(es)")))
    return found


# ---------------------------------------------------------------------------------------------- partition

async def measure_partition(cluster: Cluster, params: Mapping[str, Any]) -> Observation:
    timeout = float(params.get("connect_timeout_s", 3))
    reach = await _reachable(cluster.target, timeout)
    unreachable = reach.reason in UNREACHABLE
    states = [s for s in worker_states(cluster) if s.checkable]
    down = {s.spec.name: s.down for s in states if s.down}
    up = [s.spec.name for s in states if not s.down]
    # Partitioned: nothing answers at the host while the workers this machine can see are all running.
    partitioned = unreachable and bool(up) and not down
    if unreachable:
        seen = f"the AgentRpc host {cluster.address} does not answer ({reach.reason.value if reach.reason else ''})"
    else:
        seen = f"the AgentRpc host {cluster.address} answers"
    workers = (f"local workers up: {', '.join(up) or 'none'}"
               + (f"; down: {', '.join(f'{k} ({v})' for k, v in down.items())}" if down else ""))
    return Observation(
        metrics={"partitioned": float(partitioned), "host_unreachable": float(unreachable),
                 "local_workers_up": float(len(up)), "local_workers_down": float(len(down))},
        facts={"host": cluster.address, "host_answer": reach.message, "workers_up": up, "workers_down": down,
               "host_reason": reach.reason.value if reach.reason else None},
        message=f"{seen}; {workers}")


def failing_workers(cascade: Result, cluster: Cluster) -> list[str]:
    """The workers owning the types failing now (the isolation's targets; a type that failed earlier in the
    window and answers again is left alone), in config order."""
    owners = {str(r["worker"]) for r in cascade.facts.get("failing", []) if r.get("worker") and r.get("failing_now")}
    return [w.name for w in cluster.workers if w.name in owners]

