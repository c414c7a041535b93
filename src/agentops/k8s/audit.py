"""The audit's measurements: each rule reads a snapshot and returns, per object it is about, an Observation
(metrics and facts, never a status). Which rules run and how they are judged is the `k8s` command pack
(checks/k8s.yaml: a check's `probe` names a rule here, its thresholds judge the metrics, its params hold the
rule's settings such as the AutoGen role selectors); `audit` judges each observation with the one judge.

AutoGen rules know what a pod-level linter cannot: the AgentRpc host serves no grpc.health.v1 (a gRPC probe
on its port never passes), an agent type lives on exactly one worker (a second replica registering the same
types crashes on "already registered"), and the host keeps every registration in its own memory (replicas
behind one Service do not share them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from agentops.core.model import Observation, Reason, Result
from agentops.core.packs import CheckSpec
from agentops.core.runner import judge
from agentops.k8s.selectors import matches, matches_label_selector
from agentops.k8s.snapshot import HostRegistrations, KubeObject, Snapshot, name_of, namespace_of, subject

Measured = Iterator[tuple[str, Observation]]
Rule = Callable[[Snapshot, Mapping[str, Any]], Measured]

WORKLOAD_KINDS = ("Deployment", "StatefulSet")
AGENT_TYPES_ANNOTATION = "agentops.io/agent-types"
DETAIL_LIMIT = 300  # an event message or a termination message, as evidence


def _meta(obj: KubeObject) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _spec(obj: KubeObject) -> dict[str, Any]:
    return obj.get("spec") or {}


def _status(obj: KubeObject) -> dict[str, Any]:
    return obj.get("status") or {}


def _template(workload: KubeObject) -> dict[str, Any]:
    return _spec(workload).get("template") or {}


def _template_labels(workload: KubeObject) -> dict[str, str]:
    return (_template(workload).get("metadata") or {}).get("labels") or {}


def _containers(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(pod_spec.get("containers") or [])


def _time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _workloads(snap: Snapshot) -> list[KubeObject]:
    return [w for kind in WORKLOAD_KINDS for w in snap.of(kind)]


def _pod_specs(snap: Snapshot) -> Iterator[tuple[KubeObject, dict[str, Any]]]:
    """(object, pod spec) of every workload's template, and of every pod no controller owns (a pod of a
    Deployment is judged through its Deployment, once)."""
    for w in _workloads(snap):
        yield w, _template(w).get("spec") or {}
    for pod in snap.of("Pod"):
        if not _meta(pod).get("ownerReferences"):
            yield pod, _spec(pod)


def _role(workload: KubeObject, selector: str) -> bool:
    labels = {**(_meta(workload).get("labels") or {}), **_template_labels(workload)}
    return matches(selector, labels)


def _replicas(workload: KubeObject) -> int:
    value = _spec(workload).get("replicas")
    return 1 if value is None else int(value)


def _container_statuses(pod: KubeObject) -> list[dict[str, Any]]:
    status = _status(pod)
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _short(text: Any) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= DETAIL_LIMIT else line[: DETAIL_LIMIT - 1] + "…"


def snapshot_read(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """The snapshot itself: how many objects, and which kinds the credentials may not list."""
    yield snap.source, Observation(metrics={"objects": sum(snap.counts().values()), "denied_kinds": len(snap.denied)},
                                   facts={"objects_by_kind": snap.counts(), "denied": snap.denials()})


# --- generic rules -------------------------------------------------------------------------------------------


def _deployed(snap: Snapshot, kinds: tuple[str, ...]) -> list[KubeObject]:
    """The objects with a status: a manifest (`kubectl apply -f` input) has none, and nothing to judge."""
    return [o for kind in kinds for o in snap.of(kind) if "status" in o]


def replicas(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    for w in _deployed(snap, WORKLOAD_KINDS):
        desired, ready = _replicas(w), int(_status(w).get("readyReplicas") or 0)
        yield subject(w), Observation(metrics={
            "desired_replicas": desired, "ready_replicas": ready,
            "unready_replicas": max(0, desired - ready),
            "ready_percent": 100.0 if desired == 0 else round(100.0 * min(ready, desired) / desired, 1)})


def rollout(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    for w in _deployed(snap, ("Deployment",)):
        conditions = _status(w).get("conditions") or []
        stuck = [c for c in conditions if c.get("type") == "Progressing" and c.get("status") == "False"]
        generation, observed = _meta(w).get("generation"), _status(w).get("observedGeneration")
        lag = max(0, int(generation) - int(observed)) if generation is not None and observed is not None else 0
        facts = {"condition": _short(stuck[0].get("message")), "condition_reason": stuck[0].get("reason")} \
            if stuck else {}
        yield subject(w), Observation(metrics={"rollout_stuck": float(bool(stuck)), "generation_lag": lag},
                                      facts=facts)


def crash_loops(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    for pod in snap.of("Pod"):
        looping = [c for c in _container_statuses(pod)
                   if ((c.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"]
        facts = {"containers": [c.get("name") for c in looping]} if looping else {}
        yield subject(pod), Observation(metrics={"crash_looping_containers": len(looping)}, facts=facts)


def terminations(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """The last termination of each container (the current state's when it is terminated, else the last
    state's): OOMKilled counted apart from other non-zero exits, with reason and exit code as facts."""
    for pod in snap.of("Pod"):
        oom, failed, seen = 0, 0, []
        for c in _container_statuses(pod):
            term = (c.get("state") or {}).get("terminated") or (c.get("lastState") or {}).get("terminated")
            if not term:
                continue
            reason, code = term.get("reason") or "", term.get("exitCode")
            if reason == "OOMKilled":
                oom += 1
            elif reason != "Completed" and code not in (0, None):
                failed += 1
            else:
                continue
            seen.append({"container": c.get("name"), "reason": reason, "exit_code": code,
                         "finished_at": term.get("finishedAt"), "message": _short(term.get("message"))})
        # the kubelet's words explain a breach (explains: the table shows them after the threshold)
        said = "; ".join(f"{t['container']}: {t['reason'] or 'exit'} (exit {t['exit_code']})"
                         + (f" {t['message']}" if t["message"] else "") for t in seen)
        yield subject(pod), Observation(metrics={"oom_killed_containers": oom, "failed_terminations": failed},
                                        facts={"terminations": seen} if seen else {}, message=said,
                                        explains=bool(seen))


def restarts(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    for pod in snap.of("Pod"):
        statuses = _container_statuses(pod)
        counts = {str(c.get("name")): int(c.get("restartCount") or 0) for c in statuses}
        yield subject(pod), Observation(metrics={"restarts": sum(counts.values())},
                                        facts={"restarts_by_container": counts} if any(counts.values()) else {})


def pending(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    for pod in snap.of("Pod"):
        status = _status(pod)
        if status.get("phase") != "Pending":
            yield subject(pod), Observation(metrics={"pending_s": 0, "unschedulable": 0})
            continue
        created = _time(_meta(pod).get("creationTimestamp"))
        scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        unschedulable = scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable"
        facts = {"scheduler": _short(scheduled.get("message"))} if unschedulable else {}
        yield subject(pod), Observation(metrics={
            "pending_s": max(0.0, snap.taken_at - created) if created is not None else 0.0,
            "unschedulable": float(unschedulable)}, facts=facts)


def resources(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    for obj, pod_spec in _pod_specs(snap):
        no_req, no_lim = [], []
        for c in _containers(pod_spec):
            res = c.get("resources") or {}
            if not {"cpu", "memory"} <= set(res.get("requests") or {}):
                no_req.append(c.get("name"))
            if "memory" not in (res.get("limits") or {}):
                no_lim.append(c.get("name"))
        facts = {k: v for k, v in (("without_requests", no_req), ("without_memory_limit", no_lim)) if v}
        yield subject(obj), Observation(metrics={"containers_without_requests": len(no_req),
                                                 "containers_without_limits": len(no_lim)}, facts=facts)


def probes(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    for obj, pod_spec in _pod_specs(snap):
        no_live = [c.get("name") for c in _containers(pod_spec) if not c.get("livenessProbe")]
        no_ready = [c.get("name") for c in _containers(pod_spec) if not c.get("readinessProbe")]
        facts = {k: v for k, v in (("without_liveness", no_live), ("without_readiness", no_ready)) if v}
        yield subject(obj), Observation(metrics={"containers_without_liveness": len(no_live),
                                                 "containers_without_readiness": len(no_ready)}, facts=facts)


def _latest(image: str) -> bool:
    if "@" in image:
        return False  # pinned by digest
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"


def latest_images(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    for obj, pod_spec in _pod_specs(snap):
        found = [c.get("image") for c in [*_containers(pod_spec), *(pod_spec.get("initContainers") or [])]
                 if _latest(str(c.get("image") or ""))]
        yield subject(obj), Observation(metrics={"latest_images": len(found)},
                                        facts={"images": found} if found else {})


def endpoints(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    why = snap.missing("Endpoints")
    if why:
        for svc in snap.of("Service"):
            yield subject(svc), Observation.failure(Reason.AUTH if "Endpoints" in snap.denied
                                                    else Reason.UNSUPPORTED, why)
        return
    by_name = {(namespace_of(e), name_of(e)): e for e in snap.of("Endpoints")}
    for svc in snap.of("Service"):
        spec = _spec(svc)
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            continue  # endpoints managed by hand or outside the cluster: nothing to compare
        ep = by_name.get((namespace_of(svc), name_of(svc)), {})
        subsets = ep.get("subsets") or []
        ready = sum(len(s.get("addresses") or []) for s in subsets)
        not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
        yield subject(svc), Observation(metrics={"ready_endpoints": ready, "not_ready_endpoints": not_ready})


def ingress_tls(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """Every TLS secret an Ingress names exists (by name: the Secret's values are never read; expiry is judged
    on the certificate the Ingress serves, `ingress_certificates`). Without permission to list Secrets the rule
    says it cannot tell."""
    secrets = {(namespace_of(s), name_of(s)) for s in snap.of("Secret")}
    for ing in snap.of("Ingress"):
        names = [t.get("secretName") for t in _spec(ing).get("tls") or [] if t.get("secretName")]
        if not names:
            continue
        why = snap.missing("Secret")
        if why:
            yield subject(ing), Observation.failure(Reason.AUTH if "Secret" in snap.denied else Reason.UNSUPPORTED,
                                                    f"TLS secrets {', '.join(names)}: {why}")
            continue
        missing = [n for n in names if (namespace_of(ing), n) not in secrets]
        yield subject(ing), Observation(metrics={"missing_tls_secrets": len(missing)},
                                        facts={"missing": missing} if missing else {})


def warning_events(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """Warning events per object they are about: how many, and the latest reason and message."""
    grouped: dict[str, list[KubeObject]] = {}
    for ev in snap.of("Event"):
        if ev.get("type") != "Warning":
            continue
        about = ev.get("involvedObject") or ev.get("regarding") or {}
        key = f"{about.get('namespace') or namespace_of(ev)}/{str(about.get('kind') or '?').lower()}/" \
              f"{about.get('name') or '?'}"
        grouped.setdefault(key, []).append(ev)
    for key, events in sorted(grouped.items()):
        events.sort(key=lambda e: _time(e.get("lastTimestamp") or e.get("eventTime")) or 0.0)
        last = events[-1]
        count = sum(int(e.get("count") or (e.get("series") or {}).get("count") or 1) for e in events)
        yield key, Observation(metrics={"warning_events": count},
                               facts={"reason": last.get("reason"), "message": _short(last.get("message")),
                                      "reasons": sorted({str(e.get("reason")) for e in events})},
                               message=f"latest {last.get('reason')}: {_short(last.get('message'))}", explains=True)


def metrics_annotations(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """A pod's prometheus.io annotations point at a port that answers with metrics: measured when the audit
    scrapes (`--scrape`, from where pod IPs are reachable); without it, nothing is said."""
    yield from sorted(snap.scrapes.items())


# --- AutoGen rules -------------------------------------------------------------------------------------------


def _port_numbers(container: Mapping[str, Any]) -> dict[str, int]:
    return {str(p.get("name") or p.get("containerPort")): int(p["containerPort"])
            for p in container.get("ports") or [] if p.get("containerPort") is not None}


def _grpc_probes(workload: KubeObject, *, any_port: bool) -> list[dict[str, Any]]:
    bad = []
    for c in _containers(_template(workload).get("spec") or {}):
        ports = _port_numbers(c)
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            grpc = (c.get(kind) or {}).get("grpc")
            if grpc and (any_port or not ports or int(grpc.get("port", 0)) in ports.values()):
                bad.append({"container": c.get("name"), "probe": kind, "port": grpc.get("port")})
    return bad


def host_grpc_probes(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """A gRPC liveness/readiness/startup probe on a port the AgentRpc host container serves: the host
    answers no grpc.health.v1 Check, so the probe fails on every try (the pod never becomes Ready, or is
    restarted forever). A port the container does not declare may be a health sidecar's, and is left alone."""
    selector = str(params["host_selector"])
    for w in _workloads(snap):
        if _role(w, selector):
            bad = _grpc_probes(w, any_port=False)
            yield subject(w), Observation(metrics={"grpc_probes_on_agentrpc_port": len(bad)},
                                          facts={"probes": bad} if bad else {})


def worker_grpc_probes(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """A gRPC probe on a worker: an AutoGen worker is a gRPC client of the host and serves no gRPC port of its
    own, so the probe is refused on every try."""
    selector = str(params["worker_selector"])
    for w in _workloads(snap):
        if _role(w, selector):
            bad = _grpc_probes(w, any_port=True)
            yield subject(w), Observation(metrics={"grpc_probes_on_worker": len(bad)},
                                          facts={"probes": bad} if bad else {})


def _agent_types(workload: KubeObject) -> list[str] | None:
    """The types a worker registers, when its template (or itself) says so in the annotation; None: not
    said (a worker is assumed to register some)."""
    for meta in (_template(workload).get("metadata") or {}, _meta(workload)):
        value = (meta.get("annotations") or {}).get(AGENT_TYPES_ANNOTATION)
        if value is not None:
            return _split_types(value)
    return None


def worker_replicas(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """A worker workload whose replicas register the same agent types: a type lives on exactly one worker,
    so every replica but the first fails to register ("already registered") and crashes; an HPA that may
    scale it past one makes it so under load."""
    selector = str(params["worker_selector"])
    hpas = snap.of("HorizontalPodAutoscaler")
    for w in _workloads(snap):
        if not _role(w, selector):
            continue
        types = _agent_types(w)
        registers = types is None or bool(types)
        hpa = [h for h in hpas if namespace_of(h) == namespace_of(w)
               and (_spec(h).get("scaleTargetRef") or {}).get("name") == name_of(w)
               and (_spec(h).get("scaleTargetRef") or {}).get("kind") == w.get("kind")]
        hpa_max = max((int(_spec(h).get("maxReplicas") or 0) for h in hpa), default=0)
        facts: dict[str, Any] = {"agent_types": types if types is not None else "not declared "
                                 f"({AGENT_TYPES_ANNOTATION})"}
        if hpa:
            facts["hpa"] = [name_of(h) for h in hpa]
        elif snap.missing("HorizontalPodAutoscaler"):
            facts["hpa"] = snap.missing("HorizontalPodAutoscaler")
        yield subject(w), Observation(metrics={
            "extra_replicas": max(0, _replicas(w) - 1) if registers else 0,
            "hpa_max_replicas": hpa_max if registers else 0}, facts=facts)


def host_replicas(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """The host keeps its registrations (which worker owns which type, subscriptions) in its own memory: two
    replicas behind one Service are two clusters, and a worker reaches the types of its own replica only."""
    selector = str(params["host_selector"])
    for w in _workloads(snap):
        if _role(w, selector):
            yield subject(w), Observation(metrics={"host_replicas": _replicas(w)})


def host_disruption_budget(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """A one-replica host that no PodDisruptionBudget covers: a node drain evicts it without asking, and every
    worker loses its channel (and its registrations) at once."""
    selector = str(params["host_selector"])
    pdbs = snap.of("PodDisruptionBudget")
    for w in _workloads(snap):
        if not _role(w, selector):
            continue
        labels = _template_labels(w)
        covered = [p for p in pdbs if namespace_of(p) == namespace_of(w)
                   and matches_label_selector(_spec(p).get("selector"), labels)]
        why = snap.missing("PodDisruptionBudget")
        if _replicas(w) == 1 and not covered and why:
            yield subject(w), Observation.failure(Reason.AUTH if "PodDisruptionBudget" in snap.denied
                                                  else Reason.UNSUPPORTED, why)
            continue
        facts = {"pdb": [name_of(p) for p in covered]} if covered else {}
        yield subject(w), Observation(metrics={"unprotected_single_replica": float(_replicas(w) == 1
                                                                                    and not covered)},
                                      facts=facts)


# --- AutoGen rules that ask the live host (measured with `--scrape`) -----------------------------------------
#
# Which pod is which host client: the host names a client by the id the worker sent (a random UUID per start)
# and tells no peer address, so a client cannot be matched to a pod IP over the wire. The pod says which types
# it registers (the `agentops.io/agent-types` annotation, on the pod or its workload's template), the host
# says which client owns each type (agentrpc.ownership); a type lives on one client, so the client owning a
# type is the one Ready pod declaring it. Where several Ready pods declare the same type the host cannot tell
# which of them holds it, and the rule says so (UNKNOWN) instead of guessing.


def pod_ready(pod: KubeObject) -> bool:
    """Running, Ready=True and not being deleted: a pod the cluster counts as serving."""
    if _meta(pod).get("deletionTimestamp") or _status(pod).get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in _status(pod).get("conditions") or [])


def _split_types(value: Any) -> list[str]:
    return [t.strip() for t in str(value).split(",") if t.strip()]


def declared_types(pod: KubeObject, workloads: list[KubeObject]) -> list[str] | None:
    """The agent types a worker pod says it registers: its own annotation, else its workload's (the one whose
    selector matches the pod's labels); None when neither says."""
    value = (_meta(pod).get("annotations") or {}).get(AGENT_TYPES_ANNOTATION)
    if value is not None:
        return _split_types(value)
    labels = _meta(pod).get("labels") or {}
    for w in workloads:
        if namespace_of(w) == namespace_of(pod) and _spec(w).get("selector") \
                and matches_label_selector(_spec(w).get("selector"), labels):
            return _agent_types(w)
    return None


def declaring_pods(pods: list[KubeObject], workloads: list[KubeObject]) -> dict[str, list[KubeObject]]:
    """Each agent type to the worker pods declaring it (`declared_types`), in the order given: the mapping by
    which a pod is matched to the host client owning a type (the one Ready pod declaring it). The audit's
    ownership rules and the diagnosis of a discovered worker (k8s/discovery.py) both read it."""
    out: dict[str, list[KubeObject]] = {}
    for p in pods:
        for t in declared_types(p, workloads) or []:
            out.setdefault(t, []).append(p)
    return out


def worker_pods(snap: Snapshot, namespace: str, selector: str) -> list[KubeObject]:
    return [p for p in snap.of("Pod", namespace) if matches(selector, _meta(p).get("labels") or {})]


def expected_types(snap: Snapshot, namespace: str, selector: str) -> set[str]:
    """Every agent type a worker pod or worker workload of the namespace declares: the types to ask the host
    about beside those it lists itself."""
    workloads = _workloads(snap)
    found = {t for p in worker_pods(snap, namespace, selector) for t in declared_types(p, workloads) or []}
    return found | {t for w in workloads if namespace_of(w) == namespace and _role(w, selector)
                    for t in _agent_types(w) or []}


def _host_failure(views: list[HostRegistrations]) -> Observation | None:
    """Any host that could not say: a type it would have owned may be the one that looks unowned."""
    return next((v.failure for v in views if v.failure is not None), None)


def _owners(views: list[HostRegistrations]) -> dict[str, str]:
    return {t: c for v in views for t, c in v.owners.items() if c}


def _cannot_tell(failure: Observation) -> Observation:
    return Observation.failure(failure.reason or Reason.INTERNAL, f"cannot tell: {failure.message}")


def worker_owns_types(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """Each Ready worker pod that declares agent types against the host's owners of those types: a pod the
    cluster calls serving while the host routes none of its types to it (it lost its registration when the
    host restarted, or failed to register and kept running) answers no request."""
    selector = str(params["worker_selector"])
    workloads = _workloads(snap)
    for ns, views in sorted(snap.hosts.items()):
        failure, owners = _host_failure(views), _owners(views)
        ready = {name_of(p): p for p in worker_pods(snap, ns, selector) if pod_ready(p)}
        declared = {name: declared_types(p, workloads) for name, p in ready.items()}
        for name, pod in ready.items():
            types = declared[name]
            if types == []:
                continue  # a pure client: it registers nothing, so owns nothing by design
            if failure is not None:
                yield subject(pod), _cannot_tell(failure)
                continue
            if types is None:
                yield subject(pod), Observation.failure(
                    Reason.UNSUPPORTED, f"cannot tell which agent types it should own: neither the pod nor its "
                                        f"workload has the {AGENT_TYPES_ANNOTATION} annotation")
                continue
            owned = [t for t in types if t in owners]
            sharing = sorted(n for n, other in declared.items() if n != name and set(other or []) & set(types))
            if owned and sharing:
                yield subject(pod), Observation.failure(
                    Reason.UNSUPPORTED, f"cannot tell whether it owns {', '.join(owned)}: the Ready pods "
                                        f"{', '.join(sharing)} declare the same types, and the host names the owner "
                                        f"by client id ({', '.join(sorted({owners[t] for t in owned}))}), not by pod")
                continue
            not_owned = [t for t in types if t not in owners]
            yield subject(pod), Observation(
                message=f"the host routes none of {', '.join(not_owned)} to any client" if not owned else "",
                explains=not owned,
                metrics={"declared_types": len(types), "owned_types": len(owned)},
                facts={"agent_types": types, "owned": owned, "not_owned": not_owned,
                       "owner_client_ids": sorted({owners[t] for t in owned})})


def type_owner(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """Each agent type the namespace's workers declare or the host has registered: is it owned on the host
    while a Ready pod declares it? A type owned by a client that is no Ready pod (a pod not Ready, deleted, or
    a process outside the cluster) or owned by nobody gets no reply to any request."""
    selector = str(params["worker_selector"])
    workloads = _workloads(snap)
    for ns, views in sorted(snap.hosts.items()):
        failure, owners = _host_failure(views), _owners(views)
        expected = expected_types(snap, ns, selector)
        if failure is not None:
            for t in sorted(expected):
                yield f"{ns}/agent-type/{t}", _cannot_tell(failure)
            if not expected:
                yield f"{ns}/agentrpc/{views[0].address or 'host'}", _cannot_tell(failure)
            continue
        pods = worker_pods(snap, ns, selector)
        declaring = declaring_pods(pods, workloads)
        undeclared = sorted(name_of(p) for p in pods if pod_ready(p) and declared_types(p, workloads) is None)
        for t in sorted(expected | set(owners)):
            client, live = owners.get(t), [name_of(p) for p in declaring.get(t, []) if pod_ready(p)]
            if client and not live and undeclared:
                yield f"{ns}/agent-type/{t}", Observation.failure(
                    Reason.UNSUPPORTED, f"cannot tell: client {client} owns it, no Ready pod declares it, and the "
                                        f"Ready pods {', '.join(undeclared)} declare nothing "
                                        f"({AGENT_TYPES_ANNOTATION})")
                continue
            facts: dict[str, Any] = {"owner_client_id": client, "ready_pods": live,
                                     "declared_by": [name_of(p) for p in declaring.get(t, [])]}
            why = "" if client and live else \
                f"owned by client {client}, and no Ready pod declares it" if client else \
                "not registered on the host" + (f" (declared by {', '.join(facts['declared_by'])})"
                                                if facts["declared_by"] else "")
            yield f"{ns}/agent-type/{t}", Observation(
                metrics={"live_owner_pods": float(bool(client and live)), "owned_on_host": float(bool(client))},
                facts=facts, message=why, explains=bool(why))


def ingress_certificates(snap: Snapshot, params: Mapping[str, Any]) -> Measured:
    """The certificate each Ingress TLS host serves, read at the Ingress address with that host as SNI when
    the audit measures (`--scrape`); its days left judged by the pack. Without it, nothing is said."""
    yield from sorted(snap.certificates.items())


RULES: dict[str, Rule] = {
    "k8s.snapshot": snapshot_read,
    "k8s.replicas": replicas,
    "k8s.rollout": rollout,
    "k8s.crash_loop": crash_loops,
    "k8s.terminations": terminations,
    "k8s.restarts": restarts,
    "k8s.pending": pending,
    "k8s.resources": resources,
    "k8s.probes": probes,
    "k8s.latest_image": latest_images,
    "k8s.endpoints": endpoints,
    "k8s.ingress_tls": ingress_tls,
    "k8s.warning_events": warning_events,
    "k8s.metrics_annotation": metrics_annotations,
    "autogen.host_grpc_probe": host_grpc_probes,
    "autogen.worker_grpc_probe": worker_grpc_probes,
    "autogen.worker_replicas": worker_replicas,
    "autogen.host_replicas": host_replicas,
    "autogen.host_pdb": host_disruption_budget,
    "autogen.worker_owns_types": worker_owns_types,
    "autogen.type_owner": type_owner,
    "k8s.ingress_cert": ingress_certificates,
}


SNAPSHOT_RULE = "k8s.snapshot"
ROLE_PARAMS_RULE = "autogen.type_owner"


def role_params(specs: Mapping[str, CheckSpec]) -> dict[str, Any]:
    """The AutoGen role selectors `--scrape` finds the host and worker pods by: the params of the pack's
    type-owner check (overridable by id like every check)."""
    return dict(next(s.params for s in specs.values() if s.probe == ROLE_PARAMS_RULE))


def snapshot_failed(specs: Mapping[str, CheckSpec], source: str, obs: Observation) -> list[Result]:
    """The audit when no snapshot could be taken (the API server unreachable, no credentials): the snapshot
    check judged on that failure, as the only result."""
    return [judge(spec, source, obs, 0.0) for spec in specs.values() if spec.probe == SNAPSHOT_RULE]


def audit(snap: Snapshot, specs: Mapping[str, CheckSpec]) -> list[Result]:
    """Every spec's rule over the snapshot, each observation judged by its spec: one Result per object a rule
    is about, named `namespace/kind/name`."""
    results = []
    for spec in specs.values():
        rule = RULES.get(spec.probe)
        if rule is None:
            results.append(judge(spec, "", Observation.failure(
                Reason.INTERNAL, f"no audit rule {spec.probe!r} (known: {', '.join(sorted(RULES))})"), 0.0))
            continue
        try:
            measured = list(rule(snap, spec.params))
        except KeyError as exc:  # a pack override that dropped a rule's param (the shipped pack has them all)
            measured = [("", Observation.failure(Reason.INTERNAL, f"audit rule {spec.probe}: param {exc} missing"))]
        results.extend(judge(spec, target, obs, 0.0) for target, obs in measured)
    return results
