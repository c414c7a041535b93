"""An agent's own Prometheus series over a profiling window: throughput, p95/p99 response time from the
histogram, error rate and queue size, per agent type — the agent's side of what the process profile shows.

Scrapes go through the metrics probe's fetch/parse/compute functions (one parser, one histogram_quantile):
one at the start of the window, one per tick for the gauges (queue size, active agents), one at the end; the
counters and histogram buckets are judged by their increase between the first and the last scrape, so the
numbers describe the window, not the process's lifetime.

Series names follow the AutoGen metrics convention the lab exposes (labels `worker`, `agent_type`):
agent_message_count_total, agent_errors_total{error}, agent_response_time (histogram, seconds; also found
as agent_response_time_seconds), runtime_message_queue_size, runtime_active_agents.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from agentops.core.config import Target
from agentops.core.redact import redact

MESSAGES = "agent_message_count"
ERRORS = "agent_errors"
RESPONSE_TIMES = ("agent_response_time", "agent_response_time_seconds")  # the first one exposed is used
QUEUE = "runtime_message_queue_size"
ACTIVE = "runtime_active_agents"
FAMILIES = (MESSAGES, ERRORS, *RESPONSE_TIMES, QUEUE, ACTIVE)


@dataclass
class TypeWindow:
    """One agent type (or "*" for all of an endpoint) over the window."""

    agent_type: str
    messages: float = 0.0
    errors: float = 0.0
    throughput_per_s: float = math.nan
    error_rate_percent: float = math.nan
    p50_s: float = math.nan
    p95_s: float = math.nan
    p99_s: float = math.nan
    errors_by_kind: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and v != v else v) for k, v in asdict(self).items()}


@dataclass
class MetricsWindow:
    url: str
    elapsed_s: float = 0.0
    scrapes: int = 0
    types: list[TypeWindow] = field(default_factory=list)
    total: TypeWindow = field(default_factory=lambda: TypeWindow("*"))
    queue_size: list[float] = field(default_factory=list)  # one per scrape
    active_agents: float = math.nan
    failure: str = ""  # why there are no numbers (endpoint down, not Prometheus, series missing)
    missing: list[str] = field(default_factory=list)  # families not exposed

    @property
    def queue_max(self) -> float:
        return max(self.queue_size) if self.queue_size else math.nan

    def type(self, agent_type: str) -> TypeWindow | None:
        return next((t for t in self.types if t.agent_type == agent_type), None)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "elapsed_s": round(self.elapsed_s, 3), "scrapes": self.scrapes,
                "types": [t.to_dict() for t in self.types], "total": self.total.to_dict(),
                "queue_size": self.queue_size, "queue_max": None if self.queue_max != self.queue_max
                else self.queue_max, "active_agents": None if self.active_agents != self.active_agents
                else self.active_agents, "failure": self.failure, "missing": self.missing}


def _wanted() -> set[str]:
    from agentops.probes.metrics import wanted_names

    return wanted_names([{"series": name} for name in FAMILIES])


async def _scrape(target: Target, url: str, timeout: float) -> Any:
    """One scrape, parsed for FAMILIES only; MetricsError (with a Reason) when it fails. Parsed in slices, as
    the metrics probe does: the sampler shares this event loop, and a long parse would make its samples late."""
    from agentops.probes.metrics import parse_scrape_sliced, scrape

    return await parse_scrape_sliced(*await scrape(target, url, time.monotonic() + timeout, _wanted()))


def _series(scrape: Any, name: str, url: str) -> dict[Any, float] | None:
    from agentops.probes.metrics import MetricsError, select

    try:
        return select(scrape, name, {}, url)
    except MetricsError:
        return None


def _by_type(series: dict[Any, float], extra: str | None = None) -> dict[str, dict[str, float]]:
    """{agent_type: {extra label value (or ""): summed value}}."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key, value in series.items():
        labels = dict(key)
        out[labels.get("agent_type", "")][labels.get(extra, "") if extra else ""] += value
    return out


