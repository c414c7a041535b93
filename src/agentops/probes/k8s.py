"""The `k8s.*` health probes: what a kubernetes source's expansion saw (`k8s.discovery`), and one object read
fresh from the API per check, measured by the audit's own rules (k8s/audit.py) so health and the audit
measure a workload, a pod or a Service the same way: `k8s.workload` (ready against desired replicas, a stuck
rollout), `k8s.pod` (restarts, crash loop, last terminations, Pending), `k8s.service` (ready endpoints).

One client per kubeconfig/context/timeout for the whole run (loading a kubeconfig may run an exec plugin),
made on first use inside the run's event loop; requests run off the loop under the access's deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from agentops.core.config import Target
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params

if TYPE_CHECKING:
    from agentops.k8s.snapshot import HostRegistrations, Snapshot

_CLIENTS: dict[tuple[Any, ...], Any] = {}  # (loop id, access) -> asyncio.Task[KubeClient]


async def _client(target: Target, timeout: float) -> Any:
    from agentops.k8s.access import KubeAccess, KubeClient

    o = target.options
    access = KubeAccess(kubeconfig=o.get("kubeconfig"), context=o.get("context"),
                        timeout=min(timeout, float(o.get("timeout") or timeout)))
    key = (id(asyncio.get_running_loop()), access)
    if key not in _CLIENTS:
        _CLIENTS[key] = asyncio.ensure_future(KubeClient.connect(access))
    return await asyncio.shield(_CLIENTS[key])


def _merge(observations: list[Observation]) -> Observation:
    merged = Observation()
    for obs in observations:
        if obs.failed:
            return obs
        merged.metrics.update(obs.metrics)
        merged.facts.update(obs.facts)
    return merged


class _ObjectProbe(Probe):
    """Read one object (and what the rules need beside it), then run the named audit rules on it."""

    resource: ClassVar[str]
    rules: ClassVar[tuple[str, ...]]

    def preload(self) -> None:
        import agentops.k8s.access
        import agentops.k8s.audit  # noqa: F401

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, set())

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.k8s.access import KubeError
        from agentops.k8s.audit import RULES
        from agentops.k8s.snapshot import Snapshot

        namespace, _, name = (target.address or "").partition("/")
        try:
            client = await _client(target, timeout)
            objects = await self.read(client, namespace, name, target)
        except KubeError as exc:
            return Observation.failure(exc.reason, exc.message)
        snap = Snapshot(source=client.connection.server, namespaces=[namespace])
        for obj in objects:
            snap.add(obj)
            snap.listed.add(str(obj.get("kind")))
        snap.listed.add(self.resource)
        measured = [obs for rule in self.rules for _subject, obs in RULES[rule](snap, {})]
        if not measured:
            return Observation.failure(Reason.UNSUPPORTED, f"{self.resource} {namespace}/{name} has nothing to judge "
                                       "(no status yet, or no selector)")
        return _merge(measured)

    def object_kind(self, target: Target) -> str:
        return self.resource

    async def read(self, client: Any, namespace: str, name: str, target: Target) -> list[dict[str, Any]]:
        from agentops.k8s.resources import RESOURCES

        kind = self.object_kind(target)
        obj = await client.get(RESOURCES[kind], namespace, name)
        obj.setdefault("kind", kind)
        return [obj]


class WorkloadProbe(_ObjectProbe):
    kind = "k8s.workload"
    target_kinds = ("k8s-workload",)
    description = "A Deployment's or StatefulSet's ready replicas against desired, and a stuck rollout."
    metrics = {"ready_percent": "ready replicas / desired * 100", "desired_replicas": "spec.replicas",
               "ready_replicas": "status.readyReplicas", "unready_replicas": "desired - ready",
               "rollout_stuck": "1 when Progressing=False (ProgressDeadlineExceeded)",
               "generation_lag": "spec generation not yet observed by the controller"}
    resource = "Deployment"
    rules = ("k8s.replicas", "k8s.rollout")

    def object_kind(self, target: Target) -> str:
        kind = str(target.options.get("object_kind") or "Deployment")
        return kind if kind in ("Deployment", "StatefulSet") else "Deployment"


class PodProbe(_ObjectProbe):
    kind = "k8s.pod"
    target_kinds = ("k8s-pod",)
    description = "A pod's restarts, crash loop, last terminations (OOMKilled, exit codes) and time Pending."
    metrics = {"restarts": "container restarts", "crash_looping_containers": "containers in CrashLoopBackOff",
               "oom_killed_containers": "last termination OOMKilled", "failed_terminations": "other non-zero exits",
               "pending_s": "seconds Pending", "unschedulable": "1 when the scheduler cannot place it"}
    resource = "Pod"
    rules = ("k8s.restarts", "k8s.crash_loop", "k8s.terminations", "k8s.pending")


class ServiceProbe(_ObjectProbe):
    kind = "k8s.service"
    target_kinds = ("k8s-service",)
    description = "A Service's ready and not-ready endpoints."
    metrics = {"ready_endpoints": "ready addresses", "not_ready_endpoints": "addresses not ready"}
    resource = "Service"
    rules = ("k8s.endpoints",)

    async def read(self, client: Any, namespace: str, name: str, target: Target) -> list[dict[str, Any]]:
        from agentops.k8s.access import KubeError
        from agentops.k8s.resources import RESOURCES

        svc = await client.get(RESOURCES["Service"], namespace, name)
        svc.setdefault("kind", "Service")
        try:
            ep = await client.get(RESOURCES["Endpoints"], namespace, name)
        except KubeError as exc:
            if exc.status != 404:  # none yet: no endpoint at all
                raise
            return [svc]
        ep.setdefault("kind", "Endpoints")
        return [svc, ep]


class DiscoveryProbe(Probe):
    kind = "k8s.discovery"
    target_kinds = ("kubernetes",)
    description = "What a kubernetes source's expansion saw: pods, targets made, pods without an address yet."
    metrics = {"pods": "pods listed", "targets": "targets made", "pods_without_address": "role pods with no IP"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, set())

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        from agentops.k8s.discovery import discovered

        return discovered(target)


async def scrape_annotated(snap: Any, timeout: float) -> None:
    """Scrape every running pod whose prometheus.io/scrape is "true" at its annotated port, with the metrics
    probe (the one health uses), all at once; each observation goes into `snap.scrapes` for the audit's
    k8s.metrics_annotation rule."""
    from agentops.core import registry
    from agentops.core.runner import observe
    from agentops.k8s.discovery import metrics_url
    from agentops.k8s.snapshot import subject

    probe = registry.probe("metrics")
    probe.preload()
    jobs: dict[str, Any] = {}
    for pod in snap.of("Pod"):
        ann = (pod.get("metadata") or {}).get("annotations") or {}
        ip = (pod.get("status") or {}).get("podIP")
        if str(ann.get("prometheus.io/scrape", "")).lower() != "true" or not ip:
            continue
        url = metrics_url(pod, str(ip))
        if url is None:
            snap.scrapes[subject(pod)] = Observation.failure(
                Reason.ASSERTION, "prometheus.io/scrape is true but no prometheus.io/port nor a port named metrics")
            continue
        target = Target(name=subject(pod), kind="metrics", address=url)
        jobs[subject(pod)] = observe(lambda t=target: probe.measure(t, {"compute": []}, timeout), timeout)
    for name, obs in zip(jobs, await asyncio.gather(*jobs.values()), strict=True):
        snap.scrapes[name] = obs


async def ask_hosts(snap: Snapshot, params: Mapping[str, Any], timeout: float, address: str | None = None) -> None:
    """Ask each namespace's AgentRpc host which client owns each agent type (the types it lists in
    GetSubscriptions and those its worker pods declare), with the registered `agentrpc.inventory` and
    `agentrpc.ownership` steps (the ones health, `cluster inventory` and the diagnosis use); what each host
    said, or why it could not say, goes into `snap.hosts` for the audit's autogen.worker_owns_types and
    autogen.type_owner rules. `address` replaces the host pods' IP:port (a port-forward, or a host reached
    from outside). Asking about a declared type that is free registers it to the prober for a few ms
    (agentops.autogen.client.ownership), as `diagnose` does."""
    from agentops.core import registry
    from agentops.core.runner import GRACE_S
    from agentops.k8s.audit import expected_types, worker_pods
    from agentops.k8s.discovery import host_address
    from agentops.k8s.selectors import matches
    from agentops.k8s.snapshot import HostRegistrations, namespace_of

    host_sel, worker_sel = str(params["host_selector"]), str(params["worker_selector"])
    inventory, ownership = registry.probe("agentrpc.inventory"), registry.probe("agentrpc.ownership")
    inventory.preload()

    async def ask(addr: str, expected: set[str]) -> HostRegistrations:
        from agentops.autogen.client import AgentRpcClient

        async with AgentRpcClient.for_target(Target(name=addr, kind="agentrpc", address=addr)) as client:
            inv = await inventory.observe(client, {}, timeout)
            if inv.failed:
                return HostRegistrations(addr, failure=inv)
            types = sorted(set(inv.facts["agent_types"]) | expected)
            owns = await asyncio.gather(*(ownership.observe(client, {"agent_type": t}, timeout) for t in types))
        broken = next((o for o in owns if "owned" not in o.facts), None)
        if broken is not None:
            return HostRegistrations(addr, failure=broken)
        return HostRegistrations(addr, owners={str(o.facts["agent_type"]): o.facts["owner_client_id"]
                                               if o.facts["owned"] else None for o in owns})

    async def ask_within(addr: str, expected: set[str]) -> HostRegistrations:
        # inventory, then the ownership calls side by side: two steps' deadlines, and the close after them
        try:
            return await asyncio.wait_for(ask(addr, expected), 2 * timeout + GRACE_S)
        except TimeoutError:
            return HostRegistrations(addr, failure=Observation.failure(
                Reason.TIMEOUT, f"{addr}: the host did not answer within {2 * timeout:g}s"))

    jobs: dict[str, list[Coroutine[Any, Any, HostRegistrations]]] = {}
    for ns in sorted({namespace_of(p) for p in snap.of("Pod")}):
        workers = worker_pods(snap, ns, worker_sel)
        if not workers:
            continue
        hosts = [address] if address else [a for p in snap.of("Pod", ns)
                                           if matches(host_sel, (p.get("metadata") or {}).get("labels") or {})
                                           and (a := host_address(p))]
        expected = expected_types(snap, ns, worker_sel)
        jobs[ns] = [ask_within(a, expected) for a in hosts]
        if not hosts:
            snap.hosts[ns] = [HostRegistrations("", failure=Observation.failure(
                Reason.UNSUPPORTED, f"no AgentRpc host pod with an address in namespace {ns} (give --agentrpc-host)"))]
    for ns, views in zip(jobs, await asyncio.gather(*(asyncio.gather(*j) for j in jobs.values())), strict=True):
        if views:
            snap.hosts[ns] = list(views)


async def read_certificates(snap: Snapshot, timeout: float, address: str | None = None) -> None:
    """The certificate each Ingress TLS host serves, as blackbox_exporter's probe_ssl_earliest_cert_expiry reads
    it: a TLS handshake with the Ingress address (status.loadBalancer, or `address`) with the host as SNI, its
    notAfter read without trusting it (an untrusted or mismatched certificate still has an expiry). No Secret
    value is read. Into `snap.certificates` for the audit's k8s.ingress_cert rule."""
    from agentops.core.runner import observe
    from agentops.k8s.snapshot import subject

    jobs: dict[str, Coroutine[Any, Any, Observation]] = {}
    for ing in snap.of("Ingress"):
        where = address or ingress_address(ing)
        for tls in (ing.get("spec") or {}).get("tls") or []:
            for host in tls.get("hosts") or []:
                jobs[f"{subject(ing)}/{host}"] = observe(lambda w=where, h=str(host): served_certificate(w, h, timeout),
                                                         timeout)
    for key, obs in zip(jobs, await asyncio.gather(*jobs.values()), strict=True):
        snap.certificates[key] = obs


