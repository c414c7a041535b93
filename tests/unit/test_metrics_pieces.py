"""The metrics parse in pieces (probes.metrics._add_segment) gives what one parse of the whole exposition
gives, including where the pieces' replayed # HELP / # TYPE lines would not restore the parser's state; and
CPU-heavy work driven by probes._pacing.sliced takes turns with other work on the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator

import pytest

from agentops.probes._pacing import SLICE_S, sliced
from agentops.probes.http import Fetched
from agentops.probes.metrics import ExpositionFilter, Scrape, _parse, parse_scrape

NAMES = {"fam", "fam_total", "fam_bucket", "fam_count", "fam_sum", "hist_bucket", "hist_count", "hist_sum"}


def whole(text: str) -> Scrape:
    """The reference: prometheus_client over the kept lines in one parse."""
    kept = ExpositionFilter(NAMES)
    kept.feed(text.encode())
    kept.close()
    scrape = Scrape()
    for family in _parse(kept.text(kept.kept), openmetrics=False):
        scrape.declared.update(family.name + s for s in ("", "_total", "_bucket", "_count", "_sum"))
        for sample in family.samples:
            if sample.name in NAMES:
                scrape.samples[sample.name][tuple(sorted(sample.labels.items()))] = float(sample.value)
    return scrape


def pieces(text: str) -> Scrape:
    kept = ExpositionFilter(NAMES)
    kept.feed(text.encode())
    kept.close()
    return parse_scrape(Fetched(200, "OK", {"content-type": "text/plain; version=0.0.4"}, b"", len(text), 0.0,
                                0.0, "HTTP/1.1", None), kept)


def series(n: int, name: str = "fam", start: int = 0) -> list[str]:
    return [f'{name}{{i="{i % 500}"}} {i}' for i in range(start, start + n)]


CASES = {
    # A counter declared without _total: its samples are renamed fam_total, which only the replayed TYPE gives.
    "counter renamed": ["# HELP fam things", "# TYPE fam counter", *series(1200)],
    # The same series more than once, across pieces: the last value wins, as in one parse.
    "duplicates across pieces": ["# TYPE fam gauge", *series(800), *series(800, start=800)],
    # A sample the family does not allow, deep in the segment: from there on the parser's state differs.
    "foreign sample mid-segment": ["# TYPE fam counter", *series(600), "fam_bucket{le=\"1\"} 3", *series(600)],
    # A second TYPE after samples changes the type of the whole family in one parse.
    "retyped after samples": ["# TYPE fam counter", *series(600), "# TYPE fam gauge", *series(600)],
    "no header at all": series(800),
    "histogram": ["# TYPE hist histogram", *[f'hist_bucket{{i="{i}",le="{le}"}} {i}' for i in range(400)
                                             for le in ("1", "+Inf")], "hist_count 5", "hist_sum 2"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_parse_in_pieces_is_the_parse_of_the_whole(case):
    text = "\n".join(CASES[case]) + "\n"
    ref, got = whole(text), pieces(text)
    assert got.declared == ref.declared
    assert {k: dict(v) for k, v in got.samples.items()} == {k: dict(v) for k, v in ref.samples.items()}
    assert all(list(got.samples[k]) == list(ref.samples[k]) for k in ref.samples)  # same order (max/min of NaN)


def test_sliced_work_takes_turns_with_the_loop_and_with_other_sliced_work():
    order: list[str] = []

    def work(name: str, steps: int) -> Generator[None, None, str]:
        for _ in range(steps):
            began = time.perf_counter()
            while time.perf_counter() - began < SLICE_S:  # one step is a whole slice of CPU
                pass
            order.append(name)
            yield
        return name

    async def ticker() -> None:
        for _ in range(6):
            order.append("tick")
            await asyncio.sleep(0)

    async def main() -> list[str]:
        return await asyncio.gather(sliced(work("a", 6)), sliced(work("b", 6)), ticker())

    assert asyncio.run(main())[:2] == ["a", "b"]
    # Never two slices in a row without the other work getting its turn.
    heavy = [x for x in order if x != "tick"]
    assert all(heavy[i] != heavy[i + 1] for i in range(len(heavy) - 1)), order
    assert "tick" in order[: order.index("b") + 2]
