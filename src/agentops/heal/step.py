"""The heal step interface: a step PLANS (what it would do, why, to what) and APPLIES one remedy to one target.

A new kind of remedy is a class like `HealStep` registered under the entry-point group `agentops.heal_steps`
(built-ins the same way, in pyproject.toml and core.registry.BUILTIN_HEAL_STEPS). It reuses the maintenance
step's outcome (`maintain.step.StepOutcome`), so a heal step's record in the history has the same fields as a
maintenance step's in the audit log.

Contract:
- `applicable` says, without acting, why the step cannot act on this target (no restart command configured,
  no Kubernetes Deployment named); the engine then escalates to the next step without counting an attempt;
- `plan` never changes anything; `apply` acts once, reports each change through `ctx.record_change` as soon as
  it is made, and returns a failure (never raises) for expected problems;
- whether the remedy worked is not the step's call: the engine runs the diagnosis again (verification).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from agentops.core.cluster import Cluster
from agentops.core.config import Config
from agentops.heal.targets import HealTarget
from agentops.maintain.step import StepOutcome


@dataclass(frozen=True)
class StepPlan:
    """What a step would do, why, and to what: shown by the plan, recorded in the history before acting."""

    action: str  # "send SIGCONT to pid 4242"
    why: str  # "worker-frozen: w1 is stopped (state T) since 12:01"
    to: str  # "worker w1 (pid 4242)"

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action, "why": self.why, "to": self.to}


@dataclass
class HealContext:
    """What a step is given: the target and its verdict, the step's params, the config, how long it may take."""

    target: HealTarget
    params: Mapping[str, Any]
    config: Config
    cluster: Cluster | None
    timeout: float
    state_dir: Path
    force: bool = False  # --force: act on objects a GitOps controller manages
    started: float = field(default_factory=time.monotonic)
    on_change: Callable[[str], None] | None = None

    def record_change(self, out: StepOutcome, line: str) -> None:
        out.add_change(line)
        if self.on_change is not None:
            self.on_change(line)

    def remaining(self) -> float:
        return max(0.0, self.started + self.timeout - time.monotonic())


class HealStep(ABC):
    kind: ClassVar[str]
    description: ClassVar[str] = ""
    default_timeout: ClassVar[float] = 120.0
    params_doc: ClassVar[dict[str, str]] = {}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        """Raise ValueError (one line) for wrong params; called when the runbook loads."""
        unknown = sorted(set(params) - set(self.params_doc))
        if unknown:
            raise ValueError(f"unknown param {unknown[0]!r} (known: {', '.join(sorted(self.params_doc)) or 'none'})")

    def applicable(self, ctx: HealContext) -> str | None:
        """Why this step cannot act on ctx.target (None: it can). Never acts."""
        return None

    @abstractmethod
    def plan(self, ctx: HealContext) -> StepPlan:
        """What apply would do. Changes nothing."""

    @abstractmethod
    async def apply(self, ctx: HealContext) -> StepOutcome:
        """Act within ctx.timeout seconds."""
