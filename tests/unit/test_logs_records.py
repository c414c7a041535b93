"""Record formats: the lab's JSON lines, other JSON loggers, journald's export, AutoGen's plain-text lines and
multi-line tracebacks; and the time parsing behind --since/--until."""

from __future__ import annotations

import json
import time

import pytest

from agentops.logs.clock import parse_timestamp, parse_when
from agentops.logs.records import (
    from_mapping,
    normalize_level,
    parse_json_line,
    parse_plain_lines,
    parse_record,
    record_end,
    record_head,
)
from agentops.logs.stats import InputStats

# What the lab's JsonFormatter writes (src/agentops/lab/jsonlog.py): the shape these tests pin.
LAB_LINE = {
    "timestamp": "2024-05-01T10:00:00.250000Z", "level": "ERROR", "logger": "asyncio",
    "message": "Exception in callback GrpcWorkerAgentRuntime._raise_on_exception(<Task finished>)\nhandle: <Handle>",
    "module": "base_events", "function": "default_exception_handler", "line": 1785,
    "agent_id": "none/default", "message_id": "12", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "exception": 'Traceback (most recent call last):\n  File "events.py", line 84, in _run\n    self._context.run()\n'
                 "ValueError: Unknown type NoneType with data content type application/json",
    "process": "w2", "pid": 4242,
}

TRACEBACK_BLOCK = (
    "Exception in callback GrpcWorkerAgentRuntime._raise_on_exception(<Task finished name='Task-42'>)\n"
    "handle: <Handle GrpcWorkerAgentRuntime._raise_on_exception(<Task finished name='Task-42'>)>\n"
    "Traceback (most recent call last):\n"
    '  File "/usr/lib/python3.11/asyncio/events.py", line 84, in _run\n'
    "    self._context.run(self._callback, *self._args)\n"
    '  File "/venv/autogen_ext/runtimes/grpc/_worker_runtime.py", line 278, in _raise_on_exception\n'
    "    raise exception\n"
    "ValueError: Unknown type NoneType with data content type application/json\n"
)


def test_lab_json_line_keeps_every_field() -> None:
    stats = InputStats()
    rec = parse_json_line(json.dumps(LAB_LINE).encode(), stats, component="from-file")
    assert rec.ts == pytest.approx(1714557600.25)
    assert (rec.level, rec.logger, rec.agent_id, rec.message_id, rec.trace_id) == (
        "ERROR", "asyncio", "none/default", "12", "4bf92f3577b34da6a3ce929d0e0e4736")
    assert rec.component == "w2"  # the record's own process field wins over the file name
    assert rec.agent_type == "none"
    assert rec.error_type == "ValueError"
    assert rec.cause == "ValueError: Unknown type NoneType with data content type application/json"
    assert (rec.module, rec.function, rec.line) == ("base_events", "default_exception_handler", 1785)
    assert stats.bad_input() == InputStats().bad_input()


def test_other_json_loggers_aliases() -> None:
    rec = from_mapping({"time": 1714557600123, "levelname": "warn", "name": "svc", "msg": "slow call",
                        "duration_ms": 1500, "service": "api"})
    assert rec.ts == pytest.approx(1714557600.123)
    assert (rec.level, rec.logger, rec.message, rec.component) == ("WARNING", "svc", "slow call", "api")
    assert from_mapping({"level": 50, "message": "x"}).level == "CRITICAL"
    assert from_mapping({"severity": "fatal", "message": "x"}).level == "CRITICAL"


@pytest.mark.parametrize(("value", "level"), [
    ("ERROR", "ERROR"), ("error", "ERROR"), ("Warn", "WARNING"), ("FATAL", "CRITICAL"), (3, "ERROR"),
    ("4", "WARNING"), (40, "ERROR"), (20, "INFO"), ("notice", "INFO"), ("bogus", ""), (None, ""),
])
def test_levels_normalize(value: object, level: str) -> None:
    assert normalize_level(value) == level


