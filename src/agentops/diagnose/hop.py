"""Following the hop: a target that answers late, never, or with an error because something it calls does not.

An AutoGen agent that calls another (`send_message`) waits for ever when the callee's message is dropped or
never processed (the runtime's send_message has no timeout), so "relay does not answer" is often "echo, which
relay calls, is dead". When the target's ping got no reply, a late one, or an error, and the target's own
evidence does not explain it, the diagnosis looks for what the target calls (`hop.calls`):

- the host's log written while the target's ping was awaited: failures for OTHER types (`Agent echo not found,
  failed to deliver message.`, `Removing agent type echo …`); the host names no sender, so this is a lead
  the downstream diagnosis must confirm;
- the target's worker's metrics (agentops.instrument): calls from the target's type still waiting for their
  reply, per type called (`agent_outgoing_in_flight`), and calls that failed (`agent_outgoing_calls_total`,
  outcome error).

Each type found is diagnosed in turn with the same layers (registration, its worker's process, a ping, its
logs and metrics), within the SAME deadline (engine.Deadline), at most `depth` hops deep, never a type
already on the chain. Its results go into the report tagged DOWNSTREAM_TAG with the downstream type in their
target; its verdict becomes a `hop.downstream` result, and the `downstream-broken` rule names the broken hop
("relay waits on echo: worker wb, which owns echo, is not running") with that verdict as the evidence. A
downstream that is healthy changes nothing: the target's own verdict stands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from agentops.core.cluster import Cluster
from agentops.core.config import Target
from agentops.core.model import Finding, Observation, Reason, Result
from agentops.diagnose import logscan
from agentops.diagnose.engine import DOWNSTREAM_TAG, Evidence
from agentops.diagnose.hop_rule import how_it_failed
from agentops.diagnose.layers import Layers
from agentops.diagnose.verdict import Subject, diagnose
from agentops.logs import ranges

# How many calls deep a diagnosis follows by default (`diagnose message --hops`): the target's callee, and
# the callee's callee. Each hop costs a registration check and a ping out of the one deadline.
DEFAULT_HOP_DEPTH = 2
CALLS_CAP_S = 0.5  # reading the host's log and one scrape of the target's metrics
# Time the target's ping leaves for following its calls (when hops are followed at all), and what a
# downstream's ping leaves for its own logs and metrics: a hop is diagnosed within the same deadline, so it
# is budgeted before the ping that would otherwise wait to the end.
HOP_RESERVE_S = 1.0
HOP_SHARE = 0.2  # …but never more than this share of what is left: a short --deadline is the target's first
DOWNSTREAM_POST_PING_S = 0.2

WAITING = "agent_outgoing_in_flight"  # agentops.instrument's families (instrument.py)
CALLS = "agent_outgoing_calls_total"
HOST_LEADS = ("agent-not-found", "type-removed")

# While the target's ping is awaited: a healthy call returns in milliseconds, so its calls are looked at only
# after this, then every interval, until the ping ends.
CALL_WATCH_GRACE_S = 0.3
CALL_WATCH_INTERVAL_S = 0.2
# A ping shorter than this is not watched: a scrape in the middle of a short wait costs more than it saves.
CALL_WATCH_MIN_PING_S = 1.0

# Runs the layers of one agent type (message.type_layers, handed in: message.py imports this module).
TypeLayers = Callable[[Layers, Evidence, Subject, int], Awaitable[None]]


def hop_reserve(remaining_s: float, depth: int) -> float:
    """What a ping leaves for following the calls of its type, `depth` hops at most (0: nothing)."""
    return min(HOP_RESERVE_S, HOP_SHARE * remaining_s) if depth > 0 else 0.0


@dataclass
class Lead:
    """A type the target calls, and what says so."""

    agent_type: str
    waiting: float = 0.0  # the target's calls to it waiting for a reply (metrics)
    failed: float = 0.0  # the target's calls to it that failed (metrics, since the worker started)
    calls: float = 0.0  # the target's calls to it that finished, any outcome (metrics)
    host_lines: list[str] = field(default_factory=list)  # host log lines about it during the ping
    worker_lines: list[str] = field(default_factory=list)  # the caller's worker's log: requests unanswered

    def found_by(self, caller: str, worker: str) -> list[str]:
        out = []
        if self.waiting:
            out.append(f"{worker}'s metrics: {self.waiting:.0f} call(s) from {caller} to {self.agent_type} waiting "
                       f"for a reply")
        if self.failed:
            out.append(f"{worker}'s metrics: {self.failed:.0f} call(s) from {caller} to {self.agent_type} failed")
        out += [f"host log during the ping: {text}" for text in self.host_lines[-2:]]
        out += [f"{worker}'s log during the ping: {text}" for text in self.worker_lines[-2:]]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"agent_type": self.agent_type, "waiting": self.waiting, "failed": self.failed,
                "calls": self.calls, "host_log": self.host_lines[-3:], "worker_log": self.worker_lines[-3:]}


# ------------------------------------------------------------------------------ when to follow, and where

def candidate_types(layers: Layers, caller: str, extra: list[str]) -> list[str]:
    """Every type the caller could be calling: the host's, the config's and those the host log names."""
    types = list(layers.registered or [])
    for worker in layers.cluster.workers:
        types += worker.agent_types
    return [t for t in dict.fromkeys(types + extra) if t != caller]


def host_leads(layers: Layers, caller: str) -> dict[str, list[str]]:
    """{type: host log lines}: failures for other types the host logged since the target's ping was sent (a
    remote host's records as last fetched from its node: layers.nodes.refresh_host_records)."""
    host = layers.cluster.host
    found: dict[str, list[str]] = {}
    if host is None:
        return found
    batches = [list(layers.nodes.host_records)]
    for path in host.log_files():
        start = layers.ping_offsets.get(str(path), layers.start_offsets.get(str(path), 0))
        batches.append(ranges.read_records(path, start=start, log_format=host.log_format)[0])
    for records in batches:
        for sig in logscan.signals(records):
            if sig.kind in HOST_LEADS and sig.agent_type and sig.agent_type != caller:
                found.setdefault(sig.agent_type, []).append(sig.line)
    return found


