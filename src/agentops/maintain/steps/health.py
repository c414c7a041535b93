"""health.gate: run a check pack and stop the playbook unless it passes (nothing worse than `max_status`).

Read-only, so it runs in check mode too: a dry run shows whether the real run would have been stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentops.core.model import Reason, Status
from agentops.maintain.step import Outcome, Step, StepContext, StepOutcome
from agentops.maintain.steps._checks import CHECK_PARAMS, pack_params, run_checks


class HealthGateStep(Step):
    kind = "health.gate"
    description = "run health checks; fail (stopping the playbook) unless none is worse than max_status"
    default_timeout = 60.0
    params_doc = {**CHECK_PARAMS, "max_status": "worst status that still passes: ok or warning (default warning)"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        pack_params(params)
        if str(params.get("max_status", "warning")).lower() not in ("ok", "warning"):
            raise ValueError("max_status: expected ok or warning")

    async def run(self, ctx: StepContext) -> StepOutcome:
        allowed = Status.parse(str(ctx.params.get("max_status", "warning")))
        results = await run_checks(ctx)
        counts = {s.label.lower(): sum(1 for r in results if r.status is s) for s in Status}
        figures = {f"checks_{k}": float(v) for k, v in counts.items()}
        bad = [r for r in results if r.status.severity > allowed.severity]
        facts: dict[str, Any] = {"checks": len(results), "not_passing": [
            {"id": r.id, "target": r.target, "status": r.status.label, "message": r.message} for r in bad]}
        if not results:
            return StepOutcome(Outcome.FAILED, "no check matched: the gate cannot pass on nothing",
                               reason=Reason.ASSERTION, before=figures, facts=facts)
        if bad:
            worst = max(bad, key=lambda r: r.status.severity)
            listed = "; ".join(f"{r.id}@{r.target} {r.status.label}: {r.message}" for r in bad[:3])
            more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
            return StepOutcome(Outcome.FAILED, f"{len(bad)} of {len(results)} checks worse than {allowed.label}: "
                               f"{listed}{more}", reason=worst.reason or Reason.THRESHOLD, before=figures,
                               facts=facts)
        # Allowed warnings are the gate passing, not a problem of this run: kept as facts, not step warnings.
        facts["warnings_allowed"] = [f"{r.id}@{r.target}: {r.message}" for r in results if r.status is Status.WARNING]
        return StepOutcome(Outcome.OK, f"{len(results)} checks pass (none worse than {allowed.label})",
                           before=figures, facts=facts)
