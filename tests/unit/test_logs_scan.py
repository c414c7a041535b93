"""The streaming reader and the search-then-parse scanner: inputs of every kind, bad input counted and never
fatal, files truncated or rotated while being read, records across chunk boundaries, parallel ranges, windows."""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentops.core.model import Reason, Status
from agentops.logs import analyze
from agentops.logs.query import Filters
from agentops.logs.reader import MAX_LINE, InputError, Source, read_chunks, resolve
from agentops.logs.scan import Window, scan, sniff
from agentops.logs.stats import InputStats
from agentops.render.document import report_document

T0 = 1714557600.0


def line(ts: float, level: str, message: str, **extra: object) -> str:
    from agentops.lab.jsonlog import iso_utc  # the lab's own timestamp format

    return json.dumps({"timestamp": iso_utc(ts), "level": level, "logger": "agents", "message": message,
                       **extra}) + "\n"


PLAIN = (
    "2024-05-01 10:00:00,000 INFO autogen_core: Received message from client c1: request {\n"
    '  request_id: "7"\n  target {\n    type: "echo"\n  }\n}\n'
    "2024-05-01 10:00:01,000 ERROR autogen_core: Agent planner not found, failed to deliver message.\n"
    "Exception in callback GrpcWorkerAgentRuntime._raise_on_exception(<Task finished>)\n"
    "handle: <Handle GrpcWorkerAgentRuntime._raise_on_exception(<Task finished>)>\n"
    "Traceback (most recent call last):\n"
    '  File "/usr/lib/python3.11/asyncio/events.py", line 84, in _run\n'
    "    self._context.run(self._callback, *self._args)\n"
    "ValueError: Unknown type NoneType with data content type application/json\n"
    "Agent router not found, failed to deliver message.\n"
    "2024-05-01 10:00:02,000 WARNING agents.store: Retrying connection (attempt 2)\n"
    "2024-05-01 10:00:03,000 INFO agents.echo: handled ping duration=2.5s\n"
)


def analysis(paths: list[str], options: analyze.Options | None = None, **scan_args: object) -> dict:
    stats = InputStats()
    sources = resolve(paths, stats)
    analyzer = analyze.Analyzer(options or analyze.Options(min_count=1))
    from agentops.logs.query import plan

    scan(sources, stats, lambda s: plan(analyzer.o.filters, s, count_records=True, account_lines=True), analyzer,
         **scan_args)
    stats.bump("untimed_records", analyzer.untimed)
    return report_document(analyze.build_report(analyzer, stats, "", 0.0))["data"]


def summary(data: dict) -> tuple:
    return (data["counts"], data["bad_input"],
            [(p["error_type"], p["pattern"], p["count"], p["first_seen"], p["per_minute"]) for p in data["patterns"]],
            [(p["kind"], p["count"]) for p in data["security"]],
            {k: v for k, v in data["performance"].items() if k != "operations"})


def test_plain_autogen_text_records_and_their_extent(tmp_path: Path) -> None:
    path = tmp_path / "host.log"
    path.write_text(PLAIN)
    data = analysis([str(path)])
    assert data["counts"]["records"] == 6  # heads only: dump and traceback lines belong to their record
    patterns = {p["pattern"]: p for p in data["patterns"]}
    assert patterns["Agent <agent> not found, failed to deliver message."]["count"] == 2
    assert patterns["Agent <agent> not found, failed to deliver message."]["agents"] == {"planner": 1, "router": 1}
    callback = next(p for p in data["patterns"] if p["error_type"] == "ValueError")
    assert callback["pattern"].startswith("Exception in callback")
    assert callback["cause"] == "ValueError: Unknown type NoneType with data content type application/json"
    assert data["performance"]["timed_records"] == 1 and data["performance"]["slow_records"] == 1
    assert data["counts"]["by_level"] == {"WARNING": 1, "ERROR": 3, "CRITICAL": 0}


@pytest.mark.parametrize("chunk_size", [64, 97, 333, 4096])
def test_records_crossing_chunk_boundaries_read_the_same(tmp_path: Path, chunk_size: int) -> None:
    path = tmp_path / "mixed.log"
    body = PLAIN * 3 + "".join(line(T0 + i, "ERROR" if i % 4 == 0 else "INFO", f"failure {i} at step {i % 3}",
                                    duration_ms=1500 if i % 5 == 0 else 3) for i in range(40))
    path.write_text(body + PLAIN)
    assert summary(analysis([str(path)], chunk_size=chunk_size)) == summary(analysis([str(path)]))


