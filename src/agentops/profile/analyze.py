"""From sampled series to a report: per process, the numbers (min/mean/p95/max of every series, the memory
trend), the checks that judge them (profile.limits through core.evaluate) and the findings an operator acts
on — a suspected leak, a CPU-bound worker, an event loop blocked by a handler, a process that died.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agentops.core import format as fmt
from agentops.core.model import Finding, Observation, Reason, Result, Status
from agentops.core.runner import judge
from agentops.profile import limits
from agentops.profile.agentmetrics import MetricsWindow
from agentops.profile.sampler import SERIES, ProcessSeries, SamplingRun
from agentops.profile.stacks import StackProfile
from agentops.profile.stats import MIB, LeakRule, MemoryTrend, memory_trend, saturated_share, summarize

# A loop that runs callbacks this share of the time has little room for the next message.
LOOP_BUSY_SHARE = 0.5
# CPU (percent of one core) at or above which a sample counts as saturated.
SATURATED_CPU = 90.0


@dataclass
class ProcessProfile:
    series: ProcessSeries
    trend: MemoryTrend
    metrics: dict[str, float]
    stacks: StackProfile | None = None
    results: list[Result] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.series.info.label


def process_metrics(s: ProcessSeries, trend: MemoryTrend) -> dict[str, float]:
    """Every number the checks and the report need, from one process's series."""
    v = s.values
    m: dict[str, float] = {"samples": float(len(s.t))}
    m.update(summarize(v["cpu_percent"]).as_metrics("cpu_percent"))
    m.update(summarize(v["rss_bytes"]).as_metrics("rss_mb", MIB))
    m.update(summarize(v["uss_bytes"]).as_metrics("uss_mb", MIB))
    for name in ("threads", "fds", "connections", "ctx_switches_per_s", "io_read_bytes_per_s",
                 "io_write_bytes_per_s"):
        m.update(summarize(v[name]).as_metrics(name))
    m["cpu_saturated_share"] = saturated_share(v["cpu_percent"], SATURATED_CPU)
    m["cpu_seconds"] = s.cpu_seconds
    m["rss_slope_mb_per_min"] = trend.slope_mb_per_min
    m["rss_trend_r2"] = trend.r2
    m["rss_growth_mb"] = trend.growth_mb
    m["leak_suspected"] = 1.0 if trend.leak_suspected else 0.0
    m["fd_limit"] = s.info.fd_limit
    fds_max = m.get("fds_max", math.nan)
    m["fds_percent_of_limit"] = 100.0 * fds_max / s.info.fd_limit if s.info.fd_limit > 0 else math.nan
    m["iowait_s"] = s.iowait_seconds
    m["io_read_bytes"] = s.io_read_bytes
    m["io_write_bytes"] = s.io_write_bytes
    m["ctx_switches"] = s.ctx_switches
    m["involuntary_ctx_switches"] = s.involuntary_ctx_switches
    return m


def _pick(metrics: dict[str, float], names: tuple[str, ...]) -> dict[str, float]:
    return {n: metrics[n] for n in names if n in metrics}


# The metrics each check's result carries (the judged ones first).
_CHECK_METRICS = {
    limits.CPU.id: ("cpu_percent_mean", "cpu_percent_p95", "cpu_percent_min", "cpu_percent_max",
                    "cpu_saturated_share", "cpu_seconds"),
    limits.MEMORY.id: ("rss_mb_max", "rss_mb_min", "rss_mb_mean", "rss_mb_p95", "uss_mb_min", "uss_mb_mean",
                       "uss_mb_p95", "uss_mb_max"),
    limits.MEMORY_TREND.id: ("leak_suspected", "rss_slope_mb_per_min", "rss_trend_r2", "rss_growth_mb"),
    limits.FDS.id: ("fds_percent_of_limit", "fds_max", "fd_limit"),
    limits.IO.id: ("iowait_s", "io_read_bytes", "io_write_bytes"),
    limits.ACTIVITY.id: ("threads_max", "connections_max", "ctx_switches_per_s_mean", "io_read_bytes_per_s_mean",
                         "io_write_bytes_per_s_mean"),
}


