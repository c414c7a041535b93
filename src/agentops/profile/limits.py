"""Where a worker stops being healthy: the performance thresholds `profile` and `diagnose performance` judge
by, as ordinary check specs for `core.evaluate`.

Two tiers, as an operator states them: a bottleneck (WARNING) at response > 2 s, memory > 512 MB, CPU >
80 %, error rate > 5 %, concurrency > 90 % of the limit; trouble (CRITICAL) at CPU peak > 90 %, memory >
1 GB, IO wait > 1 s. CPU is percent of ONE core (a Python worker runs its agents on one interpreter thread,
so one core is its ceiling); "peak" is the p95 of the samples, so one garbage-collection spike does not page
anyone. IO wait is the time the process spent blocked on block IO during the window (Linux delay
accounting) — more than a second of it in the window means IO operations stall the worker.
"""

from __future__ import annotations

from agentops.core.packs import CheckSpec, MetricRule
from agentops.core.thresholds import Threshold


def _rule(metric: str, warning: str | None = None, critical: str | None = None) -> MetricRule:
    return MetricRule(metric, Threshold.parse(warning) if warning else None,
                      Threshold.parse(critical) if critical else None)


def _spec(check_id: str, description: str, *rules: MetricRule) -> CheckSpec:
    return CheckSpec(id=check_id, probe="profile", rules=list(rules), tags=["performance"],
                     description=description, source="agentops.profile.limits")


CPU = _spec("profile.cpu", "process CPU, percent of one core",
            _rule("cpu_percent_mean", warning="> 80"), _rule("cpu_percent_p95", critical="> 90"))
MEMORY = _spec("profile.memory", "resident memory (RSS)", _rule("rss_mb_max", warning="> 512", critical="> 1024"))
MEMORY_TREND = _spec("profile.memory_trend", "a steady climb of RSS over the window",
                     _rule("leak_suspected", warning="> 0"))
FDS = _spec("profile.fds", "open file descriptors against RLIMIT_NOFILE",
            _rule("fds_percent_of_limit", warning="> 90"))
IO = _spec("profile.io", "time blocked on block IO in the window", _rule("iowait_s", critical="> 1"))
ACTIVITY = _spec("profile.activity", "threads, connections, context switches, IO bytes (no thresholds)")

AGENT_METRICS = _spec("profile.agent_metrics", "the agent's own series over the window",
                      _rule("p95_s", warning="> 2"), _rule("error_rate_percent", warning="> 5"))
AGENT_TYPE = _spec("performance.agent_type", "one agent type's response time and errors over the window",
                   _rule("p95_s", warning="> 2"), _rule("error_rate_percent", warning="> 5"))
PROCESS = _spec("performance.process", "the worker's process can be found")
CONCURRENCY = _spec("performance.concurrency", "messages in flight against the worker's limit",
                    _rule("queue_percent_of_limit", warning="> 90"))

PROCESS_SPECS = (CPU, MEMORY, MEMORY_TREND, FDS, IO, ACTIVITY)


def threshold_of(spec: CheckSpec, metric: str, level: str = "warning") -> Threshold | None:
    rule = next((r for r in spec.rules if r.metric == metric), None)
    return getattr(rule, level) if rule else None
