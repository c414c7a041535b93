"""The collectors' coroutines: each gathers one thing under the timeout it is given and returns the files it
made (bundle.collect runs them). Every document is the one its own command writes (render/document.py
through render/json.py), so a bundle's `health.json` is what `agentops health -o json` prints; nothing here
judges: the judged documents come from the commands' own code (core.runner, diagnose/, profile/), the rest is
raw data (config text, log excerpts, py-spy dumps, /metrics text, `kubectl get -o json` lists)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agentops.bundle.collect import Collected, CollectorFailed
from agentops.bundle.options import LOG_WINDOW_FACTOR, MAX_POD_LOGS, BundleOptions, document, safe_name

if TYPE_CHECKING:
    from agentops.core.cluster import Cluster, ClusterSpec
    from agentops.core.config import Config, Target


async def config_file(cfg: Config) -> Collected:
    from agentops.core.files import FileProblem, read_file

    got = Collected()
    try:
        got.add("config/agentops.yaml", read_file(str(cfg.path), limit=4 * 1024 * 1024))
    except FileProblem as exc:
        raise CollectorFailed(f"cannot read {cfg.path}: {exc}") from None
    return got


async def health(cfg: Config, timeout: float) -> Collected:
    from agentops.core.format import utc_stamp
    from agentops.core.model import Report
    from agentops.core.packs import load_specs, plan
    from agentops.core.runner import run_plan

    started_at, t0 = utc_stamp(), time.monotonic()
    checks = plan(cfg, load_specs(cfg, None))
    # The checks end by 90% of the collector's timeout, so the report is written rather than cut off.
    results = await run_plan(checks, concurrency=cfg.defaults.concurrency, deadline_at=t0 + timeout * 0.9)
    report = Report(kind="health", started_at=started_at, duration_s=time.monotonic() - t0, results=results)
    got = Collected()
    got.add("health.json", document(report))
    return got


async def diagnosis(cluster: Cluster, agent_type: str, opts: BundleOptions, timeout: float) -> Collected:
    from agentops.diagnose.agent import AgentQuery, diagnose_agent

    query = AgentQuery(agent_type=agent_type, deadline_s=min(opts.diagnose_deadline_s, timeout * 0.9),
                       since_s=opts.since_s)
    got = Collected()
    got.add(f"diagnose/{safe_name(agent_type)}.json", document(await diagnose_agent(cluster, query)))
    return got


async def inventory(hosts: list[Target], spec: ClusterSpec, timeout: float) -> Collected:
    from agentops.diagnose.inventory import inventory_report

    got = Collected()
    got.add("cluster/inventory.json", document(await inventory_report(hosts, spec, timeout * 0.9, True)))
    return got


async def profile_workers(cfg: Config, opts: BundleOptions, timeout: float) -> Collected:
    from agentops.profile.limits import Limits
    from agentops.profile.session import ProfileOptions, profile
    from agentops.profile.stacks import find_py_spy
    from agentops.profile.targets import by_worker_target

    got = Collected()
    targets = []
    for w in cfg.targets_of("worker"):
        try:
            targets += by_worker_target(cfg, w.name)
        except ValueError as exc:
            got.notes.append(f"not profiled: {exc}")
    if not targets:
        raise CollectorFailed("no live worker process to profile", got)
    stacks = find_py_spy() is not None
    if not stacks:
        got.notes.append("py-spy is not installed (the [stacks] extra): profiles without stacks")
    popts = ProfileOptions(duration_s=opts.profile_s, interval_s=min(1.0, opts.profile_s / 3), stacks=stacks,
                           scrape_timeout_s=min(5.0, timeout / 4), limits=Limits.load(cfg))
    got.add("profile/profile.json", document(await profile(targets, popts)))
    return got


async def stack_dump(cfg: Config, worker: str, timeout: float) -> Collected:
    from agentops.core.osproc import communicate_within
    from agentops.profile.stacks import find_py_spy
    from agentops.profile.targets import by_worker_target

    exe = find_py_spy()
    if exe is None:
        raise CollectorFailed("py-spy is not installed (the [stacks] extra: pip install py-spy)")
    try:
        targets = by_worker_target(cfg, worker)
    except ValueError as exc:
        raise CollectorFailed(str(exc)) from None
    got = Collected()
    for t in targets:
        if t.process is None:  # a worker on another machine: py-spy reads that machine's process
            assert t.node is not None
            raise CollectorFailed(f"worker {worker} runs on node {t.node.label}: its stacks are dumped there")
        # --nonblocking: read the stacks without pausing the worker (a stopped one is read as it stands).
        proc = await asyncio.create_subprocess_exec(exe, "dump", "--pid", str(t.process.pid), "--nonblocking",
                                                    stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            answer = await communicate_within(proc, timeout * 0.9)
        except asyncio.CancelledError:
            if proc.returncode is None:  # cut off by the bundle's deadline: no py-spy outlives it
                proc.kill()
                await proc.wait()
            raise
        if answer is None:
            raise CollectorFailed(f"py-spy dump of pid {t.process.pid} did not finish in {timeout * 0.9:.3g}s", got)
        out, err = answer
        if proc.returncode != 0:
            first = next((ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()), "no message")
            raise CollectorFailed(f"py-spy dump of pid {t.process.pid} failed (exit {proc.returncode}): {first}", got)
        suffix = "" if len(targets) == 1 else f"-{t.process.pid}"
        got.add(f"stacks/{safe_name(worker)}{suffix}.txt", out)
    return got


async def log_excerpts(name: str, paths: list[Path], log_format: str | None, opts: BundleOptions) -> Collected:
    got = Collected()
    since = time.time() - opts.since_s
    used: set[str] = set()
    for path in paths:
        if path.suffix == ".gz":
            got.notes.append(f"{path}: compressed (rotated) log left out")
            continue
        data, note = await asyncio.to_thread(excerpt, path, since, log_format,
                                             opts.max_file_bytes * LOG_WINDOW_FACTOR)
        if note:
            got.notes.append(note)
        if data:
            base = member = f"logs/{safe_name(name)}/{safe_name(path.name)}"
            while member in used:  # two globbed files of one name (a/w1.log, b/w1.log)
                member = f"{base}.{len(used)}"
            used.add(member)
            got.add(member, data)
    return got


def excerpt(path: Path, since: float, log_format: str | None, window: int) -> tuple[bytes, str | None]:
    """The bytes of `path` from its first record at or after `since` to its end, looked for in its last
    `window` bytes, as written (so `agentops logs analyze` reads them as it reads the file). With no
    timestamped record in that window, none; with the whole window in range, the window (a note says so)."""
    from agentops.logs.ranges import read_records

    records, problem = read_records(path, since=since, max_bytes=window, log_format=log_format)
    if problem:
        return b"", problem
    if not records:
        return b"", f"{path}: no timestamped record since the start of the window"
    start = min(r.offset for r in records)
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(window)
    except OSError as exc:
        return b"", f"{path}: {exc.strerror or exc}"
    size = path.stat().st_size
    note = (f"{path}: the window holds more than {window} bytes; the excerpt starts {size - start} bytes before "
            "the end") if start > 0 and size - start >= window else None
    return data, note


async def scrape(name: str, target: Target, url: str, timeout: float) -> Collected:
    from agentops.core.model import Observation, Reason
    from agentops.probes.http import fetch

    # The collector's own timeout cuts a silent endpoint off; the client's, a little longer, is the backstop.
    got = await fetch(target, url, timeout=timeout + 1.0)
    if isinstance(got, Observation):
        if got.reason is Reason.TIMEOUT:
            raise TimeoutError
        raise CollectorFailed(f"{url}: {got.message}")
    out = Collected()
    out.add(f"metrics/{safe_name(name)}.prom", got.body)
    if got.status != 200:
        raise CollectorFailed(f"{url}: HTTP {got.status} {got.reason_phrase}", out)
    if got.body_bytes > len(got.body):
        out.notes.append(f"{url}: the body was read up to {len(got.body)} of {got.body_bytes} bytes")
    return out


async def kubernetes(source: Target, opts: BundleOptions, timeout: float) -> Collected:
    import json

    from agentops.k8s.access import KubeClient, KubeError
    from agentops.k8s.discovery import access_of
    from agentops.k8s.snapshot import name_of, namespace_of, take

    base = f"k8s/{safe_name(source.name)}"
    got = Collected()
    access = access_of(source, min(10.0, timeout / 3))
    try:
        client = await KubeClient.connect(access)
    except KubeError as exc:
        raise CollectorFailed(f"source {source.name}: {exc.message}") from None
    try:
        namespace = access.namespace or client.connection.namespace
        try:
            snap = await take(client, [namespace])
        except KubeError as exc:
            raise CollectorFailed(f"source {source.name}: {exc.message}") from None
        for kind in sorted(snap.listed):
            doc = {"apiVersion": "v1", "kind": f"{kind}List", "items": snap.of(kind)}
            got.add(f"{base}/{kind.lower()}.json", json.dumps(doc, indent=1) + "\n")
        for denied in snap.denials():
            got.notes.append(f"{denied['kind']}: {denied['message']}")
        for pod in snap.of("Pod")[:MAX_POD_LOGS]:
            containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name")]
            for container in containers:
                try:
                    text = await client.log(namespace_of(pod), name_of(pod), container=str(container),
                                            since_seconds=int(opts.since_s))
                except KubeError as exc:
                    got.notes.append(f"log of {name_of(pod)}/{container}: {exc.message}")
                    continue
                got.add(f"{base}/logs/{safe_name(namespace_of(pod))}/{safe_name(name_of(pod))}/"
                        f"{safe_name(str(container))}.log", text)
        if len(snap.of("Pod")) > MAX_POD_LOGS:
            got.notes.append(f"pod logs of the first {MAX_POD_LOGS} of {len(snap.of('Pod'))} pods")
    finally:
        client.close()
    return got
