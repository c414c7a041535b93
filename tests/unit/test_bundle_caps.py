"""bundle.caps: a cut file keeps its head and its tail on line boundaries, says what was cut, fits its cap;
the total cap is shared so small files stay whole and large ones are cut to one size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agentops.bundle.caps import keep_head_and_tail, shared_limit


def test_a_file_that_fits_is_unchanged() -> None:
    assert keep_head_and_tail(b"a\nb\n", 100, "cap") == (b"a\nb\n", 0)


def test_a_cut_file_keeps_whole_first_and_last_lines_and_a_marker() -> None:
    lines = [f"line {i:05d}\n".encode() for i in range(10000)]
    data = b"".join(lines)
    out, cut = keep_head_and_tail(data, 4096, "per-file cap 4096 bytes")
    assert len(out) <= 4096 and cut > 0
    assert out.startswith(lines[0]) and out.endswith(lines[-1])
    text = out.decode()
    assert f"{cut} bytes cut here (per-file cap 4096 bytes)" in text
    head, _, _tail = text.partition("... [agentops bundle:")
    assert head.endswith("\n") and all(len(x) == 10 for x in head.splitlines())  # no line cut in the middle
    assert len(out) - len(marker_line(text)) + cut == len(data)


def marker_line(text: str) -> str:
    return next(line for line in text.splitlines(keepends=True) if line.startswith("... [agentops bundle:"))


@given(st.binary(max_size=5000), st.integers(min_value=200, max_value=3000))
def test_never_longer_than_the_cap(data: bytes, limit: int) -> None:
    out, cut = keep_head_and_tail(data, limit, "cap")
    assert len(out) <= max(limit, len(data) if cut == 0 else limit)
    assert (cut == 0) == (len(data) <= limit)


def test_the_total_is_shared_small_files_whole() -> None:
    assert shared_limit([10, 20], 100) is None
    share = shared_limit([10, 1000, 5000], 1010)
    assert share == 500  # 10 whole, then 1000 left for two files
    assert sum(min(s, share) for s in [10, 1000, 5000]) <= 1010


@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=30), st.integers(min_value=0, max_value=10**6))
def test_the_shared_limit_fits_the_total(sizes: list[int], total: int) -> None:
    share = shared_limit(sizes, total)
    if share is None:
        assert sum(sizes) <= total
    else:
        assert sum(min(s, share) for s in sizes) <= total
