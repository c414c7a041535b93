"""`agentops diagnose performance [TYPE]`: where is the bottleneck?

One window over the workers that matter (the owner of TYPE, or every configured worker): their processes
sampled (CPU, memory and its trend, fds, IO wait; stacks with --stacks), their agents' own /metrics over the
same seconds, and — with --load — a short load run at TYPE inside the window so there is traffic to measure.
Everything becomes checks judged by the performance pack (`checks/performance.yaml`: response > 2 s, memory >
512 MB, CPU > 80 %, error rate > 5 %, concurrency > 90 % of the limit; CPU peak > 90 %, memory > 1 GB, IO wait >
1 s, as shipped), and rules turn the judged checks into findings that name the bottleneck with its evidence and
what to do (a finding takes its status from the checks it cites, never from a number compared here):

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
from agentops.core.evaluate import metric_verdicts
from agentops.core.model import Finding, Observation, Reason, Report, Result, Status
from agentops.core.runner import judge
from agentops.profile.analyze import ProcessProfile, process_findings
from agentops.profile.limits import Limits
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
    from agentops.core.cluster import owner_of

    owner = owner_of(workers, agent_type)
    if owner is None:
        known = sorted({t for w in workers for t in w.agent_types})
        raise ValueError(f"no worker target lists agent type {agent_type!r} (configured types: "
                         f"{', '.join(known) or 'none'})")
    return [owner]


async def diagnose_performance(cfg: Config, workers: list[Any], q: PerformanceQuery, *,
                               on_tick: Any = None, started_at: str = "") -> Report:
    t0 = time.perf_counter()
    report = Report(kind="diagnose.performance", started_at=started_at, duration_s=0.0)
    lim = q.profile.limits
    targets: list[ProfileTarget] = []
    for w in workers:
        try:
            targets += by_worker_target(cfg, w.name)
        except ValueError as exc:
            report.results.append(judge(lim.process, w.name, Observation.failure(Reason.ASSERTION, str(exc)), 0.0))
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
    type_results = _agent_type_results(by_label.values(), q.agent_type, lim)
    report.results.extend(type_results)
    concurrency = _concurrency_results(by_label.values(), q.queue_limit, lim)
    report.results.extend(concurrency)
    if load_outcome is not None:
        from agentops.load.run import findings as load_findings
        from agentops.load.run import load_document, run_result

        load_target, load_spec = q.load
        report.results.append(run_result(load_outcome, f"{load_target.agent_type}/{load_target.key}"))
        latency = _load_latency(load_outcome, load_target.agent_type, lim)
        if latency is not None:
            report.results.append(latency)
        report.findings.extend(load_findings(load_outcome, load_target.agent_type))
        report.data["load"] = load_document(load_target, load_spec, load_outcome, [])
    latency = next((r for r in report.results if r.id == lim.load_latency.id), None)
    report.findings = bottlenecks(by_label.values(), type_results, concurrency, latency, q) + report.findings
    if report.status is Status.OK:  # judged over the results and the findings so far: nothing breached
        report.findings.insert(0, _healthy(by_label.values(), q, report.status))
    report.set_verdict(report.findings[0] if report.findings else None)  # the main bottleneck, or healthy
    report.data["bottleneck"] = report.findings[0].id if report.findings else None
    report.data["agent_type"] = q.agent_type
    report.duration_s = time.perf_counter() - t0
    return report


# ------------------------------------------------------------------------------------------------- checks

def _agent_type_results(workers: Any, agent_type: str | None, lim: Limits) -> list[Result]:
    """One check per agent type with traffic in the window (response p95, error rate)."""
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
            result = judge(lim.agent_type, t.agent_type, obs, w.window.window.elapsed_s)
            if result.status is not Status.OK:
                result.message = f"{result.message} — {obs.message}"
            results.append(result)
    return results


def _concurrency_results(workers: Any, queue_limit: float | None, lim: Limits) -> list[Result]:
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
        results.append(judge(lim.concurrency, w.name, obs, w.window.window.elapsed_s))
    return results


def _load_latency(outcome: Any, agent_type: str, lim: Limits) -> Result | None:
    """The response time the load run measured from the caller's side, judged like the agent's own p95."""
    if outcome.stats is None or not outcome.stats.latency.count:
        return None
    lat = outcome.stats.latency
    obs = Observation(metrics={"p95_s": lat.quantile(0.95), "p50_s": lat.quantile(0.5), "replies": float(lat.count)},
                      message=f"the load run measured p50 {fmt.duration(lat.quantile(0.5))}, p95 "
                              f"{fmt.duration(lat.quantile(0.95))} from the caller's side")
    return judge(lim.load_latency, agent_type, obs, 0.0)


# ----------------------------------------------------------------------------------------------- findings

def bottlenecks(workers: Any, type_results: list[Result], concurrency: list[Result], latency: Result | None,
                q: PerformanceQuery) -> list[Finding]:
    found: list[Finding] = []
    lim = q.profile.limits
    owner = {t: w for w in workers for t in w.agent_types}
    for r in type_results:
        w = owner.get(r.target)
        verdicts = metric_verdicts(lim.agent_type, r.metrics)
        if "p95_s" in verdicts:
            found.append(_slow_type(r.target, w, r, verdicts["p95_s"][0], lim))
        if "error_rate_percent" in verdicts:
            kinds = r.facts.get("errors_by_kind", {})
            found.append(Finding(
                id="performance.failing_handler", status=verdicts["error_rate_percent"][0],
                title=f"Agent type {r.target} fails {r.metrics['error_rate_percent']:.1f}% of its messages",
                cause="its handler raises on a large share of the messages it handles",
                evidence=[r.message, *(f"{kind}: {n:.0f}" for kind, n in kinds.items())],
                fix=f"read the traceback in {w.name if w else 'its worker'}'s log (`agentops logs analyze`) and fix "
                    f"the handler or the payloads that break it; callers see each error as the reply",
                checks=[r.id]))
    if latency is not None and q.load is not None:
        loaded = q.load[0].agent_type
        slow = next((f for f in found if f.id.startswith("performance.slow") and f"type {loaded} " in f.title), None)
        if slow is not None:
            slow.evidence.insert(1, latency.message)
        elif latency.reason is Reason.THRESHOLD:
            found.append(_slow_type(loaded, owner.get(loaded), latency, latency.status, lim))
    for r in concurrency:
        if r.reason is Reason.THRESHOLD:
            found.append(Finding(
                id="performance.concurrency", status=r.status,
                title=f"{r.target} holds {r.metrics['queue_size_max']:.0f} messages in flight, "
                      f"{_limit_text(lim.concurrency, 'queue_percent_of_limit', r.metrics, '%')} of its limit "
                      f"({r.metrics['queue_limit']:g})",
                cause="messages arrive faster than the worker finishes them, so they queue",
                evidence=[r.message], fix="add workers (split agent types across them), make handlers faster, or "
                                          "raise the limit if the machine has room",
                checks=[r.id]))
    for w in workers:
        if w.profile is None:
            continue
        found += process_findings(w.profile)
        found += _memory_and_io(w.profile, lim)
    found.sort(key=lambda f: -f.status.severity)
    return found


def _limit_text(spec: Any, metric: str, metrics: dict[str, float], unit: str = "") -> str:
    """'over 90%': the breached threshold of `metric` in words, from the judge (the pack says the number)."""
    verdict = metric_verdicts(spec, metrics).get(metric)
    if verdict is None:
        return "within"
    text = verdict[1].describe()
    return ("over " + text[2:] if text.startswith("> ") else text) + unit


def _slow_type(agent_type: str, w: Worker | None, r: Result, status: Status, lim: Limits) -> Finding:
    """`r` is the judged check that found the type slow: its own metrics (performance.agent_type) or the load
    run's view from the caller's side (performance.load_latency)."""
    p = w.profile if w else None
    where = f" on {w.name}" if w else ""
    p95 = r.metrics["p95_s"]
    spec = lim.agent_type if r.id == lim.agent_type.id else lim.load_latency
    evidence = [f"{agent_type}: {r.message}"]
    kind, cause, fix = "slow_external_call", "", ""
    if p is not None:
        cpu_mean, cpu_p95 = p.metrics.get("cpu_percent_mean", math.nan), p.metrics.get("cpu_percent_p95", math.nan)
        loop = p.stacks.busiest_loop if p.stacks and p.stacks.available else None
        evidence.append(f"{w.name if w else 'worker'} CPU mean {fmt.number(cpu_mean)}%, p95 {fmt.number(cpu_p95)}% of "
                        f"one core")
        if loop is not None:
            evidence.append(f"event loop busy {fmt.number(100 * loop.busy_share)}% of {loop.samples} stack samples"
                            + (f", most often in {loop.top_frames[0].frame}" if loop.top_frames else ""))
        if p.breached(lim.cpu.id) is not None:
            kind = "cpu_bound"
            cause = ("the worker's CPU is saturated while the handler runs: the handler computes (or the worker "
                     "hosts more work than one core does), so every message queues behind CPU")
            fix = ("profile the handler (--stacks) and move heavy computation off the event loop (a process "
                   "pool); or give the type a worker of its own — the worker is undersized for its load")
        elif p.breached(lim.event_loop.id) is not None:
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
    limit = metric_verdicts(spec, r.metrics).get("p95_s")
    return Finding(id=f"performance.slow_handler.{kind}", status=status,
                   title=f"Agent type {agent_type}{where} is the bottleneck: p95 response {fmt.duration(p95)}"
                         + (f" ({limit[1].describe()} s)" if limit else ""),
                   cause=cause, evidence=evidence, fix=fix, checks=[r.id])


def _memory_and_io(p: ProcessProfile, lim: Limits) -> list[Finding]:
    out = []
    m, who = p.metrics, f"{p.label} (pid {p.series.info.pid})"
    memory = p.breached(lim.memory.id)
    if memory is not None:
        rss = m["rss_mb_max"]
        out.append(Finding(
            id="performance.memory", status=memory.status,
            title=f"{who} uses {rss:.0f} MB of memory ({_limit_text(lim.memory, 'rss_mb_max', m, ' MB')})",
            cause="the worker holds a lot of memory" + (" and it is still climbing" if p.trend.leak_suspected
                                                        else ""),
            evidence=[f"RSS max {rss:.0f} MB, USS max {fmt.number(m.get('uss_mb_max', math.nan))} MB",
                      f"trend {p.trend.slope_mb_per_min:+.2f} MB/min (r² {fmt.number(p.trend.r2)})"],
            fix="find what holds it (tracemalloc/memray heap snapshot): per-session state, caches without a bound, "
                "large payloads kept after replying; set a memory limit and restart policy",
            checks=[memory.id]))
    io = p.breached(lim.io.id)
    if io is not None:
        iowait = m["iowait_s"]
        out.append(Finding(
            id="performance.io_wait", status=io.status,
            title=f"{who} spent {iowait:.1f}s blocked on disk IO during the window",
            cause=f"IO operations take {_limit_text(lim.io, 'iowait_s', m, ' s')} in total: the worker waits on "
                  f"the disk (logging, local files, swap)",
            evidence=[f"IO wait {iowait:.2f}s, read {m.get('io_read_bytes', 0):.0f} B, wrote "
                      f"{m.get('io_write_bytes', 0):.0f} B"],
            fix="move the IO off the event loop, reduce synchronous logging/writes, or give the worker faster "
                "storage; check the machine for swapping",
            checks=[io.id]))
    return out


def _healthy(workers: Any, q: PerformanceQuery, status: Status) -> Finding:
    """`status` is the report's judged status (OK: nothing breached), which this finding summarises."""
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
    lim = q.profile.limits
    levels = [f"{r.metric} {t.describe()}" for spec in (lim.agent_type, lim.memory, lim.cpu)
              for r in spec.rules for t in (r.warning,) if t is not None]
    return Finding(id="performance.healthy", status=status,
                   title=f"No bottleneck found for {scope} over {q.duration_s:g}s",
                   cause=f"every process and agent metric stayed within the performance pack's thresholds "
                         f"(warning at {', '.join(levels)})",
                   evidence=evidence, fix="nothing to fix; rerun with --load to measure under traffic")
