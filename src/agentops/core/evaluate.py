"""Judging: an Observation plus a check's rules becomes a status, a reason and a one-line message."""

from __future__ import annotations

import fnmatch

from agentops.core.format import metric_value, number
from agentops.core.model import Observation, Reason, Status
from agentops.core.packs import CheckSpec, MetricRule
from agentops.core.thresholds import Threshold


def _matches(rule: MetricRule, metrics: dict[str, float]) -> list[str]:
    if any(ch in rule.metric for ch in "*?["):
        return sorted(m for m in metrics if fnmatch.fnmatchcase(m, rule.metric))
    return [rule.metric] if rule.metric in metrics else []


def evaluate(spec: CheckSpec, obs: Observation) -> tuple[Status, Reason | None, str]:
    if obs.failed:
        assert obs.reason is not None
        if obs.reason in spec.on_reason:
            status = spec.on_reason[obs.reason]
        elif obs.reason is Reason.TIMEOUT:
            status = spec.on_timeout
        elif obs.reason in (Reason.UNSUPPORTED, Reason.INTERNAL):
            status = Status.UNKNOWN
        else:
            status = spec.on_failure
        return status, obs.reason, obs.message or obs.reason.value

    if not spec.rules:  # nothing to judge (a connect, a resolve): the metric matching below finds nothing
        return Status.OK, None, obs.message or _unjudged_summary(obs.metrics)
    worst, breaches, missing = Status.OK, [], []
    for rule in spec.rules:
        names = _matches(rule, obs.metrics)
        if not names:
            missing.append(rule.metric)
            continue
        for name in names:
            value = obs.metrics[name]
            level = _breach(rule, value)
            if level is not None:
                status, threshold = level
                breaches.append((status, f"{name}={number(value)} ({status.label.lower()} {threshold.describe()})"))
                worst = Status.worst([worst, status])
    if breaches:
        breaches.sort(key=lambda b: -b[0].severity)
        said = "; ".join(text for _, text in breaches)
        return worst, Reason.THRESHOLD, f"{said}: {obs.message}" if obs.explains and obs.message else said
    if missing and not obs.metrics:
        return Status.UNKNOWN, Reason.INTERNAL, f"probe reported no metric {missing[0]!r}"
    message = obs.message or summarize(obs.metrics, spec)
    return Status.OK, None, message


def _breach(rule: MetricRule, value: float) -> tuple[Status, Threshold] | None:
    for status, threshold in ((Status.CRITICAL, rule.critical), (Status.WARNING, rule.warning)):
        if threshold is not None and threshold.breached(value):
            return status, threshold
    return None


def metric_verdicts(spec: CheckSpec, metrics: dict[str, float]) -> dict[str, tuple[Status, Threshold]]:
    """metric → (status, the threshold it breached) for each breached metric, as `evaluate` judged them: what
    a finding reads to say WHICH of a check's metrics is out of bounds without comparing numbers itself."""
    out: dict[str, tuple[Status, Threshold]] = {}
    for rule in spec.rules:
        for name in _matches(rule, metrics):
            level = _breach(rule, metrics[name])
            if level is not None and name not in out:
                out[name] = level
    return out


def thresholds_for(spec: CheckSpec, metrics: dict[str, float]) -> dict[str, dict[str, str]]:
    """metric → {"warning": text, "critical": text} for the measured metrics a rule applies to (first rule
    wins, as in evaluate), so presenters such as Nagios perfdata can show what the value was judged against."""
    out: dict[str, dict[str, str]] = {}
    if not spec.rules:
        return out
    for rule in spec.rules:
        for name in _matches(rule, metrics):
            if name not in out:
                levels = {"warning": rule.warning, "critical": rule.critical}
                out[name] = {k: t.text for k, t in levels.items() if t is not None}
    return out


def summarize(metrics: dict[str, float], spec: CheckSpec, limit: int = 4) -> str:
    """A short "key=value" line, the judged metrics first, for OK results."""
    if not spec.rules:
        return _unjudged_summary(metrics, limit)
    judged = [m for r in spec.rules for m in _matches(r, metrics)]
    names = list(dict.fromkeys(judged + sorted(metrics)))[:limit]
    return ", ".join(f"{n}={metric_value(n, metrics[n])}" for n in names)


def _unjudged_summary(metrics: dict[str, float], limit: int = 4) -> str:
    """summarize() for a spec without rules: the first metrics by name."""
    return ", ".join(f"{n}={metric_value(n, metrics[n])}" for n in sorted(metrics)[:limit])