def compute_window(url: str, first: Any, last: Any) -> MetricsWindow:
    """Per agent type: what happened between two scrapes (counter and bucket increases)."""
    from agentops.probes.metrics import histogram_quantile, increase

    window = MetricsWindow(url=url, elapsed_s=max(last.started - first.started, 1e-9))
    increases: dict[str, dict[Any, float]] = {}
    histogram = next((h for h in RESPONSE_TIMES if _series(last, h + "_bucket", url) is not None),
                     RESPONSE_TIMES[0])
    for name in (MESSAGES, ERRORS, histogram + "_bucket"):
        before, after = _series(first, name, url), _series(last, name, url)
        if after is None:
            window.missing.append(name.removesuffix("_bucket"))
            continue
        increases[name] = increase(before or {}, after)
    messages = _by_type(increases.get(MESSAGES, {}))
    errors = _by_type(increases.get(ERRORS, {}), "error")
    buckets = _by_type(increases.get(histogram + "_bucket", {}), "le")
    for agent_type in sorted(set(messages) | set(errors) | set(buckets)):
        window.types.append(_type_window(agent_type, messages.get(agent_type, {}), errors.get(agent_type, {}),
                                         buckets.get(agent_type, {}), window.elapsed_s, histogram_quantile))
    all_buckets: dict[str, float] = defaultdict(float)
    for per_type in buckets.values():
        for le, n in per_type.items():
            all_buckets[le] += n
    all_errors: dict[str, float] = defaultdict(float)
    for per_type in errors.values():
        for kind, n in per_type.items():
            all_errors[kind] += n
    window.total = _type_window("*", {"": sum(sum(v.values()) for v in messages.values())}, all_errors,
                                all_buckets, window.elapsed_s, histogram_quantile)
    return window


def _type_window(agent_type: str, messages: dict[str, float], errors: dict[str, float], buckets: dict[str, float],
                 elapsed: float, quantile: Any) -> TypeWindow:
    t = TypeWindow(agent_type)
    t.messages = sum(messages.values())
    t.errors = sum(errors.values())
    t.errors_by_kind = {k: v for k, v in sorted(errors.items()) if v}
    t.throughput_per_s = t.messages / elapsed
    t.error_rate_percent = 100.0 * t.errors / t.messages if t.messages else math.nan
    numeric = {float(le): n for le, n in buckets.items() if le}
    t.p50_s, t.p95_s, t.p99_s = (quantile(q, numeric) for q in (0.5, 0.95, 0.99))
    return t


def _gauge(scrape: Any, name: str, url: str) -> float:
    series = _series(scrape, name, url)
    return math.fsum(series.values()) if series else math.nan


async def watch(url: str, duration_s: float, interval_s: float, *, target: Target | None = None,
                timeout: float = 5.0, stop: asyncio.Event | None = None) -> MetricsWindow:
    """Scrape `url` at the start, every `interval_s` and at the end of `duration_s` (or when `stop` is set).
    Never raises for an endpoint problem: the window's `failure` says what went wrong."""
    from agentops.probes.metrics import MetricsError

    target = target or Target(name="metrics", kind="metrics", address=url)
    shown = redact(url)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    window = MetricsWindow(url=shown)
    try:
        first = last = await _scrape(target, url, timeout)
    except MetricsError as exc:
        window.failure = str(exc)
        return window
    queue = [_gauge(first, QUEUE, url)]
    scrapes = 1
    ticks = max(1, round(duration_s / interval_s))
    for tick in range(1, ticks + 1):
        delay = t0 + tick * interval_s - loop.time()
        if stop is not None:
            try:  # stopped early: scrape once more now, as the end of the window
                await asyncio.wait_for(stop.wait(), max(0.0, delay))
            except TimeoutError:
                pass
        elif delay > 0:
            await asyncio.sleep(delay)
        try:
            last = await _scrape(target, url, timeout)
            scrapes += 1
            queue.append(_gauge(last, QUEUE, url))
        except MetricsError as exc:
            window.failure = f"scrape {scrapes + 1} failed: {exc}"
            break
        if stop is not None and stop.is_set():
            break
    failure = window.failure
    window = compute_window(shown, first, last)
    window.failure = failure
    window.scrapes = scrapes
    window.queue_size = [q for q in queue if q == q]
    window.active_agents = _gauge(last, ACTIVE, url)
    return window
