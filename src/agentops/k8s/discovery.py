"""A `kind: kubernetes` source of agentops.yaml, expanded into targets at run time.

    - name: agents
      kind: kubernetes
      options:
        namespace: agents                 # default: the context's
        selector: app.kubernetes.io/name=agents   # which pods and workloads (default: all)
        kubeconfig: ~/.kube/config        # context, timeout: as for `agentops k8s audit`
        redis_password_env: REDIS_PASSWORD

Every pod the AutoGen role selectors (the k8s pack's `host_selector`/`worker_selector`, or the source's own)
call the host becomes an `agentrpc` target at its pod IP and AgentRpc port (named `agentrpc` or `grpc`, else
its first); every worker pod a `metrics` target at its `prometheus.io/port` (and `/path`, `/scheme`) or its port
named `metrics`; Redis and PostgreSQL Services (`redis_selector`, `postgres_selector`) `redis`/`postgres`
targets at their cluster IP (or `service_address: dns`: name.namespace.svc); and every workload, pod and
selecting Service a `k8s-workload`/`k8s-pod`/`k8s-service` target for the `k8s.*` health checks. Each is named
`<source>/<role or kind>/<object>` and labelled with its pod, namespace and role, so a result says which
replica it is about. The source itself stays a target: the `k8s.discovery` check reports what the expansion
saw (how many pods, which had no address yet) or why it failed.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from agentops.core.config import Config, Target
from agentops.core.model import Observation, Reason
from agentops.core.yamlsrc import ConfigError
from agentops.k8s.access import KubeAccess, KubeClient, KubeError, gather_lists
from agentops.k8s.resources import RESOURCES
from agentops.k8s.selectors import check_selector, matches
from agentops.k8s.snapshot import KubeObject, name_of

ROLE_SELECTOR_CHECKS = {"host_selector": "autogen.host_replicas", "worker_selector": "autogen.worker_replicas"}
SERVICE_SELECTORS = {"redis_selector": "app.kubernetes.io/name=redis",
                     "postgres_selector": "app.kubernetes.io/name in (postgresql, postgres)"}
HOST_PORT_NAMES = ("agentrpc", "grpc")
METRICS_PORT_NAME = "metrics"
SERVICE_PORT_NAMES = {"redis": ("redis",), "postgres": ("postgres", "postgresql", "tcp-postgresql")}

# What each source's expansion observed, by source name: the k8s.discovery check reports it.
DISCOVERED: dict[str, Observation] = {}
# For a diagnosis (`workers=True`): why each discovered worker target is the owner of its types, by target name.
OWNER_CHOICES: dict[str, str] = {}


def access_of(target: Target, default_timeout: float) -> KubeAccess:
    o = target.options
    return KubeAccess(kubeconfig=o.get("kubeconfig"), context=o.get("context"), namespace=o.get("namespace"),
                      timeout=float(o.get("timeout") or default_timeout))


def role_selectors(cfg: Config, source: Target) -> dict[str, str]:
    """host/worker selectors from the source's options, else the k8s pack's (one place for the defaults),
    and the Redis/PostgreSQL Service selectors; ValueError naming a bad one."""
    from agentops.core.packs import command_specs

    specs = command_specs("k8s", cfg)
    out = {key: str(source.options.get(key) or specs[check].params[key]) for key, check in ROLE_SELECTOR_CHECKS.items()}
    out.update({key: str(source.options.get(key) or default) for key, default in SERVICE_SELECTORS.items()})
    for key, selector in out.items():
        try:
            check_selector(selector)
        except ValueError as exc:
            raise ValueError(f"target {source.name!r} options.{key}: {exc}") from None
    return out


def _labels(obj: KubeObject) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _ports(pod: KubeObject) -> list[dict[str, Any]]:
    return [p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []]


def _named_port(ports: list[dict[str, Any]], names: tuple[str, ...], key: str = "containerPort") -> int | None:
    for name in names:
        for p in ports:
            if p.get("name") == name and p.get(key) is not None:
                return int(p[key])
    return None


def metrics_url(pod: KubeObject, ip: str) -> str | None:
    """Where a pod's /metrics is: its prometheus.io/port (path, scheme) annotations, else its port named metrics."""
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    port = ann.get("prometheus.io/port") or _named_port(_ports(pod), (METRICS_PORT_NAME,))
    if port is None or not str(port).isdigit():
        return None
    path = ann.get("prometheus.io/path") or "/metrics"
    scheme = ann.get("prometheus.io/scheme") or "http"
    return f"{scheme}://{ip}:{port}{path if path.startswith('/') else '/' + path}"


