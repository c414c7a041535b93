"""The periodic diagnoses of the `serve:` section (serve/section.py): the latest verdict of each, kept for /metrics
and /report. The diagnosis itself is `agentops diagnose message` (layer 4, above serve): the CLI hands serve a
`DiagnosisRunner`, so serve runs it without importing it, and its verdict is the diagnosis' own (judged there,
by the one judge); serve only keeps and presents the finished document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agentops.core.config import Config
from agentops.core.model import Report
from agentops.serve.section import DiagnosisSpec

DiagnosisRunner = Callable[[Config, DiagnosisSpec], Awaitable[Report]]


@dataclass
class DiagnosisState:
    spec: DiagnosisSpec
    document: dict[str, Any] | None = None  # the latest finished diagnosis' report document (redacted)
    finished_at: float = 0.0
    runs: int = 0
    failures: int = 0  # runs that raised or overran the backstop (the last verdict stands)
    error: str | None = None  # the last failure, until a run succeeds

    def verdict(self) -> dict[str, Any] | None:
        return None if self.document is None else self.document.get("verdict")

    def to_dict(self) -> dict[str, Any]:
        verdict = self.verdict()
        return {"name": self.spec.name, "agent_type": self.spec.agent_type, "key": self.spec.key or "",
                "host": self.spec.host or "", "interval_s": self.spec.interval_s, "runs": self.runs,
                "failures": self.failures, "error": self.error, "finished_at": self.finished_at,
                "status": self.document["status"] if self.document else None,
                "duration_s": self.document["duration_s"] if self.document else None,
                "verdict": None if verdict is None else {k: verdict.get(k) for k in ("id", "status", "title")}}
