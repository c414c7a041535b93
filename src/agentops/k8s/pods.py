"""One worker's pod read from the API for a diagnosis: the pod (by name, or the pods a label selector
matches), its events, and its container's log, the current instance's and, after a restart, the previous
one's (`previous=true`), both from `sinceSeconds` = the diagnosis' window.

`measure_pod` turns what was read into an Observation (metrics and facts, never a status): the audit's own
pod rules (k8s/audit.py: restarts, crash loop, last terminations, Pending/Unschedulable) measure the pod the
way `agentops k8s audit` and the `k8s.pod` health check do, and beside them what only a diagnosis needs:
is the container running now, what it waits on, what it last ended with, the FailedScheduling events. The
diagnose pack's `worker.pod` check judges it (checks/diagnose.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentops.core.cluster import PodRef
from agentops.core.model import Observation
from agentops.k8s.access import KubeAccess, KubeClient, KubeError, gather_lists
from agentops.k8s.audit import RULES
from agentops.k8s.resources import RESOURCES
from agentops.k8s.snapshot import KubeObject, Snapshot, name_of, namespace_of

# The audit's rules about one pod, as the `k8s.pod` health check runs them (probes/k8s.PodProbe).
POD_RULES = ("k8s.restarts", "k8s.crash_loop", "k8s.terminations", "k8s.pending")
EVENTS_KEPT = 5  # the pod's latest events, as evidence
EVENT_TEXT = 300


@dataclass
class PodReading:
    """What the API said about a worker's pod; `problems`: reads that failed and were not fatal (a log)."""

    ref: PodRef
    namespace: str
    pod: KubeObject | None = None
    container: str = ""
    others: list[str] = field(default_factory=list)  # other pods the selector matched (not the one read)
    events: list[KubeObject] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)  # "current" / "previous" -> the log's text
    problems: list[str] = field(default_factory=list)


def access_for(ref: PodRef, timeout: float) -> KubeAccess:
    """The access a worker's `pod:` names, every request bounded by the layer's `timeout` (or the ref's own,
    when shorter)."""
    return KubeAccess(kubeconfig=ref.kubeconfig, context=ref.context, namespace=ref.namespace,
                      timeout=min(timeout, ref.timeout) if ref.timeout else timeout)


async def read_pod(ref: PodRef, timeout: float, since_s: float) -> PodReading:
    """Connect (the kubeconfig, an exec plugin), find the pod, then its events and logs at once. KubeError when
    the API cannot be asked at all; a log that cannot be read is a problem in the reading."""
    client = await KubeClient.connect(access_for(ref, timeout))
    try:
        reading = PodReading(ref, ref.namespace or client.connection.namespace)
        reading.pod, reading.others = await _find(client, ref, reading.namespace)
        if reading.pod is not None:
            reading.container = _container_name(reading.pod, ref.container)
            await _read_around(client, reading, since_s)
        return reading
    finally:
        client.close()


async def _find(client: KubeClient, ref: PodRef, namespace: str) -> tuple[KubeObject | None, list[str]]:
    if ref.name:
        try:
            return await client.get(RESOURCES["Pod"], namespace, ref.name), []
        except KubeError as exc:
            if exc.status == 404:
                return None, []
            raise
    pods = await client.list(RESOURCES["Pod"], namespace, label_selector=ref.selector)
    # A Deployment replacing its pod shows both for a while: the newest is the worker that runs (or should).
    pods.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
    return (pods[0] if pods else None), [name_of(p) for p in pods[1:]]


def _container_name(pod: KubeObject, wanted: str | None) -> str:
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    return wanted or (names[0] if names else "")


def container_status(pod: KubeObject, container: str) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((c for c in statuses if c.get("name") == container), {})


async def _read_around(client: KubeClient, reading: PodReading, since_s: float) -> None:
    """Events and logs together; a log the container has none of yet (never started) is not asked for."""
    pod, namespace = reading.pod or {}, reading.namespace
    status = container_status(pod, reading.container)
    started = bool(status.get("state", {}).get("running") or status.get("state", {}).get("terminated")
                   or status.get("lastState", {}).get("terminated"))
    restarted = bool((status.get("lastState") or {}).get("terminated"))
    selector = f"involvedObject.kind=Pod,involvedObject.name={name_of(pod)}"

    async def log(previous: bool) -> str | KubeError:
        try:
            return await client.log(namespace, name_of(pod), container=reading.container or None,
                                    previous=previous, since_seconds=int(since_s))
        except KubeError as exc:  # the log is evidence; without it the state still speaks
            return exc

    calls: list[Any] = [client.list(RESOURCES["Event"], namespace, field_selector=selector)]
    kinds = [k for k, wanted in (("current", started), ("previous", restarted)) if wanted]
    calls += [log(k == "previous") for k in kinds]
    outcomes = await gather_lists(*calls)
    reading.events = sorted(outcomes[0], key=_event_time)
    for kind, text in zip(kinds, outcomes[1:], strict=True):
        if isinstance(text, KubeError):
            reading.problems.append(f"the {kind} log of {namespace}/{name_of(pod)}: {text.message}")
        else:
            reading.logs[kind] = text


