"""Hostile log input (issue 10, items 4, 5, 6, 17, 18, 19): timestamps that are not times, JSON nested deeper
than the parser recurses, runs of blank lines, gzip on stdin, NUL runs left by copytruncate, binary and
non-regular files, and gates over empty input. Each is counted, never fatal, never a hang, and costs work
proportional to the input."""

from __future__ import annotations

import gzip
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from agentops.core.model import Reason, Status
from agentops.logs import analyze, count, trace
from agentops.logs.clock import parse_timestamp
from agentops.logs.query import Filters
from agentops.logs.reader import CHUNK, MAX_LINE, Source, read_chunks, resolve
from agentops.logs.records import continuation_end
from agentops.logs.scan import Window
from agentops.logs.stats import InputStats
from agentops.render.document import report_document

T0 = 1714557600.0
GOOD = json.dumps({"timestamp": "2024-05-01T10:00:00.000Z", "level": "ERROR", "message": "boom"}) + "\n"


def run_all(paths: list[str], window: Window | None = None, max_errors: str | None = None
            ) -> dict[str, dict[str, Any]]:
    """analyze, count and trace over the paths: their report documents."""
    filters = Filters(window=window or Window())
    thresholds = analyze.Thresholds.parse(max_errors, None)
    out = {}
    for name, runner in (
            ("analyze", lambda st, src: analyze.run(src, analyze.Options(filters=filters, min_count=1,
                                                                         thresholds=thresholds), st)),
            ("count", lambda st, src: count.run(src, filters, thresholds, st)),
            ("trace", lambda st, src: trace.run("t-0123456789abcdef", src, Filters(level="DEBUG",
                                                                                   window=filters.window), st))):
        stats = InputStats()
        out[name] = report_document(runner(stats, resolve(paths, stats)))
    return out


# ------------------------------------------------------------------------------------------ 4: timestamps

HOSTILE_TS = ["Infinity", "-Infinity", "NaN", "1e999", "-1e999", "-1e308", "1e308", '"inf"', '"Infinity"',
              '"1e999"', '"nan"', '"-1e308"', "1" + "0" * 400, '"2024-05-01T10:00:00.1e999Z"',
              '"2024-05-01T10:00:00.nanZ"', '"9999-12-31T23:59:59.999999Z"']
EDGE_TS = ['"9999-12-31T23:59:58.5Z"', '"0001-01-01T00:00:00Z"', "99999999999.9", '"1970-01-01T00:00:00Z"']


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ts", HOSTILE_TS)
def test_a_timestamp_that_is_not_a_time_is_a_bad_record_not_a_hang(tmp_path: Path, ts: str) -> None:
    bad = f'{{"timestamp": {ts}, "level": "ERROR", "message": "bad time"}}\n'
    path = tmp_path / "w1.log"
    path.write_text(GOOD + bad + GOOD)
    for window in (None, Window(since=T0 - 60), Window(until=T0 + 60)):
        docs = run_all([str(path)], window)
        data = docs["analyze"]["data"]
        assert data["counts"]["records"] == 3 and data["counts"]["errors"] == 3, (ts, window, data["counts"])
        assert docs["count"]["data"]["counts"]["errors"] == 3
        for doc in docs.values():
            assert all(r["reason"] != "internal" for r in doc["results"]), doc["results"]
    assert parse_timestamp(json.loads(ts)) is None


@pytest.mark.parametrize("ts", EDGE_TS)
def test_the_edges_of_time_are_times_the_report_can_write(tmp_path: Path, ts: str) -> None:
    path = tmp_path / "w1.log"
    path.write_text(GOOD + f'{{"timestamp": {ts}, "level": "ERROR", "message": "edge"}}\n')
    assert parse_timestamp(json.loads(ts)) is not None
    for window in (None, Window(since=T0 - 60)):
        docs = run_all([str(path)], window)
        assert docs["analyze"]["data"]["counts"]["errors"] >= 1
        assert all(r["reason"] != "internal" for doc in docs.values() for r in doc["results"])


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), -1e308, 1e308, 10 ** 400, -1,
                                   "inf", "Infinity", "1e999", "nan", "-5"])
def test_epoch_numbers_outside_any_plausible_unit_are_not_times(value: object) -> None:
    assert parse_timestamp(value) is None


@pytest.mark.parametrize(("value", "expected"), [(T0, T0), (T0 * 1e3, T0), (T0 * 1e6, T0), (T0 * 1e9, T0)])
def test_epoch_seconds_ms_us_ns_still_read(value: float, expected: float) -> None:
    assert parse_timestamp(value) == pytest.approx(expected)


