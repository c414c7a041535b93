"""Time as logs write it (ISO 8601 with or without zone, a comma before the fraction, epoch numbers) and as
people ask for it (`--since 1h`, `--since 2024-05-01T10:00`). Everything becomes seconds since the epoch, UTC:
a timestamp without a zone is taken as UTC, which is what the lab and most container logs write."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from agentops.core.format import utc_stamp

_RELATIVE = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:ms|[smhdw])\s*$", re.IGNORECASE)
# A timestamp's "YYYY-MM-DD?HH:MM:SS" head; the epoch of that second is cached because a log repeats it.
_SECOND_CACHE: dict[str, float] = {}
_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?\s*(Z|z|UTC|[+-]\d\d:?\d\d)?$")


def parse_when(text: str, now: float | None = None) -> float:
    """`--since`/`--until`: a duration back from now (`90s`, `15m`, `2h`, `2d`) or an ISO 8601 time."""
    from agentops.core.units import parse_duration

    value = text.strip()
    if _RELATIVE.match(value):
        ts = (time.time() if now is None else now) - parse_duration(value.lower().replace(" ", ""))
        if not MIN_TS <= ts < MAX_TS:
            raise ValueError(f"bad time {text!r} (that is before the year 1)")
        return ts
    ts = parse_timestamp(value)
    if ts is None:
        raise ValueError(f"bad time {text!r} (use a duration like 30m, 1h, 2d or an ISO time like "
                         f"2024-05-01T10:00:00Z)")
    return ts


# The times a report can write (ISO 8601 has years 1 to 9999); a timestamp outside them is not a time.
MIN_TS, MAX_TS = -62135596800.0, 253402300799.0


def parse_timestamp(value: object) -> float | None:
    """A record's timestamp, or None when it is missing or unreadable."""
    ts = _parse_timestamp(value)
    return ts if ts is not None and MIN_TS <= ts < MAX_TS else None


def _parse_timestamp(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return epoch(value)
    if not isinstance(value, str):
        return None
    if len(value) > 20 and value[-1] == "Z" and value[19] == "." and value[10] == "T":
        # The lab's (and most JSON loggers') form, 2024-05-01T10:00:00.123456Z: no regex needed.
        base = _SECOND_CACHE.get(value[:19] + "Z")
        if base is None:
            base = _iso_second(value[:19], "Z")
        frac = value[20:-1]
        if base is not None and frac.isascii() and frac.isdigit():  # float() would take "1e999" or "nan"
            return base + float("0." + frac)
    m = _ISO.match(value.strip())
    if not m:
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            return _iso_second(value + "T00:00:00", "Z")
        try:
            return parse_timestamp(float(value))
        except ValueError:
            return None
    day, clock, frac, zone = m.groups()
    base = _iso_second(f"{day}T{clock}", zone or "Z")
    if base is None:
        return None
    return base + (int(frac) / 10 ** len(frac) if frac else 0.0)


# Epoch numbers by unit: seconds up to the year 5138, then ms, µs and ns over the same years. A number beyond
# them (inf, 1e999, 1e308) or before 1970, or not a number at all (NaN), is not a time: None, never a guess.
_EPOCH_UNITS = ((1e11, 1.0), (1e14, 1e3), (1e17, 1e6), (1e20, 1e9))


def epoch(value: float) -> float | None:
    """Seconds since the epoch from a number of seconds, ms, µs or ns (told apart by size)."""
    try:
        v = float(value)
    except OverflowError:  # an int beyond any float
        return None
    if not v >= 0:  # negative, or NaN
        return None
    for limit, per_second in _EPOCH_UNITS:
        if v < limit:
            return v / per_second
    return None


def epoch_digits(text: str | bytes, per_second: float) -> float | None:
    """A run of digits in a known unit (journald's µs), or None when it is longer than any time can be."""
    if not 0 < len(text) <= 20:
        return None
    v = int(text) / per_second
    return v if v < _EPOCH_UNITS[0][0] else None


def _iso_second(head: str, zone: str) -> float | None:
    key = head + zone
    cached = _SECOND_CACHE.get(key)
    if cached is not None:
        return cached
    try:
        dt = datetime.fromisoformat(head)
    except ValueError:
        return None
    if zone in ("Z", "z", "UTC"):
        dt = dt.replace(tzinfo=UTC)
    else:
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
        dt = dt.replace(tzinfo=UTC)
        value = dt.timestamp() - offset
        return _remember(key, value)
    return _remember(key, dt.timestamp())


def _remember(key: str, value: float) -> float:
    if len(_SECOND_CACHE) > 100_000:  # a bounded cache: logs spanning years do not grow memory
        _SECOND_CACHE.clear()
    _SECOND_CACHE[key] = value
    return value


def iso(ts: float | None) -> str | None:
    """Seconds → ISO 8601 UTC with milliseconds, as the report writes times."""
    if ts is None:
        return None
    return utc_stamp(ts)


def now_iso() -> str:
    return iso(time.time()) or ""
