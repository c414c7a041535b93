"""The data every command passes along: observations (measured), results (judged), findings (diagnosed).

Probes produce `Observation`s and never decide a status; `core.evaluate` turns an observation plus the
check's thresholds into a `Result`; diagnosis rules turn results into `Finding`s; renderers present a
`Report`. Keeping the three jobs apart is what lets one check be rendered as table, JSON, JUnit, Nagios or
Prometheus without any renderer computing a status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Status(IntEnum):
    """Nagios plugin states; the value is the process exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def label(self) -> str:
        return self.name

    @property
    def severity(self) -> int:
        """Order for "which is worse": OK < WARNING < UNKNOWN < CRITICAL.

        UNKNOWN (we could not tell) is worse than a known WARNING, but a known CRITICAL is worse still.
        """
        return {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}[self]

    @classmethod
    def parse(cls, text: str) -> Status:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown status {text!r} (expected ok, warning, critical or unknown)") from None

    @staticmethod
    def worst(statuses: Any) -> Status:
        worst = Status.OK
        for s in statuses:
            if s.severity > worst.severity:
                worst = s
        return worst


class Reason(StrEnum):
    """Closed vocabulary of why a check did not pass, so a gate can tell "slow" from "down"."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    TIMEOUT = "timeout"
    PROTOCOL = "protocol"
    ASSERTION = "assertion"
    THRESHOLD = "threshold"
    # The probe cannot measure on this machine (no raw ICMP permission, no systemd): UNKNOWN, not CRITICAL.
    UNSUPPORTED = "unsupported"
    INTERNAL = "internal"


@dataclass
class Observation:
    """What a probe measured. `reason` set means the measurement itself failed (the target did not answer
    as expected); metrics may still be partly filled in."""

    metrics: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    reason: Reason | None = None
    message: str = ""
    # The message says WHY the metrics are what they are (a worker's exit error): kept after the breach text
    # when the judge finds a metric out of bounds, which otherwise replaces it.
    explains: bool = False

    @property
    def failed(self) -> bool:
        return self.reason is not None

    @classmethod
    def failure(cls, reason: Reason, message: str, **facts: Any) -> Observation:
        return cls(reason=reason, message=message, facts=dict(facts))


@dataclass
class Result:
    id: str
    target: str
    probe: str
    status: Status
    reason: Reason | None = None
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    attempts: int = 1
    tags: list[str] = field(default_factory=list)
    thresholds: dict[str, dict[str, str]] = field(default_factory=dict)  # metric -> {warning, critical} text

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "probe": self.probe,
            "status": self.status.label,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
            "facts": self.facts,
            "duration_s": round(self.duration_s, 6),
            "attempts": self.attempts,
            "tags": list(self.tags),
            "thresholds": self.thresholds,
        }


@dataclass
class Finding:
    """A diagnosis: the most likely cause, the evidence for it and what to do."""

    id: str
    status: Status
    title: str
    cause: str = ""
    evidence: list[str] = field(default_factory=list)
    fix: str = ""
    checks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.label,
            "title": self.title,
            "cause": self.cause,
            "evidence": list(self.evidence),
            "fix": self.fix,
            "checks": list(self.checks),
        }


@dataclass
class Report:
    """One command's answer. `kind` says which command made it (health, diagnose.message, ...).

    `verdict` is the headline of a command that answers one question (a diagnosis: why does this message not
    arrive?); it is one of `findings` (the first) so a reader of findings alone misses nothing. Commands that
    list checks (health) have none: their headline is the worst result.
    """

    kind: str
    started_at: str
    duration_s: float
    results: list[Result] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # Command-specific payload (a log analysis, a load run's histogram); typed per kind by the schema.
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    verdict: Finding | None = None

    def __post_init__(self) -> None:
        self.set_verdict(self.verdict)

    def set_verdict(self, verdict: Finding | None) -> None:
        """Make `verdict` the headline, listed first among the findings."""
        self.verdict = verdict
        if verdict is not None:
            self.findings = [verdict, *(f for f in self.findings if f is not verdict)]

    @property
    def status(self) -> Status:
        return Status.worst([r.status for r in self.results] + [f.status for f in self.findings])

    def summary(self) -> dict[str, Any]:
        """Counts by status of results and findings together (so they always agree with `status`), and of
        each apart."""
        by_results, by_findings = _counts(r.status for r in self.results), _counts(f.status for f in self.findings)
        total = {k: by_results[k] + by_findings[k] for k in by_results}
        return {**total, "results": by_results, "findings": by_findings}

    def status_set_by(self) -> list[str]:
        """What made the status what it is: every result (`id@target`) and finding (`id`) whose status is the
        report's, when that is not OK. These are what set the exit code, so every format names them."""
        status = self.status
        if status is Status.OK:
            return []
        ids = [f.id for f in self.findings if f.status is status]  # the diagnosis first, then the checks
        ids += [f"{r.id}@{r.target}" if r.target else r.id for r in self.results if r.status is status]
        return list(dict.fromkeys(ids))


def _counts(statuses: Iterable[Status]) -> dict[str, int]:
    counts = {s.label.lower(): 0 for s in Status}
    for s in statuses:
        counts[s.label.lower()] += 1
    return counts


def _finite(v: float) -> float | None:
    # JSON has no NaN/Infinity; a metric that could not be computed is null.
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    return v
