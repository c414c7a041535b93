import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentops.core.thresholds import Threshold, ThresholdError


@pytest.mark.parametrize(
    ("spec", "alerts", "passes"),
    [
        ("10", [-1, 10.5, 11], [0, 5, 10]),  # outside 0..10
        (10, [-0.1, 11], [0, 10]),
        ("10:", [9.9, -5], [10, 1e9]),  # below 10
        ("~:10", [10.1, 1e9], [-1e9, 10]),  # above 10
        ("10:20", [9, 21], [10, 15, 20]),  # outside 10..20
        ("@10:20", [10, 15, 20], [9, 21]),  # inside 10..20
        ("> 80", [80.1], [80, 0]),
        (">=1000", [1000, 2000], [999.9]),
        ("< 5", [4.9], [5]),
        ("<= 0.1", [0.1, 0], [0.11]),
        ("== 0", [0], [1]),
        ("!= 0", [1, -1], [0]),
        ("1e3:", [999], [1000]),
    ],
)
def test_threshold_semantics(spec, alerts, passes):
    t = Threshold.parse(spec)
    for v in alerts:
        assert t.breached(v), (spec, v)
    for v in passes:
        assert not t.breached(v), (spec, v)


@pytest.mark.parametrize("bad", ["", "abc", "20:10", ">", "10::", "@", True, None, [1], "> x"])
def test_bad_thresholds_raise_one_line(bad):
    with pytest.raises(ThresholdError) as info:
        Threshold.parse(bad)
    assert "\n" not in str(info.value)


def test_nan_never_breaches():
    assert not Threshold.parse("> 1").breached(math.nan)
    assert not Threshold.parse("10").breached(math.nan)


@given(st.text(max_size=20))
def test_parse_never_raises_anything_but_threshold_error(text):
    try:
        Threshold.parse(text)
    except ThresholdError:
        pass


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
       st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
       st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_range_and_inverted_range_are_complements(a, b, v):
    lo, hi = sorted((a, b))
    plain, inverted = Threshold.parse(f"{lo!r}:{hi!r}"), Threshold.parse(f"@{lo!r}:{hi!r}")
    assert plain.breached(v) != inverted.breached(v)