def _event_time(event: KubeObject) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or
               (event.get("metadata") or {}).get("creationTimestamp") or "")


def _state(status: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for name in ("running", "waiting", "terminated"):
        if (status.get("state") or {}).get(name) is not None:
            return name, status["state"][name] or {}
    return "none", {}


def _termination(term: dict[str, Any] | None) -> dict[str, Any] | None:
    if not term:
        return None
    return {"reason": term.get("reason") or "", "exit_code": term.get("exitCode"),
            "finished_at": term.get("finishedAt"), "signal": term.get("signal")}


def measure_pod(reading: PodReading, taken_at: float) -> Observation:
    """The pod's state as metrics and facts; a pod that does not exist is a worker that does not run."""
    ref, ns = reading.ref, reading.namespace
    if reading.pod is None:
        what = f"no pod {ns}/{ref.name}" if ref.name else f"no pod in {ns} matches {ref.selector}"
        summary = f"{what}: the worker does not run"
        return Observation(metrics={"not_running": 1.0}, message=summary, explains=True,
                           facts={"pod_found": False, "namespace": ns, "summary": summary})
    pod, container = reading.pod, reading.container
    snap = Snapshot(source="the API", namespaces=[ns], taken_at=taken_at)
    snap.add({**pod, "kind": "Pod"})
    snap.listed.add("Pod")
    metrics: dict[str, float] = {}
    facts: dict[str, Any] = {}
    for rule in POD_RULES:
        for _subject, obs in RULES[rule](snap, {}):
            metrics.update(obs.metrics)
            facts.update(obs.facts)
    status = container_status(pod, container)
    state, detail = _state(status)
    last = _termination((status.get("lastState") or {}).get("terminated"))
    current = _termination(detail) if state == "terminated" else None
    scheduling = [e for e in reading.events if e.get("reason") == "FailedScheduling"]
    metrics.update(not_running=float(state != "running"), failed_scheduling_events=float(len(scheduling)),
                   warning_events=float(sum(1 for e in reading.events if e.get("type") == "Warning")))
    limits = next((c.get("resources", {}).get("limits") or {} for c in (pod.get("spec") or {}).get("containers") or []
                   if c.get("name") == container), {})
    facts.update(pod_found=True, pod=name_of(pod), namespace=namespace_of(pod), container=container,
                 phase=(pod.get("status") or {}).get("phase"), state=state,
                 waiting_reason=detail.get("reason") if state == "waiting" else None,
                 started_at=detail.get("startedAt") if state == "running" else None,
                 terminated=current, last_termination=last, restart_count=int(status.get("restartCount") or 0),
                 memory_limit=limits.get("memory"), node=(pod.get("spec") or {}).get("nodeName"),
                 events=[_event(e) for e in reading.events[-EVENTS_KEPT:]], logs_read=sorted(reading.logs))
    if reading.others:
        facts["other_pods"] = reading.others
    if reading.problems:
        facts["problems"] = reading.problems
    facts["summary"] = _describe(facts, scheduling)
    # The state is why a breached metric is out of bounds: the judge keeps it after the breach.
    return Observation(metrics=metrics, facts=facts, message=facts["summary"], explains=True)


def _event(e: KubeObject) -> dict[str, Any]:
    return {"type": e.get("type"), "reason": e.get("reason"), "message": str(e.get("message") or "")[:EVENT_TEXT],
            "count": e.get("count"), "at": _event_time(e)}


def _ended(term: dict[str, Any]) -> str:
    return f"{term['reason'] or 'exited'}, exit code {term['exit_code']}"


def _describe(f: dict[str, Any], scheduling: list[KubeObject]) -> str:
    where = f"pod {f['namespace']}/{f['pod']} container {f['container']}"
    if f["state"] == "running":
        now = f"running since {f['started_at']}"
    elif f["state"] == "waiting":
        now = f"waiting ({f['waiting_reason'] or 'no reason given'})"
    elif f["state"] == "terminated":
        now = f"terminated ({_ended(f['terminated'])}) at {f['terminated']['finished_at']}"
    else:
        now = f"not started (phase {f['phase']})"
    parts = [f"{where}: {now}", f"restarts {f['restart_count']}"]
    if f["last_termination"]:
        parts.append(f"last termination {_ended(f['last_termination'])} at {f['last_termination']['finished_at']}")
    if scheduling:
        parts.append(f"FailedScheduling: {str(scheduling[-1].get('message') or '')[:EVENT_TEXT]}")
    return "; ".join(parts)


def lines_after(known: list[str], polled: list[str]) -> list[str]:
    """The lines of a log polled again from a fixed `sinceTime` that follow what is `known` of it already: the
    longest end of `known` that starts `polled` is skipped (the API serves no offsets, only the lines from a
    time on, so the overlap is found by content). A `polled` that `known` does not run into is all new."""
    for m in range(min(len(known), len(polled)), 0, -1):
        if known[-m] == polled[0] and known[-m:] == polled[:m]:
            return polled[m:]
    return polled