def host_address(pod: KubeObject) -> str | None:
    """`podIP:port` of an AgentRpc host pod: its container port named agentrpc or grpc, else its first; None
    without an IP or a port."""
    ip = (pod.get("status") or {}).get("podIP")
    port = _named_port(_ports(pod), HOST_PORT_NAMES) or next(
        (int(p["containerPort"]) for p in _ports(pod) if p.get("containerPort")), None)
    return f"{ip}:{port}" if ip and port is not None else None


def _k8s_target(source: Target, kind: str, namespace: str, obj: KubeObject, **extra: Any) -> Target:
    access = {k: v for k, v in source.options.items() if k in ("kubeconfig", "context", "timeout")}
    obj_kind = str(obj.get("kind") or "").lower()
    return Target(name=f"{source.name}/{obj_kind}/{name_of(obj)}", kind=kind, address=f"{namespace}/{name_of(obj)}",
                  options={**access, **extra}, labels={**source.labels, "namespace": namespace, obj_kind: name_of(obj),
                                                         "source": source.name}, where=source.where)


def _created(pod: KubeObject) -> tuple[str, str]:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or ""), name_of(pod)


def choose_owners(worker_pods: list[KubeObject], workloads: list[KubeObject]) -> dict[str, tuple[KubeObject, str]]:
    """Each declared agent type to the one worker pod a diagnosis reads as its owner, and why. The audit's
    mapping (audit.declaring_pods: the pods declaring a type; the client owning it is the one Ready pod
    declaring it): one pod declaring it, else the one Ready pod among them; several Ready pods cannot be told
    apart from outside (the host names its owner by client id, not pod), so the oldest, the first to have
    registered it (a later replica's registration of the same type is refused); none Ready, the newest (the
    one its workload is bringing up)."""
    from agentops.k8s.audit import AGENT_TYPES_ANNOTATION, declaring_pods, pod_ready

    out: dict[str, tuple[KubeObject, str]] = {}
    for agent_type, pods in sorted(declaring_pods(worker_pods, workloads).items()):
        names = ", ".join(sorted(name_of(p) for p in pods))
        ready = sorted((p for p in pods if pod_ready(p)), key=_created)
        if len(pods) == 1:
            out[agent_type] = pods[0], f"the one worker pod declaring {agent_type} ({AGENT_TYPES_ANNOTATION})"
        elif len(ready) == 1:
            out[agent_type] = ready[0], (f"the one Ready pod of those declaring {agent_type} ({names}): the host "
                                         "routes a type to one client, and a pod that is not Ready serves none")
        elif ready:
            out[agent_type] = ready[0], (
                f"{len(ready)} Ready pods declare {agent_type} ({', '.join(name_of(p) for p in ready)}); the host "
                f"names the owner by client id, not pod, so which one holds it cannot be told from outside: "
                f"{name_of(ready[0])}, the oldest, registered it first (a later replica's registration of the "
                "same type is refused)")
        else:
            newest = max(pods, key=_created)
            out[agent_type] = newest, (f"no pod declaring {agent_type} is Ready ({names}): {name_of(newest)}, "
                                       "the newest, is the one its workload is bringing up")
    return out