def test_parallel_ranges_give_the_serial_answer(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    with path.open("w") as fh:
        for i in range(3000):
            fh.write(line(T0 + i, ["INFO", "WARNING", "ERROR", "CRITICAL"][i % 7 % 4], f"op {i % 13} failed",
                          agent_id=f"a{i % 3}/k", trace_id=f"t{i % 50}", duration_ms=(i % 11) * 300))
            if i % 500 == 0:
                fh.write(PLAIN)
    serial = analysis([str(path)])
    parallel = analysis([str(path)], jobs=3, parallel_min=1)
    assert summary(parallel) == summary(serial)
    assert [p["correlated"] for p in parallel["patterns"]] == [p["correlated"] for p in serial["patterns"]]


def test_bad_input_is_counted_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    good = line(T0, "INFO", "fine")
    with path.open("wb") as fh:
        fh.write(good.encode() * 3)
        fh.write(good.encode()[:30] + b"\n")  # cut short
        fh.write(b'{"timestamp": "2024-05-01T10:00:00Z", "level": "INFO", "message": "caf\xff"}\n')  # not UTF-8
        fh.write(b"a plain line among JSON ones\n\n")
        fh.write(b'{"timestamp": "2024-05-01T10:00:05Z", "level": "ERROR", "message": "' + b"x" * (MAX_LINE + 10)
                 + b'"}\n')
        fh.write(line(T0 + 6, "ERROR", "after the giant").encode())
        fh.write(b'{"timestamp": "2024-05-01T10:00:07Z", "level": "ERROR", "message": "the writer died mid')
    data = analysis([str(path)])
    assert {k: v for k, v in data["bad_input"].items() if v} == {
        "truncated_json": 1, "invalid_utf8": 1, "non_json": 1, "oversized_lines": 1, "unterminated_lines": 1}
    # the giant line's head and the unterminated line still count as the errors they are
    assert data["counts"]["errors"] == 3


def test_oversized_line_is_cut_not_held(tmp_path: Path) -> None:
    path = tmp_path / "one-line.log"
    path.write_bytes(b"x" * (3 * MAX_LINE) + b"\nERROR:root:after\n")
    stats = InputStats()
    chunks = list(read_chunks(resolve([str(path)], stats)[0], stats, chunk_size=65536))
    assert chunks[0].cut == "oversized" and len(chunks[0].buf) <= 65 * 1024 + 1
    assert chunks[-1].buf[chunks[-1].start:chunks[-1].end] == b"ERROR:root:after\n"
    assert chunks[-1].offset == 3 * MAX_LINE + 1


def test_inputs_of_every_kind(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "w1.log").write_text(line(T0, "ERROR", "one"))
    with gzip.open(tmp_path / "d" / "sub" / "w1.log.2.gz", "wt") as fh:
        fh.write(line(T0 - 60, "ERROR", "rotated"))
    (tmp_path / "d" / ".hidden").write_text(line(T0, "ERROR", "hidden files are not logs"))
    (tmp_path / "d" / "core").write_bytes(b"\x7fELF\0\0\0binary")
    whole = gzip.compress("".join(line(T0 + i, "ERROR", f"cut {i * 7919 % 10007}") for i in range(2000)).encode())
    (tmp_path / "broken.log.gz").write_bytes(whole[:len(whole) // 2])
    os.mkfifo(tmp_path / "fifo")
    stats = InputStats()
    sources = resolve([str(tmp_path / "d"), str(tmp_path / "*.gz"), str(tmp_path / "fifo"),
                       str(tmp_path / "missing.log"), str(tmp_path / "d" / "w1.log")], stats)
    assert [Path(s.path).name for s in sources] == ["core", "w1.log.2.gz", "w1.log", "broken.log.gz", "fifo"]
    assert sources[1].component == "w1" and sources[2].component == "w1"
    data = analysis([str(tmp_path / "d"), str(tmp_path / "*.gz"), str(tmp_path / "fifo"),
                     str(tmp_path / "missing.log")])
    by_name = {Path(s["name"]).name: s for s in data["inputs"]["sources"]}
    assert by_name["w1.log.2.gz"]["kind"] == "gzip" and by_name["w1.log.2.gz"]["status"] == "read"
    assert by_name["broken.log.gz"]["status"] == "corrupt"
    assert by_name["fifo"]["status"] == "skipped" and by_name["core"]["reason"] == "binary file"
    assert by_name["missing.log"]["status"] == "unreadable"
    # Both good files, plus what decompressed before the damage (less than one read: kept all the same).
    assert data["counts"]["errors"] > 2 + 500
    cut_short = ("truncated_json", "unterminated_lines")  # the last line decompressed stops mid-record
    assert {k: v for k, v in data["bad_input"].items() if v and k not in cut_short} == {
        "corrupt_gzip": 1, "skipped_inputs": 2, "unreadable_inputs": 1}
    with pytest.raises(InputError, match="no such file"):
        resolve([str(tmp_path / "nope"), str(tmp_path / "nope*.log")], InputStats())


def test_fifo_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = threading.Event()

    def read() -> None:
        list(read_chunks(Source(name=str(fifo), kind="file", path=str(fifo)), InputStats()))
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "reading a FIFO with no writer hung"


def test_file_truncated_while_being_read(tmp_path: Path) -> None:
    path = tmp_path / "w1.log"
    path.write_text("".join(line(T0 + i, "ERROR", f"e{i}") for i in range(2000)))
    stats = InputStats()
    chunks = read_chunks(resolve([str(path)], stats)[0], stats, chunk_size=4096)
    first = next(chunks)
    os.truncate(path, 100)  # copytruncate rotation, for real, between two reads
    rest = list(chunks)
    assert first.end > first.start and len(rest) <= 1
    assert stats.sources[0].status == "truncated"
    assert stats.counts["truncated_inputs"] == 1
    result = analyze.input_result(stats)  # records were lost: a gate must see it in the status, not a note
    assert result.status == Status.WARNING and result.reason == Reason.PROTOCOL
    assert "w1.log" in result.message and "past the cut are lost" in result.message
    assert result.metrics["incomplete"] == 1


def test_file_rotated_while_being_read_is_read_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "w1.log"
    body = "".join(line(T0 + i, "ERROR", f"e{i}") for i in range(500))
    path.write_text(body)
    stats = InputStats()
    chunks = read_chunks(resolve([str(path)], stats)[0], stats, chunk_size=4096)
    got = [next(chunks)]
    path.rename(tmp_path / "w1.log.1")  # rename rotation: a new file takes the name
    path.write_text(line(T0, "INFO", "new file"))
    got += list(chunks)
    assert b"".join(c.buf[c.start:c.end] for c in got) == body.encode()
    assert stats.sources[0].status == "rotated" and stats.counts["rotated_inputs"] == 1


def test_window_skips_whole_chunks_and_cuts_through_one(tmp_path: Path) -> None:
    path = tmp_path / "w1.log"
    path.write_text("".join(line(T0 + i * 10, "ERROR", f"e {i}") for i in range(600)))  # 100 minutes
    options = analyze.Options(filters=Filters(window=Window(T0 + 1800, T0 + 3600)), min_count=1)
    data = analysis([str(path)], options, chunk_size=4096)
    assert data["counts"]["records"] == 180 and data["counts"]["errors"] == 180
    assert data["span"]["start"] == "2024-05-01T10:30:00.000Z"


def test_component_and_agent_filters_narrow_numerator_and_denominator(tmp_path: Path) -> None:
    (tmp_path / "host.log").write_text("".join(line(T0 + i, "ERROR" if i % 2 else "INFO", "x",
                                                    agent_id=f"{['echo', 'slow'][i % 2]}/k") for i in range(20)))
    (tmp_path / "w1.log").write_text("".join(line(T0 + i, "ERROR", "y", agent_id="echo/k") for i in range(5)))
    only_w1 = analysis([str(tmp_path)], analyze.Options(filters=Filters(components=("w1",)), min_count=1))
    assert (only_w1["counts"]["records"], only_w1["counts"]["errors"]) == (5, 5)
    echo = analysis([str(tmp_path)], analyze.Options(filters=Filters(agents=("echo",)), min_count=1))
    assert (echo["counts"]["records"], echo["counts"]["errors"]) == (15, 5)


def test_dialects_lower_case_json_and_plain() -> None:
    from agentops.logs.reader import Chunk

    def d(text: bytes) -> tuple:
        dialect = sniff(Chunk(text, 0, len(text), 0))
        return dialect.json, dialect.lower, dialect.level_key

    assert d(b'{"ts": 1, "level":"error", "msg": "x"}\n') == (True, True, b'"level":"')
    assert d(b'\n{"timestamp": "t", "level": "INFO"}\n') == (True, False, b'"level": "')
    assert d(b"2024-05-01 10:00:00 error boom\n") == (False, True, b"")
    assert d(b"ERROR:root:boom\n") == (False, False, b"")


def test_two_loggers_concatenated_are_both_read(tmp_path: Path) -> None:
    """One logger writes ERROR, the other error: a chunk holding the end of one and the start of the other is
    searched in both cases (a lone line of one logger in the middle of the other's chunk is the limit, see
    docs/logs.md)."""
    path = tmp_path / "both.log"
    upper = "".join(line(T0 + i, "ERROR" if i % 5 == 0 else "INFO", f"py {i}") for i in range(300))
    lower = "".join(json.dumps({"ts": T0 + 300 + i, "level": "error" if i % 5 == 0 else "info", "msg": f"go {i}"})
                    + "\n" for i in range(300))
    path.write_text(upper + lower + upper)
    for chunk_size in (4096, 1 << 20):
        assert analysis([str(path)], chunk_size=chunk_size)["counts"]["errors"] == 180


def test_lower_case_json_levels_are_found(tmp_path: Path) -> None:
    path = tmp_path / "go.log"
    path.write_text("".join(json.dumps({"ts": T0 + i, "level": ["info", "error", "warn"][i % 3],
                                        "msg": f"op {i}"}) + "\n" for i in range(30)))
    data = analysis([str(path)])
    assert data["counts"]["by_level"] == {"WARNING": 10, "ERROR": 10, "CRITICAL": 0}


def test_duration_fields_are_the_ones_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "api.log"
    path.write_text("".join(line(T0 + i, "INFO", f"GET /items/{i}", latency_ms=2500 if i % 4 == 0 else 20,
                                 duration_s=0.5) for i in range(20))
                    + "2024-05-01 10:01:00,000 INFO agents: handled ping elapsed=3.5s\n")
    default = analysis([str(path)])["performance"]
    assert (default["timed_records"], default["slow_records"]) == (20, 0)  # duration_s, never slow
    wider = analysis([str(path)], analyze.Options(min_count=1, duration_fields=("duration", "latency", "elapsed")))
    perf = wider["performance"]
    assert (perf["timed_records"], perf["slow_records"]) == (21, 6)
    assert sorted(op["duration_s"]["max"] for op in perf["operations"]) == [2.5, 3.5]
    assert sum(op["count"] for op in perf["operations"]) == 6


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")), max_size=40),
       chunk_size=st.integers(min_value=1, max_value=700), newline_at_end=st.booleans())
def test_reader_yields_every_line_once_whatever_the_read_size(tmp_path: Path, lines: list[bytes], chunk_size: int,
                                                              newline_at_end: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    path = tmp_path / "random.log"
    path.write_bytes(b"x" + data if data[:1] == b"\0" else data)  # a NUL first would make it "binary"
    body = path.read_bytes()
    if b"\0" in body[:8192] or body.startswith(b"\x1f\x8b"):
        return  # binary (skipped) or gzip by its magic number (read as gzip): not this test's subject
    stats = InputStats()
    chunks = list(read_chunks(resolve([str(path)], stats)[0], stats, chunk_size=chunk_size))
    got = b"".join(c.buf[c.start:c.end] for c in chunks)
    expected = body if body.endswith(b"\n") or not body else body + b"\n"
    assert got == expected
    assert all(c.buf[c.start:c.end].endswith(b"\n") for c in chunks)
    offsets = [c.offset for c in chunks]
    assert offsets == sorted(offsets) and all(body[c.offset:c.offset + 1] == c.buf[c.start:c.start + 1]
                                              for c in chunks)
    assert (chunks[-1].cut == "unterminated") == (bool(body) and not body.endswith(b"\n")) if chunks else True


BLOCKS = [
    line(T0, "ERROR", "Agent planner not found, failed to deliver message."),
    line(T0 + 1, "INFO", "Processing request", duration_ms=1500),
    line(T0 + 2, "WARNING", "password authentication failed for user x"),
    PLAIN,
    "Traceback (most recent call last):\n  File \"w.py\", line 3, in <module>\nKeyError: 'k'\n",
    "\n",
    "garbage that is no record\n",
    '{"timestamp": "2024-05-01T10:00:09Z", "level": "ERROR", "message": "cut sho\n',
    "Agent router not found, failed to deliver message.\n",
    "caf\u00e9 \u2014 not ASCII\n",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.integers(min_value=0, max_value=len(BLOCKS) - 1), min_size=1, max_size=30),
       chunk_size=st.integers(min_value=16, max_value=2048))
def test_any_mix_reads_the_same_in_any_chunking(tmp_path: Path, order: list[int], chunk_size: int) -> None:
    """Records across chunk boundaries, bad lines, plain text among JSON: the same answer however the input is
    cut into chunks (the scanner's state across chunks is what this exercises)."""
    path = tmp_path / "mix.log"
    path.write_text("".join(BLOCKS[i] for i in order))
    whole = summary(analysis([str(path)]))
    assert summary(analysis([str(path)], chunk_size=chunk_size)) == whole
    assert summary(analysis([str(path)], jobs=3, parallel_min=1, chunk_size=chunk_size)) == whole



def test_the_default_job_count_follows_the_free_cpus(monkeypatch):
    from agentops.logs import scan as scan_module

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    for load, jobs in [(0.0, 4), (0.4, 4), (1.6, 2), (3.4, 1), (9.0, 1)]:
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert scan_module.default_jobs() == jobs, load
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert scan_module.default_jobs() == scan_module.MAX_JOBS
