"""Statistics of sampled series on known series: summaries, the least-squares trend and its r², the leak rule
(a steady climb flagged; noise, a warm-up step, a plateau and too little data not), saturation, sparklines."""

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentops.core.format import BLOCKS, sparkline
from agentops.profile.stats import (
    MIB,
    LeakRule,
    linear_trend,
    memory_trend,
    percentile,
    rates,
    saturated_share,
    summarize,
)


def test_summary_of_a_known_series():
    s = summarize([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert (s.count, s.min, s.mean, s.max) == (10, 1, 5.5, 10)
    assert s.p95 == pytest.approx(9.55)  # linear interpolation between ranks 9 and 10


def test_summary_skips_unmeasured_ticks_and_empty_is_nan():
    assert summarize([float("nan"), 4.0, float("nan")]).mean == 4.0
    empty = summarize([])
    assert empty.count == 0 and math.isnan(empty.mean) and math.isnan(empty.p95)


def test_percentile_bounds_and_errors():
    data = [5.0, 1.0, 3.0]
    assert percentile(data, 0) == 1.0 and percentile(data, 100) == 5.0 and percentile(data, 50) == 3.0
    assert math.isnan(percentile([], 95))
    with pytest.raises(ValueError):
        percentile(data, 101)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200))
def test_summary_is_ordered(values):
    s = summarize(values)
    assert s.min <= s.p95 <= s.max
    assert s.min - 1e-6 <= s.mean <= s.max + 1e-6


def test_trend_of_an_exact_line():
    xs = [0, 1, 2, 3, 4]
    t = linear_trend(xs, [3 + 2 * x for x in xs])
    assert t.slope == pytest.approx(2) and t.intercept == pytest.approx(3) and t.r2 == pytest.approx(1)
    assert t.span == 4 and t.n == 5


def test_trend_of_a_flat_series_explains_nothing():
    t = linear_trend([0, 1, 2, 3], [7, 7, 7, 7])
    assert t.slope == 0 and t.r2 == 0


def test_trend_r2_of_known_noisy_data():
    # y = x with a known residual pattern: r² = 1 - SSres/SStot computed by hand
    xs, ys = [0, 1, 2, 3], [0, 2, 1, 3]
    t = linear_trend(xs, ys)
    assert t.slope == pytest.approx(0.8)
    assert t.r2 == pytest.approx(0.64)


def test_trend_needs_two_distinct_x():
    assert math.isnan(linear_trend([1], [1]).slope)
    assert math.isnan(linear_trend([2, 2], [1, 5]).slope)


def series(seconds: int, mb_at) -> tuple[list[float], list[float]]:
    ts = [float(t) for t in range(seconds)]
    return ts, [mb_at(t) * MIB for t in ts]


def test_steady_climb_is_a_suspected_leak():
    rng = random.Random(1)
    ts, rss = series(30, lambda t: 100 + 0.5 * t + rng.uniform(-0.2, 0.2))  # 30 MB/min
    trend = memory_trend(ts, rss)
    assert trend.leak_suspected, trend.why
    assert trend.slope_mb_per_min == pytest.approx(30, rel=0.05)
    assert trend.r2 > 0.95 and trend.growth_mb == pytest.approx(14.5, rel=0.05)


def test_noise_is_not_a_leak():
    rng = random.Random(2)
    ts, rss = series(60, lambda t: 100 + rng.uniform(-1, 1))
    trend = memory_trend(ts, rss)
    assert not trend.leak_suspected and trend.r2 < 0.8


def test_a_single_step_is_not_a_climb():
    # a cache filled once, half-way: r² of the whole window is high-ish, but each half is flat
    ts, rss = series(40, lambda t: 100 if t < 20 else 140)
    trend = memory_trend(ts, rss)
    assert trend.slope_mb_per_min > 1
    assert not trend.leak_suspected
    assert "step" in trend.why or "not steady" in trend.why


def test_a_plateau_after_warm_up_is_not_a_leak():
    ts, rss = series(40, lambda t: 100 + min(t, 15))
    assert not memory_trend(ts, rss).leak_suspected


def test_slow_growth_under_the_threshold_is_not_flagged_but_a_lower_threshold_flags_it():
    ts, rss = series(60, lambda t: 100 + 0.005 * t)  # 0.3 MB/min, perfectly steady
    assert not memory_trend(ts, rss).leak_suspected
    rule = LeakRule(min_slope_mb_per_min=0.1, min_growth_mb=0.2)
    assert memory_trend(ts, rss, rule).leak_suspected


def test_too_little_data_is_no_verdict():
    ts, rss = series(5, lambda t: 100 + 10 * t)
    trend = memory_trend(ts, rss)
    assert not trend.leak_suspected and "not enough data" in trend.why


def ticks(window_s: float, interval_s: float) -> list[float]:
    """The sample times of a window as the sampler takes them: the first tick (t=0) only primes counters."""
    return [interval_s * k for k in range(1, round(window_s / interval_s) + 1)]


@pytest.mark.parametrize("window_s,interval_s", [(10, 0.5), (10, 1.0), (12, 0.5), (60, 1.0)])
def test_a_steady_climb_over_a_whole_window_reaches_a_verdict(window_s, interval_s):
    # A window of W s every I s spans only W - I: the rule must accept the window it was asked to judge.
    ts = ticks(window_s, interval_s)
    trend = memory_trend(ts, [(100 + 0.5 * t) * MIB for t in ts], window_s=window_s)
    assert trend.leak_suspected, trend.why


def test_a_short_blip_is_never_a_trend_however_finely_sampled():
    ts = ticks(2, 0.05)  # 40 samples over 1.95 s
    trend = memory_trend(ts, [(100 + 5 * t) * MIB for t in ts], window_s=2)
    assert not trend.leak_suspected and "not enough data" in trend.why


def test_samples_covering_only_part_of_the_window_are_no_verdict():
    # a window of 60 s stopped (or its process gone) after 12 s: 12 s says little about a minute
    ts = ticks(12, 0.5)
    trend = memory_trend(ts, [(100 + 0.5 * t) * MIB for t in ts], window_s=60)
    assert not trend.leak_suspected and "need >= 10 over >= 45s" in trend.why, trend.why
    assert LeakRule().required_span(None) == LeakRule().min_span_s


def test_saturation_share_and_rates():
    assert saturated_share([10, 95, 99, 50], 90) == 0.5
    assert math.isnan(saturated_share([], 90))
    assert rates([0, 1, 3], [0, 10, 30]) == [10, 10]
    assert rates([0, 1], [10, 2]) == [0.0]  # a counter reset is not a negative rate


def test_sparkline_scales_and_resamples():
    assert sparkline([0, 50, 100], low=0, high=100) == BLOCKS[0] + BLOCKS[4] + BLOCKS[7]
    assert sparkline([1, 1, 1]) == BLOCKS[0] * 3
    assert len(sparkline(list(range(1000)), width=40)) == 40
    assert sparkline(list(range(1000)), width=40)[-1] == BLOCKS[-1]
    assert sparkline([float("nan"), 1.0, 2.0]) == " " + BLOCKS[0] + BLOCKS[-1]
    assert sparkline([]) == ""


def test_sparkline_min_span_keeps_noise_flat():
    noisy = [100.0, 100.3, 99.8, 100.1]
    assert BLOCKS[-1] in sparkline(noisy)  # scaled to its own range, 0.5 MB of noise looks like a cliff
    assert set(sparkline(noisy, min_span=5)) <= {BLOCKS[0], BLOCKS[1]}