def _worker_target(source: Target, namespace: str, pod: KubeObject, types: list[str], metrics: str | None,
                   base: dict[str, str]) -> Target:
    """A discovered worker pod as a diagnosis worker: its types, its pod (read through the source's access),
    its metrics. No ping of its own: the diagnosis' --payload-type/--payload say what to send."""
    access = {k: v for k, v in source.options.items() if k in ("kubeconfig", "context", "timeout")}
    options: dict[str, Any] = {"agent_types": types, "pod": {"name": name_of(pod), "namespace": namespace, **access}}
    if metrics:
        options["metrics_url"] = metrics
    return Target(name=f"{source.name}/worker/{name_of(pod)}", kind="worker", options=options,
                  labels={**base, "role": "worker"}, where=source.where)


def expand_source(cfg: Config, source: Target, namespace: str, pods: list[KubeObject],
                  services: list[KubeObject], workloads: list[KubeObject],
                  workers: bool = False) -> tuple[list[Target], Observation]:
    """The targets one source's objects make, and what the k8s.discovery check reports about it. With
    `workers` (a diagnosis), each worker pod chosen as the owner of a declared type (`choose_owners`) is a
    `worker` target naming its pod instead of a `metrics` one."""
    sel = role_selectors(cfg, source)
    pod_selector = str(source.options.get("selector") or "")
    out: list[Target] = []
    unaddressed: list[str] = []
    owned: dict[str, list[str]] = {}  # pod name -> the types it is the diagnosis' owner of
    if workers:
        for stale in [k for k in OWNER_CHOICES if k.startswith(f"{source.name}/")]:
            del OWNER_CHOICES[stale]
        role_pods = [p for p in pods if matches(sel["worker_selector"], _labels(p))]
        for agent_type, (pod, why) in choose_owners(role_pods, workloads).items():
            owned.setdefault(name_of(pod), []).append(agent_type)
            target = f"{source.name}/worker/{name_of(pod)}"
            OWNER_CHOICES[target] = "; ".join(filter(None, [OWNER_CHOICES.get(target), f"{agent_type}: {why}"]))
    for pod in pods:
        labels, ip = _labels(pod), (pod.get("status") or {}).get("podIP")
        base = {**source.labels, "namespace": namespace, "pod": name_of(pod), "source": source.name}
        role = "host" if matches(sel["host_selector"], labels) else \
            "worker" if matches(sel["worker_selector"], labels) else None
        if role == "worker" and name_of(pod) in owned:  # the owner is diagnosed from its pod, IP or not
            url = metrics_url(pod, str(ip)) if ip else None
            out.append(_worker_target(source, namespace, pod, owned[name_of(pod)], url, base))
        elif role and not ip:
            unaddressed.append(name_of(pod))
        elif role == "host":
            address = host_address(pod)
            if address is not None:
                out.append(Target(name=f"{source.name}/host/{name_of(pod)}", kind="agentrpc", address=address,
                                  tls=source.tls, labels={**base, "role": "host"}, where=source.where))
        elif role == "worker":
            url = metrics_url(pod, str(ip))
            if url:
                out.append(Target(name=f"{source.name}/worker/{name_of(pod)}", kind="metrics", address=url,
                                  labels={**base, "role": "worker"}, where=source.where))
        out.append(_k8s_target(source, "k8s-pod", namespace, pod))
    for svc in services:
        spec = svc.get("spec") or {}
        for kind in ("redis", "postgres"):
            # a Service is known by its labels or by the pods it selects (often it carries no labels of its own)
            if not matches(sel[f"{kind}_selector"], {**(spec.get("selector") or {}), **_labels(svc)}) \
                    or not spec.get("ports"):
                continue
            port = _named_port(spec["ports"], SERVICE_PORT_NAMES[kind], "port") or int(spec["ports"][0]["port"])
            host = f"{name_of(svc)}.{namespace}.svc" if source.options.get("service_address") == "dns" \
                else spec.get("clusterIP")
            if not host or host == "None":
                continue
            t = Target(name=f"{source.name}/{kind}/{name_of(svc)}", kind=kind, address=f"{host}:{port}",
                       labels={**source.labels, "namespace": namespace, "service": name_of(svc), "role": kind,
                               "source": source.name}, where=source.where)
            secret = source.options.get(f"{kind}_password_env")
            if secret:
                t.secret_sources["password"] = ("env", str(secret))
            if kind == "postgres" and source.options.get("postgres_username"):
                t.username = str(source.options["postgres_username"])
            out.append(t)
        if spec.get("selector") and (not pod_selector or matches(pod_selector, _labels(svc))):
            out.append(_k8s_target(source, "k8s-service", namespace, svc))
    for w in workloads:
        out.append(_k8s_target(source, "k8s-workload", namespace, w, object_kind=w.get("kind")))
    obs = Observation(metrics={"pods": len(pods), "targets": len(out), "pods_without_address": len(unaddressed)},
                      facts={"namespace": namespace, "pods_without_address": unaddressed})
    return out, obs


