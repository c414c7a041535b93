"""A latency histogram with bounded relative error (log-linear buckets, as in HdrHistogram): constant memory
however many requests a load run makes, mergeable, and quantiles within `precision` of the true value.

Bucket i covers [base * g^i, base * g^(i+1)) with g = 1 + 2 * precision; a quantile is reported as the
bucket's geometric midpoint clamped to the observed min/max, so its relative error is at most `precision`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LatencyHistogram:
    precision: float = 0.01  # relative error bound of reported quantiles
    lowest_s: float = 1e-6  # values below are counted in the first bucket
    counts: dict[int, int] = field(default_factory=dict)
    count: int = 0
    total_s: float = 0.0
    min_s: float = math.inf
    max_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.precision < 0.5:
            raise ValueError("precision must be between 0 and 0.5")
        self._log_growth = math.log1p(2 * self.precision)

    def _index(self, seconds: float) -> int:
        if seconds <= self.lowest_s:
            return 0
        return int(math.log(seconds / self.lowest_s) / self._log_growth)

    def _midpoint(self, index: int) -> float:
        return self.lowest_s * math.exp((index + 0.5) * self._log_growth)

    def record(self, seconds: float) -> None:
        if seconds != seconds or seconds < 0:  # NaN or a clock that went backwards: not a latency
            seconds = 0.0
        i = self._index(seconds)
        self.counts[i] = self.counts.get(i, 0) + 1
        self.count += 1
        self.total_s += seconds
        if seconds < self.min_s:
            self.min_s = seconds
        if seconds > self.max_s:
            self.max_s = seconds

    def merge(self, other: LatencyHistogram) -> None:
        if other.precision != self.precision or other.lowest_s != self.lowest_s:
            raise ValueError("cannot merge histograms with different bucket layouts")
        for i, n in other.counts.items():
            self.counts[i] = self.counts.get(i, 0) + n
        self.count += other.count
        self.total_s += other.total_s
        self.min_s = min(self.min_s, other.min_s)
        self.max_s = max(self.max_s, other.max_s)

    def quantile(self, q: float) -> float:
        """The value below which a fraction q (0..1) of recorded latencies fall; NaN when empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile {q} is outside 0..1")
        if not self.count:
            return math.nan
        if q == 0:
            return self.min_s
        if q == 1:
            return self.max_s
        rank = math.ceil(q * self.count)  # the rank-th smallest value (1-based), nearest-rank definition
        seen = 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen >= rank:
                return min(max(self._midpoint(i), self.min_s), self.max_s)
        return self.max_s

    @property
    def mean_s(self) -> float:
        return self.total_s / self.count if self.count else math.nan

    def summary(self) -> dict[str, float]:
        """The numbers a load report shows, in seconds."""
        return {"p50_s": self.quantile(0.5), "p90_s": self.quantile(0.9), "p95_s": self.quantile(0.95),
                "p99_s": self.quantile(0.99), "p999_s": self.quantile(0.999),
                "min_s": self.min_s if self.count else math.nan, "mean_s": self.mean_s,
                "max_s": self.max_s if self.count else math.nan}

    def buckets(self) -> list[dict[str, Any]]:
        """Non-empty buckets as {le, count} (upper bound in seconds) for a JSON report or a plot."""
        return [{"le": round(self.lowest_s * math.exp((i + 1) * self._log_growth), 9), "count": self.counts[i]}
                for i in sorted(self.counts)]
