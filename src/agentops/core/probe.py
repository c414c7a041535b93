"""The probe interface: a probe MEASURES one target and returns an Observation; it never decides a status.

A new kind of check is a class like this registered under the entry-point group `agentops.probes`
(see docs/writing-a-probe.md). Built-in probes are registered the same way in pyproject.toml.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from agentops.core.config import Target
from agentops.core.model import Observation


class Probe(ABC):
    kind: ClassVar[str]
    # Target kinds this probe can measure; checks whose target has another kind are config errors.
    target_kinds: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""
    # Metric name -> meaning, shown by `agentops checks list --probes` and used in docs.
    metrics: ClassVar[dict[str, str]] = {}

    def preload(self) -> None:  # noqa: B027 - optional hook
        """Import what measure() imports lazily (its client library). The runner calls this once per probe
        kind before any check's clock starts: an import blocks the one event loop, and a loop blocked while
        timers are due is a deadline that cannot be kept."""

    def validate_params(self, params: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Raise ValueError with a one-line reason when params are wrong (called at config load)."""

    @abstractmethod
    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        """Measure within `timeout` seconds. Expected failures (refused, auth, timeout) are returned as
        Observation.failure(reason, message); an exception escaping here becomes UNKNOWN/internal."""


def check_params(params: Mapping[str, Any], allowed: set[str]) -> None:
    """The common validate_params body: reject keys a probe does not know."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown param {unknown[0]!r} (known: {', '.join(sorted(allowed)) or 'none'})")
