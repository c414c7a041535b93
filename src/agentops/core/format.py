"""The one way agentops writes a number for people: byte sizes, durations, timestamps, plain numbers, latency
quantiles and sparklines. Presenters (render/) and the messages the judge and the probes write (core.evaluate,
probes, logs, load, drill) use these, so "1.5 MiB" or "120 ms" reads the same in every command. It lives in
core, not in render, because the judge's messages need it and core imports no higher layer. JSON keeps the
exact numbers; these strings are for reading only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
BLOCKS = "▁▂▃▄▅▆▇█"
# The latency quantiles every report carries (load, profile's agent metrics): label -> key in the document.
QUANTILES: tuple[tuple[str, str], ...] = (("p50", "p50_s"), ("p90", "p90_s"), ("p95", "p95_s"), ("p99", "p99_s"),
                                          ("p99.9", "p999_s"), ("max", "max_s"))


def _missing(value: float | None) -> bool:
    return value is None or value != value


def size(n: float | None) -> str:
    """A byte count: `512 B`, `1.5 MiB`, `2.0 TiB`; `n/a` when not measured."""
    if n is None or n != n:
        return "n/a"
    value = float(n)
    for unit in BYTE_UNITS:
        if abs(value) < 1024 or unit == BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {BYTE_UNITS[-1]}"  # pragma: no cover - the loop always returns


def exact_size(n: int) -> str:
    """A limit, said exactly: `64 MiB` when it is a whole number of MiB, else `1500 bytes`."""
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"


def duration(seconds: float | None) -> str:
    """A measured time: `0.8 ms`, `120 ms`, `2.35 s`; `n/a` when not measured."""
    if _missing(seconds):
        return "n/a"
    assert seconds is not None
    if abs(seconds) < 1:
        ms = seconds * 1000
        return f"{ms:.1f} ms" if abs(ms) < 10 else f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


def number(value: float | None) -> str:
    """A metric's value in a message: an integer as it is, else three significant digits (`0.0123`, `12.3`,
    `1234`). For a narrow table cell, `compact`."""
    if _missing(value):
        return "n/a"
    assert value is not None
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def metric_value(name: str, value: float | None) -> str:
    """A named metric's value: a size for a `*_bytes` metric (`disk_free_bytes:/` too), else `number`."""
    return size(value) if name.split(":", 1)[0].endswith("_bytes") else number(value)


def compact(value: float | None) -> str:
    """A number for a narrow table cell: `12.3k`, `4.5M`, `0.123`, `250`."""
    if _missing(value):
        return "n/a"
    assert value is not None
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"


def utc_stamp(epoch: float | None = None, *, timespec: str = "milliseconds") -> str:
    """An RFC 3339 UTC time with a Z (`2026-12-02T10:00:00.123Z`): now, or the given epoch seconds."""
    when = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return when.isoformat(timespec=timespec).replace("+00:00", "Z")


def clock_time(stamp: str | None, *, with_date: bool = False, millis: bool = False) -> str:
    """The time of day of an RFC 3339 stamp for a table column: `10:00:00`, `10:00:00.123` with `millis`
    (a trace's hops), or `12-02 10:00` when the column spans days."""
    if not stamp:
        return "-"
    if with_date:
        return stamp[5:16].replace("T", " ")
    return stamp[11:23] if millis else stamp[11:19]


def _resample(values: list[float], width: int, *, total: bool) -> list[float]:
    """Consecutive samples into `width` buckets (their mean, or with `total` their sum, for counts), so a long
    series keeps its shape instead of being cut off; a short series is left as it is."""
    if len(values) <= width:
        return values
    out = []
    for i in range(width):
        lo, hi = i * len(values) // width, (i + 1) * len(values) // width
        known = [v for v in values[lo:max(hi, lo + 1)] if v == v]
        out.append(sum(known) if total else (sum(known) / len(known) if known else math.nan))
    return out


def sparkline(values: Sequence[float], width: int = 40, *, low: float | None = None,
              high: float | None = None, min_span: float = 0.0) -> str:
    """A series as one line of blocks, scaled between `low` and `high` (default: the series' own min and max;
    pass low=0, high=100 for a percentage so an idle process does not look busy). `min_span` keeps noise flat:
    a series that moves less than that draws as a flat line, not as a cliff. NaN (not measured) is a space."""
    data = _resample(list(values), max(1, width), total=False)
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


def count_sparkline(counts: Sequence[int], width: int = 24) -> str:
    """Event counts per interval (summed into `width` columns), each of relative height from zero; an empty
    interval is a space and any event at least the lowest block, so a burst stands out against silence."""
    if not counts:
        return ""
    cols = _resample([float(c) for c in counts], max(1, width), total=True)
    top = max(cols) or 1
    return "".join(" " if c == 0 else BLOCKS[max(0, round(c / top * len(BLOCKS)) - 1)] for c in cols)


def percent(value: float | None) -> str:
    """A share in percent: `42%`, `0.5%`; `n/a` when not measured."""
    return "n/a" if _missing(value) else f"{number(value)}%"