def _message(check_id: str, m: dict[str, float], trend: MemoryTrend) -> str:
    f = fmt.number
    if check_id == limits.CPU.id:
        return (f"CPU mean {f(m['cpu_percent_mean'])}%, p95 {f(m['cpu_percent_p95'])}%, max "
                f"{f(m['cpu_percent_max'])}% of one core")
    if check_id == limits.MEMORY.id:
        uss = f" (USS max {f(m['uss_mb_max'])} MB)" if m["uss_mb_max"] == m["uss_mb_max"] else ""
        return f"RSS {f(m['rss_mb_min'])}..{f(m['rss_mb_max'])} MB{uss}"
    if check_id == limits.MEMORY_TREND.id:
        return ("suspected leak: " if trend.leak_suspected else "no leak: ") + trend.why
    if check_id == limits.FDS.id:
        limit = f" of {f(m['fd_limit'])} allowed" if m["fd_limit"] == m["fd_limit"] else ""
        return f"{f(m['fds_max'])} fds open{limit}"
    if check_id == limits.IO.id:
        wait = "not accounted (kernel.task_delayacct=0)" if m["iowait_s"] != m["iowait_s"] else \
            f"{f(m['iowait_s'])}s blocked on IO"
        return f"IO wait {wait}; read {fmt.size(m['io_read_bytes'])}, wrote {fmt.size(m['io_write_bytes'])}"
    return (f"threads {f(m['threads_max'])}, connections {f(m['connections_max'])}, "
            f"{f(m['ctx_switches_per_s_mean'])} context switches/s")


def profile_process(s: ProcessSeries, run: SamplingRun, rule: LeakRule,
                    stacks: StackProfile | None = None) -> ProcessProfile:
    trend = memory_trend(s.t, s.values["rss_bytes"], rule, window_s=run.duration_s)
    metrics = process_metrics(s, trend)
    profile = ProcessProfile(s, trend, metrics, stacks)
    target = s.info.label
    if not s.t:
        obs = Observation.failure(Reason.ASSERTION, f"no sample of pid {s.info.pid}: {s.gone or 'no data'}")
        profile.results.append(judge(limits.CPU, target, obs, run.elapsed_s))
        return profile
    for spec in limits.PROCESS_SPECS:
        obs = Observation(metrics=_pick(metrics, _CHECK_METRICS[spec.id]), message=_message(spec.id, metrics, trend),
                          facts={"pid": s.info.pid})
        result = judge(spec, target, obs, run.elapsed_s)
        if result.status is not Status.OK:
            result.message = f"{result.message} — {obs.message}"
        profile.results.append(result)
    return profile


def metrics_result(window: MetricsWindow, target: str) -> Result:
    """The agent's own series over the window, judged (response > 2 s, error rate > 5 %)."""
    if window.failure and not window.scrapes:
        return judge(limits.AGENT_METRICS, target, Observation.failure(Reason.CONNECT if "connect" in
                     window.failure.lower() else Reason.PROTOCOL, window.failure), window.elapsed_s)
    t = window.total
    metrics = {"p95_s": t.p95_s, "p99_s": t.p99_s, "error_rate_percent": t.error_rate_percent,
               "throughput_per_s": t.throughput_per_s, "messages": t.messages, "errors": t.errors,
               "queue_size_max": window.queue_max}
    message = (f"{fmt.number(t.throughput_per_s)} msg/s, p95 {fmt.duration(t.p95_s)}, "
               f"p99 {fmt.duration(t.p99_s)}, errors "
               f"{fmt.percent(t.error_rate_percent)}, queue max {fmt.number(window.queue_max)}")
    if window.missing:
        message += f" (not exposed: {', '.join(window.missing)})"
    obs = Observation(metrics=metrics, message=message, facts={"url": window.url})
    result = judge(limits.AGENT_METRICS, target, obs, window.elapsed_s)
    if result.status is not Status.OK:
        result.message = f"{result.message} — {message}"
    return result


# ------------------------------------------------------------------------------------------------ findings

