"""KPIs as checks: goals negated into core thresholds, overrides and their errors, judged by core.evaluate with
the contract's statuses (a miss is CRITICAL; an unmeasurable KPI is UNKNOWN, never a pass)."""

import math

import pytest

from agentops.core.model import Reason, Status
from agentops.core.thresholds import ThresholdError
from agentops.load.kpi import DEFAULT_GOALS, judge, kpi, kpis, parse_overrides
from agentops.load.run import METRIC_NAMES

GOOD = {"p95_s": 0.01, "p99_s": 0.02, "throughput_per_s": 1500.0, "error_rate_percent": 0.0}


def statuses(metrics, overrides=None):
    return {r.id: r.status for r in judge(kpis(overrides), metrics, "echo/k")}


def test_defaults_are_the_production_kpis():
    assert DEFAULT_GOALS == {"p95_s": "< 2", "p99_s": "< 5", "throughput_per_s": ">= 1000",
                             "error_rate_percent": "< 0.1"}
    assert set(statuses(GOOD).values()) == {Status.OK}


@pytest.mark.parametrize("metric,value", [("p95_s", 2.0), ("p99_s", 5.5), ("throughput_per_s", 999.0),
                                          ("error_rate_percent", 0.1)])
def test_each_miss_is_critical_with_reason_threshold(metric, value):
    results = {r.id: r for r in judge(kpis(), {**GOOD, metric: value}, "echo/k")}
    miss = results[f"kpi.{metric}"]
    assert miss.status is Status.CRITICAL and miss.reason is Reason.THRESHOLD
    assert "misses the goal" in miss.message
    assert all(r.status is Status.OK for k, r in results.items() if k != f"kpi.{metric}")


def test_goals_are_negated_into_alert_thresholds():
    assert kpi("p95_s", "< 2").alert.breached(2.0) and not kpi("p95_s", "< 2").alert.breached(1.99)
    assert kpi("t", ">= 1000").alert.breached(999) and not kpi("t", ">= 1000").alert.breached(1000)
    # a Nagios range already names the good values
    assert kpi("p95_s", "0:2").alert.breached(2.5) and not kpi("p95_s", "0:2").alert.breached(1)


def test_overrides_replace_drop_and_add():
    o = parse_overrides(["p95_s=< 0.5", "throughput=off", "max_s=<= 1"], METRIC_NAMES)
    assert o == {"p95_s": "< 0.5", "throughput_per_s": None, "max_s": "<= 1"}
    got = statuses({**GOOD, "p95_s": 0.6, "max_s": 0.9}, o)
    assert got == {"kpi.p95_s": Status.CRITICAL, "kpi.p99_s": Status.OK, "kpi.error_rate_percent": Status.OK,
                   "kpi.max_s": Status.OK}


@pytest.mark.parametrize("bad", ["p95_s", "p95_s=", "=< 2", "nope=< 2", "p95_s=fast", "p95_s=<<2"])
def test_bad_overrides_are_one_line_errors(bad):
    with pytest.raises(ThresholdError) as err:
        parse_overrides([bad], METRIC_NAMES)
    assert "\n" not in str(err.value)


def test_an_unmeasurable_kpi_is_unknown_not_a_pass():
    # no successful reply: no latency at all
    results = {r.id: r for r in judge(kpis(), {**GOOD, "p95_s": math.nan, "p99_s": math.nan}, "echo/k")}
    assert results["kpi.p95_s"].status is Status.UNKNOWN and "could not be measured" in results["kpi.p95_s"].message
