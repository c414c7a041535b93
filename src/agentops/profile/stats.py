"""Statistics of sampled series: summaries (min / mean / p95 / max), a least-squares trend with its r², and the
"steady climb" rule that turns a memory trend into a suspected leak.

Pure functions of lists of floats, so they are tested on known series without any process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Summary:
    count: int
    min: float
    mean: float
    p95: float
    max: float

    def as_metrics(self, prefix: str, scale: float = 1.0) -> dict[str, float]:
        """{prefix_min, prefix_mean, prefix_p95, prefix_max}, each divided by `scale`."""
        return {f"{prefix}_{k}": getattr(self, k) / scale for k in ("min", "mean", "p95", "max")}


NAN = float("nan")
EMPTY = Summary(0, NAN, NAN, NAN, NAN)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default), NaN
    for no values. Interpolating keeps a p95 of 20 one-second samples from jumping to the maximum."""
    if not values:
        return NAN
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> Summary:
    data = [v for v in values if v == v]  # NaN = not measured at that tick
    if not data:
        return EMPTY
    return Summary(len(data), min(data), sum(data) / len(data), percentile(data, 95), max(data))


@dataclass(frozen=True)
class Trend:
    """y ≈ intercept + slope * x by ordinary least squares; r2 is the share of y's variance the line explains."""

    slope: float
    intercept: float
    r2: float
    n: int
    span: float  # x range covered (seconds for a time series)


def linear_trend(xs: Sequence[float], ys: Sequence[float]) -> Trend:
    """Least-squares line through (x, y). r2 is 0 when y does not vary (a flat line explains nothing, and a
    flat memory series must not look like a perfect fit); NaN slope when there are fewer than 2 distinct x."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if x == x and y == y]
    n = len(pairs)
    if n < 2:
        return Trend(NAN, NAN, NAN, n, 0.0)
    mean_x = sum(p[0] for p in pairs) / n
    mean_y = sum(p[1] for p in pairs) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in pairs)
    syy = sum((y - mean_y) ** 2 for _, y in pairs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in pairs)
    span = max(p[0] for p in pairs) - min(p[0] for p in pairs)
    if sxx == 0:
        return Trend(NAN, NAN, NAN, n, span)
    slope = sxy / sxx
    r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else 0.0
    return Trend(slope, mean_y - slope * mean_x, min(1.0, r2), n, span)


@dataclass(frozen=True)
class LeakRule:
    """When a memory series is a *steady climb* rather than noise, a warm-up step or a one-off allocation:

    - enough evidence: at least `min_samples` samples, spanning at least `min_coverage` of the window that was
      asked for and never less than `min_span_s` seconds. The span is judged against the requested window
      because a window of W seconds sampled every I seconds spans only W - I (the first tick primes the
      counters): a fixed span equal to the default window could never be met. The floor keeps a blip of a
      couple of seconds from ever being called a trend, however finely it was sampled.
    - fast enough to matter: the fitted slope is at least `min_slope_mb_per_min` and the fitted growth over
      the window at least `min_growth_mb`;
    - steady: the line explains at least `min_r2` of the variance, and the climb continues — the slope of
      each half of the window on its own is at least half the threshold. A single step (a cache filled
      once) can still score r² ≈ 0.75 on the whole window, but each half of it is flat.
    """

    min_slope_mb_per_min: float = 1.0
    min_r2: float = 0.8
    min_samples: int = 10
    min_span_s: float = 8.0
    min_coverage: float = 0.75
    min_growth_mb: float = 1.0

    def required_span(self, window_s: float | None) -> float:
        """Seconds the samples must span: most of the requested window, never under the floor."""
        return max(self.min_span_s, self.min_coverage * window_s) if window_s else self.min_span_s

    def describe(self) -> str:
        return (f"slope >= {self.min_slope_mb_per_min:g} MB/min and r² >= {self.min_r2:g} over >= "
                f"{self.min_samples} samples spanning >= {self.min_coverage:.0%} of the window (at least "
                f"{self.min_span_s:g}s), growth >= {self.min_growth_mb:g} MB, climbing in both halves of the window")


@dataclass(frozen=True)
class MemoryTrend:
    slope_mb_per_min: float
    r2: float
    growth_mb: float  # fitted growth over the window
    first_half_slope: float
    second_half_slope: float
    leak_suspected: bool
    why: str  # the rule that decided, in words


def memory_trend(times_s: Sequence[float], rss_bytes: Sequence[float], rule: LeakRule = LeakRule(),
                 window_s: float | None = None) -> MemoryTrend:
    """The trend of an RSS series and the leak rule's verdict on it; `window_s` is the window that was asked
    for (None: judge the span by the rule's floor alone)."""
    mb = [v / MIB for v in rss_bytes]
    whole = linear_trend(times_s, mb)
    slope = whole.slope * 60.0
    growth = whole.slope * whole.span
    half = whole.n // 2
    first = linear_trend(times_s[:half], mb[:half]).slope * 60.0 if half >= 2 else NAN
    second = linear_trend(times_s[half:], mb[half:]).slope * 60.0 if whole.n - half >= 2 else NAN

    def verdict() -> tuple[bool, str]:
        need_span = rule.required_span(window_s)
        if whole.n < rule.min_samples or whole.span < need_span:
            return False, (f"not enough data for a trend ({whole.n} samples over {whole.span:.1f}s; need "
                           f">= {rule.min_samples} over >= {need_span:g}s)")
        if not slope >= rule.min_slope_mb_per_min:
            return False, f"slope {slope:+.2f} MB/min is below {rule.min_slope_mb_per_min:g} MB/min"
        if not growth >= rule.min_growth_mb:
            return False, f"grew only {growth:.2f} MB over the window"
        if not whole.r2 >= rule.min_r2:
            return False, f"growth is not steady (r² {whole.r2:.2f} < {rule.min_r2:g})"
        half_min = rule.min_slope_mb_per_min / 2
        if not (first >= half_min and second >= half_min):
            return False, (f"growth is a step, not a climb (halves: {first:+.2f} and {second:+.2f} MB/min)")
        return True, (f"RSS climbs {slope:+.2f} MB/min (r² {whole.r2:.2f}, +{growth:.1f} MB over "
                      f"{whole.span:.0f}s, both halves climbing)")

    suspected, why = verdict()
    return MemoryTrend(slope, whole.r2, growth, first, second, suspected, why)


def saturated_share(values: Sequence[float], limit: float) -> float:
    """Share (0..1) of samples at or above `limit`, NaN for no samples: "CPU was pinned 70 % of the time"."""
    data = [v for v in values if v == v]
    if not data:
        return NAN
    return sum(v >= limit for v in data) / len(data)


def rates(times_s: Sequence[float], counters: Sequence[float]) -> list[float]:
    """Per-second rates between consecutive samples of a monotonic counter (a counter reset counts as 0)."""
    out = []
    for i in range(1, len(counters)):
        dt = times_s[i] - times_s[i - 1]
        delta = counters[i] - counters[i - 1]
        out.append(max(0.0, delta) / dt if dt > 0 else NAN)
    return out
