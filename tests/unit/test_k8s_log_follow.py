"""Following a pod's log during the ping: the API serves lines from a time on, not from an offset, so what is
new in each poll is what follows the lines already known (k8s/pods.lines_after)."""

from __future__ import annotations

from agentops.k8s.pods import lines_after


def test_a_poll_that_overlaps_what_was_read_adds_only_what_follows() -> None:
    known = ["a\n", "b\n", "c\n"]
    assert lines_after(known, ["b\n", "c\n", "d\n", "e\n"]) == ["d\n", "e\n"]
    assert lines_after(known, ["a\n", "b\n", "c\n"]) == []


def test_a_poll_from_after_what_was_read_is_all_new() -> None:
    assert lines_after(["a\n"], ["x\n", "y\n"]) == ["x\n", "y\n"]
    assert lines_after([], ["x\n"]) == ["x\n"]


def test_repeated_lines_take_the_longest_overlap() -> None:
    # "ping" logged twice before, then once more: the longest end of known that starts the poll is skipped
    known = ["start\n", "ping\n", "ping\n"]
    assert lines_after(known, ["ping\n", "ping\n", "ping\n", "Traceback\n"]) == ["ping\n", "Traceback\n"]
