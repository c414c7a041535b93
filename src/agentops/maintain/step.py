"""The step interface: a step ACTS on one target (or on this machine) and reports a structured outcome.

A new kind of maintenance action is a class like `Step` registered under the entry-point group
`agentops.steps` (built-ins are registered the same way in pyproject.toml and core.registry.BUILTIN_STEPS).

Contract every step keeps (the engine and the tests rely on it):
- in check mode (`ctx.check`) it changes nothing and reports exactly what it would change, with the status
  it would end with (`changed` meaning "would change", as in Ansible);
- it is idempotent: a second run right after the first ends `ok` with nothing to do;
- expected failures (refused, auth, a server error) are returned as `StepOutcome.failure(...)`; an exception
  escaping `run` becomes a failed step with reason `internal`, never a crashed playbook.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from agentops.core.config import Config, Target
from agentops.core.model import Reason

# How many change lines a step reports in full; the rest is counted ("… and 4,180 more").
MAX_CHANGE_LINES = 50


class Outcome(StrEnum):
    OK = "ok"  # nothing needed doing
    CHANGED = "changed"  # something was (check mode: would be) changed
    SKIPPED = "skipped"  # `when` was false, no target, or the playbook stopped before it
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # a signal stopped the run while this step was running (set by the engine)


@dataclass
class StepOutcome:
    status: Outcome
    message: str = ""
    # One line per change made (check mode: that would be made), at most MAX_CHANGE_LINES kept.
    changes: list[str] = field(default_factory=list)
    changes_total: int = 0
    # Figures measured before and after acting (check mode: `after` holds the prediction where one exists).
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    # Problems that did not stop the step (a file that could not be deleted): the step's result is WARNING.
    warnings: list[str] = field(default_factory=list)
    reason: Reason | None = None

    @classmethod
    def failure(cls, reason: Reason, message: str, **facts: Any) -> StepOutcome:
        return cls(status=Outcome.FAILED, message=message, reason=reason, facts=dict(facts))

    @classmethod
    def skipped(cls, message: str) -> StepOutcome:
        return cls(status=Outcome.SKIPPED, message=message)

    def add_change(self, line: str) -> None:
        self.changes_total += 1
        if len(self.changes) < MAX_CHANGE_LINES:
            self.changes.append(line)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.status.value,
            "changes": list(self.changes),
            "changes_total": self.changes_total,
            "before": dict(self.before),
            "after": dict(self.after),
            "warnings": list(self.warnings),
            **self.facts,
        }


@dataclass
class StepContext:
    """What a step is given: where to act, with which params, whether for real, and how long it may take."""

    params: Mapping[str, Any]
    target: Target | None
    check: bool
    timeout: float
    config: Config
    state_dir: Path
    playbook: str = ""
    step_id: str = ""
    started: float = field(default_factory=time.monotonic)
    # Called with each change line as soon as the change is made (not in check mode): the engine writes
    # it to the audit log before the step makes its next change, so a run killed mid-step leaves no
    # change unrecorded.
    on_change: Callable[[str], None] | None = None

    def record_change(self, out: StepOutcome, line: str) -> None:
        """The one way a step reports a change it made (or, in check mode, would make)."""
        out.add_change(line)
        if not self.check and self.on_change is not None:
            self.on_change(line)

    @property
    def deadline(self) -> float:
        """time.monotonic() value by which the step should have returned (it is cancelled soon after)."""
        return self.started + self.timeout

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


class Step(ABC):
    kind: ClassVar[str]
    description: ClassVar[str] = ""
    # Target kinds the step acts on; empty means it runs on this machine and takes no `target`.
    target_kinds: ClassVar[tuple[str, ...]] = ()
    # Deletes or rewrites data (files, arbitrary commands): needs consent when not on a TTY (see engine).
    destructive: ClassVar[bool] = False
    default_timeout: ClassVar[float] = 300.0
    # Param name -> meaning, shown by `maintain list --steps` and in docs/maintain.md.
    params_doc: ClassVar[dict[str, str]] = {}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        """Raise ValueError with a one-line reason when params are wrong (called when the playbook loads).
        The default rejects params the step does not document."""
        unknown = sorted(set(params) - set(self.params_doc))
        if unknown:
            raise ValueError(f"unknown param {unknown[0]!r} (known: {', '.join(sorted(self.params_doc)) or 'none'})")

    @abstractmethod
    async def run(self, ctx: StepContext) -> StepOutcome:
        """Act (or, in check mode, only look) within ctx.timeout seconds."""
