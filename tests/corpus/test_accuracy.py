"""Accuracy of the diagnosis on plain AutoGen clusters (no agentops lab code): each failure mode that concerns a
running cluster is produced for real in each logging setup and diagnosed with the real CLI; each (mode, setup)
is a cell that must name what EXPECTED says (tests/corpus/matrix.py), or — where the setup cannot carry the
mode's evidence — say it cannot tell.

The whole matrix runs once per module (one cluster per setup, the setups concurrently); each cell then reads its
outcome. Cells today's main names wrongly are strict xfails naming the item of issue 12 that fixes them: when
that item lands they XPASS, which fails, and the mark is removed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus.matrix import EXPECTED, MISSING, Outcome, judge, run_corpus

pytest.importorskip("autogen_ext.runtimes.grpc")
pytestmark = [pytest.mark.lab, pytest.mark.slow]

# (mode, setup) -> why main names it wrongly, and what it names. Empty since issue 12's items 1, 2 and 4 landed
# (every cell they fixed was a strict xfail here, and flipped with the merge); a cell added before its diagnosis
# exists goes here with the item that will name it.
XFAIL: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Outcome]:
    return run_corpus(Path(tmp_path_factory.mktemp("corpus")))


def _cells() -> list[object]:
    cells = []
    for (mode, setup), expect in EXPECTED.items():
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[(mode, setup)])] if (mode, setup) in XFAIL else []
        cells.append(pytest.param(mode, setup, expect, marks=marks, id=f"{mode}-{setup}"))
    return cells


@pytest.mark.timeout(900)  # the first cell runs the whole matrix (one cluster per setup, concurrently)
@pytest.mark.parametrize(("mode", "setup", "expect"), _cells())
def test_cell(outcomes: dict[tuple[str, str], Outcome], mode: str, setup: str, expect: str) -> None:
    out = outcomes[(mode, setup)]
    assert not out.error, out.error
    want = f"cannot tell ({expect[len(MISSING):]})" if expect.startswith(MISSING) else expect
    assert judge(mode, expect, out), (
        f"{mode} on {setup}: expected {want}; the diagnosis said {out.said()} "
        f"(findings {out.findings}, not OK: {out.not_ok}); evidence: {out.evidence}; "
        f"agentops {' '.join(out.command)}")


def test_every_cell_is_diagnosed_with_the_real_cli(outcomes: dict[tuple[str, str], Outcome]) -> None:
    """The matrix is complete, and each cell's report came from the CLI (a JSON document, no traceback)."""
    assert set(outcomes) == set(EXPECTED)
    broken = {cell: o.error for cell, o in outcomes.items() if o.error}
    assert not broken, broken
    assert all(o.command[0] == "diagnose" and o.duration_s is not None for o in outcomes.values())
