"""Fuzzing log lines into analyze, count and trace (issue 10, "Done when"): JSON and plain text with hostile
timestamps, deep nesting, control bytes, NULs and huge numbers. Whatever the lines, each command produces its
report, never a traceback and never an `internal` reason, and every line is accounted for. Bounded: each case
is a few KiB (deep nesting is written, not built as a Python object), with max_examples and a deadline."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentops.logs import analyze, count, trace
from agentops.logs.query import Filters
from agentops.logs.reader import resolve
from agentops.logs.scan import Window
from agentops.logs.stats import InputStats
from agentops.render.document import report_document

T0 = 1714557600.0
HUGE = ["Infinity", "-Infinity", "NaN", "1e999", "-1e308", "1e308", "9" * 400, "-0", "0", "1714557600123",
        "1714557600123456789", '"inf"', '"nan"', '"2024-05-01T10:00:00.1e999Z"', '"9999-12-31T23:59:59.9Z"',
        '"0000-00-00T00:00:00Z"', '"2024-13-45T99:99:99Z"', '"2024-05-01T10:00:00Z"', "[]", "{}", "null", "true"]
LEVELS = ['"ERROR"', '"error"', '"CRITICAL"', '"INFO"', '"WARN"', "40", "50", "1e999", "NaN", '"' + "9" * 30 + '"',
          "[1]", "null", '"\\u0000ERROR"']
KEYS = ["timestamp", "time", "ts", "@timestamp", "level", "levelname", "message", "msg", "exception", "agent_id",
        "trace_id", "duration_ms", "duration", "line", "PRIORITY", "MESSAGE", "__REALTIME_TIMESTAMP", "x"]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
NASTY = st.sampled_from(["\0", "\x1b[31m", "\r", "\x7f", "\t", "[/x]", "%s", "{", "}", "\\", '"', "\u2028", " "])


def _value(draw: st.DrawFn) -> str:
    return draw(st.one_of(st.sampled_from(HUGE + LEVELS), TEXT.map(json.dumps),
                          st.integers(-10**30, 10**30).map(str)))


@st.composite
def json_line(draw: st.DrawFn) -> bytes:
    fields = [f'"timestamp": {draw(st.sampled_from(HUGE))}', f'"level": {draw(st.sampled_from(LEVELS))}']
    for _ in range(draw(st.integers(0, 4))):
        fields.append(f"{json.dumps(draw(st.sampled_from(KEYS)))}: {_value(draw)}")
    depth = draw(st.sampled_from([0, 0, 5, 900, 5000]))
    if depth:
        fields.append('"nested": ' + "[" * depth + "]" * depth)
    draw(st.randoms()).shuffle(fields)
    line = "{" + ", ".join(fields) + "}"
    cut = draw(st.integers(0, len(line)))
    if draw(st.booleans()):
        line = line[:cut]  # a writer killed mid-line
    return line.encode("utf-8", "surrogatepass")


@st.composite
def plain_line(draw: st.DrawFn) -> bytes:
    head = draw(st.sampled_from(["2024-05-01 10:00:00,000 ", "2024-05-01T10:00:00Z ", "9999-99-99 99:99:99 ",
                                 "", "ERROR:agents:", "  ", "Traceback (most recent call last):", "}", "handle: <"]))
    level = draw(st.sampled_from(["ERROR ", "[ERROR] ", "CRITICAL ", "INFO ", "", "error "]))
    body = "".join(draw(st.lists(st.one_of(TEXT, NASTY), max_size=6)))
    return (head + level + body).encode("utf-8", "surrogatepass")


LINES = st.lists(st.one_of(json_line(), plain_line(), st.binary(max_size=30),
                           st.sampled_from([b"", b"\0" * 50, b"\n" * 20, b"\xff\xfe", b"\r"])),
                 min_size=0, max_size=25)


def _reports(path: Path, window: Window) -> dict[str, dict]:
    filters = Filters(window=window)
    thresholds = analyze.Thresholds.parse("10", None)
    out = {}
    for name, run in (
            ("analyze", lambda st_, src: analyze.run(src, analyze.Options(filters=filters, min_count=1,
                                                                          thresholds=thresholds), st_)),
            ("count", lambda st_, src: count.run(src, filters, thresholds, st_)),
            ("trace", lambda st_, src: trace.run("4bf92f3577b34da6", src, Filters(level="DEBUG", window=window),
                                                 st_))):
        stats = InputStats()
        out[name] = report_document(run(stats, resolve([str(path)], stats)))
    return out


@settings(max_examples=100, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=LINES, lead_nuls=st.sampled_from([0, 0, 7, 5000]), terminated=st.booleans(),
       window=st.sampled_from([Window(), Window(since=T0 - 60), Window(until=T0 + 60)]))
def test_any_log_lines_give_a_report_never_internal(tmp_path: Path, lines: list[bytes], lead_nuls: int,
                                                    terminated: bool, window: Window) -> None:
    path = tmp_path / "fuzz.log"
    body = b"\n".join(lines) + (b"\n" if terminated and lines else b"")
    path.write_bytes(b"\0" * lead_nuls + body)
    assert len(body) < 64 << 10  # bounded memory per case
    docs = _reports(path, window)
    for name, doc in docs.items():
        assert doc["status"] in ("OK", "WARNING", "CRITICAL", "UNKNOWN"), name
        for result in doc["results"]:
            assert result["reason"] != "internal", (name, result)
    data = docs["analyze"]["data"]
    counts, bad = data["counts"], data["bad_input"]
    assert 0 <= counts["errors"] <= counts["records"]
    assert all(v >= 0 for v in bad.values())
    full = path.read_bytes()
    assert bad["nul_bytes"] == len(full) - len(full.lstrip(b"\0"))  # the leading run, whatever follows it
