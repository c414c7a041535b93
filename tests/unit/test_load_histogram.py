"""The load generator's latency histogram: quantiles within its stated relative error of the exact
nearest-rank value, on known and random data; min/max/mean exact; merging equals recording everything once."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentops.load.histogram import LatencyHistogram


def exact(values, q):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_known_series():
    h = LatencyHistogram()
    for ms in range(1, 101):  # 1..100 ms
        h.record(ms / 1000)
    assert h.count == 100 and h.min_s == 0.001 and h.max_s == 0.1
    assert h.mean_s == pytest.approx(0.0505)
    assert h.quantile(0.5) == pytest.approx(0.050, rel=0.01)
    assert h.quantile(0.95) == pytest.approx(0.095, rel=0.01)
    assert h.quantile(0.99) == pytest.approx(0.099, rel=0.01)
    assert h.quantile(1) == 0.1 and h.quantile(0) == 0.001


@settings(max_examples=60)
@given(st.lists(st.floats(1e-5, 100.0), min_size=1, max_size=500), st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999]))
def test_quantiles_within_the_precision(values, q):
    h = LatencyHistogram(precision=0.01)
    for v in values:
        h.record(v)
    assert h.quantile(q) == pytest.approx(exact(values, q), rel=0.0101)


def test_a_long_tail_is_not_averaged_away():
    h = LatencyHistogram()
    for _ in range(990):
        h.record(0.002)
    for _ in range(10):
        h.record(3.0)  # 1 % of requests stalled for 3 s
    assert h.quantile(0.95) == pytest.approx(0.002, rel=0.01)
    assert h.quantile(0.995) == pytest.approx(3.0, rel=0.01)
    assert h.max_s == 3.0


def test_merge_equals_one_histogram():
    rng = random.Random(7)
    values = [rng.expovariate(100) for _ in range(2000)]
    whole, a, b = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i, v in enumerate(values):
        whole.record(v)
        (a if i % 2 else b).record(v)
    a.merge(b)
    assert a.counts == whole.counts and a.count == whole.count and a.max_s == whole.max_s
    assert a.quantile(0.99) == whole.quantile(0.99)
    with pytest.raises(ValueError):
        a.merge(LatencyHistogram(precision=0.05))


def test_empty_and_bad_values():
    h = LatencyHistogram()
    assert math.isnan(h.quantile(0.5)) and math.isnan(h.mean_s)
    h.record(float("nan"))
    h.record(-1.0)
    assert h.count == 2 and h.max_s == 0.0
    with pytest.raises(ValueError):
        h.quantile(1.5)
    assert LatencyHistogram().buckets() == []
