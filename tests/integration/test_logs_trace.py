"""`agentops logs trace` through the real CLI: one message's records across a plain-text host log, a JSON
worker log and a gzip-rotated one, in time order, with the gaps between hops and where the trail stops."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import jsonschema
import pytest

from tests.fixtures.common import REPO, assert_no_traceback, run_cli

SCHEMA = json.loads((REPO / "src/agentops/schemas/report.schema.json").read_text())
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
GHOST = "0af7651916cd43dd8448eb211c80319c"


def host_dump(ts: str, request_id: str, target: str, trace: str) -> str:
    """The AutoGen host's INFO line for a request, with its protobuf dump (plain-text logging)."""
    return (f"{ts} INFO autogen_core: Received message from client 5b2c: request {{\n"
            f'  request_id: "{request_id}"\n  target {{\n    type: "{target}"\n    key: "default"\n  }}\n'
            f'  payload {{\n    data_type: "Ping"\n  }}\n  metadata {{\n    key: "traceparent"\n'
            f'    value: "00-{trace}-00f067aa0ba902b7-01"\n  }}\n}}\n')


def worker(ts: str, level: str, message: str, trace: str, **extra: object) -> str:
    return json.dumps({"timestamp": ts, "level": level, "logger": "agentops.lab.agents", "message": message,
                       "agent_id": "failing/default", "message_id": extra.pop("message_id", "7"),
                       "trace_id": trace, "process": "w2", **extra}) + "\n"


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("trace")
    (d / "host.log").write_text(
        host_dump("2024-05-01 10:00:00,100", "7", "failing", TRACE)
        + "2024-05-01 10:00:00,300 INFO autogen_core: Client 5b2c connected.\n"
        + host_dump("2024-05-01 10:00:05,000", "8", "ghost", GHOST)
        + "2024-05-01 10:00:05,001 ERROR autogen_core: Agent ghost not found, failed to deliver message.\n"
        + host_dump("2024-05-01 10:00:09,000", "7", "echo", "aaaabbbbccccddddeeeeffff00001111"))
    (d / "w2.log").write_text(
        worker("2024-05-01T10:00:00.150000Z", "INFO", "handling Ping", TRACE)
        + worker("2024-05-01T10:00:00.900000Z", "INFO", "unrelated", "ffffffffffffffffffffffffffffffff",
                 message_id="99"))
    with gzip.open(d / "w2.log.1.gz", "wt") as fh:  # rotated, yet read in time order with the rest
        fh.write(worker("2024-05-01T10:00:00.182500Z", "ERROR", "handler failed: RuntimeError: boom", TRACE,
                        exception='Traceback (most recent call last):\n  File "agents.py", line 9, in on_ping\n'
                                  "RuntimeError: boom"))
    return d


def trace(ident: str, logs: Path, *args: str) -> tuple[int, dict]:
    result = run_cli("logs", "trace", ident, str(logs), *args, "-o", "json")
    assert_no_traceback(result)
    doc = result.json()
    jsonschema.validate(doc, SCHEMA)
    return result.code, doc


def test_hops_across_files_in_time_order_ending_in_the_error(logs: Path) -> None:
    code, doc = trace(TRACE, logs)
    assert code == 1 and doc["status"] == "WARNING"  # the trail ends in an error
    data = doc["data"]
    hops = data["hops"]
    assert [(h["component"], h["level"], h["matched_by"]) for h in hops] == [
        ("host", "INFO", "traceparent"), ("w2", "INFO", "trace_id"), ("w2", "ERROR", "trace_id")]
    assert [h["since_previous_ms"] for h in hops] == [None, 50.0, 32.5]
    assert hops[0]["target"] == "failing/default" and hops[0]["source"].endswith("host.log")
    assert hops[2]["source"].endswith("w2.log.1.gz") and hops[2]["cause"] == "RuntimeError: boom"
    assert data["components"] == ["host", "w2"] and data["elapsed_ms"] == 82.5
    stop = data["stops_at"]
    assert stop["component"] == "w2" and stop["why"] == "it failed there: RuntimeError: boom"


def test_a_request_the_host_could_not_route_stops_at_the_host(logs: Path) -> None:
    code, doc = trace(GHOST, logs)
    assert code == 0
    hops = doc["data"]["hops"]
    assert len(hops) == 1 and hops[0]["target"] == "ghost/default"
    assert "routed it to agent ghost/default, and nothing later mentions it" in doc["data"]["stops_at"]["why"]


