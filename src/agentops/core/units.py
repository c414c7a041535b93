"""Human durations ("30d", "12h", "90s") and sizes ("10GiB", "500M") as playbooks write them."""

from __future__ import annotations

import math
import re

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)(b?)\s*$", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_duration(value: object) -> float:
    """Seconds from a number (seconds) or a string with a unit: ms, s, m, h, d, w."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30d, 12h or 90s, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return _finite(float(value), "duration", value)
    m = _DURATION_RE.match(str(value))
    if not m:
        raise ValueError(f"bad duration {value!r} (expected e.g. 30d, 12h, 15m, 90s)")
    return _finite(float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"], "duration", value)


def _finite(number: float, what: str, given: object) -> float:
    # .inf / .nan in YAML, or digits enough to overflow: a bound that can never be reached is no bound.
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {given!r}")
    return number


def parse_size(value: object) -> int:
    """Bytes from a number or a string: K/M/G/T are powers of 1024 with or without the `i` (10G == 10GiB),
    because disk sizes in ops tooling (du, df -h) are binary."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 500M or 10GiB, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"size must not be negative, got {value}")
        return int(_finite(float(value), "size", value)) if isinstance(value, float) else value
    m = _SIZE_RE.match(str(value))
    if not m:
        raise ValueError(f"bad size {value!r} (expected e.g. 500M, 10GiB, 1T)")
    return int(_finite(float(m.group(1)) * 1024 ** _SIZE_POWERS[m.group(2).lower()], "size", value))
