"""disk.check: used space and inodes of the file systems holding given paths, judged by thresholds.

A guard to put before steps that need room (REINDEX builds a copy of each index): CRITICAL fails the step,
and so stops the playbook unless `continue_on_error`; WARNING is reported and the playbook goes on.
Figures: used_percent / inodes_used_percent / free_bytes per path ("used_percent:/var") and the worst of
them under the plain name, for `when: "disk.used_percent > 80"`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentops.core import format as fmt
from agentops.core.model import Reason
from agentops.core.thresholds import Threshold, ThresholdError
from agentops.core.units import parse_size
from agentops.maintain.step import Outcome, Step, StepContext, StepOutcome
from agentops.probes.host import disk_usage


class DiskCheckStep(Step):
    kind = "disk.check"
    description = "fail when a file system is too full (space or inodes); warn earlier"
    default_timeout = 30.0
    params_doc = {
        "paths": "paths whose file systems are checked (default ['/'])",
        "warning": "threshold on used_percent that warns (default '> 85')",
        "critical": "threshold on used_percent that fails the step (default '> 95')",
        "inodes_critical": "threshold on inodes_used_percent that fails the step (default '> 95')",
        "min_free": "fail when less than this is free on any path (e.g. 5GiB)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        self._rules(params)

    def _rules(self, params: Mapping[str, Any]) -> tuple[list[str], dict[str, Threshold], int | None]:
        paths = params.get("paths", ["/"])
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
            raise ValueError("paths: expected a list of paths")
        rules = {}
        for key, default in (("warning", "> 85"), ("critical", "> 95"), ("inodes_critical", "> 95")):
            try:
                rules[key] = Threshold.parse(params.get(key, default))
            except ThresholdError as exc:
                raise ValueError(f"{key}: {exc}") from None
        min_free = parse_size(params["min_free"]) if params.get("min_free") is not None else None
        return list(paths), rules, min_free

    async def run(self, ctx: StepContext) -> StepOutcome:
        paths, rules, min_free = self._rules(ctx.params)
        out = StepOutcome(Outcome.OK)
        problems: list[str] = []
        for path in paths:
            try:
                usage = disk_usage(path)  # the figures of `agentops health` and df
            except OSError as exc:
                return StepOutcome.failure(Reason.ASSERTION, f"{path}: {exc.strerror}")
            used_pct, free = usage.used_percent, usage.free_bytes
            inodes_pct = usage.inodes_used_percent or 0.0
            out.before.update({f"used_percent:{path}": used_pct, f"free_bytes:{path}": free,
                               f"inodes_used_percent:{path}": inodes_pct})
            for name, value in (("used_percent", used_pct), ("inodes_used_percent", inodes_pct)):
                out.before[name] = max(out.before.get(name, 0.0), value)
            out.before["free_bytes"] = min(out.before.get("free_bytes", free), free)
            if rules["critical"].breached(used_pct):
                problems.append(f"{path} {used_pct:.1f}% used ({rules['critical'].describe()})")
            elif rules["inodes_critical"].breached(inodes_pct):
                problems.append(f"{path} inodes {inodes_pct:.1f}% used ({rules['inodes_critical'].describe()})")
            elif min_free is not None and free < min_free:
                problems.append(f"{path} has {fmt.size(free)} free (< {fmt.size(min_free)})")
            elif rules["warning"].breached(used_pct):
                out.warnings.append(f"{path} {used_pct:.1f}% used ({rules['warning'].describe()})")
        out.after = dict(out.before)
        if problems:
            return StepOutcome(Outcome.FAILED, "; ".join(problems), reason=Reason.THRESHOLD, before=out.before,
                               after=out.after)
        out.message = ", ".join(f"{p} {out.before[f'used_percent:{p}']:.1f}% used" for p in paths)
        return out
