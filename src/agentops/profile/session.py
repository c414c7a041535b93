"""One profiling window: the psutil sampler, py-spy (optional) and the agents' /metrics watched together over
the same seconds, then judged into a `profile` report. `diagnose performance` runs the same window."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from agentops.core.format import utc_stamp
from agentops.core.interrupt import stop_on_interrupt
from agentops.core.model import Report
from agentops.profile import stacks as stacks_mod
from agentops.profile.agentmetrics import MetricsWindow, watch
from agentops.profile.analyze import (
    ProcessProfile,
    metrics_result,
    process_findings,
    profile_data,
    profile_process,
)
from agentops.profile.limits import Limits, shipped
from agentops.profile.remote import sample_remote
from agentops.profile.sampler import SamplingRun, sample
from agentops.profile.stats import LeakRule, summarize
from agentops.profile.targets import ProfileTarget


@dataclass
class ProfileOptions:
    duration_s: float = 30.0
    interval_s: float = 1.0
    stacks: bool = False
    stacks_rate: int = 50
    metrics_urls: list[str] = field(default_factory=list)  # besides each target's own metrics_url
    leak_rule: LeakRule = field(default_factory=LeakRule)
    scrape_timeout_s: float = 5.0
    limits: Limits = field(default_factory=shipped)  # the performance pack, with the config's overrides


@dataclass
class LabelledWindow:
    label: str  # the process the endpoint belongs to, or the URL given with --metrics
    window: MetricsWindow
    agent_types: tuple[str, ...] = ()


@dataclass
class ProfileRun:
    started_at: str
    sampling: SamplingRun
    processes: list[ProcessProfile]
    windows: list[LabelledWindow]
    notes: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=shipped)


def now_iso() -> str:
    return utc_stamp()


async def run_window(targets: list[ProfileTarget], opts: ProfileOptions,
                     on_tick: Any = None, stop: asyncio.Event | None = None) -> ProfileRun:
    """Sample every target (and their stacks and metrics) for one window, then profile each process."""
    started_at = now_iso()
    endpoints: list[tuple[str, str, tuple[str, ...]]] = []
    for t in targets:
        if t.metrics_url:
            endpoints.append((t.label, t.metrics_url, t.agent_types))
    for url in opts.metrics_urls:
        if url not in {e[1] for e in endpoints}:
            endpoints.append((url, url, ()))
    local = [(t.process, t) for t in targets if t.process is not None]
    remote = [t for t in targets if t.node is not None]  # sampled by their nodes, over the same window
    sampler = sample([(p, t.label) for p, t in local], opts.duration_s, opts.interval_s, on_tick, stop)
    watchers = [watch(url, opts.duration_s, opts.interval_s, timeout=opts.scrape_timeout_s, stop=stop)
                for _, url, _ in endpoints]
    recorders = [stacks_mod.record(p.pid, opts.duration_s, rate=opts.stacks_rate)
                 for p, _ in local] if opts.stacks else []
    remotes = [sample_remote(t, opts.duration_s, opts.interval_s, opts.stacks) for t in remote]
    results = await asyncio.gather(sampler, *watchers, *recorders, *remotes)
    sampling: SamplingRun = results[0]
    windows = [LabelledWindow(label, w, types) for (label, _, types), w in
               zip(endpoints, results[1:1 + len(watchers)], strict=True)]
    stack_profiles = list(results[1 + len(watchers):1 + len(watchers) + len(recorders)]) or [None] * len(local)
    run = ProfileRun(started_at, sampling, [], windows, limits=opts.limits)
    for series, stack in zip(sampling.processes, stack_profiles, strict=True):
        run.processes.append(profile_process(series, sampling, opts.leak_rule, stack, opts.limits))
        if stack is not None and not stack.available:
            run.notes.append(f"stacks of {series.info.label}: {stack.reason}")
    for series, node_run, stack, notes in results[1 + len(watchers) + len(recorders):]:
        run.processes.append(profile_process(series, node_run, opts.leak_rule, stack, opts.limits))
        run.notes += notes
    return run


def profile_report(run: ProfileRun, duration_s: float) -> Report:
    report = Report(kind="profile", started_at=run.started_at, duration_s=duration_s, notes=list(run.notes))
    for p in run.processes:
        report.results.extend(p.results)
        report.findings.extend(process_findings(p))
    for lw in run.windows:
        report.results.append(metrics_result(lw.window, lw.label, run.limits))
    report.data = profile_document(run)
    return report


def profile_document(run: ProfileRun) -> dict[str, Any]:
    m = run.sampling.machine
    cpu = summarize(m.cpu_percent)
    return {
        "interval_s": run.sampling.interval_s, "duration_s": run.sampling.duration_s,
        "elapsed_s": round(run.sampling.elapsed_s, 3), "ticks": run.sampling.ticks,
        "machine": {"cpu_count": m.cpu_count, "cpu_percent": [round(v, 2) for v in m.cpu_percent if v == v],
                    "cpu_percent_mean": round(cpu.mean, 2) if cpu.count else None,
                    "cpu_percent_p95": round(cpu.p95, 2) if cpu.count else None,
                    "memory_percent": [round(v, 2) for v in m.memory_percent]},
        "processes": [profile_data(p) for p in run.processes],
        "metrics": [{"label": lw.label, **lw.window.to_dict()} for lw in run.windows],
    }


async def profile(targets: list[ProfileTarget], opts: ProfileOptions, on_tick: Any = None) -> Report:
    t0 = time.perf_counter()
    stop = asyncio.Event()
    with stop_on_interrupt(stop):
        run = await run_window(targets, opts, on_tick, stop)
    if stop.is_set():
        run.notes.append(f"stopped early (Ctrl-C) after {run.sampling.elapsed_s:.1f}s of {opts.duration_s:g}s")
    return profile_report(run, time.perf_counter() - t0)