async def _discover(cfg: Config, source: Target, cap: float | None,
                    workers: bool = False) -> tuple[list[Target], Observation]:
    access = access_of(source, cfg.defaults.timeout)
    if cap is not None and cap < access.timeout:
        access = replace(access, timeout=cap)
    selector = str(source.options.get("selector") or "") or None
    try:
        client = await KubeClient.connect(access)
    except KubeError as exc:
        return [], Observation.failure(exc.reason, exc.message)
    try:
        namespace = access.namespace or client.connection.namespace
        pods, services, deployments, sets = await gather_lists(
            client.list(RESOURCES["Pod"], namespace, label_selector=selector),
            client.list(RESOURCES["Service"], namespace),
            client.list(RESOURCES["Deployment"], namespace, label_selector=selector),
            client.list(RESOURCES["StatefulSet"], namespace, label_selector=selector))
    except KubeError as exc:
        return [], Observation.failure(exc.reason, exc.message)
    finally:
        client.close()
    return expand_source(cfg, source, namespace, pods, services, [*deployments, *sets], workers)


def expand(cfg: Config, timeout: float | None = None, *, workers: bool = False) -> Config:
    """`expand_async` for a command without a running event loop (health, watch, checks list, diagnose)."""
    if not cfg.targets_of("kubernetes"):
        return cfg
    return asyncio.run(expand_async(cfg, timeout, workers=workers))


async def expand_async(cfg: Config, timeout: float | None = None, *, workers: bool = False) -> Config:
    """The config with every kubernetes source's targets added (a source that fails adds none; its
    k8s.discovery check says why). `timeout` caps each source's own (a command's --timeout: the sources are
    listed at once, within it). A config without a source is returned as is, the client never imported.
    The one expansion: `expand` runs it for the CLI; a run already inside an event loop (serve's plan, a
    bundle's health collector) awaits it. `workers`: the worker pods owning declared types become `worker`
    targets (expand_source), for a diagnosis."""
    sources = cfg.targets_of("kubernetes")
    if not sources:
        return cfg
    for source in sources:
        try:
            role_selectors(cfg, source)  # a bad selector is the config's fault: exit 3 before any request
        except ValueError as exc:
            raise ConfigError(str(exc), path=cfg.path) from None
    outcomes = await asyncio.gather(*(_discover(cfg, s, timeout, workers) for s in sources))
    targets = dict(cfg.targets)
    for source, (found, obs) in zip(sources, outcomes, strict=True):
        DISCOVERED[source.name] = obs
        for t in found:
            targets.setdefault(t.name, t)
    return replace(cfg, targets=targets)


def discovered(source: Target) -> Observation:
    """What the expansion of `source` observed; a source never expanded in this process says so."""
    return DISCOVERED.get(source.name) or Observation.failure(
        Reason.INTERNAL, f"kubernetes source {source.name!r} was not expanded in this run")