async def caller_log_leads(layers: Layers, caller: str) -> dict[str, list[str]]:
    """{type: lines}: the caller's requests to other types its worker logged sending during the ping and got
    no response to (outgoing_log.py; read on its node when it runs on another machine)."""
    from agentops.diagnose.outgoing_log import waiting_calls

    owner = layers.owner
    if owner is None:
        return {}
    if owner.node is not None:
        records = await layers.nodes.records_since(owner, layers.ping_offsets)
    else:
        records = [r for path in owner.log_files() for r in ranges.read_records(
            path, start=layers.ping_offsets.get(str(path), layers.start_offsets.get(str(path), 0)),
            log_format=owner.log_format)[0]]
    return waiting_calls(records, caller)


async def outgoing(layers: Layers, caller: str, types: list[str], timeout: float) -> Observation:
    """The caller's calls per type from its worker's /metrics (agentops.instrument): waiting and failed."""
    from agentops.core import registry

    owner = layers.owner
    target = Target(name=f"{owner.name}-metrics", kind="metrics", address=owner.metrics_url,
                    where="worker options.metrics_url")
    compute: list[dict[str, Any]] = []
    for t in types:
        compute.append({"name": f"waiting.{t}", "series": WAITING, "labels": {"agent_type": caller, "target_type": t}})
        compute.append({"name": f"failed.{t}", "series": CALLS,
                        "labels": {"agent_type": caller, "target_type": t, "outcome": "error"}})
        compute.append({"name": f"calls.{t}", "series": CALLS, "labels": {"agent_type": caller, "target_type": t}})
    return await registry.probe("metrics").measure(target, {"compute": compute}, timeout)


