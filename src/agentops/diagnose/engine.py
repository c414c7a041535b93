"""Layered evidence collection under one deadline.

A diagnosis runs layers in order (DNS → TCP → gRPC → host → registration → process → ping → logs → metrics →
machine). Each layer MEASURES (an Observation, like any probe) and is JUDGED by its check in the `diagnose`
command pack (checks/diagnose.yaml, overridable by id from a config's pack_dirs) with the same `core.evaluate`
as `agentops health`, so every layer is a `Result` in the report and the verdict rules read nothing but those
results. Layers that are registered probes (net.dns, net.tcp, host.cpu, metrics …) run
through the probe registry; the others are plain async functions.

One deadline covers the whole diagnosis: a layer gets `min(its cap, what is left minus what later layers are
promised)`, so a hanging host or a frozen worker costs at most the budget given to the layer that meets it,
never the whole run. A layer the deadline leaves no time for is reported UNKNOWN/timeout, not skipped silently.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentops.core.config import Target
from agentops.core.model import Observation, Reason, Result, Status
from agentops.core.packs import CheckSpec
from agentops.core.runner import judge, observe

DEFAULT_DEADLINE_S = 5.0
# The tag of a result measured for a downstream type the diagnosis followed (diagnose/hop.py): it is in the
# report, but it is not evidence about the target itself, so `Evidence.get` passes over it.
DOWNSTREAM_TAG = "downstream"
# The fact of a layer the deadline left no time for: it measured nothing (a ping never sent is no "no reply").
NOT_RUN = "not_run"
MIN_LAYER_S = 0.05  # below this a layer cannot do anything meaningful: report it as out of time
# The hard stop after a layer's own timeout. Smaller than the runner's: the time is promised to later layers.
LAYER_GRACE_S = 0.05
# The ping's: it ends at its own gRPC deadline and then reports what it saw (no reply, the log line that cut it
# short); a loop lagging on a busy machine must not lose that to the hard stop. The reserve absorbs it.
PING_GRACE_S = 0.25


@dataclass
class Deadline:
    total_s: float
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return max(0.0, self.total_s - self.elapsed())

    def budget(self, cap: float | None = None, reserve: float = 0.0) -> float:
        """Time for the next layer: at most `cap`, leaving `reserve` seconds for the layers after it."""
        left = self.remaining() - reserve
        if cap is not None:
            left = min(left, cap)
        return max(0.0, left)


class Evidence:
    """The results of the layers, in the order they ran, under one deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.results: list[Result] = []
        self.notes: list[str] = []

    def get(self, check_id: str) -> Result | None:
        """The target's own result of `check_id` (a followed hop's results carry DOWNSTREAM_TAG)."""
        return next((r for r in self.results if r.id == check_id and DOWNSTREAM_TAG not in r.tags), None)

    def facts(self, check_id: str) -> dict[str, Any]:
        result = self.get(check_id)
        return result.facts if result else {}

    def passed(self, check_id: str) -> bool:
        result = self.get(check_id)
        return result is not None and result.reason is None

    def ids(self) -> list[str]:
        return [r.id for r in self.results]

    def note(self, text: str) -> None:
        """Something not checked, and why (no config for it, not on this machine): never a silent gap."""
        self.notes.append(text)

    async def layer(self, spec: CheckSpec, target: str, measure: Callable[[float], Awaitable[Observation]], *,
                    cap: float | None = None, reserve: float = 0.0, grace: float = LAYER_GRACE_S) -> Result:
        """Run one measuring function with its share of the deadline, judge it, record it. The check's own
        `timeout` in the diagnose pack (or a config's override of it) caps the layer too: the pack is data."""
        if spec.timeout is not None:
            cap = spec.timeout if cap is None else min(cap, spec.timeout)
        timeout = self.deadline.budget(cap, reserve)
        if timeout < MIN_LAYER_S:
            result = Result(id=spec.id, target=target, probe=spec.probe, status=Status.UNKNOWN,
                            reason=Reason.TIMEOUT, tags=list(spec.tags), facts={NOT_RUN: True},
                            message=f"not run: the diagnosis deadline ({self.deadline.total_s:g}s) was used up")
        else:
            started = time.perf_counter()
            obs = await observe(lambda: measure(timeout), timeout, grace=grace)
            result = judge(spec, target, obs, time.perf_counter() - started)
        self.results.append(result)
        return result

    async def probe(self, spec: CheckSpec, target: Target, *, cap: float | None = None,
                    reserve: float = 0.0) -> Result:
        """A layer that is a registered probe (net.dns, host.cpu, metrics, …), measured as `health` would."""
        from agentops.core import registry

        probe = registry.probe(spec.probe)
        return await self.layer(spec, target.name, lambda timeout: probe.measure(target, spec.params, timeout),
                                cap=cap, reserve=reserve)

    def record(self, result: Result) -> Result:
        """A layer computed without measuring anything new (from earlier layers' facts)."""
        self.results.append(result)
        return result
