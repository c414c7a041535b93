"""Terminal sparklines: a series as one line of block characters, for a table cell a person can glance at."""

from __future__ import annotations

from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"


def _resample(values: list[float], width: int) -> list[float]:
    """Average consecutive samples into `width` buckets, so a long series keeps its shape instead of being
    cut off; a short series is left as it is."""
    if len(values) <= width:
        return values
    out = []
    for i in range(width):
        lo, hi = i * len(values) // width, (i + 1) * len(values) // width
        chunk = values[lo:max(hi, lo + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


def sparkline(values: Sequence[float], width: int = 40, *, low: float | None = None,
              high: float | None = None, min_span: float = 0.0) -> str:
    """Scaled between `low` and `high` (default: the series' own min and max; pass low=0, high=100 for a
    percentage so an idle process does not look busy). `min_span` keeps noise flat: a series that moves
    less than that draws as a flat line, not as a cliff. NaN (not measured) is a space."""
    data = _resample(list(values), max(1, width))
    known = [v for v in data if v == v]
    if not known:
        return ""
    lo = min(known) if low is None else low
    hi = max(known) if high is None else high
    if hi - lo < min_span:
        hi = lo + min_span
    span = hi - lo
    chars = []
    for v in data:
        if v != v:
            chars.append(" ")
            continue
        level = 0 if span <= 0 else round((min(max(v, lo), hi) - lo) / span * (len(BLOCKS) - 1))
        chars.append(BLOCKS[level])
    return "".join(chars)