async def cannot_return(layers: Layers, caller: str, agent_type: str) -> str | None:
    """Why a call to `agent_type` will never be answered, if something shows it: the host logged dropping a
    message to it since the ping, or the worker configured to own it is not running or is stopped (seen here,
    or by its node when it runs on another machine)."""
    from agentops.core import registry

    if agent_type in host_leads(layers, caller):
        return f"the host dropped a message to {agent_type} ('Agent {agent_type} not found')"
    worker = layers.cluster.owner_of(agent_type)
    if worker is not None and worker.node is not None:
        found = await layers.nodes.locate(worker, cap=CALLS_CAP_S)
        if found is None:  # the node did not answer (noted): nothing is claimed
            return None
    elif worker is None or not worker.process.configured or not layers.worker_local(worker):
        return None
    else:
        found = registry.probe("process.view").locate(worker.process, layers.host_port, layers.host_ips)
    if not found.alive:
        return f"{agent_type}'s worker {worker.name} is not running"
    stopped = next((v for v in found.alive if v.stopped), None)
    return f"{agent_type}'s worker {worker.name} (pid {stopped.pid}) is stopped" if stopped is not None else None


async def watch_calls(layers: Layers, caller: str, ping_timeout: float) -> str:
    """Runs beside the target's ping (Layers.ping_type's `also_watch`) until cancelled; returns the line that
    proves the reply cannot come: a call from the target still waiting on a type that cannot answer it
    (AutoGen's send_message has no timeout, so the target waits as long as that call does)."""
    never = asyncio.Event()  # set by nobody: once it is known there is nothing to watch
    if ping_timeout < CALL_WATCH_MIN_PING_S:
        await never.wait()
    await asyncio.sleep(CALL_WATCH_GRACE_S)
    while True:
        # A type in no config and not on the host (a typo, a worker never started) is named by the host's log.
        await layers.nodes.refresh_host_records(layers.ping_offsets)
        types = candidate_types(layers, caller, list(host_leads(layers, caller)))
        obs = await outgoing(layers, caller, types, CALLS_CAP_S)
        if obs.facts.get("missing_families"):
            await never.wait()  # not instrumented for outgoing calls: polling again will not change that
        for name, value in obs.metrics.items() if obs.reason is None else ():
            kind, _, agent_type = name.partition(".")
            if kind == "waiting" and value > 0:
                why = await cannot_return(layers, caller, agent_type)
                if why:
                    return f"{caller} waits on a call to {agent_type} that cannot return: {why}"
        await asyncio.sleep(CALL_WATCH_INTERVAL_S)


def preload_watch(cluster: Cluster) -> None:
    """Import the metrics client before any clock starts, when some worker has metrics to watch: imported
    during a ping, it would block the one event loop (and the ping's timer) while it loads."""
    from agentops.core import registry

    if any(w.metrics_url for w in cluster.workers):
        registry.probe("metrics").preload()


def watching_calls(layers: Layers, caller: str) -> Callable[[float], Awaitable[str]] | None:
    """`watch_calls` for the caller's ping, ready to run with the ping's timeout: None when its worker has no
    metrics to watch."""
    if layers.owner is None or not layers.owner.metrics_url:
        return None
    preload_watch(layers.cluster)  # a no-op once loaded (diagnose_message loads it before its deadline)
    return lambda timeout: watch_calls(layers, caller, timeout)


