"""Thresholds judge measured numbers. Two notations, both "alert when ...":

Nagios ranges (https://nagios-plugins.org/doc/guidelines.html#THRESHOLDFORMAT) — alert when the value is
OUTSIDE the range, or inside it with a leading `@`:
    10      outside 0..10        10:     below 10         ~:10    above 10
    10:20   outside 10..20       @10:20  inside 10..20

Plain comparisons — alert when the comparison is TRUE: `> 80`, `>= 1000`, `< 5`, `<= 0.1`, `== 0`, `!= 0`.
A bare YAML number (`critical: {cpu_percent: 90}`) is the Nagios range `90`, i.e. alert above 90 or below 0.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any

_CMP = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
        "!=": operator.ne}
_CMP_RE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE_RE = re.compile(rf"^\s*(@)?\s*(?:(~|{_NUM})?\s*:)?\s*({_NUM})?\s*$")


class ThresholdError(ValueError):
    pass


@dataclass(frozen=True)
class Threshold:
    text: str
    low: float = -math.inf  # the "good" range for Nagios ranges
    high: float = math.inf
    inside: bool = False
    op: str | None = None  # set for plain comparisons
    value: float = 0.0

    @classmethod
    def parse(cls, spec: Any) -> Threshold:
        if isinstance(spec, bool) or not isinstance(spec, str | int | float):
            raise ThresholdError(f"threshold must be a number or a string, got {type(spec).__name__}")
        text = str(spec).strip()
        if not text:
            raise ThresholdError("empty threshold")
        m = _CMP_RE.match(text)
        if m:
            return cls(text=text, op=m.group(1), value=float(m.group(2)))
        m = _RANGE_RE.match(text)
        if not m or (m.group(2) is None and m.group(3) is None):
            raise ThresholdError(
                f"bad threshold {text!r} (use a Nagios range like 10, 10:, ~:10, 10:20, @10:20 "
                f"or a comparison like '> 80')")
        inside = m.group(1) == "@"
        start, end = m.group(2), m.group(3)
        if ":" not in text:
            low, high = 0.0, float(end)
        else:
            low = -math.inf if start == "~" else (float(start) if start is not None else 0.0)
            high = float(end) if end is not None else math.inf
        if low > high:
            raise ThresholdError(f"bad threshold {text!r}: start {low:g} is greater than end {high:g}")
        return cls(text=text, low=low, high=high, inside=inside)

    def breached(self, value: float) -> bool:
        if value != value:  # NaN never breaches: an unknown value is not a threshold verdict
            return False
        if self.op is not None:
            return bool(_CMP[self.op](value, self.value))
        within = self.low <= value <= self.high
        return within if self.inside else not within

    def nagios_range(self) -> str:
        """The same alert condition in Nagios range syntax (for perfdata's warn/crit fields); comparisons map
        to the nearest range (`> 80` and `>= 80` both become `~:80`: perfdata has no strictness)."""
        if self.op is not None:
            v = plain_number(self.value)
            return {">": f"~:{v}", ">=": f"~:{v}", "<": f"{v}:", "<=": f"{v}:", "==": f"@{v}:{v}",
                    "!=": f"{v}:{v}"}[self.op]
        low = "~" if self.low == -math.inf else plain_number(self.low)
        high = "" if self.high == math.inf else plain_number(self.high)
        text = f"{high}" if low == "0" and high else f"{low}:{high}"
        return ("@" if self.inside else "") + text

    def describe(self) -> str:
        if self.op is not None:
            return f"{self.op} {self.value:g}"
        if self.inside:
            return f"inside {self.low:g}..{self.high:g}"
        if self.low == -math.inf:
            return f"> {self.high:g}"
        if self.high == math.inf:
            return f"< {self.low:g}"
        return f"outside {self.low:g}..{self.high:g}"


def plain_number(value: float) -> str:
    """A number as plain decimal digits (Nagios perfdata accepts no exponent)."""
    from decimal import Decimal

    if float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")
