"""Findings' words are data of one type (core.knowledge: FindingText = title + Explanation(cause, fix) +
evidence templates) in every command's table, and filling one can never fail."""

from __future__ import annotations

import pytest

from agentops.core.knowledge import Explanation, FindingText
from agentops.core.model import Status
from agentops.diagnose.knowledge import MODES
from agentops.load.knowledge import TEXTS as LOAD
from agentops.logs.knowledge import recommend
from agentops.profile.knowledge import TEXTS as PROFILE


def test_a_finding_text_fills_what_it_knows_and_marks_what_it_does_not() -> None:
    text = FindingText("{n} of {total} lost", Explanation("cause {why}", "fix {how}"), ("seen {n}", ""))
    f = text.finding("x", Status.WARNING, {"n": 3, "why": "a {brace} in a value"}, evidence=["seen 3", "more"],
                     checks=["c"])
    assert (f.title, f.cause, f.fix) == ("3 of ? lost", "cause a {brace} in a value", "fix ?")
    assert f.evidence == ["seen 3", "more"] and f.checks == ["c"] and f.status is Status.WARNING


@pytest.mark.parametrize("table", [LOAD, PROFILE, {m.id: m.text for m in MODES.values()}])
def test_every_table_holds_finding_texts_that_fill_with_nothing(table: dict[str, FindingText]) -> None:
    for key, text in table.items():
        assert isinstance(text, FindingText) and isinstance(text.explanation, Explanation), key
        f = text.finding(key, Status.CRITICAL)
        assert f.title and f.cause and f.fix, key


def test_logs_actions_carry_the_same_explanation_type() -> None:
    action = recommend("", "Error in read loop")
    assert action is not None and isinstance(action.explanation, Explanation)
    assert action.to_dict() == {"kind": "worker-stream-lost", **action.explanation.to_dict()}
