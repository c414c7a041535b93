"""The collectors of a bundle, chosen from the config: what each gathers (bundle.collectors), where it writes
it, and under which timeout; and the secrets the config names, registered before anything is redacted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentops.bundle import collectors as gather
from agentops.bundle.collect import Collected, Collector
from agentops.bundle.options import PROFILE_MARGIN_S, BundleOptions, safe_name

if TYPE_CHECKING:
    from agentops.core.cluster import ClusterSpec
    from agentops.core.config import Config, Target


def plan_collectors(cfg: Config, opts: BundleOptions) -> list[Collector]:
    from agentops.core.cluster import cluster_spec, configured_cluster

    spec = cluster_spec(cfg)
    cluster = configured_cluster(cfg)
    t = opts.collector_timeout_s
    out: list[Collector] = []
    if cfg.path:
        out.append(Collector("config", f"the config file {cfg.path}, redacted", ["config/agentops.yaml"], t,
                             lambda _t: gather.config_file(cfg)))
    out.append(Collector("health", "`agentops health -o json` with this config", ["health.json"], t,
                         lambda timeout: _health(cfg, timeout)))
    if cluster is not None:
        for agent_type in opts.agent_types or _agent_types(spec):
            name = safe_name(agent_type)
            out.append(Collector(f"diagnose/{name}", f"`agentops diagnose agent {agent_type} -o json`",
                                 [f"diagnose/{name}.json"], t,
                                 lambda timeout, a=agent_type: gather.diagnosis(cluster, a, opts, timeout)))
    hosts = cfg.targets_of("agentrpc")
    if hosts:
        out.append(Collector("cluster/inventory", "`agentops cluster inventory --owners -o json`",
                             ["cluster/inventory.json"], t, lambda timeout: gather.inventory(hosts, spec, timeout)))
    if opts.profile_s > 0 and spec.workers:
        names = ", ".join(w.name for w in spec.workers)
        out.append(Collector("profile", f"`agentops profile` of the workers ({names}) for {opts.profile_s:g}s, "
                             "with py-spy stacks when py-spy can attach", ["profile/profile.json"],
                             max(t, opts.profile_s + PROFILE_MARGIN_S),
                             lambda timeout: gather.profile_workers(cfg, opts, timeout)))
    for w in spec.workers if opts.profile_s > 0 else []:
        name = safe_name(w.name)
        out.append(Collector(f"stacks/{name}", f"`py-spy dump` of worker {w.name}: every thread's stack as it "
                             "is now", [f"stacks/{name}.txt"], t,
                             lambda timeout, n=w.name: gather.stack_dump(cfg, n, timeout)))
    for name, paths, log_format in _log_sources(spec):
        files = [f"logs/{safe_name(name)}/{safe_name(p.name)}" for p in paths]
        out.append(Collector(f"logs/{safe_name(name)}", f"the records of the last {opts.since_s:g}s of "
                             f"{', '.join(str(p) for p in paths)}", files, t,
                             lambda _t, n=name, ps=paths, f=log_format: gather.log_excerpts(n, ps, f, opts)))
    for name, target, url in _metrics_endpoints(cfg, spec):
        out.append(Collector(f"metrics/{safe_name(name)}", f"a scrape of {url}", [f"metrics/{safe_name(name)}.prom"],
                             t, lambda timeout, tg=target, u=url, n=name: gather.scrape(n, tg, u, timeout)))
    for source in cfg.targets_of("kubernetes"):
        name = safe_name(source.name)
        out.append(Collector(f"k8s/{name}", f"Kubernetes objects, events and pod logs of source {source.name} "
                             "(kubectl get -o json layout)", [f"k8s/{name}/<kind>.json", f"k8s/{name}/logs/…"],
                             t, lambda timeout, s=source: gather.kubernetes(s, opts, timeout)))
    return out


async def _health(cfg: Config, timeout: float) -> Collected:
    """The health collector over the config as `agentops health` sees it: `kind: kubernetes` sources expanded
    into per-replica targets (k8s.discovery.expand_async, the CLI's expansion awaited in the collector's loop)
    within a quarter of the collector's timeout, as health caps it; the checks get what is left."""
    if cfg.targets_of("kubernetes"):
        from agentops.k8s.discovery import expand_async

        t0 = time.monotonic()
        cfg = await expand_async(cfg, timeout / 4)
        timeout -= time.monotonic() - t0
    return await gather.health(cfg, timeout)



def _agent_types(spec: ClusterSpec) -> list[str]:
    types = [t for w in spec.workers for t in w.agent_types]
    types += [t for h in spec.hosts for t in h.expect_types]
    return list(dict.fromkeys(types))


def _log_sources(spec: ClusterSpec) -> list[tuple[str, list[Path], str | None]]:
    found = []
    for host in spec.hosts:
        if host.log_files():
            found.append((host.name, host.log_files(), host.log_format))
    for w in spec.workers:
        paths = list(dict.fromkeys([*w.log_files(), *w.stderr_files()]))
        if paths:
            found.append((w.name, paths, w.log_format))
    return found


def _metrics_endpoints(cfg: Config, spec: ClusterSpec) -> list[tuple[str, Target, str]]:
    from agentops.core.config import Target

    seen: dict[str, tuple[str, Target, str]] = {}
    for t in cfg.targets_of("metrics"):
        if t.address:
            seen.setdefault(t.address, (t.name, t, t.address))
    for w in spec.workers:
        if w.metrics_url:
            seen.setdefault(w.metrics_url, (f"{w.name}-metrics", Target(name=w.name, kind="metrics",
                                                                        address=w.metrics_url), w.metrics_url))
    return list(seen.values())


def dry_run_rows(collectors: list[Collector]) -> list[dict[str, Any]]:
    return [{"name": c.name, "what": c.what, "files": c.files, "timeout_s": round(c.timeout_s, 3)}
            for c in collectors]


# The request headers whose values the http probe treats as credentials (probes/http.py, HttpProbe.measure).
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key")


def register_config_secrets(cfg: Config) -> None:
    """Resolve every secret the config names (targets' passwords and tokens, checks' credential headers and
    headers read from the environment) so the redactor masks them by value in every file, even where no
    pattern would see one (a log line that prints a token bare), and whether or not the check that would
    have read them runs. One that cannot be resolved now (an unset variable) is left to the patterns."""
    from agentops.core.packs import load_specs, plan
    from agentops.core.yamlsrc import ConfigError
    from agentops.probes.http import env_headers, register_header_secret

    for target in cfg.targets.values():
        for name in target.secret_sources:
            try:
                target.secret(name)
            except ConfigError:
                pass
    for check in plan(cfg, load_specs(cfg, None)):
        params = check.spec.params
        headers = params.get("headers")
        if isinstance(headers, dict):
            for header, value in headers.items():
                if str(header).lower() in CREDENTIAL_HEADERS:
                    register_header_secret(str(value))
        headers_env = params.get("headers_env")
        if isinstance(headers_env, dict):
            for header, var in headers_env.items():
                try:
                    env_headers({str(header): str(var)})
                except ConfigError:
                    pass