def test_journald_entries_and_the_json_inside_them() -> None:
    plain = from_mapping({"__REALTIME_TIMESTAMP": "1714557600500000", "PRIORITY": "3", "_SYSTEMD_UNIT":
                          "agents-host.service", "SYSLOG_IDENTIFIER": "python3",
                          "MESSAGE": "Agent planner not found, failed to deliver message."})
    assert plain.ts == pytest.approx(1714557600.5)
    assert (plain.level, plain.component, plain.agent_id) == ("ERROR", "agents-host", "planner")
    inner = from_mapping({"__REALTIME_TIMESTAMP": "1714557600500000", "PRIORITY": "6",
                          "_SYSTEMD_UNIT": "agents-w1.service", "MESSAGE": json.dumps(LAB_LINE)})
    assert (inner.level, inner.trace_id, inner.component) == ("ERROR", LAB_LINE["trace_id"], "w2")
    assert inner.ts == pytest.approx(1714557600.25)  # the record's own time, not the journal's
    binary = from_mapping({"__REALTIME_TIMESTAMP": "1", "PRIORITY": "4", "MESSAGE": [104, 105, 255]})
    assert binary.message.startswith("hi") and binary.level == "WARNING"


@pytest.mark.parametrize(("line", "level", "logger", "message"), [
    ("ERROR:autogen_core:Agent planner not found, failed to deliver message.", "ERROR", "autogen_core",
     "Agent planner not found, failed to deliver message."),
    ("2024-05-01 10:00:00,123 - autogen_core - WARNING - Received empty message", "WARNING", "autogen_core",
     "Received empty message"),
    ("2024-05-01T10:00:00.123Z ERROR agents.store: Error 111 connecting", "ERROR", "agents.store",
     "Error 111 connecting"),
    ("2024-05-01 10:00:00 [INFO] [root] Processing request", "INFO", "root", "Processing request"),
    ("Agent planner not found, failed to deliver message.", "ERROR", "",
     "Agent planner not found, failed to deliver message."),
    ("just some words", "", "", "just some words"),
])
def test_plain_text_heads(line: str, level: str, logger: str, message: str) -> None:
    rec = parse_plain_lines([line])
    assert (rec.level, rec.logger, rec.message) == (level, logger, message)


def test_plain_head_time_and_agent_from_autogen_wording() -> None:
    rec = parse_plain_lines(["2024-05-01 10:00:00,500 ERROR autogen_core: Agent echo not found, failed to deliver "
                             "message."])
    assert rec.ts == pytest.approx(1714557600.5)
    assert rec.agent_id == "echo"


def test_exception_in_callback_traceback_is_one_record_about_its_last_line() -> None:
    rec = parse_plain_lines(TRACEBACK_BLOCK.rstrip("\n").split("\n"))
    assert rec.level == "ERROR" and rec.logger == "asyncio"
    assert rec.message.startswith("Exception in callback GrpcWorkerAgentRuntime._raise_on_exception")
    assert rec.exception.startswith("Traceback (most recent call last):")
    assert rec.cause == "ValueError: Unknown type NoneType with data content type application/json"
    assert rec.error_type == "ValueError"


def test_record_extent_in_a_buffer_of_mixed_records() -> None:
    json_line = json.dumps({"level": "INFO", "message": "x"}) + "\n"
    buf = ("INFO:root:before\n" + TRACEBACK_BLOCK + json_line + "ERROR:autogen_core:Agent a not found, failed to "
           "deliver message.\n" + "Received message from client 1: request {\n  request_id: \"7\"\n}\n"
           + json_line + "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
           "KeyError: 'k'\n").encode()
    head = buf.index(b"Exception in callback")
    frame = buf.index(b"    raise exception")
    cause = buf.index(b"ValueError: Unknown")
    after = buf.index(b'{"level"')
    # from any line of the traceback, back to its head; the record ends before the JSON line
    assert record_head(buf, frame, 0) == head
    assert record_head(buf, cause, 0) == head
    assert record_end(buf, head, len(buf)) == (after, False)
    # a JSON line is one record, never a continuation
    assert record_head(buf, after, 0) == after
    assert record_end(buf, after, len(buf)) == (after + len(json_line), False)
    # a protobuf dump continues its head line
    dump = buf.index(b"Received message")
    assert record_head(buf, buf.index(b'  request_id: "7"'), 0) == dump
    second_json = buf.index(b'{"level"', dump)
    assert record_end(buf, dump, len(buf)) == (second_json, False)
    # a traceback after a JSON line (a crash printed among JSON records) is a record of its own
    bare = buf.index(b"Traceback (most recent call last):\n  File \"x.py\"")
    assert record_head(buf, buf.index(b"KeyError"), 0) == bare
    assert record_end(buf, bare, len(buf)) == (len(buf), True)  # the buffer ends inside it: may continue
    rec = parse_record(buf[bare:], InputStats())
    assert rec.level == "ERROR" and rec.error_type == "KeyError"