async def find_leads(layers: Layers, ev: Evidence, caller: str, how: str) -> tuple[Result, list[Lead]]:
    """The `hop.calls` layer: what the caller calls, from the host's log and the caller's metrics."""
    leads: dict[str, Lead] = {}

    async def measure(timeout: float) -> Observation:
        if how != "error":
            await layers.nodes.refresh_host_records(layers.ping_offsets)
        logged = host_leads(layers, caller) if how != "error" else {}
        for t, lines in logged.items():
            leads.setdefault(t, Lead(t)).host_lines += lines
        for t, lines in (await caller_log_leads(layers, caller) if how != "error" else {}).items():
            leads.setdefault(t, Lead(t)).worker_lines += lines
        facts: dict[str, Any] = {"caller": caller, "how": how}
        owner = layers.owner
        if owner is None or not owner.metrics_url:
            facts["metrics"] = "not configured"
        else:
            obs = await outgoing(layers, caller, candidate_types(layers, caller, list(logged)), timeout)
            if obs.facts.get("missing_families"):
                facts["metrics"] = f"not exported: {', '.join(obs.facts['missing_families'])}"
            elif obs.reason is not None:
                facts["metrics"] = f"not read: {obs.message}"
            else:
                facts["metrics"] = "read"
                for name, value in obs.metrics.items():
                    kind, _, t = name.partition(".")
                    if t and value and value == value and kind in ("waiting", "failed", "calls"):
                        lead = leads.setdefault(t, Lead(t))
                        setattr(lead, kind, value)
        # An error reply comes from a call that FAILED; silence from one still waiting or dropped.
        useful = [lead for lead in leads.values() if (lead.failed if how == "error" else
                                                       lead.waiting or lead.host_lines or lead.worker_lines)]
        if facts["metrics"] == "read":
            # The host's line names no sender: when the caller's own counts say it never called that type,
            # someone else did (relay3 → mid → echo: the host's 'Agent echo not found' is mid's call).
            never = [lead for lead in useful if not (lead.waiting or lead.calls)]
            facts["ruled_out"] = [{"agent_type": lead.agent_type, "why": f"{caller} never called it (metrics)"}
                                  for lead in never]
            useful = [lead for lead in useful if lead not in never]
        useful.sort(key=lambda lead: (-lead.waiting, -len(lead.host_lines), -len(lead.worker_lines), -lead.failed))
        leads.clear()
        leads.update({lead.agent_type: lead for lead in useful})
        facts["leads"] = [lead.to_dict() for lead in useful]
        worker = owner.name if owner is not None else "its worker"
        text = "; ".join(x for lead in useful for x in lead.found_by(caller, worker))
        message = (f"{caller} calls {', '.join(leads)}: {text}" if useful else
                   f"nothing shows {caller} waiting on another type (host log during the ping; metrics: "
                   f"{facts['metrics']})")
        return Observation(metrics={"leads": float(len(useful))}, facts=facts, message=message)

    result = await ev.layer(layers.spec("hop.calls"), caller, measure, cap=CALLS_CAP_S)
    return result, list(leads.values())


# ------------------------------------------------------------------------------------------ following

def downstream_layers(parent: Layers, ev: Evidence) -> Layers:
    """Layers for a downstream type that share the parent's channel, host view and log offsets: the host was
    reached already, and what the host logged since the diagnosis began counts as seen during it."""
    sub = Layers(parent.cluster, ev)
    sub.client = parent.client  # one channel per command; the parent closes it
    sub.registered, sub.subscriptions = parent.registered, parent.subscriptions
    sub.host_view, sub.host_ips, sub.since = parent.host_view, parent.host_ips, parent.since
    sub.start_offsets = dict(parent.start_offsets)
    sub.nodes.clients = parent.nodes.clients  # one client per node for the command; the parent closes them
    sub.nodes.silent = parent.nodes.silent  # a node that did not answer the parent is not asked again
    return sub


