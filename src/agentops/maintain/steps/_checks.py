"""Running check packs from a step, through the same core path as `agentops health` (load_specs, plan,
run_plan), bounded by the time the step has left."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentops.core.model import Result
from agentops.core.packs import Selection, load_specs, plan
from agentops.core.runner import run_plan
from agentops.maintain.step import StepContext

CHECK_PARAMS = {
    "packs": "check packs to run (default: the config's packs, else the defaults of `agentops health`)",
    "only": "run only checks whose id, id@target or probe matches these globs",
}


def pack_params(params: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    out = []
    for key in ("packs", "only"):
        value = params.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{key}: expected a list of names")
        out.append(list(value))
    return out[0], out[1]


async def run_checks(ctx: StepContext) -> list[Result]:
    packs, only = pack_params(ctx.params)
    budget = max(0.5, ctx.remaining() - 0.5)
    specs = load_specs(ctx.config, packs or None)
    checks = plan(ctx.config, specs, Selection(only=only), timeout_override=budget)
    return await run_plan(checks, concurrency=ctx.config.defaults.concurrency, deadline=budget)
