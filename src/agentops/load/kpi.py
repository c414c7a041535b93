"""The production KPIs a load run is judged by, as ordinary checks: each KPI is a CheckSpec whose rule is
evaluated by `core.evaluate`, so statuses, reasons, `--fail-on` and exit codes follow the core contract.

A KPI is written as its *goal* — what good looks like — because that is how SLOs are stated:

    p95_s < 2     p99_s < 5     throughput_per_s >= 1000     error_rate_percent < 0.1

A comparison goal is turned into the alert threshold core.thresholds judges by negating it (`< 2` alerts on
`>= 2`); a Nagios range (`0:2`) already names the good values, so it is used as is. `--kpi NAME=GOAL`
overrides a default or adds a KPI on any metric a load run reports; `--kpi NAME=off` drops one. A missed
KPI is CRITICAL: a release gate should stop. The default goals are the `kpi.<metric>` checks of the load
command pack (checks/load.yaml; a `load.yaml` in the config's pack_dirs overrides them by id).
"""

from __future__ import annotations

from dataclasses import dataclass

from agentops.core.config import Config
from agentops.core.model import Observation, Reason, Result, Status
from agentops.core.packs import CheckSpec, command_specs, make_spec
from agentops.core.runner import judge as judge_check
from agentops.core.thresholds import Threshold, ThresholdError

ALIASES = {"p95": "p95_s", "p99": "p99_s", "p50": "p50_s", "throughput": "throughput_per_s",
           "error_rate": "error_rate_percent", "errors": "error_rate_percent"}

_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


def default_goals(cfg: Config | None = None) -> dict[str, str]:
    """The KPIs of the load command pack (`kpi.<metric>` checks, overridable from the config's pack_dirs), as
    goals: the negation of each check's critical alert (a Nagios range names the good values either way)."""
    goals = {}
    for check_id, spec in command_specs("load", cfg).items():
        if check_id.startswith("kpi."):
            for rule in spec.rules:
                if rule.critical is not None:
                    goals[rule.metric] = goal_of(rule.critical)
    return goals


def goal_of(alert: Threshold) -> str:
    return alert.text if alert.op is None else f"{_NEGATE[alert.op]} {alert.value:g}"


def __getattr__(name: str) -> dict[str, str]:
    if name == "DEFAULT_GOALS":  # the shipped pack's goals, read when asked for (not at import)
        return default_goals()
    raise AttributeError(name)


@dataclass(frozen=True)
class Kpi:
    metric: str
    goal: str  # as the operator wrote it
    alert: Threshold  # what core.evaluate judges by

    def spec(self, template: CheckSpec | None = None) -> CheckSpec:
        """The KPI as a check; `template` (the load pack's `load.kpi`) says how an unmeasured KPI is judged."""
        base = template or command_specs("load")["load.kpi"]
        return make_spec(f"kpi.{self.metric}", "load", critical={self.metric: self.alert.text},
                         on_failure=base.on_failure, on_timeout=base.on_timeout, on_reason=base.on_reason,
                         tags=base.tags, description=f"{self.metric} {self.goal}", source="agentops load --kpi")


def kpi(metric: str, goal: str) -> Kpi:
    """A KPI from its goal; ThresholdError (a one-line reason) when the goal does not parse."""
    parsed = Threshold.parse(goal)
    alert = parsed if parsed.op is None else Threshold.parse(f"{_NEGATE[parsed.op]} {parsed.value:g}")
    return Kpi(metric, goal.strip(), alert)


def parse_overrides(items: list[str], known: set[str]) -> dict[str, str | None]:
    """["p95_s=< 1.5", "throughput=off"] -> {"p95_s": "< 1.5", "throughput_per_s": None}."""
    out: dict[str, str | None] = {}
    for item in items:
        name, sep, goal = item.partition("=")
        name = ALIASES.get(name.strip(), name.strip())
        if not sep or not name or not goal.strip():
            raise ThresholdError(f"--kpi {item!r}: expected NAME=GOAL, e.g. p95_s='< 2' or throughput_per_s=off")
        if name not in known:
            raise ThresholdError(f"--kpi {item!r}: unknown metric {name!r} (known: {', '.join(sorted(known))})")
        goal = goal.strip()
        if goal.lower() in ("off", "none", "no"):
            out[name] = None
            continue
        kpi(name, goal)  # validate now, with the flag named in the error
        out[name] = goal
    return out


def kpis(overrides: dict[str, str | None] | None = None, cfg: Config | None = None) -> list[Kpi]:
    goals: dict[str, str | None] = {**default_goals(cfg), **(overrides or {})}
    return [kpi(metric, goal) for metric, goal in goals.items() if goal is not None]


def judge(kpi_list: list[Kpi], metrics: dict[str, float], target: str, cfg: Config | None = None) -> list[Result]:
    """One Result per KPI. A metric that could not be measured (no successful reply, so no latency) is a
    failed measurement the load pack's `load.kpi` judges (UNKNOWN as shipped, never a pass)."""
    template = command_specs("load", cfg)["load.kpi"]
    results = []
    for k in kpi_list:
        spec = k.spec(template)
        value = metrics.get(k.metric, float("nan"))
        if value != value:
            obs = Observation.failure(Reason.ASSERTION, f"{k.metric} could not be measured (no successful "
                                                        f"reply in the run); goal {k.goal}")
        else:
            obs = Observation(metrics={k.metric: value})
        result = judge_check(spec, target, obs, 0.0)
        if not obs.failed:
            verb = "misses" if result.status is not Status.OK else "meets"
            result.message = f"{k.metric}={value:.4g} {verb} the goal {k.goal}"
        results.append(result)
    return results