def test_a_short_request_id_is_matched_whole_and_its_traces_named(logs: Path) -> None:
    _, doc = trace("7", logs)
    data = doc["data"]
    # request_id "7" in two host dumps and message_id "7" on the worker: never the 7 inside other numbers
    assert len(data["hops"]) == 4
    assert {h["matched_by"] for h in data["hops"]} == {"request_id", "message_id"}
    # AutoGen request ids are per-process counters: this one was reused by another caller's request
    assert set(data["trace_ids"]) == {TRACE, "aaaabbbbccccddddeeeeffff00001111"}
    assert "belongs to 2 different traces" in doc["results"][1]["message"]


def test_nothing_found_is_unknown_and_the_table_shows_the_trail(logs: Path) -> None:
    code, doc = trace("deadbeefdeadbeefdeadbeefdeadbeef", logs)
    assert code == 3 and doc["data"]["hops"] == [] and doc["data"]["stops_at"] is None
    table = run_cli("logs", "trace", TRACE, str(logs))
    assert table.code == 1
    assert "The trail stops at w2" in table.stdout and "RuntimeError: boom" in table.stdout
    assert_no_traceback(table)


def test_filters_narrow_the_trail(logs: Path) -> None:
    _, doc = trace(TRACE, logs, "--component", "w2")
    assert [h["component"] for h in doc["data"]["hops"]] == ["w2", "w2"]
    _, doc = trace(TRACE, logs, "--until", "2024-05-01T10:00:00.160Z")
    assert len(doc["data"]["hops"]) == 2


def test_an_error_reply_is_the_worker_s_failure_even_when_the_host_s_relay_sorts_first(tmp_path: Path) -> None:
    """Plain-text logs: the worker's error record names no request, so only the replies are on the trail, and
    with millisecond times the host's relay of the error can sort before the worker's reply (real lab output)."""
    reply = ('response {\n  request_id: "d0dd37b7f19f4beba2338fae30748344"\n'
             '  error: "failing agent: deliberate failure handling \'x\'"\n}\n')
    (tmp_path / "host.log").write_text(
        "2026-11-21 13:17:57,359 INFO autogen_core: Received message from client 196b: request {\n"
        '  request_id: "d0dd37b7f19f4beba2338fae30748344"\n  target {\n    type: "failing"\n    key: "k"\n  }\n}\n'
        + "2026-11-21 13:17:57,362 INFO autogen_core: Received message from client c130: " + reply
        # the host logs a message twice, the second time a millisecond later
        + "2026-11-21 13:17:57,363 INFO autogen_core: Received message from client c130: " + reply)
    (tmp_path / "w2.log").write_text(
        "2026-11-21 13:17:57,360 INFO autogen_core: Received a message from host: request {\n"
        '  request_id: "d0dd37b7f19f4beba2338fae30748344"\n  target {\n    type: "failing"\n    key: "k"\n  }\n}\n'
        + "2026-11-21 13:17:57,362 INFO autogen_core: Send message to host: " + reply)
    code, doc = trace("d0dd37b7f19f4beba2338fae30748344", tmp_path)
    assert code == 1
    hops = doc["data"]["hops"]
    assert [h["component"] for h in hops] == ["host", "w2", "host", "w2", "host"]  # equal times: file order
    assert doc["data"]["stops_at"]["why"] == ("it failed at w2: failing agent: deliberate failure handling 'x'; "
                                              "host passed the error back to the caller")


def test_where_is_a_line_number_and_the_byte_offset_is_named_so(logs: Path) -> None:
    """`host.log:N` used to be the byte offset, read by everyone as a line number (`cluster.log:2537` for
    line 7). The table shows the line; JSON keeps the byte offset as `byte_offset`."""
    _, doc = trace(GHOST, logs)
    (hop,) = doc["data"]["hops"]
    text = (logs / "host.log").read_bytes()
    assert hop["line"] == 16  # after a 14-line dump and the "connected" line
    assert text[hop["byte_offset"]:].startswith(b"2024-05-01 10:00:05,000 INFO")
    assert text[:hop["byte_offset"]].count(b"\n") == hop["line"] - 1
    assert doc["data"]["stops_at"]["line"] == 16
    _, doc = trace(TRACE, logs)
    assert [h["line"] for h in doc["data"]["hops"]] == [1, 1, 1]  # the gzip file counts decompressed lines
    table = run_cli("logs", "trace", GHOST, str(logs))
    assert "host.log:16" in table.stdout and f"host.log:{hop['byte_offset']}" not in table.stdout
    # stdin cannot be read again to count lines: the byte offset, said to be one
    piped = run_cli("logs", "trace", GHOST, "-", "-o", "json", input=text.decode())
    assert piped.json()["data"]["hops"][0]["line"] is None
    assert piped.json()["data"]["hops"][0]["byte_offset"] == hop["byte_offset"]
    piped = run_cli("logs", "trace", GHOST, "-", input=text.decode())
    assert f"-, byte {hop['byte_offset']}" in piped.stdout
