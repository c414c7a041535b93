"""The maintained baseline (maintain's `baseline.update`) as evidence: metrics a diagnosis measured that moved
far from their usual value are added to the verdict's evidence. They inform; they never pick the verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentops.core.model import Report

if TYPE_CHECKING:
    from agentops.core.config import Config

TOLERANCE_PERCENT = 50.0
MAX_LINES = 5


def add_baseline_evidence(report: Report, cfg: Config | None,
                          tolerance_percent: float = TOLERANCE_PERCENT) -> None:
    """`cfg` is the command's config (loaded once, carried by the Cluster): where the state dir is."""
    from agentops.core.yamlsrc import ConfigError
    from agentops.maintain.baseline import load_baseline

    try:
        baseline = load_baseline(cfg=cfg)
    except ConfigError as exc:
        report.notes.append(f"baseline not compared: {exc}")
        return
    if baseline is None:
        return
    moved = baseline.annotate(report.results, tolerance_percent)
    if moved and report.findings:
        report.findings[0].evidence.extend(f"baseline: {d.describe()}" for d in moved[:MAX_LINES])
    report.data["baseline"] = {"path": str(baseline.path), "updated_at": baseline.updated_at,
                               "moved": [d.describe() for d in moved]}
