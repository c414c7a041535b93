"""The redactor's work is linear in its input and bounded per string (issue 10, item 7): a 20 MB label once
held a run for minutes because the URL pattern backtracked over every start position.

Nothing here measures time: a quadratic pattern on the inputs below needs minutes per example where the linear
one needs milliseconds, so the generous pytest timeout is only a hang guard, never the assertion."""

from __future__ import annotations

import re
from re import _constants as sre
from re import _parser as sre_parse
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentops.core.redact import _PATTERNS, MAX_CHARS, redact, register_secret

# Fragments that make a backtracking pattern try far from each start position: runs of scheme characters,
# half URLs, flag prefixes, keywords with and without separators.
HOSTILE = ["x", "a.", "a:", "a://", "://", "u:", "@", "--a", "-", "password", " ", "=", "Authorization: ",
           "Bearer ", "/", "token", "'"]


def _items(pattern: re.Pattern[str]) -> list[Any]:
    """The parse tree of a pattern, with its leading capture group opened."""
    items = list(sre_parse.parse(pattern.pattern, pattern.flags))
    while items and items[0][0] is sre.SUBPATTERN:
        items = list(items[0][1][3]) + items[1:]
    return items


def _chars(in_items: list[Any]) -> set[int] | None:
    """The ASCII characters a class matches, or None when it holds a category (treated as "anything")."""
    out: set[int] = set()
    for op, arg in in_items:
        if op is sre.LITERAL:
            out.add(arg)
        elif op is sre.RANGE:
            out.update(range(arg[0], arg[1] + 1))
        else:
            return None
    return out


def _unbounded(item: Any) -> bool:
    return item[0] in (sre.MAX_REPEAT, sre.MIN_REPEAT) and item[1][1] is sre.MAXREPEAT


def _nested_repeats(items: list[Any]) -> list[list[Any]]:
    found = []
    for item in items:
        if _unbounded(item):
            body = list(item[1][2])
            if any(_unbounded(inner) for inner in body):
                found.append(body)
            found += _nested_repeats(body)
        elif item[0] is sre.SUBPATTERN:
            found += _nested_repeats(list(item[1][3]))
        elif item[0] is sre.BRANCH:
            for branch in item[1][1]:
                found += _nested_repeats(list(branch))
    return found


@pytest.mark.parametrize("index", range(len(_PATTERNS)))
def test_each_pattern_starts_at_an_anchor(index: int) -> None:
    """A pattern that may start inside a run of the characters it repeats retries the rest of the run from every
    position of it (quadratic). Each must open with a word boundary, a literal, or a lookbehind that refuses a
    start inside the run its first repeat consumes."""
    items = _items(_PATTERNS[index])
    op, arg = items[0]
    if op is sre.AT or op is sre.LITERAL:
        return
    assert op is sre.ASSERT_NOT and arg[0] == -1, f"pattern {index} has no leading anchor"
    refused = _chars(list(arg[1][0][1]))
    repeats = [it for it in items[1:3] if _unbounded(it)]
    for rep in repeats:
        body = _chars(list(rep[1][2][0][1]))
        assert refused is None or (body is not None and body <= refused), f"pattern {index} can start mid-run"


def test_nested_quantifiers_are_unambiguous() -> None:
    """`(?:[a-z0-9]+[-_])*` splits a flag name one way only: its separator is outside the repeated class."""
    for pattern in _PATTERNS:
        for body in _nested_repeats(_items(pattern)):
            inner, last = body[0], body[-1]
            assert _unbounded(inner) and last[0] is sre.IN, body
            repeated, separator = _chars(list(inner[1][2][0][1])), _chars(list(last[1]))
            assert repeated is not None and separator is not None and not repeated & separator


@pytest.mark.timeout(120)
@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=4), st.integers(2000, 6000))
def test_patterns_are_linear_on_hostile_repetitions(chunks: list[str], times: int) -> None:
    text = "".join(chunks) * times
    # The patterns themselves, below the per-string cap, so the cap cannot hide a quadratic one.
    text = text[:MAX_CHARS]
    for pattern in _PATTERNS:
        pattern.sub("", text)
    redact(text)


@pytest.mark.timeout(120)
def test_the_issue_reproduction_finishes() -> None:
    out = redact("x" * 80000)
    assert out.startswith("x" * 1000)


def test_a_long_string_is_cut_with_a_marker() -> None:
    out = redact("y" * (MAX_CHARS * 5))
    assert len(out) < MAX_CHARS + 100
    assert out.startswith("y" * 100)
    assert out.endswith(f"[{MAX_CHARS * 4:,} more characters cut]")


def test_short_strings_are_not_cut() -> None:
    text = "z" * MAX_CHARS
    assert redact(text) == text


def test_a_secret_across_the_cut_shows_no_prefix() -> None:
    secret = "Cut-Across-s3cret-" + "q" * 40
    register_secret(secret)
    text = "a" * (MAX_CHARS - 10) + secret + "tail"
    out = redact(text)
    assert "Cut-Across" not in out and "s3cret" not in out


def test_a_pattern_secret_across_the_cut_shows_no_prefix() -> None:
    text = "a " * ((MAX_CHARS - 12) // 2) + "password=" + "Unregistered" * 50
    out = redact(text)
    assert "Unreg" not in out
