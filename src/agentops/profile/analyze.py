"""From sampled series to a report: per process, the numbers (min/mean/p95/max of every series, the memory
trend), the checks that judge them (the performance pack through core.evaluate) and the findings an operator
acts on — a suspected leak, a CPU-bound worker, an event loop blocked by a handler, a process that died.
Findings read the judged results; no number is compared with a limit here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agentops.core import format as fmt
from agentops.core.model import Finding, Observation, Reason, Result, Status
from agentops.core.runner import judge
from agentops.profile.agentmetrics import MetricsWindow
from agentops.profile.knowledge import TEXTS
from agentops.profile.limits import Limits, shipped
from agentops.profile.sampler import SERIES, ProcessSeries, SamplingRun
from agentops.profile.stacks import StackProfile
from agentops.profile.stats import MIB, LeakRule, MemoryTrend, memory_trend, saturated_share, summarize

# CPU (percent of one core) at or above which a sample counts as saturated: a descriptive statistic of the
# series (the share of saturated samples), not a limit anything is judged by.
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

    def result(self, check_id: str) -> Result | None:
        return next((r for r in self.results if r.id == check_id), None)

    def breached(self, check_id: str) -> Result | None:
        """The judged result of `check_id` when its thresholds were breached (else None)."""
        r = self.result(check_id)
        return r if r is not None and r.reason is Reason.THRESHOLD else None


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
    m["gone"] = 1.0 if s.gone else 0.0
    return m


def _pick(metrics: dict[str, float], names: tuple[str, ...]) -> dict[str, float]:
    return {n: metrics[n] for n in names if n in metrics}


# The metrics each check's result carries (the judged ones first).
_CHECK_METRICS = {
    "profile.cpu": ("cpu_percent_mean", "cpu_percent_p95", "cpu_percent_min", "cpu_percent_max",
                    "cpu_saturated_share", "cpu_seconds"),
    "profile.memory": ("rss_mb_max", "rss_mb_min", "rss_mb_mean", "rss_mb_p95", "uss_mb_min", "uss_mb_mean",
                       "uss_mb_p95", "uss_mb_max"),
    "profile.memory_trend": ("leak_suspected", "rss_slope_mb_per_min", "rss_trend_r2", "rss_growth_mb"),
    "profile.fds": ("fds_percent_of_limit", "fds_max", "fd_limit"),
    "profile.io": ("iowait_s", "io_read_bytes", "io_write_bytes"),
    "profile.alive": ("gone", "samples"),
    "profile.activity": ("threads_max", "connections_max", "ctx_switches_per_s_mean", "io_read_bytes_per_s_mean",
                         "io_write_bytes_per_s_mean"),
}


def _message(check_id: str, m: dict[str, float], trend: MemoryTrend) -> str:
    f = fmt.number
    if check_id == "profile.cpu":
        return (f"CPU mean {f(m['cpu_percent_mean'])}%, p95 {f(m['cpu_percent_p95'])}%, max "
                f"{f(m['cpu_percent_max'])}% of one core")
    if check_id == "profile.memory":
        uss = f" (USS max {f(m['uss_mb_max'])} MB)" if m["uss_mb_max"] == m["uss_mb_max"] else ""
        return f"RSS {f(m['rss_mb_min'])}..{f(m['rss_mb_max'])} MB{uss}"
    if check_id == "profile.memory_trend":
        return ("suspected leak: " if trend.leak_suspected else "no leak: ") + trend.why
    if check_id == "profile.fds":
        limit = f" of {f(m['fd_limit'])} allowed" if m["fd_limit"] == m["fd_limit"] else ""
        return f"{f(m['fds_max'])} fds open{limit}"
    if check_id == "profile.alive":
        return f"{f(m['samples'])} samples" + (", then the process went" if m["gone"] else ", alive throughout")
    if check_id == "profile.io":
        wait = "not accounted (kernel.task_delayacct=0)" if m["iowait_s"] != m["iowait_s"] else \
            f"{f(m['iowait_s'])}s blocked on IO"
        return f"IO wait {wait}; read {fmt.size(m['io_read_bytes'])}, wrote {fmt.size(m['io_write_bytes'])}"
    return (f"threads {f(m['threads_max'])}, connections {f(m['connections_max'])}, "
            f"{f(m['ctx_switches_per_s_mean'])} context switches/s")


def profile_process(s: ProcessSeries, run: SamplingRun, rule: LeakRule,
                    stacks: StackProfile | None = None, limits: Limits | None = None) -> ProcessProfile:
    limits = limits or shipped()
    trend = memory_trend(s.t, s.values["rss_bytes"], rule, window_s=run.duration_s)
    metrics = process_metrics(s, trend)
    profile = ProcessProfile(s, trend, metrics, stacks)
    target = s.info.label
    if not s.t:
        obs = Observation.failure(Reason.ASSERTION, f"no sample of pid {s.info.pid}: {s.gone or 'no data'}")
        profile.results.append(judge(limits.cpu, target, obs, run.elapsed_s))
        return profile
    for spec in limits.process_specs:
        obs = Observation(metrics=_pick(metrics, _CHECK_METRICS[spec.id]), message=_message(spec.id, metrics, trend),
                          facts={"pid": s.info.pid})
        result = judge(spec, target, obs, run.elapsed_s)
        if result.status is not Status.OK:
            result.message = f"{result.message} — {obs.message}"
        profile.results.append(result)
    loop = stacks.busiest_loop if stacks and stacks.available else None
    if loop is not None:
        obs = Observation(metrics={"loop_busy_share": loop.busy_share, "loop_samples": float(loop.samples)},
                          message=f"event loop busy in {fmt.number(100 * loop.busy_share)}% of {loop.samples} samples",
                          facts={"pid": s.info.pid, "thread": loop.thread})
        profile.results.append(judge(limits.event_loop, target, obs, run.elapsed_s))
    return profile


def metrics_result(window: MetricsWindow, target: str, limits: Limits | None = None) -> Result:
    """The agent's own series over the window, judged (response time, error rate)."""
    limits = limits or shipped()
    if window.failure and not window.scrapes:
        return judge(limits.agent_metrics, target, Observation.failure(Reason.CONNECT if "connect" in
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
    result = judge(limits.agent_metrics, target, obs, window.elapsed_s)
    if result.status is not Status.OK:
        result.message = f"{result.message} — {message}"
    return result


# ------------------------------------------------------------------------------------------------ findings

def process_findings(p: ProcessProfile) -> list[Finding]:
    """Findings from the process's judged checks, each taking its status from the result it cites and its
    words from profile.knowledge, filled with what was sampled."""
    out: list[Finding] = []
    info, m = p.series.info, p.metrics
    v: dict[str, object] = {"who": f"{info.label} (pid {info.pid})", "cpu_mean": fmt.number(m["cpu_percent_mean"])}
    gone = p.breached("profile.alive")
    if gone is not None:
        out.append(TEXTS["profile.process_gone"].finding("profile.process_gone", gone.status, {
            **v, "gone": p.series.gone, "samples": len(p.series.t)}, checks=[gone.id]))
    leak = p.breached("profile.memory_trend")
    if leak is not None:
        uss = [f"USS max {fmt.number(m['uss_mb_max'])} MB"] if m["uss_mb_max"] == m["uss_mb_max"] else []
        out.append(TEXTS["profile.leak"].finding("profile.leak", leak.status, {
            **v, "trend_why": p.trend.why, "rss_min": fmt.number(m["rss_mb_min"]),
            "rss_max": fmt.number(m["rss_mb_max"]),
            "elapsed": fmt.number(p.series.t[-1] if p.series.t else 0)}, evidence=uss, checks=[leak.id]))
    cpu = p.breached("profile.cpu")
    if cpu is not None:
        out.append(TEXTS["profile.cpu_bound"].finding("profile.cpu_bound", cpu.status, {
            **v, "cpu_p95": fmt.number(m["cpu_percent_p95"]), "saturated": fmt.number(100 * m["cpu_saturated_share"])},
            evidence=_stack_evidence(p.stacks), checks=[cpu.id]))
    loop_check = p.breached("profile.event_loop")
    loop = p.stacks.busiest_loop if p.stacks and p.stacks.available else None
    if loop_check is not None and loop is not None and cpu is None:
        out.append(TEXTS["profile.loop_blocked"].finding("profile.loop_blocked", loop_check.status, {
            **v, "thread": loop.thread, "busy": fmt.number(100 * loop.busy_share), "loop_samples": loop.samples,
            "top": loop.top_frames[0].frame if loop.top_frames else "?"}, checks=[loop_check.id, "profile.cpu"]))
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
