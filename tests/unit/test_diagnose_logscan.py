"""The diagnosis' log scan: JSON-lines and plain-text records, byte offsets (what was written during the
diagnosis), the time window, and the signals read from AutoGen's own lines (taken from a real lab run)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from agentops.diagnose import logscan
from agentops.logs import ranges


def jline(message: str, *, ts: float | None = None, level: str = "INFO", exception: str | None = None,
          agent_id: str | None = None, message_id: str | None = None) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts if ts is not None else time.time())) + ".000001Z"
    return json.dumps({"timestamp": stamp, "level": level, "logger": "x", "message": message, "agent_id": agent_id,
                       "message_id": message_id, "exception": exception}) + "\n"


NONE_TB = ("Traceback (most recent call last):\n  File \"/x/_worker_runtime.py\", line 560, in _process_request\n"
           "    result_payload = self._serialization_registry.serialize(...)\n"
           "ValueError: Unknown type NoneType with content type application/json")
COLLISION_TB = ("Traceback (most recent call last):\n  File \"/x/_worker_runtime_host_servicer.py\", line 268, in "
                "_process_response\n    future = self._pending_responses[client_id].pop(response.request_id)\n"
                "KeyError: '1'")


def test_offsets_select_what_was_written_since(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    log.write_text(jline("before", level="ERROR", exception="RuntimeError: old"))
    offset = ranges.size_of(log)
    with log.open("a") as fh:
        fh.write(jline("Exception in callback …", level="ERROR", exception=NONE_TB, agent_id="none/p",
                       message_id="abc"))
    records, problem = ranges.read_records(log, start=offset)
    assert problem is None and [r.message for r in records] == ["Exception in callback …"]
    (sig,) = logscan.signals(records)
    assert sig.kind == "exception:handler-returned-none" and sig.agent_type == "none" and sig.request_id == "abc"
    before, _ = ranges.read_records(log, end=offset, since=0)
    assert [r.message for r in before] == ["before"]


def test_the_window_keeps_recent_timestamped_records(tmp_path: Path) -> None:
    log = tmp_path / "h.log"
    now = time.time()
    log.write_text(jline("Agent echo not found, failed to deliver message.", ts=now - 3600, level="ERROR")
                   + jline("Agent echo not found, failed to deliver message.", ts=now - 5, level="ERROR"))
    records, _ = ranges.read_records(log, since=now - 60)
    assert len(records) == 1
    (sig,) = logscan.signals(records)
    assert (sig.kind, sig.agent_type) == ("agent-not-found", "echo")


def test_plain_text_autogen_lines_and_folded_tracebacks(tmp_path: Path) -> None:
    log = tmp_path / "host.txt"
    log.write_text("ERROR:autogen_core:Agent planner not found, failed to deliver message.\n"
                   "ERROR:asyncio:Exception in callback GrpcWorkerAgentRuntimeHostServicer._raise_on_exception()\n"
                   "handle: <Handle …>\n" + COLLISION_TB + "\n"
                   "INFO:autogen_core:Removing agent type echo from agent type to client id mapping\n")
    records, _ = ranges.read_records(log, start=0)
    kinds = [s.kind for s in logscan.signals(records)]
    assert kinds == ["agent-not-found", "exception:request-id-collision", "type-removed"]
    collision = logscan.signals(records)[1]
    assert collision.request_id == "1" and collision.line == "KeyError: '1'"
    # Plain lines carry no time: never "recent history", only what was read from an offset.
    assert ranges.read_records(log, since=0)[0] == []


def test_our_own_ownership_check_is_not_a_worker_leaving(tmp_path: Path) -> None:
    log = tmp_path / "host.log"
    now = time.time()
    log.write_text(jline('Received message from client p: request { request_id: "agentops-hold-1f2e" }', ts=now)
                   + jline("Removing agent type nosuch from agent type to client id mapping", ts=now + 0.01)
                   + jline("Removing agent type echo from agent type to client id mapping", ts=now + 30))
    found = logscan.drop_probe_side_effects(logscan.signals(ranges.read_records(log, start=0)[0]))
    assert [(s.kind, s.agent_type) for s in found if s.kind == "type-removed"] == [("type-removed", "echo")]


def test_unreadable_and_cut_files_are_problems_not_exceptions(tmp_path: Path) -> None:
    records, problem = ranges.read_records(tmp_path / "missing.log", start=0)
    assert records == [] and "missing.log" in (problem or "")
    log = tmp_path / "big.log"
    log.write_text("x" * 100 + "\n" + jline("tail record", level="ERROR", exception="TimeoutError: t"))
    records, _ = ranges.read_records(log, since=0, max_bytes=len(jline("tail record", level="ERROR",
                                                                         exception="TimeoutError: t")) + 20)
    assert [r.message for r in records] == ["tail record"]  # the cut first line is dropped, not misparsed
    log.write_text("")  # truncated (rotated) since the offset was noted: read from the start
    assert ranges.read_records(log, start=10_000)[0] == []
