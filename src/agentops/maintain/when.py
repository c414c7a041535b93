"""`when` conditions: a small, closed language (no eval), parsed when the playbook loads so a typo is a
file:line error rather than a surprise at 3 a.m. A list of conditions must all hold, as in Ansible.

    check_mode | not check_mode
    true | false                          (handy after ${var} substitution)
    STEP is [not] ok|changed|skipped|failed
    STEP.FIGURE <threshold>               FIGURE from the step's `after` figures, else its `before` ones;
    STEP.before.FIGURE <threshold>        <threshold> in core.thresholds syntax: "> 80", "<= 0", "10:20", …
    STEP.after.FIGURE <threshold>
    weekday in sat,sun | weekday is mon   (local time; mon..sun)
    env.NAME                              (set and not empty)
    env.NAME == VALUE | env.NAME != VALUE

STEP is the id of an EARLIER step; when it ran against several targets the condition holds if it holds
for any of them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentops.core.thresholds import Threshold, ThresholdError
from agentops.maintain.step import Outcome, StepOutcome

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_IS_RE = re.compile(r"^([A-Za-z0-9_.-]+?)\s+is\s+(not\s+)?(ok|changed|skipped|failed)$")
_FIGURE_RE = re.compile(r"^([A-Za-z0-9_-]+)\.(?:(before|after)\.)?([A-Za-z0-9_:.-]+?)\s*((?:[<>=!@~]|\d).*)$")
_WEEKDAY_RE = re.compile(r"^weekday\s+(?:in|is)\s+([a-z, ]+)$")
_ENV_RE = re.compile(r"^env\.([A-Za-z_][A-Za-z0-9_]*)(?:\s*(==|!=)\s*(.*))?$")


@dataclass(frozen=True)
class Condition:
    text: str
    op: str  # literal | check | status | figure | weekday | env
    step: str = ""
    negate: bool = False
    value: str = ""
    where: str = ""  # before | after | "" (after, then before)
    threshold: Threshold | None = None
    days: tuple[int, ...] = ()

    def refers_to(self) -> str | None:
        return self.step or None


def parse_condition(text: str) -> Condition:
    """Parse one condition; ValueError with a one-line reason when it is not in the language above."""
    t = " ".join(str(text).split())
    low = t.lower()
    if low in ("true", "false"):
        return Condition(t, "literal", value=low)
    if low in ("check_mode", "not check_mode"):
        return Condition(t, "check", negate=low.startswith("not"))
    m = _WEEKDAY_RE.match(low)
    if m:
        names = [d.strip()[:3] for d in m.group(1).split(",") if d.strip()]
        bad = [d for d in names if d not in WEEKDAYS]
        if bad or not names:
            raise ValueError(f"bad weekday {bad[0] if bad else ''!r} in {t!r} (expected mon..sun)")
        return Condition(t, "weekday", days=tuple(WEEKDAYS.index(d) for d in names))
    m = _ENV_RE.match(t)
    if m:
        # `where` carries the comparison ("==value" / "!=value"); empty means "set and not empty".
        return Condition(t, "env", value=m.group(1), where=f"{m.group(2) or ''}{_unquote(m.group(3) or '')}")
    m = _IS_RE.match(t)
    if m:
        return Condition(t, "status", step=m.group(1), negate=bool(m.group(2)), value=m.group(3))
    m = _FIGURE_RE.match(t)
    if m:
        try:
            threshold = Threshold.parse(m.group(4).strip())
        except ThresholdError as exc:
            raise ValueError(f"{t!r}: {exc}") from None
        return Condition(t, "figure", step=m.group(1), where=m.group(2) or "", value=m.group(3),
                         threshold=threshold)
    raise ValueError(f"cannot read condition {t!r} (expected e.g. 'prune is changed', 'disk.used_percent > 80', "
                     f"'weekday in sat,sun', 'env.NAME', 'not check_mode')")


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def holds(cond: Condition, outcomes: Mapping[str, list[StepOutcome]], *, check: bool,
          now: dt.datetime | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Evaluate against the outcomes of earlier steps (by step id, one per target)."""
    if cond.op == "literal":
        return cond.value == "true"
    if cond.op == "check":
        return check != cond.negate
    if cond.op == "weekday":
        return (now or dt.datetime.now()).weekday() in cond.days
    if cond.op == "env":
        value = (os.environ if env is None else env).get(cond.value, "")
        if not cond.where:
            return value != ""
        op, expected = cond.where[:2], cond.where[2:]
        return (value == expected) if op == "==" else (value != expected)
    runs = outcomes.get(cond.step, [])
    if cond.op == "status":
        return any((o.status == Outcome(cond.value)) != cond.negate for o in runs)
    assert cond.threshold is not None
    return any(_figure_holds(cond, o) for o in runs)


def _figure_holds(cond: Condition, outcome: StepOutcome) -> bool:
    sources: list[dict[str, Any]] = {"before": [outcome.before], "after": [outcome.after]}.get(
        cond.where, [outcome.after, outcome.before])
    for figures in sources:
        if cond.value in figures:
            assert cond.threshold is not None
            return cond.threshold.breached(float(figures[cond.value]))
    return False