def test_a_bad_timestamp_among_parsed_records_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "w1.log"
    path.write_text(GOOD + '{"timestamp": 1e999, "level": "ERROR", "message": "x"}\n'
                    + '{"time": "NaN", "level": "CRITICAL", "message": "y"}\n')
    data = run_all([str(path)])["analyze"]["data"]
    assert data["bad_input"]["bad_timestamps"] == 2 and data["bad_input"]["untimed_records"] == 2


DEEP = ['{"level": "ERROR", "message": "deep", "x": ' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"level": "ERROR", "message": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}",
        '{"level": ' + "[" * 50_000 + "]" * 50_000 + ', "message": "x"}',
        '{"level": 1e999, "message": "x"}', '{"level": NaN, "message": "x"}',
        '{"level": "' + "9" * 5000 + '", "message": "x"}',
        '{"level": ' + "9" * 5000 + ', "message": "x"}',
        '{"__REALTIME_TIMESTAMP": "' + "9" * 5000 + '", "PRIORITY": "' + "3" * 5000 + '", "MESSAGE": "x"}',
        '{"__REALTIME_TIMESTAMP": "1714557600000000", "PRIORITY": "3", "MESSAGE": "{' + '[' * 50_000 + '"}']


@pytest.mark.timeout(60)
@pytest.mark.parametrize("line", DEEP, ids=range(len(DEEP)))
def test_deep_or_huge_json_is_read_as_text_and_counted(tmp_path: Path, line: str) -> None:
    path = tmp_path / "w1.log"
    path.write_text(GOOD + line + "\n" + GOOD)
    docs = run_all([str(path)])
    assert docs["analyze"]["data"]["counts"]["records"] == 3
    for doc in docs.values():
        assert all(r["reason"] != "internal" for r in doc["results"]), doc["results"]


# ------------------------------------------------------------------------------------------ 5: blank lines

def python_lines(call: Callable[[], object]) -> int:
    """Python lines executed in agentops.logs during `call`: the scanner's per-line work, which must not grow
    with the number of blank lines (the C-level searches and splits may)."""
    executed = 0
    logs_dir = str(Path(analyze.__file__).parent)

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal executed
        if event == "line":
            executed += 1
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename.startswith(logs_dir) else None

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return executed


def test_continuation_end_skips_blank_lines_without_a_python_step_per_line() -> None:
    for blanks in (b"\n", b"  \n", b"\t\n", b"\r\n"):
        small = b"ERROR x\n" + blanks * 1000 + b"INFO next\n"
        large = b"ERROR x\n" + blanks * 50_000 + b"INFO next\n"
        for buf in (small, large):
            assert continuation_end(buf, 8, len(buf), b"ERROR x\n") == (len(buf) - 10, False)
        work_small = python_lines(lambda b=small: continuation_end(b, 8, len(b), b"ERROR x\n"))
        work_large = python_lines(lambda b=large: continuation_end(b, 8, len(b), b"ERROR x\n"))
        assert work_large < work_small + 50, (blanks, work_small, work_large)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("command", ["analyze", "count"])
def test_scanning_blank_lines_costs_no_python_step_per_line(tmp_path: Path, gz: bool, command: str) -> None:
    def work(n: int) -> int:
        body = GOOD.encode() + b"\n" * n + GOOD.encode() + b"\n" * n
        path = tmp_path / f"blank{n}.log"
        path.write_bytes(gzip.compress(body) if gz else body)
        docs: list[dict[str, Any]] = []

        def call() -> None:
            stats = InputStats()
            sources = resolve([str(path)], stats)
            filters = Filters(window=Window(since=T0 - 60))
            if command == "analyze":
                report = analyze.run(sources, analyze.Options(filters=filters, min_count=1), stats)
            else:
                report = count.run(sources, filters, analyze.Thresholds(), stats)
            docs.append(report_document(report))

        executed = python_lines(call)
        assert docs[0]["data"]["counts"]["errors"] == 2
        return executed

    # 64k and 256k blank lines each, in one 1 MiB chunk: the per-line work of 192k more lines must not show.
    small, large = work(1 << 16), work(1 << 18)
    assert large < small * 1.2 + 2000, (small, large)


# ------------------------------------------------------------------------------------------ 6: gzip on stdin

