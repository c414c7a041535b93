"""`agentops diagnose performance [TYPE]`: where is the bottleneck?

One window over the workers that matter (the owner of TYPE, or every configured worker): their processes
sampled (CPU, memory and its trend, fds, IO wait; stacks with --stacks), their agents' own /metrics over the
same seconds, and — with --load — a short load run at TYPE inside the window so there is traffic to measure.
Everything becomes checks judged by `profile.limits` (response > 2 s, memory > 512 MB, CPU > 80 %, error rate
> 5 %, concurrency > 90 % of the limit; CPU peak > 90 %, memory > 1 GB, IO wait > 1 s), and rules turn the
checks into findings that name the bottleneck with its evidence and what to do:

- a slow agent type, told apart by what its worker did meanwhile: the worker was idle (the handler awaits a
  slow external call), its event loop was blocked with little CPU (a blocking call in the handler), or its
  CPU was saturated (CPU-bound handler or an undersized worker);
- a failing agent type (error rate), a worker out of concurrency (queue against --queue-limit);
- a leak, a CPU-bound or memory-heavy worker, IO wait (from the process profile).
The worst finding comes first; with none, an OK finding says what was looked at.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

from agentops.core import format as fmt
from agentops.core.config import Config
from agentops.core.model import Finding, Observation, Reason, Report, Result, Status
from agentops.core.runner import judge
from agentops.profile import limits
from agentops.profile.analyze import LOOP_BUSY_SHARE, ProcessProfile, process_findings
from agentops.profile.session import LabelledWindow, ProfileOptions, profile_document, run_window
from agentops.profile.targets import ProfileTarget, by_worker_target


@dataclass
class PerformanceQuery:
    agent_type: str | None = None
    duration_s: float = 10.0
    interval_s: float = 0.5
    stacks: bool = False
    queue_limit: float | None = None  # messages a worker may hold in flight
    load: Any = None  # (load.run.LoadTarget, load.engine.LoadSpec) for a load run inside the window
    profile: ProfileOptions = field(default_factory=ProfileOptions)


@dataclass
class Worker:
    name: str
    agent_types: tuple[str, ...]
    profile: ProcessProfile | None = None
    window: LabelledWindow | None = None


def select_workers(cfg: Config, workers: list[Any], agent_type: str | None) -> list[Any]:
    """The owner of `agent_type` (a type lives on exactly one worker), or every worker."""
    if agent_type is None:
        if not workers:
            raise ValueError(f"no worker targets in {cfg.path or 'the config'}: a performance diagnosis needs "
                             f"the workers' processes (worker targets with pid_file/match and metrics_url)")
        return workers
    owner = next((w for w in workers if agent_type in w.agent_types), None)
    if owner is None:
        known = sorted({t for w in workers for t in w.agent_types})
        raise ValueError(f"no worker target lists agent type {agent_type!r} (configured types: "
                         f"{', '.join(known) or 'none'})")
    return [owner]


async def diagnose_performance(cfg: Config, workers: list[Any], q: PerformanceQuery, *,
                               on_tick: Any = None, started_at: str = "") -> Report:
    t0 = time.perf_counter()
    report = Report(kind="diagnose.performance", started_at=started_at, duration_s=0.0)
    targets: list[ProfileTarget] = []
    for w in workers:
        try:
            targets += by_worker_target(cfg, w.name)
        except ValueError as exc:
            report.results.append(judge(limits.PROCESS, w.name, Observation.failure(Reason.ASSERTION, str(exc)), 0.0))
    opts = q.profile
    opts.duration_s, opts.interval_s, opts.stacks = q.duration_s, q.interval_s, q.stacks
    load_outcome = None
    if targets:
        window = run_window(targets, opts, on_tick)
        if q.load is not None:
            from agentops.load.run import drive

            load_target, load_spec = q.load
            run, load_outcome = await asyncio.gather(window, drive(load_target, load_spec))
        else:
            run = await window
        report.notes.extend(run.notes)
        report.data = profile_document(run)
    else:
        run = None
    by_label = {w.name: Worker(w.name, tuple(w.agent_types)) for w in workers}
    if run is not None:
        for p in run.processes:
            worker = by_label.get(p.label.split(" ")[0])
            if worker is not None and worker.profile is None:
                worker.profile = p
            report.results.extend(p.results)
        for lw in run.windows:
            worker = by_label.get(lw.label)
            if worker is not None:
                worker.window = lw
    type_results = _agent_type_results(by_label.values(), q.agent_type)
    report.results.extend(type_results)
    concurrency = _concurrency_results(by_label.values(), q.queue_limit)
    report.results.extend(concurrency)
    if load_outcome is not None:
        from agentops.load.run import findings as load_findings
        from agentops.load.run import load_document, run_result

        load_target, load_spec = q.load
        report.results.append(run_result(load_outcome, f"{load_target.agent_type}/{load_target.key}"))
        report.findings.extend(load_findings(load_outcome, load_target.agent_type))
        report.data["load"] = load_document(load_target, load_spec, load_outcome, [])
    report.findings = bottlenecks(by_label.values(), type_results, concurrency, load_outcome, q) + report.findings
    if not any(f.status is not Status.OK for f in report.findings) and not any(
            r.status is not Status.OK for r in report.results):
        report.findings.insert(0, _healthy(by_label.values(), q))
    report.data["bottleneck"] = report.findings[0].id if report.findings else None
    report.data["agent_type"] = q.agent_type
    report.duration_s = time.perf_counter() - t0
    return report


# ------------------------------------------------------------------------------------------------- checks

def _agent_type_results(workers: Any, agent_type: str | None) -> list[Result]:
    """One check per agent type with traffic in the window (response p95 > 2 s, error rate > 5 %)."""
    results = []
    for w in workers:
        if w.window is None or (w.window.window.failure and not w.window.window.types):
            continue
        for t in w.window.window.types:
            if agent_type is not None and t.agent_type != agent_type:
                continue
            if not t.messages and not t.errors:
                continue
            metrics = {"p95_s": t.p95_s, "p99_s": t.p99_s, "error_rate_percent": t.error_rate_percent,
                       "throughput_per_s": t.throughput_per_s, "messages": t.messages}
            message = (f"{t.messages:.0f} messages, p95 {fmt.duration(t.p95_s)}, p99 {fmt.duration(t.p99_s)}, errors "
                       f"{fmt.percent(t.error_rate_percent)}")
            obs = Observation(metrics=metrics, message=message,
                              facts={"worker": w.name, "errors_by_kind": t.errors_by_kind})
            result = judge(limits.AGENT_TYPE, t.agent_type, obs, w.window.window.elapsed_s)
            if result.status is not Status.OK:
                result.message = f"{result.message} — {obs.message}"
            results.append(result)
    return results


def _concurrency_results(workers: Any, queue_limit: float | None) -> list[Result]:
    if not queue_limit:
        return []
    results = []
    for w in workers:
        if w.window is None or not w.window.window.queue_size:
            continue
        peak = w.window.window.queue_max
        obs = Observation(metrics={"queue_percent_of_limit": 100.0 * peak / queue_limit, "queue_size_max": peak,
                                   "queue_limit": float(queue_limit)},
                          message=f"up to {peak:.0f} messages in flight of {queue_limit:g} allowed")
        results.append(judge(limits.CONCURRENCY, w.name, obs, w.window.window.elapsed_s))
    return results


# ----------------------------------------------------------------------------------------------- findings

def bottlenecks(workers: Any, type_results: list[Result], concurrency: list[Result], load_outcome: Any,
                 q: PerformanceQuery) -> list[Finding]:
    found: list[Finding] = []
    owner = {t: w for w in workers for t in w.agent_types}
    for r in type_results:
        w = owner.get(r.target)
        p95, err = r.metrics.get("p95_s", math.nan), r.metrics.get("error_rate_percent", math.nan)
        if p95 == p95 and p95 > 2:
            found.append(_slow_type(r.target, w, r))
        if err == err and err > 5:
            kinds = r.facts.get("errors_by_kind", {})
            found.append(Finding(
                id="performance.failing_handler", status=Status.WARNING,
                title=f"Agent type {r.target} fails {err:.1f}% of its messages",
                cause="its handler raises on a large share of the messages it handles",
                evidence=[r.message, *(f"{kind}: {n:.0f}" for kind, n in kinds.items())],
                fix=f"read the traceback in {w.name if w else 'its worker'}'s log (`agentops logs analyze`) and fix "
                    f"the handler or the payloads that break it; callers see each error as the reply",
                checks=[r.id]))
    if load_outcome is not None and load_outcome.stats is not None and q.load is not None:
        lat = load_outcome.stats.latency
        loaded = q.load[0].agent_type
        slow = next((f for f in found if f.id.startswith("performance.slow") and f"type {loaded} " in f.title), None)
        if slow is not None and lat.count:
            slow.evidence.insert(1, f"the load run measured p50 {fmt.duration(lat.quantile(0.5))}, p95 "
                                    f"{fmt.duration(lat.quantile(0.95))} from the caller's side")
        elif lat.count and lat.quantile(0.95) > 2:
            found.append(_slow_type(loaded, owner.get(loaded), None, client_p95=lat.quantile(0.95)))
    for r in concurrency:
        if r.status is not Status.OK:
            found.append(Finding(
                id="performance.concurrency", status=Status.WARNING,
                title=f"{r.target} holds {r.metrics['queue_size_max']:.0f} messages in flight, over 90% of its "
                      f"limit ({r.metrics['queue_limit']:g})",
                cause="messages arrive faster than the worker finishes them, so they queue",
                evidence=[r.message], fix="add workers (split agent types across them), make handlers faster, or "
                                          "raise the limit if the machine has room",
                checks=[r.id]))
    for w in workers:
        if w.profile is None:
            continue
        found += process_findings(w.profile)
        found += _memory_and_io(w.profile)
    found.sort(key=lambda f: -f.status.severity)
    return found


def _slow_type(agent_type: str, w: Worker | None, r: Result | None, client_p95: float | None = None) -> Finding:
    p = w.profile if w else None
    where = f" on {w.name}" if w else ""
    p95 = r.metrics["p95_s"] if r is not None else client_p95
    evidence = [f"{agent_type}: {r.message}" if r is not None else
                f"{agent_type}: p95 {fmt.duration(client_p95 or math.nan)} measured by the load run"]
    kind, cause, fix = "slow_external_call", "", ""
    if p is not None:
        cpu_mean, cpu_p95 = p.metrics.get("cpu_percent_mean", math.nan), p.metrics.get("cpu_percent_p95", math.nan)
        loop = p.stacks.busiest_loop if p.stacks and p.stacks.available else None
        evidence.append(f"{w.name if w else 'worker'} CPU mean {fmt.number(cpu_mean)}%, p95 {fmt.number(cpu_p95)}% of "
                        f"one core")
        if loop is not None:
            evidence.append(f"event loop busy {fmt.number(100 * loop.busy_share)}% of {loop.samples} stack samples"
                            + (f", most often in {loop.top_frames[0].frame}" if loop.top_frames else ""))
        if cpu_p95 == cpu_p95 and cpu_p95 > 80:
            kind = "cpu_bound"
            cause = ("the worker's CPU is saturated while the handler runs: the handler computes (or the worker "
                     "hosts more work than one core does), so every message queues behind CPU")
            fix = ("profile the handler (--stacks) and move heavy computation off the event loop (a process "
                   "pool); or give the type a worker of its own — the worker is undersized for its load")
        elif loop is not None and loop.busy_share >= LOOP_BUSY_SHARE:
            kind = "blocking_call"
            cause = ("the worker's event loop is busy inside the handler while the CPU is mostly idle: the handler "
                     "makes a blocking call (time.sleep, a synchronous HTTP or database client, file IO) that holds "
                     "up every message on the worker")
            fix = ("replace the blocking call with its async form (asyncio.sleep, an async client) or wrap it in "
                   "`await asyncio.to_thread(...)`")
        else:
            cause = ("the worker is idle while the handler takes this long (low CPU"
                     + (", event loop free" if loop is not None else "") + "): the handler awaits something slow — "
                     "an external API, a database, a model call, a sleep")
            fix = ("find the slow dependency (log or trace its calls), give it a timeout, cache or batch its "
                   "results, or call it concurrently; if the wait is inherent, callers need a deadline above it")
    if not cause:
        cause = ("the handler takes this long; its worker's process was not profiled (no process found), so "
                 "whether it waits or computes is unknown")
        fix = "configure the worker's pid_file/match so its process can be profiled, and rerun with --stacks"
    return Finding(id=f"performance.slow_handler.{kind}", status=Status.WARNING,
                   title=f"Agent type {agent_type}{where} is the bottleneck: p95 response "
                         f"{fmt.duration(p95 or math.nan)} (> 2 s)",
                   cause=cause, evidence=evidence, fix=fix, checks=[r.id] if r is not None else ["load.run"])


def _memory_and_io(p: ProcessProfile) -> list[Finding]:
    out = []
    m, who = p.metrics, f"{p.label} (pid {p.series.info.pid})"
    rss = m.get("rss_mb_max", math.nan)
    if rss == rss and rss > 512:
        out.append(Finding(
            id="performance.memory", status=Status.CRITICAL if rss > 1024 else Status.WARNING,
            title=f"{who} uses {rss:.0f} MB of memory (> {'1 GB' if rss > 1024 else '512 MB'})",
            cause="the worker holds a lot of memory" + (" and it is still climbing" if p.trend.leak_suspected
                                                        else ""),
            evidence=[f"RSS max {rss:.0f} MB, USS max {fmt.number(m.get('uss_mb_max', math.nan))} MB",
                      f"trend {p.trend.slope_mb_per_min:+.2f} MB/min (r² {fmt.number(p.trend.r2)})"],
            fix="find what holds it (tracemalloc/memray heap snapshot): per-session state, caches without a bound, "
                "large payloads kept after replying; set a memory limit and restart policy",
            checks=[limits.MEMORY.id]))
    iowait = m.get("iowait_s", math.nan)
    if iowait == iowait and iowait > 1:
        out.append(Finding(
            id="performance.io_wait", status=Status.CRITICAL,
            title=f"{who} spent {iowait:.1f}s blocked on disk IO during the window",
            cause="IO operations take over a second in total: the worker waits on the disk (logging, local files, "
                  "swap)",
            evidence=[f"IO wait {iowait:.2f}s, read {m.get('io_read_bytes', 0):.0f} B, wrote "
                      f"{m.get('io_write_bytes', 0):.0f} B"],
            fix="move the IO off the event loop, reduce synchronous logging/writes, or give the worker faster "
                "storage; check the machine for swapping",
            checks=[limits.IO.id]))
    return out


def _healthy(workers: Any, q: PerformanceQuery) -> Finding:
    evidence = []
    for w in workers:
        if w.profile is not None:
            m = w.profile.metrics
            evidence.append(f"{w.name}: CPU mean {fmt.number(m['cpu_percent_mean'])}%, RSS max "
                            f"{fmt.number(m['rss_mb_max'])} MB, memory trend "
                            f"{w.profile.trend.slope_mb_per_min:+.2f} MB/min")
        if w.window is not None:
            t = w.window.window.total
            evidence.append(f"{w.name} agents: {fmt.number(t.throughput_per_s)} msg/s, "
                            f"p95 {fmt.duration(t.p95_s)}, errors "
                            f"{fmt.percent(t.error_rate_percent)}")
    scope = f"agent type {q.agent_type}" if q.agent_type else "the cluster"
    return Finding(id="performance.healthy", status=Status.OK,
                   title=f"No bottleneck found for {scope} over {q.duration_s:g}s",
                   cause="every process and agent metric stayed under the thresholds (response 2 s, memory 512 MB, "
                         "CPU 80 %, error rate 5 %)",
                   evidence=evidence, fix="nothing to fix; rerun with --load to measure under traffic")