def process_findings(p: ProcessProfile) -> list[Finding]:
    out: list[Finding] = []
    info, m = p.series.info, p.metrics
    who = f"{info.label} (pid {info.pid})"
    if p.series.gone:
        out.append(Finding(
            id="profile.process_gone", status=Status.CRITICAL, title=f"{who} {p.series.gone}",
            cause="the process ended (or became unreadable) while it was being profiled",
            evidence=[f"sampled {len(p.series.t)} times before it went"],
            fix="look at its log and exit status (crash, OOM kill: `dmesg | grep -i oom`), restart it",
            checks=[limits.CPU.id]))
    if p.trend.leak_suspected:
        out.append(Finding(
            id="profile.leak", status=Status.WARNING, title=f"Memory leak suspected in {who}",
            cause="resident memory climbs steadily while the process works: something keeps a reference "
                  "to data per message (a growing list, dict or cache, unclosed sessions)",
            evidence=[p.trend.why, f"RSS {fmt.number(m['rss_mb_min'])} MB -> {fmt.number(m['rss_mb_max'])} MB in "
                                   f"{fmt.number(p.series.t[-1] if p.series.t else 0)}s",
                      *([f"USS max {fmt.number(m['uss_mb_max'])} MB"] if m["uss_mb_max"] == m["uss_mb_max"] else [])],
            fix="compare two heap snapshots taken minutes apart (tracemalloc, or memray attach <pid>) and look "
                "for per-message growth; bound caches (maxsize/TTL); as a stopgap restart the worker before it "
                "reaches its memory limit",
            checks=[limits.MEMORY_TREND.id]))
    cpu_p95 = m.get("cpu_percent_p95", math.nan)
    if cpu_p95 == cpu_p95 and (cpu_p95 > 90 or m["cpu_percent_mean"] > 80):
        evidence = [f"CPU p95 {fmt.number(cpu_p95)}% of one core, "
                    f"mean {fmt.number(m['cpu_percent_mean'])}%, saturated in "
                    f"{fmt.number(100 * m['cpu_saturated_share'])}% of samples"]
        evidence += _stack_evidence(p.stacks)
        out.append(Finding(
            id="profile.cpu_bound", status=Status.CRITICAL if cpu_p95 > 90 else Status.WARNING,
            title=f"{who} is CPU-bound",
            cause="the worker's interpreter thread is busy nearly all the time: messages queue behind CPU work",
            evidence=evidence,
            fix="find the hot frames (--stacks) and move CPU-heavy work off the event loop (a process pool); "
                "if the work is legitimate, the worker is undersized: give it a core of its own or split its "
                "agent types across more workers",
            checks=[limits.CPU.id]))
    loop = p.stacks.busiest_loop if p.stacks and p.stacks.available else None
    if loop and loop.busy_share >= LOOP_BUSY_SHARE and not (cpu_p95 == cpu_p95 and cpu_p95 > 80):
        top = loop.top_frames[0].frame if loop.top_frames else "?"
        out.append(Finding(
            id="profile.loop_blocked", status=Status.WARNING,
            title=f"The event loop of {who} is blocked by a handler",
            cause="the asyncio loop spends most of its time inside callbacks while the CPU is mostly idle: a "
                  "handler makes a blocking call (time.sleep, a synchronous HTTP/DB client, file IO) that "
                  "stops every other message on this worker",
            evidence=[f"loop thread {loop.thread} busy in {fmt.number(100 * loop.busy_share)}% of "
                      f"{loop.samples} samples, CPU mean {fmt.number(m['cpu_percent_mean'])}%",
                      f"most often in: {top}"],
            fix="make the call asynchronous (an async client, asyncio.sleep) or move it off the loop with "
                "`await asyncio.to_thread(...)`",
            checks=[limits.CPU.id]))
    return out


def _stack_evidence(stacks: StackProfile | None, limit: int = 3) -> list[str]:
    if not stacks or not stacks.available:
        return []
    return [f"hot frame: {f.frame} ({fmt.number(100 * f.share)}% of active samples)" for f in stacks.hot_frames[:limit]]


def profile_data(p: ProcessProfile) -> dict[str, Any]:
    """The JSON `data` entry of one process: who, the summaries, the raw series, trend and stacks."""
    s = p.series
    summaries = {}
    for name in SERIES:
        scale = MIB if name.endswith("_bytes") and not name.endswith("_per_s") else 1.0
        key = name.replace("_bytes", "_mb") if scale != 1.0 else name
        summ = summarize(s.values[name])
        summaries[key] = {k: _finite(getattr(summ, k) / scale) for k in ("min", "mean", "p95", "max")}
    return {
        "label": s.info.label, "pid": s.info.pid, "name": s.info.name, "cmdline": s.info.cmdline,
        "gone": s.gone, "summary": summaries,
        "trend": {"slope_mb_per_min": _finite(p.trend.slope_mb_per_min), "r2": _finite(p.trend.r2),
                  "growth_mb": _finite(p.trend.growth_mb), "leak_suspected": p.trend.leak_suspected,
                  "why": p.trend.why},
        "series": {"t": [round(t, 3) for t in s.t],
                   **{name: [_finite(v) for v in s.values[name]] for name in SERIES}},
        "stacks": p.stacks.to_dict() if p.stacks else None,
    }


def _finite(v: float) -> float | None:
    if v != v or v in (math.inf, -math.inf):
        return None
    return round(v, 4)
