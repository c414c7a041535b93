"""Plain-text log layouts: `log_format` as a logging format string or a regex (validated with a one-line
reason), the layout of a file detected from its own lines, and AutoGen's records without an agent id tied to
the probed type by what they say, by role and by the probe's window. The lines are as Python's logging writes
them for a plain AutoGen worker (the formats applied by logging.Formatter here, not typed by hand)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from agentops.core.logformat import compile_log_format
from agentops.diagnose import logscan
from agentops.logs.records import detect_layout, parse_plain_lines

PID_LAYOUT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
DEFAULT_LAYOUT = logging.BASIC_FORMAT  # "%(levelname)s:%(name)s:%(message)s"
NONE_TB = ('Traceback (most recent call last):\n  File "/x/_worker_runtime.py", line 560, in _process_request\n'
           "    serialized_result = self._serialization_registry.serialize(\n"
           "ValueError: Unknown type NoneType with content type application/json")


def formatted(fmt: str, name: str, level: int, msg: str, exc: bool = False) -> str:
    """A record as logging.Formatter(fmt) writes it (with a real traceback when `exc`)."""
    exc_info = None
    if exc:
        try:
            raise ValueError("Unknown type NoneType with content type application/json")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord(name, level, "/x/worker.py", 1, msg, None, exc_info)
    return logging.Formatter(fmt).format(record) + "\n"


def worker_log(fmt: str) -> str:
    return (formatted(fmt, "autogen_core", logging.INFO, "Connecting to host: 127.0.0.1:50051")
            + formatted(fmt, "root", logging.INFO, "Processing request from unknown source to none/agentops-probe")
            + formatted(fmt, "asyncio", logging.ERROR, "Exception in callback GrpcWorkerAgentRuntime."
                        "_raise_on_exception(<Task finished>)\nhandle: <Handle GrpcWorkerAgentRuntime."
                        "_raise_on_exception(<Task finished>)>", exc=True)
            + formatted(fmt, "autogen_core", logging.INFO, "Received a message from host: x"))


@pytest.mark.parametrize("fmt", [PID_LAYOUT, DEFAULT_LAYOUT, "%(asctime)s - %(name)s - %(levelname)s - %(message)s"])
def test_a_files_layout_is_detected_and_its_tracebacks_stay_with_their_record(tmp_path: Path, fmt: str) -> None:
    text = worker_log(fmt)
    assert detect_layout(text.encode()) is not None
    log = tmp_path / "w.log"
    log.write_text(text)
    records, _ = logscan.read_records(log, start=0)
    assert [r.logger for r in records] == ["autogen_core", "root", "asyncio", "autogen_core"]
    assert [r.level for r in records] == ["INFO", "INFO", "ERROR", "INFO"]
    tb = records[2]
    assert tb.message.startswith("Exception in callback") and tb.cause.startswith("ValueError: Unknown type NoneType")
    assert records[1].offset == len(formatted(fmt, "autogen_core", logging.INFO, "Connecting to host: 127.0.0.1:50051"))
    # Declared instead of detected: the same records.
    declared, _ = logscan.read_records(log, start=0, log_format=fmt)
    assert [(r.logger, r.level, r.cause) for r in declared] == [(r.logger, r.level, r.cause) for r in records]


def test_the_pid_layout_is_not_read_as_a_looser_one() -> None:
    line = formatted(PID_LAYOUT, "autogen_core", logging.ERROR, "Agent echo not found, failed to deliver message.")
    rec = parse_plain_lines([line.rstrip("\n")], layout=detect_layout(line.encode()))
    assert (rec.logger, rec.level, rec.message) == ("autogen_core", "ERROR",
                                                    "Agent echo not found, failed to deliver message.")
    assert rec.ts is not None and rec.component.isdigit()  # the process id


def test_a_regex_layout_with_named_groups() -> None:
    layout = compile_log_format(r"^(?P<asctime>\S+ \S+) \[(?P<levelname>\w+)\] <(?P<agent_id>[^>]*)> (?P<msg>.*)$")
    rec = parse_plain_lines(["2026-01-02 03:04:05,678 [ERROR] <echo/k1> handler failed"], layout=layout.head)
    assert (rec.level, rec.agent_id, rec.message) == ("ERROR", "echo/k1", "handler failed") and rec.ts


@pytest.mark.parametrize("value, why", [
    ("%(asctime)s %(levelname)s", "has no %(message)s"),
    ("(?P<message>.*", "valid regex"),
    ("xml", "expected one of json, text"),
    (r"^(?P<level>\w+) (?P<text>.*)$", "named group 'message'"),
])
def test_a_bad_log_format_says_why_in_one_line(value: str, why: str) -> None:
    with pytest.raises(ValueError) as err:
        compile_log_format(value)
    assert why in str(err.value) and "\n" not in str(err.value)


def test_the_config_refuses_a_bad_log_format_with_its_field() -> None:
    from agentops.core.cluster import worker_spec
    from agentops.core.config import Target
    from agentops.core.yamlsrc import ConfigError

    good = Target(name="w1", kind="worker", options={"log_format": PID_LAYOUT}, where="a.yaml:3")
    assert worker_spec(good).log_format == PID_LAYOUT
    bad = Target(name="w1", kind="worker", options={"log_format": "%(name)s"}, where="a.yaml:3")
    with pytest.raises(ConfigError, match=r"options\.log_format.*has no %\(message\)s"):
        worker_spec(bad)


def _scan(log: Path, role: str, start: int, probe: int | None, agent_type: str = "none") -> dict:
    return logscan.scan([log], [str(log)], {str(log): start}, since=0, agent_type=agent_type, key="agentops-probe",
                        role=role, probe_offsets={str(log): probe} if probe is not None else None).facts


def test_a_traceback_without_agent_id_concerns_the_probe_only_in_the_owners_window(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    earlier = formatted(PID_LAYOUT, "asyncio", logging.ERROR, "Exception in callback X()", exc=True)
    log.write_text(earlier)
    start = probe = log.stat().st_size
    with log.open("a") as fh:
        fh.write(worker_log(PID_LAYOUT))
    facts = _scan(log, logscan.WORKER, start, probe)
    (sig,) = facts["during_diagnosis"]
    assert sig["kind"] == "exception:handler-returned-none" and sig["agent_type"] == "none"
    assert sig["attributed_by"] == "written in the owning worker's log during the probe"
    assert facts["probe_delivered"] is True
    # Written before the probe was sent, on the host, or with no probe at all: about no type in particular.
    assert _scan(log, logscan.WORKER, 0, probe)["during_diagnosis"] == [sig]
    assert _scan(log, logscan.HOST, start, probe)["during_diagnosis"] == []
    assert _scan(log, logscan.WORKER, start, None)["during_diagnosis"] == []


def test_a_type_or_request_named_in_the_text_attributes_a_record(tmp_path: Path) -> None:
    log = tmp_path / "h.log"
    log.write_text("Agent echo not found, failed to deliver message.\n"
                   + formatted(DEFAULT_LAYOUT, "autogen_core", logging.ERROR,
                               "Error handling event for AgentId(type='planner', key='k')", exc=True))
    facts = _scan(log, logscan.HOST, 0, 0, agent_type="echo")
    assert [(s["kind"], s["attributed_by"]) for s in facts["during_diagnosis"]] == [
        ("agent-not-found", "the type named in the text")]
    planner = _scan(log, logscan.HOST, 0, 0, agent_type="planner")["during_diagnosis"]
    assert [s["agent_type"] for s in planner] == ["planner"]
    found = logscan.signals(logscan.read_records(log, start=0)[0])
    assert logscan.request_id_named('request { request_id: "17" target { type: "echo" } }') == "17"
    assert logscan.type_named('request { request_id: "17" target { type: "echo" key: "k" } }') == "echo"
    assert found[0].agent_type == "echo"


def test_a_log_above_info_says_what_it_cannot_hold(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    log.write_text(formatted(DEFAULT_LAYOUT, "autogen_core", logging.WARNING, "No message"))
    facts = _scan(log, logscan.WORKER, 0, 0)
    assert facts["probe_delivered"] is None  # cannot be seen, so not "no"
    (gap,) = facts["unavailable"]
    assert "no record below WARNING" in gap and "Processing request" in gap
    empty = tmp_path / "e.log"
    empty.write_text("")
    assert "holds no records" in _scan(empty, logscan.WORKER, 0, 0)["unavailable"][0]
    missing = logscan.scan([tmp_path / "gone.log"], ["gone.log"], {}, since=0, agent_type="none", key="k").facts
    assert any("gone.log" in u for u in missing["unavailable"])
    info = tmp_path / "i.log"
    info.write_text(worker_log(PID_LAYOUT))
    assert "unavailable" not in _scan(info, logscan.WORKER, 0, 0)


def test_the_hosts_failures_for_other_types_during_the_probe_are_kept_apart(tmp_path: Path) -> None:
    log = tmp_path / "h.log"
    log.write_text("Agent old not found, failed to deliver message.\n")
    probe = log.stat().st_size
    with log.open("a") as fh:
        fh.write("Agent ghost not found, failed to deliver message.\n")
    facts = _scan(log, logscan.HOST, 0, probe, agent_type="relay")
    assert facts["during_diagnosis"] == []  # about ghost, not relay
    assert [s["agent_type"] for s in facts["other_types_during_probe"]] == ["ghost"]  # only after the probe
    assert "other_types_during_probe" not in _scan(log, logscan.WORKER, 0, probe, agent_type="relay")


@pytest.mark.parametrize("text", [
    "Unexpected [KeyError] raised by servicer method [/agents.AgentRpc/OpenChannel]",
    "Error in read loop",
    "Failed to get message from send queue: boom",
])
def test_autogen_and_grpc_failure_lines_without_a_traceback_are_failures(tmp_path: Path, text: str) -> None:
    log = tmp_path / "h.log"
    log.write_text(formatted(PID_LAYOUT, "grpc._cython.cygrpc", logging.ERROR, text))
    (sig,) = logscan.signals(logscan.read_records(log, start=0)[0])
    assert sig.kind.startswith("exception:") and logscan.is_failure(sig) and sig.line == text
