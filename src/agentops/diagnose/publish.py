"""`agentops diagnose publish --topic T [--source S]`: who would receive an event published to (T, S)?

Nothing is published: a diagnosis must not deliver real events to user agents. The host's subscription table
(GetSubscriptions, through the same host layers as `diagnose message`: DNS, TCP, the host's process, the
channel, the inventory) is matched against the topic the way the host matches it (`autogen.topics`); each
receiving agent type is then asked for its owner (RegisterAgent's answer) and the owner's process is looked
at. Layers (result ids): the host's, then `publish.subscribers`, one `publish.receiver` per receiving type
and `cluster.workers`; each judged by the diagnose command pack. The verdict is read from those results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from agentops.autogen.topics import is_direct, matching
from agentops.core.cluster import Cluster, name_owner
from agentops.core.model import Finding, Observation, Report, Result, Status
from agentops.core.runner import judge
from agentops.diagnose.engine import DEFAULT_DEADLINE_S, Deadline, Evidence
from agentops.diagnose.layers import Layers
from agentops.diagnose.message import started_stamp
from agentops.diagnose.verdict import Subject, admit, diagnose, line, make_finding

# AutoGen's DefaultTopicId uses this source when a publisher names none (outside an agent's handler).
DEFAULT_SOURCE = "default"
RECEIVER_CAP_S = 1.0


@dataclass
class PublishQuery:
    topic: str
    source: str = DEFAULT_SOURCE
    deadline_s: float = DEFAULT_DEADLINE_S


async def diagnose_publish(cluster: Cluster, q: PublishQuery) -> Report:
    started_at, t0 = started_stamp(), time.perf_counter()
    ev = Evidence(Deadline(q.deadline_s))
    async with Layers(cluster, ev) as layers:
        if await layers.reach_host():
            await _publish_layers(layers, ev, q)
            findings = publish_findings(ev, q)
        else:  # the host's own rules (dns, host-down, host-unresponsive, …) name why it could not be asked
            findings = diagnose(ev, Subject(to_type=q.topic, key=q.source, address=cluster.address))[:1]
    report = Report(kind="diagnose.publish", started_at=started_at, duration_s=time.perf_counter() - t0,
                    results=ev.results, findings=findings, notes=ev.notes)
    report.set_verdict(findings[0] if findings else None)
    subs = ev.facts("publish.subscribers")
    report.data = {"topic": q.topic, "source": q.source, "host": cluster.address,
                   "verdict": findings[0].id if findings else None, "deadline_s": q.deadline_s,
                   "matches": subs.get("matches", []), "receivers": subs.get("receivers", [])}
    return report


async def _publish_layers(layers: Layers, ev: Evidence, q: PublishQuery) -> None:
    started = time.perf_counter()
    found = matching(layers.subscriptions, q.topic)
    receivers = sorted({str(s["agent_type"]) for s in found})
    matches = [{**s, "direct": is_direct(s), "recipient": f"{s['agent_type']}/{q.source}"} for s in found]
    facts: dict[str, Any] = {"topic": q.topic, "source": q.source, "matches": matches,
                             "receivers": receivers, "total_subscriptions": len(layers.subscriptions)}
    if found:
        message = f"{len(found)} subscription(s) match {q.topic}: " + ", ".join(_shown(s) for s in found)
    else:
        message = f"no subscription matches {q.topic} (of {len(layers.subscriptions)} on the host)"
    obs = Observation(metrics={"subscribers": float(len(found)), "receiving_types": float(len(receivers))},
                      facts=facts, message=message)
    ev.record(judge(layers.spec("publish.subscribers"), q.topic, obs, time.perf_counter() - started))
    for agent_type in receivers:
        await ev.layer(layers.spec("publish.receiver"), agent_type,
                       lambda timeout, t=agent_type: _receiver(layers, t, timeout), cap=RECEIVER_CAP_S)
    await layers.cluster_workers()


def _shown(sub: dict[str, Any]) -> str:
    kind = "prefix" if sub["kind"] == "prefix" else "type"
    return f"{sub['agent_type']} ({kind} {sub['topic']!r})"


async def _receiver(layers: Layers, agent_type: str, timeout: float) -> Observation:
    """Who owns the receiving type (RegisterAgent's answer), and is that worker's process alive?"""
    from agentops.core import registry

    own = await registry.probe("agentrpc.ownership").observe(layers.client, {"agent_type": agent_type}, timeout)
    if "owned" not in own.facts:  # the host could not be asked
        return own
    cluster = layers.cluster
    owned, client = bool(own.facts["owned"]), own.facts.get("owner_client_id")
    facts: dict[str, Any] = {"agent_type": agent_type, "owned": owned, "owner_client_id": client}
    metrics: dict[str, float] = {"owned": 1.0 if owned else 0.0}
    worker = cluster.owner_of(agent_type)
    facts["mapped_by"] = f"the config: {worker.name} lists {agent_type} in agent_types" if worker else ""
    if owned and client:
        named = name_owner(cluster.workers, agent_type, client)
        if named.worker is not None:
            worker = next(w for w in cluster.workers if w.name == named.worker)
            facts["mapped_by"] = named.how
    owner = f"client {client}" if client else "a client the host did not name"
    parts = [f"{agent_type} is owned by {owner}" if owned else f"{agent_type} is NOT registered"]
    if worker is None:
        parts.append("no configured worker lists it in agent_types (its process was not checked)")
    else:
        facts["worker"] = worker.name
        located = None
        if worker.node is not None:  # it runs on another machine: its node sees it (None: noted)
            located = await layers.nodes.locate(worker, cap=timeout / 2)
        elif worker.process.configured and layers.worker_local(worker):
            located = registry.probe("process.view").locate(worker.process, layers.host_port, layers.host_ips)
        if located is None:
            parts.append(f"worker {worker.name}'s process cannot be checked from here")
        else:
            alive = located.alive
            metrics["alive"] = 1.0 if alive else 0.0
            facts["located_by"] = located.how
            if alive:
                v = next((p for p in alive if p.stopped), alive[0])
                metrics["stopped"] = 1.0 if v.stopped else 0.0
                facts.update(pid=v.pid, state=v.state, connected=v.connected)
                parts.append(f"worker {worker.name} (pid {v.pid}) state {v.state}")
            else:
                parts.append(f"worker {worker.name} is not running ({located.how})")
    return Observation(metrics=metrics, facts=facts, message="; ".join(parts))


def publish_findings(ev: Evidence, q: PublishQuery) -> list[Finding]:
    """The verdict first (from the judged results only, so it can be recomputed from a report), then the
    dead workers that may explain a missing subscriber."""
    checks = ev.ids()
    subs = ev.get("publish.subscribers")
    if subs is None:
        return []
    values: dict[str, Any] = {"topic": q.topic, "source": q.source}
    findings: list[Finding] = []
    if subs.status is not Status.OK:
        total = int(subs.facts.get("total_subscriptions", 0))
        findings.append(make_finding("nobody-subscribes", {**values, "total": total, "near": _near(ev, q.topic)},
                                     [line(subs)], checks, judged=subs.status))
    receivers = [r for r in ev.results if r.id == "publish.receiver"]
    for r in receivers:
        if r.status is not Status.OK and "owned" in r.facts:
            findings.append(_receiver_finding(r, subs, values, checks))
    workers = ev.get("cluster.workers")
    if workers is not None and workers.status is not Status.OK:
        rows = {row["worker"]: row for row in workers.facts.get("workers", [])}
        for name in workers.facts.get("dead", []):
            types = ", ".join(rows.get(name, {}).get("agent_types") or []) or "none configured"
            findings.append(make_finding("publish-subscriber-gone", {**values, "worker": name, "types": types},
                                         [line(workers)], checks, judged=workers.status))
    # Each finding only with its mode's declared evidence (knowledge.FailureMode requires / rules_out): a refused
    # one leaves room for the delivered verdict.
    findings = [f for f in findings if admit(f, ev, None).ok]
    if not findings:
        shown = [f"{r.target} ({r.facts['worker']})" if r.facts.get("worker") else r.target for r in receivers]
        findings.append(make_finding("publish-delivered", {
            **values, "receivers": ", ".join(shown), "count": len(subs.facts.get("matches", [])),
            "matches": ", ".join(_shown(s) for s in subs.facts.get("matches", []))},
            [line(subs), *(line(r) for r in receivers)], checks, judged=Status.worst([subs.status] + [r.status for r in
                                                                                          receivers])))
    # Each finding only with its mode's declared evidence (knowledge.FailureMode requires / rules_out).
    return [f for f in findings if admit(f, ev, None).ok]


def _receiver_finding(r: Result, subs: Result, values: dict[str, Any], checks: list[str]) -> Finding:
    agent_type = r.target
    sub = next((s for s in subs.facts.get("matches", []) if s["agent_type"] == agent_type), {})
    worker = r.facts.get("worker")
    v = {**values, "type": agent_type, "worker": worker or "?", "pid": r.facts.get("pid", "<pid>"),
         "subscription": _shown(sub) if sub else "?"}
    if not r.facts.get("owned"):
        v["expected_note"] = f" (the config puts it on worker {worker})" if worker else ""
        v["worker_hint"] = f" ({worker})" if worker else ""
        mode_id = "publish-receiver-unregistered"
        if worker and r.metrics.get("alive") == 0.0:
            mode_id, v["state"] = "publish-receiver-dead", "not running"
            v["detail"] = f"worker {worker} is not running and nobody owns {agent_type}"
    else:
        mode_id = "publish-receiver-dead"
        stopped = r.metrics.get("stopped") == 1.0
        v["state"] = f"stopped (state {r.facts.get('state')})" if stopped else "not running"
        v["detail"] = (f"worker {worker} (pid {v['pid']}) holds its connection but is stopped" if stopped
                       else f"worker {worker}'s process is gone although the host still lists {agent_type}")
    return make_finding(mode_id, v, [line(subs), line(r)], checks, judged=r.status)


def _near(ev: Evidence, topic: str) -> str:
    """Topics on the host that look like the one asked for (a typo, another case): said in the cause."""
    import difflib

    subs = [t for t in ev.facts("agentrpc.inventory").get("topics", [])]
    close = difflib.get_close_matches(topic, subs, n=3, cutoff=0.6)
    return f"; the host has similar topics: {', '.join(close)}" if close else ""