async def follow(layers: Layers, ev: Evidence, subject: Subject, run: TypeLayers, *, depth: int,
                 chain: tuple[str, ...] = (), seen: dict[str, Diagnosed] | None = None) -> None:
    """Follow the target's calls, at most `depth` hops, recording `hop.calls`, the downstream layers and a
    `hop.downstream` per type followed into `ev`. A type on the chain is not followed again (no cycles); a type
    already diagnosed in this diagnosis (reached by another path) is not measured again: its verdict is reused."""
    caller = subject.to_type
    chain = chain or (caller,)
    seen = {} if seen is None else seen
    how = how_it_failed(ev)
    if depth < 1 or how is None:
        return
    _, leads = await find_leads(layers, ev, caller, how)
    worker = layers.owner.name if layers.owner is not None else "its worker"
    for lead in leads:
        if lead.agent_type in chain:
            ev.note(f"{caller} calls {lead.agent_type}, already on the chain ({' → '.join(chain)}): not followed "
                    f"again")
            continue
        started = time.perf_counter()
        if lead.agent_type not in seen:
            if ev.deadline.remaining() <= 0:
                ev.note(f"{caller} calls {lead.agent_type}, but the deadline left no time to diagnose it")
                continue
            sub_ev = Evidence(ev.deadline)  # the same deadline: a hop never extends the diagnosis
            sub_ev.results = [r for r in ev.results if r.id.startswith("agentrpc.") and DOWNSTREAM_TAG not in r.tags]
            seeded = len(sub_ev.results)
            sub_subject = Subject(to_type=lead.agent_type, key=subject.key, address=subject.address)
            sub = downstream_layers(layers, sub_ev)
            await run(sub, sub_ev, sub_subject, depth - 1)
            await follow(sub, sub_ev, sub_subject, run, depth=depth - 1, chain=(*chain, lead.agent_type), seen=seen)
            found = diagnose(sub_ev, sub_subject)[0]
            deeper = next((r for r in sub_ev.results if r.id == "hop.downstream" and r.reason is not None
                           and DOWNSTREAM_TAG not in r.tags and r.facts.get("caller") == lead.agent_type), None)
            seen[lead.agent_type] = Diagnosed(found, deeper)
            for r in sub_ev.results[seeded:]:
                ev.record(_as_downstream(r, lead.agent_type))
            ev.notes += [f"{lead.agent_type} (downstream of {caller}): {n}" for n in sub_ev.notes]
        else:
            ev.note(f"{caller} calls {lead.agent_type}, diagnosed already in this diagnosis: its verdict is reused")
        ev.record(_downstream_result(layers, caller, lead, seen[lead.agent_type], chain, how, worker, started))


@dataclass(frozen=True)
class Diagnosed:
    """A downstream type's verdict, and the hop below it that verdict rests on (if any)."""

    found: Finding
    deeper: Result | None


def _as_downstream(r: Result, agent_type: str) -> Result:
    """A downstream layer's result as the report shows it: its type in the target, tagged."""
    if DOWNSTREAM_TAG in r.tags:
        return r  # from a deeper hop: already named
    target = r.target if r.target.startswith(agent_type) else f"{agent_type}: {r.target}"
    return replace(r, target=target, tags=[*r.tags, DOWNSTREAM_TAG])  # a copy: the sub-evidence stays as judged


def _downstream_result(layers: Layers, caller: str, lead: Lead, d: Diagnosed, chain: tuple[str, ...], how: str,
                       worker: str, started: float) -> Result:
    from agentops.core.runner import judge

    found, deeper = d.found, d.deeper
    # The broken end of the chain: the deepest downstream whose own verdict is not healthy.
    if deeper is not None and found.id == "downstream-broken":
        below: list[str] = deeper.facts["chain"]
        broken = deeper.facts["broken"]
        path = [*chain, *below[below.index(lead.agent_type):]]
    else:
        broken, path = {**found.to_dict(), "agent_type": lead.agent_type}, [*chain, lead.agent_type]
    facts = {"caller": caller, "agent_type": lead.agent_type, "how": how, "chain": path,
             "found_by": lead.found_by(caller, worker), "verdict": found.to_dict(), "broken": broken}
    obs = Observation(facts=facts, message=f"{lead.agent_type}: {found.id}: {found.title}")
    if found.id != "healthy":
        obs.reason = Reason.ASSERTION
    return judge(layers.spec("hop.downstream"), f"{caller} → {lead.agent_type}", obs, time.perf_counter() - started)


def hop_chain(ev: Evidence) -> list[dict[str, Any]]:
    """Every hop followed, for the report's data, nearest the target first: from, to, depth (1: a type the
    target calls), the chain from the target to the broken end, what found it, the downstream's verdict."""
    out = []
    for r in ev.results:
        if r.id != "hop.downstream":
            continue
        verdict, chain = r.facts.get("verdict", {}), list(r.facts.get("chain", []))
        caller = r.facts.get("caller")
        out.append({"from": caller, "to": r.facts.get("agent_type"),
                    "depth": chain.index(caller) + 1 if caller in chain else 1, "chain": chain,
                    "found_by": r.facts.get("found_by", []), "verdict": verdict.get("id"),
                    "status": verdict.get("status"), "title": verdict.get("title")})
    return sorted(out, key=lambda hop: hop["depth"])  # stable: in the order they were followed within a depth
