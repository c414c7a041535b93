"""The text half of every finding, as data: why something is wrong (cause) and what to do (fix).

Every command's knowledge table (diagnose/knowledge.py's failure modes, logs/knowledge.py's actions, the load
and profile finding tables) holds `Explanation`s, and `FindingText` makes a `Finding` from one; the rules that
decide *which* text applies stay with the command. Texts are `str.format` templates filled from what a rule
learned; a value the rule did not learn reads "?" instead of failing, so a knowledge table can never crash a
report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agentops.core.model import Finding, Status


class _Blanks(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


def fill(template: str, values: Mapping[str, object]) -> str:
    """`template` with its {placeholders} filled from `values`; a missing one reads "?"."""
    return template.format_map(_Blanks(values))


@dataclass(frozen=True)
class Explanation:
    cause: str
    fix: str

    def filled(self, values: Mapping[str, object]) -> Explanation:
        return Explanation(fill(self.cause, values), fill(self.fix, values))

    def to_dict(self) -> dict[str, str]:
        return {"cause": self.cause, "fix": self.fix}


@dataclass(frozen=True)
class FindingText:
    """A finding's words: a one-line title, its explanation and the evidence lines it always shows, all
    templates; the rule adds the evidence only it can word (a list of stack frames)."""

    title: str
    explanation: Explanation
    evidence: tuple[str, ...] = ()

    def finding(self, finding_id: str, status: Status, values: Mapping[str, object] | None = None, *,
                evidence: list[str] | None = None, checks: list[str] | None = None) -> Finding:
        """The finding with the placeholders filled; empty evidence lines are dropped, repeats kept once."""
        values = values or {}
        told = self.explanation.filled(values)
        return Finding(id=finding_id, status=status, title=fill(self.title, values), cause=told.cause,
                       evidence=[e for e in dict.fromkeys([*(fill(t, values) for t in self.evidence),
                                                           *(evidence or [])]) if e], fix=told.fix,
                       checks=list(checks or []))