def test_gzip_on_stdin_is_read_in_bounded_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A highly compressible gzip on stdin: each read is bounded by the chunk size (as from a file), rather
    than one read expanding to many MiB that then go through the scanner a line at a time (quadratic)."""
    body = b"".join(json.dumps({"timestamp": "2024-05-01T10:00:00.000Z", "level": "INFO" if i % 10 else "ERROR",
                                "message": "same " * 20}).encode() + b"\n" for i in range(60_000))
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(body) + gzip.compress(body))
    with path.open("rb") as fh:
        monkeypatch.setattr(sys, "stdin", fh)  # a real file descriptor on stdin, as `< a.gz` gives
        stats = InputStats()
        chunks = list(read_chunks(Source(name="-", kind="stdin"), stats))
    assert b"".join(c.buf[c.start:c.end] for c in chunks) == body + body
    assert all(len(c.buf) <= CHUNK + MAX_LINE for c in chunks), max(len(c.buf) for c in chunks)
    assert len(chunks) < 100, len(chunks)  # 120,000 lines: not a chunk per line
    assert stats.sources[0].status == "read"


# ------------------------------------------------------------------------------------------ 17, 18: files

def test_a_nul_run_before_records_is_skipped_and_reported(tmp_path: Path) -> None:
    """copytruncate: the writer keeps its offset after the copy truncated the file, so the file is a hole of
    NULs followed by the new records."""
    path = tmp_path / "w1.log"
    with path.open("wb") as fh:
        fh.truncate(3 * CHUNK + 12345)  # sparse: reads as NULs
        fh.seek(0, os.SEEK_END)
        fh.write((GOOD * 5).encode())
    docs = run_all([str(path)])
    data = docs["analyze"]["data"]
    assert data["counts"]["errors"] == 5 and data["counts"]["records"] == 5
    assert docs["count"]["data"]["counts"]["errors"] == 5
    source = data["inputs"]["sources"][0]
    assert source["status"] == "read" and "NUL" in source.get("reason", ""), source
    assert data["bad_input"]["nul_bytes"] == 3 * CHUNK + 12345
    assert data["bad_input"]["skipped_inputs"] == 0


def test_a_binary_file_is_an_input_reason_not_internal(tmp_path: Path) -> None:
    path = tmp_path / "core"
    path.write_bytes(b"ELF\x02\x01\x00\x00" + bytes(range(256)) * 40)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir-link").symlink_to(tmp_path, target_is_directory=True)
    for target in (path, tmp_path / "fifo", "/dev/null", tmp_path / "dir-link"):
        for doc in run_all([str(target)]).values():
            inputs = doc["results"][0]
            assert inputs["id"] == "logs.input" and inputs["status"] == "UNKNOWN", inputs
            assert inputs["reason"] == "assertion", inputs
            assert doc["data"]["inputs"]["sources"][0]["status"] == "skipped"


# ------------------------------------------------------------------------------------------ 19: empty gates

def empty_inputs(tmp_path: Path) -> Iterator[Path]:
    for name, body in (("empty.log", b""), ("blank.log", b"\n\n  \n"), ("nuls.log", b"\0" * 5000)):
        path = tmp_path / name
        path.write_bytes(body)
        yield path


def test_a_gate_over_no_records_is_unknown_through_the_judge(tmp_path: Path) -> None:
    for path in empty_inputs(tmp_path):
        docs = run_all([str(path)], max_errors="10")
        for name in ("analyze", "count"):
            errors = next(r for r in docs[name]["results"] if r["id"] == "logs.errors")
            assert errors["status"] == "UNKNOWN" and "no records" in errors["message"], (path.name, name, errors)
            assert docs[name]["status"] == "UNKNOWN"
        # No gate: finding nothing is the answer.
        assert run_all([str(path)])["analyze"]["status"] == "OK"
    # Records outside the window were read: an empty window is 0 errors, not "nothing read".
    path = tmp_path / "w1.log"
    path.write_text(GOOD)
    assert run_all([str(path)], Window(since=T0 + 3600), max_errors="10")["analyze"]["status"] == "OK"


def test_input_result_and_gates_are_judged_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """The statuses come from core.evaluate: with the judge replaced, they follow it (logs/gates.py judges the
    input and the gates for every logs command; analyze re-exports them)."""
    from agentops.logs import gates

    seen: list[str] = []
    real = gates.evaluate

    def spy(spec: Any, obs: Any) -> tuple[Status, Reason | None, str]:
        seen.append(spec.id)
        return real(spec, obs)

    monkeypatch.setattr(gates, "evaluate", spy)
    stats = InputStats()
    stats.sources.append(__import__("agentops.logs.stats", fromlist=["SourceInfo"]).SourceInfo(
        name="x", component="x", status="skipped", reason="binary file"))
    result = analyze.input_result(stats)
    assert result.status is Status.UNKNOWN and result.reason is Reason.ASSERTION
    results = analyze.threshold_results(analyze.Thresholds.parse("10", None), {"errors": 0.0, "records": 0.0},
                                        no_records=True)
    assert results[0].status is Status.UNKNOWN
    assert seen == ["logs.input", "logs.errors"]
