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

_ITEM1 = ("issue 12 item 1 (h-evidence): AutoGen's own records carry no agent id in a field and are dropped")
_ITEM2 = "issue 12 item 2 (h-hop): the broken downstream hop is not followed"
_ITEM4 = "issue 12 item 4 (h-start): a worker that exits at start is not named"

# (mode, setup) -> why today's main names it wrongly, and what it names.
XFAIL: dict[tuple[str, str], str] = {
    **{("handler-no-reply", s): f"{_ITEM1}: the worker's 'Unknown type NoneType' traceback; named overload"
       for s in ("json", "text-pid", "default")},
    ("handler-no-reply", "warning"): f"{_ITEM1}: the worker's 'Unknown type NoneType' traceback; named unexplained",
    **{("payload-invalid", s): f"{_ITEM1}: the worker's 'Unhandled message: UnknownPayload' record; named overload"
       for s in ("json", "text-pid", "default")},
    ("request-id-collision", "default"): (f"{_ITEM1}: the host's KeyError '1' has no time stamp in the default "
                                          "layout, so it is outside the --since window; named overload"),
    **{("downstream-broken", s): f"{_ITEM2}: the host logged 'Agent leaf not found' during the probe; named "
       + ("unexplained" if s == "warning" else "overload") for s in ("json", "text-pid", "default", "warning")},
    **{("worker-start-failed", s): f"{_ITEM4}: replica wb2 exited 1 with 'Agent type leaf already registered' "
       "(its log and stderr); named worker-dead for wb2, the first worker the config lists for leaf, while wb "
       "owns leaf and answers" for s in ("json", "text-pid", "default", "warning")},
    ("worker-start-failed", "nolog"): (f"{_ITEM4}: replica wb2 exited at start; named worker-dead for wb2, the "
                                       "first worker the config lists for leaf, while wb owns leaf and answers"),
}


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
