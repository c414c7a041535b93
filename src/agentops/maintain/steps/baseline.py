"""baseline.update: measure today's health and metrics figures (the same check packs `agentops health`
runs) and fold them into the JSON baseline in the state dir (format and reader: maintain/baseline.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentops.core.model import Reason
from agentops.maintain.baseline import (
    DEFAULT_KEEP_DAYS,
    DEFAULT_NAME,
    baseline_path,
    load_baseline,
    sample_of,
    save_baseline,
    updated,
)
from agentops.maintain.step import Outcome, Step, StepContext, StepOutcome
from agentops.maintain.steps._checks import CHECK_PARAMS, pack_params, run_checks


class BaselineUpdateStep(Step):
    kind = "baseline.update"
    description = "store today's check metrics in the baseline (median over keep_days days)"
    default_timeout = 120.0
    params_doc = {**CHECK_PARAMS, "name": f"baseline name (default {DEFAULT_NAME!r})",
                  "keep_days": f"days of samples kept (default {DEFAULT_KEEP_DAYS})"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        pack_params(params)
        name = params.get("name", DEFAULT_NAME)
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ValueError("name: expected a plain file name")
        keep = params.get("keep_days", DEFAULT_KEEP_DAYS)
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= 366:
            raise ValueError("keep_days: expected an integer from 1 to 366")

    async def run(self, ctx: StepContext) -> StepOutcome:
        name = str(ctx.params.get("name", DEFAULT_NAME))
        keep = int(ctx.params.get("keep_days", DEFAULT_KEEP_DAYS))
        results = await run_checks(ctx)
        sample = sample_of(results)
        if not sample:
            return StepOutcome.failure(Reason.ASSERTION, f"no check produced a metric ({len(results)} ran): "
                                       f"baseline left as it was")
        path = baseline_path(ctx.state_dir, name)
        previous = load_baseline(ctx.state_dir, name)
        new = updated(previous, path, name, sample, keep_days=keep, cluster=ctx.config.cluster)
        metrics = sum(len(e["metrics"]) for e in sample.values())
        out = StepOutcome(Outcome.CHANGED, before={"days": len(previous.days) if previous else 0,
                                                   "checks": len(previous.checks) if previous else 0},
                          after={"days": len(new.days), "checks": len(new.checks), "metrics": metrics})
        out.facts = {"path": str(path), "sampled_checks": len(sample), "failed_checks": len(results) - len(sample)}
        verb = "would store" if ctx.check else "stored"
        ctx.record_change(out, f"{verb} {metrics} figures of {len(sample)} checks for today in {path}")
        out.message = f"{verb} {metrics} figures of {len(sample)} checks ({len(new.days)} days kept)"
        if not ctx.check:
            save_baseline(new)
        return out
