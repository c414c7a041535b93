"""The rare-byte needle search: always bytes.find's answer, whichever method it has settled on, and it does
settle on the cheap method where the byte is rare and leaves it where the byte is common."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentops.logs.finder import RETRY_AFTER, Finder, rare_bytes

NEEDLES = [b'"level": "ERROR"', b'"level": "CRITICAL"', b"\nTraceback (most recent call last):\n", b"ERROR",
           b"(x)", b"E", b"ROR", b"(y", b"L(L"]
# Pieces of the needles and their bytes, so that near-misses (a rare byte without its needle, next to one) are
# common in the haystacks.
PIECES = sorted({p for n in NEEDLES for p in (n, n[:len(n) // 2], n[len(n) // 2:], *(bytes([c]) for c in n))})


def hits(find: Callable[[int, int], int], start: int, end: int) -> list[int]:
    """Every occurrence from `start` on, as `find(pos, end)` reports them one after another."""
    out, i = [], find(start, end)
    while i >= 0:
        out.append(i)
        i = find(i + 1, end)
    return out


def all_hits(finder: Finder, buf: bytes, start: int, end: int) -> list[int]:
    return hits(lambda pos, stop: finder.find(buf, pos, stop), start, end)


def expected_hits(needle: bytes, buf: bytes, start: int, end: int) -> list[int]:
    return hits(lambda pos, stop: buf.find(needle, pos, stop), start, end)


def test_rare_bytes_are_the_ones_a_needle_holds_once_and_logs_seldom_do() -> None:
    # E and O occur once in `"level": "ERROR"` (R three times); lower case, quotes, spaces never qualify.
    assert [chr(b) for b, _ in rare_bytes(b'"level": "ERROR"')] == ["E", "O"]
    assert rare_bytes(b'"level": "ERROR"')[0] == (ord("E"), 10)
    # Other upper-case letters before those of level names and timestamps; C and I occur twice in CRITICAL.
    assert [chr(b) for b, _ in rare_bytes(b"CRITICAL")] == ["L", "R", "T", "A"]
    assert chr(rare_bytes(b"\nTraceback (most recent call last):\n")[0][0]) == "("
    assert rare_bytes(b'"duration_ms"') == []


@settings(max_examples=1500, deadline=None)
@given(parts=st.lists(st.sampled_from(PIECES), max_size=120),
       needle=st.sampled_from(NEEDLES), cut=st.tuples(st.integers(0, 50), st.integers(0, 50)),
       choice=st.integers(0, 3), budget=st.integers(0, 3))
def test_finds_exactly_what_bytes_find_finds(parts: list[bytes], needle: bytes, cut: tuple[int, int],
                                             choice: int, budget: int) -> None:
    buf = b"".join(parts)
    start, end = min(cut[0], len(buf)), max(len(buf) - cut[1], 0)
    finder = Finder(needle)
    finder.start_chunk(start, end)
    # Start from any method (the first candidate byte, a later one, or bytes.find), with a small budget that
    # makes it switch mid-buffer.
    finder.choice, finder.budget = min(choice, len(finder.candidates)), budget
    assert all_hits(finder, buf, start, end) == expected_hits(needle, buf, start, end)


@pytest.mark.parametrize("needle", [b"(y", b"L(L", b"x(Lx"])
def test_every_short_haystack_exhaustively(needle: bytes) -> None:
    """Every haystack up to 7 bytes over the needle's bytes and one other, from every method and budget: the
    cases where a rare byte sits next to, inside or across a needle occurrence, which random lists seldom hit."""
    alphabet = [*sorted(set(needle)), ord("z")]
    for size in range(8):
        for letters in product(alphabet, repeat=size):
            buf = bytes(letters)
            want = expected_hits(needle, buf, 0, size)
            for choice in range(len(rare_bytes(needle)) + 1):
                for budget in (0, 1, 5):
                    finder = Finder(needle)
                    finder.start_chunk(0, size)
                    finder.choice, finder.budget = choice, budget
                    assert all_hits(finder, buf, 0, size) == want, (buf, choice, budget)


def test_keeps_a_rare_byte_and_leaves_a_common_one() -> None:
    needle = b'"level": "ERROR"'
    info_log = b'{"timestamp": "x", "level": "INFO", "message": "ok"}\n' * 20000
    finder = Finder(needle)
    finder.start_chunk(0, len(info_log))
    assert finder.find(info_log, 0, len(info_log)) == -1
    assert finder.method == "E"  # no E in an INFO log: memchr the whole way

    debug_log = info_log.replace(b"INFO", b"DEBUG")  # an E on every line
    finder.start_chunk(0, len(debug_log))
    assert finder.find(debug_log, 0, len(debug_log)) == -1
    assert finder.method == "O"  # gave E up mid-chunk; O is not on DEBUG lines

    both = info_log + debug_log  # E and O both on many lines: bytes.find, then the bytes again later
    finder.start_chunk(0, len(both))
    assert finder.find(both, 0, len(both)) == -1
    assert finder.method == "find"
    for _ in range(RETRY_AFTER):
        finder.start_chunk(0, len(info_log))
    assert finder.method == "E"