def test_bad_lines_are_counted_and_read_for_what_they_hold() -> None:
    stats = InputStats()
    cut = json.dumps({"timestamp": "2024-05-01T10:00:00Z", "level": "ERROR", "message": "boom while"})[:-12]
    rec = parse_json_line(cut.encode(), stats)
    assert rec.salvaged and rec.level == "ERROR" and rec.ts == pytest.approx(1714557600.0)
    assert stats.counts["truncated_json"] == 1
    rec = parse_json_line(b'{"level": "ERROR", "message": "caf\xe9 \xff"}', stats)
    assert rec.level == "ERROR" and "\ufffd" in rec.message
    assert stats.counts["invalid_utf8"] == 1
    rec = parse_json_line(b"[1, 2, 3]", stats)
    assert stats.counts["non_json"] == 1 and rec.level == ""
    rec = parse_json_line(b"{not json at all", stats)
    assert stats.counts["non_json"] == 2


def test_times_people_give() -> None:
    now = 1714557600.0
    assert parse_when("90s", now) == now - 90
    assert parse_when("90m", now) == now - 5400
    assert parse_when("2d", now) == now - 172800
    assert parse_when("2024-05-01T10:00:00Z") == 1714557600.0
    assert parse_when("2024-05-01T12:00:00+02:00") == 1714557600.0
    assert parse_when("2024-05-01 10:00:00") == 1714557600.0  # no zone: UTC
    assert parse_when("2024-05-01") == 1714521600.0
    with pytest.raises(ValueError, match="bad time"):
        parse_when("yesterday")
    assert abs(parse_when("0s") - time.time()) < 5


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-01T10:00:00.250000Z", 1714557600.25), ("2024-05-01T10:00:00Z", 1714557600.0),
    ("2024-05-01 10:00:00,250", 1714557600.25), ("2024-05-01T10:00:00.25-01:00", 1714561200.25),
    (1714557600, 1714557600.0), (1714557600250, 1714557600.25), ("not a time", None), (None, None),
])
def test_record_timestamps(text: object, expected: float | None) -> None:
    got = parse_timestamp(text)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_cause_is_the_exception_line_even_when_its_message_spans_lines():
    """A gRPC AioRpcError's text runs over several lines and ends in a lone '>'; the cause is its first line."""
    from agentops.logs.records import Record

    exc = (
        "Traceback (most recent call last):\n"
        '  File "/app/worker.py", line 10, in run\n'
        "    await stream.read()\n"
        "grpc.aio._call.AioRpcError: <AioRpcError of RPC that terminated with:\n"
        "\tstatus = StatusCode.UNAVAILABLE\n"
        '\tdetails = "Socket closed"\n'
        ">"
    )
    r = Record(ts=None, level="ERROR", message="worker w1 failed: AioRpcError", exception=exc)
    assert r.cause == "grpc.aio._call.AioRpcError: <AioRpcError of RPC that terminated with:"
    assert r.error_type == "AioRpcError"


def test_cause_of_a_chained_traceback_is_the_last_exception():
    from agentops.logs.records import Record

    exc = (
        "Traceback (most recent call last):\n"
        '  File "a.py", line 1, in f\n'
        "KeyError: '7'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "b.py", line 2, in g\n'
        "ValueError: Unknown type NoneType\n"
    )
    assert Record(ts=None, level="ERROR", message="x", exception=exc).cause == "ValueError: Unknown type NoneType"
    # a traceback header alone (the rest split into other records) is no cause: the message speaks instead
    assert Record(ts=None, level="ERROR", message="boom", exception="Traceback (most recent call last):").cause == "boom"