def ingress_address(ing: Mapping[str, Any]) -> str | None:
    """Where an Ingress is served: its first status.loadBalancer.ingress entry's IP (else host name), with the
    port that entry names (`ports`, Kubernetes 1.24+) or None to mean 443."""
    for entry in ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        host = entry.get("ip") or entry.get("hostname")
        if host:
            ports = [p.get("port") for p in entry.get("ports") or [] if p.get("port")]
            host = f"[{host}]" if ":" in str(host) else str(host)  # an IPv6 address
            return f"{host}:{ports[0]}" if ports else host
    return None


async def served_certificate(address: str | None, server_name: str, timeout: float) -> Observation:
    """Days left on the certificate `address` (host[:port], default 443) serves for `server_name`."""
    import socket
    import ssl

    from agentops.core.target import TLSOptions, split_host_port
    from agentops.core.tls import cert_days_left, cert_not_after, client_context, describe_ssl_error

    if not address:
        return Observation.failure(Reason.UNSUPPORTED, "cannot tell: the Ingress has no address in "
                                   "status.loadBalancer yet (give --ingress-address)")
    if server_name.startswith("*."):
        return Observation.failure(Reason.UNSUPPORTED, f"cannot tell: {server_name} is a wildcard, no name to "
                                   "ask for (list the host names the Ingress serves)")
    try:
        host, port = split_host_port(address, 443, what="Ingress address")
    except ValueError as exc:
        return Observation.failure(Reason.UNSUPPORTED, str(exc))
    where = f"{host}:{port} (SNI {server_name})"
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=client_context(TLSOptions(enabled=True, verify=False)), server_hostname=server_name,
            ssl_handshake_timeout=timeout), timeout)
    except TimeoutError:
        return Observation.failure(Reason.TIMEOUT, f"cannot tell: no TLS handshake with {where} within {timeout:g}s")
    except ssl.SSLError as exc:
        return Observation.failure(Reason.TLS, f"cannot tell: {where}: {describe_ssl_error(exc)}")
    except socket.gaierror as exc:
        return Observation.failure(Reason.DNS, f"cannot tell: cannot resolve {host}: {exc.strerror}")
    except (OSError, ValueError, UnicodeError) as exc:  # refused, unreachable; a name the IDNA codec refuses
        return Observation.failure(Reason.CONNECT, f"cannot tell: cannot connect to {where}: "
                                   f"{getattr(exc, 'strerror', None) or exc}")
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
    if not der:
        return Observation.failure(Reason.TLS, f"cannot tell: {where} sent no certificate")
    try:
        days, not_after = cert_days_left(der), cert_not_after(der)
    except ValueError as exc:
        return Observation.failure(Reason.TLS, f"cannot tell: {where}: {exc}")
    return Observation(metrics={"cert_days_left": round(days, 3)},
                       facts={"not_after": not_after.isoformat(), "address": f"{host}:{port}", "sni": server_name})


async def measure_served(snap: Snapshot, params: Mapping[str, Any], timeout: float, agentrpc_host: str | None = None,
                         ingress_address: str | None = None) -> None:
    """`k8s audit --scrape`: everything the audit measures beyond the API objects, side by side."""
    await asyncio.gather(scrape_annotated(snap, timeout), ask_hosts(snap, params, timeout, agentrpc_host),
                         read_certificates(snap, timeout, ingress_address))
