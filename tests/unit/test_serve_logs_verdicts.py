"""serve's undelivered-request counting over real files (incremental, bounded per read, whole lines only,
rotation), its bounded series, the `serve:` section's errors (file:line, field), and the exposition of both
new families parsed by prometheus_client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentops.core.cluster import cluster_spec
from agentops.core.config import load_config
from agentops.core.yamlsrc import ConfigError
from agentops.diagnose.undelivered import read_undelivered
from agentops.render.prometheus import render_diagnoses, render_undelivered
from agentops.serve.section import diagnosis_specs
from agentops.serve.undelivered import OTHER_TYPE, LogChunk, UndeliveredCounts, read_cycle


def host_line(message: str, level: str = "ERROR", agent_id: str | None = None) -> str:
    return json.dumps({"timestamp": "2026-12-04T01:24:13.715502Z", "level": level, "logger": "autogen_core",
                       "message": message, "agent_id": agent_id, "exception": None}) + "\n"


NOT_FOUND = host_line("Agent ghost not found, failed to deliver message.")
NO_CLIENT = host_line("Agent client id not found for agent type gone.")
NO_SUBSCRIBER = host_line("Agent ears and its client not found for topic TopicId(type='news', source='x').")
UNHANDLED = host_line("Unhandled message: UnknownPayload(type_name='Nope', data_content_type='application/json', "
                      "payload=b'{}')", level="INFO", agent_id="echo/agentops-probe")
CHATTER = host_line("Received message from client 1234: response { request_id: \"7\" }", level="INFO")


def test_counts_start_at_the_end_and_read_on_from_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "host.log"
    log.write_text(NOT_FOUND * 3)  # history before serve started: not counted
    first = read_undelivered(log, None, 1 << 20, "json")
    assert first.counts == {} and first.offset == log.stat().st_size
    with log.open("a") as fh:
        fh.write(NOT_FOUND + CHATTER + NO_CLIENT + NO_SUBSCRIBER + UNHANDLED)
    chunk = read_undelivered(log, first.offset, 1 << 20, "json")
    assert chunk.counts == {("ghost", "agent_not_found"): 1, ("gone", "client_not_found"): 1,
                            ("ears", "subscriber_not_found"): 1, ("echo", "unhandled_message"): 1}
    assert chunk.offset == chunk.size == log.stat().st_size
    again = read_undelivered(log, chunk.offset, 1 << 20, "json")  # nothing new: nothing counted twice
    assert again.counts == {} and again.offset == chunk.offset


def test_a_line_being_written_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "host.log"
    log.write_text("")
    with log.open("a") as fh:
        fh.write(NOT_FOUND + NOT_FOUND[:30])
    chunk = read_undelivered(log, 0, 1 << 20, "json")
    assert chunk.counts == {("ghost", "agent_not_found"): 1} and chunk.offset == len(NOT_FOUND)
    assert chunk.size - chunk.offset == 30  # the lag
    with log.open("a") as fh:
        fh.write(NOT_FOUND[30:])
    assert read_undelivered(log, chunk.offset, 1 << 20, "json").counts == {("ghost", "agent_not_found"): 1}


def test_the_read_is_bounded_and_catches_up_over_cycles(tmp_path: Path) -> None:
    log = tmp_path / "host.log"
    log.write_text(NOT_FOUND * 100)
    budget = len(NOT_FOUND) * 10 + 5
    offset, total, reads = 0, 0, 0
    while offset < log.stat().st_size:
        chunk = read_undelivered(log, offset, budget, None)  # the layout detected, as without log_format
        assert chunk.offset - offset <= budget
        offset, total, reads = chunk.offset, total + sum(chunk.counts.values()), reads + 1
    assert (total, reads) == (100, 10)


def test_rotation_and_an_overlong_line(tmp_path: Path) -> None:
    log = tmp_path / "host.log"
    log.write_text(CHATTER * 50)
    end = log.stat().st_size
    log.write_text(NOT_FOUND)  # rotated: shorter than the offset, read again from its start
    assert read_undelivered(log, end, 1 << 20, "json").counts == {("ghost", "agent_not_found"): 1}
    log.write_text("x" * 5000 + "\n" + NOT_FOUND)
    skipped = read_undelivered(log, 0, 1000, "json")  # no newline within the budget: skipped, never read whole
    assert skipped.counts == {} and skipped.offset == 1000
    missing = read_undelivered(tmp_path / "nope.log", 0, 1000, "json")
    assert missing.problem and "nope.log" in missing.problem


def test_series_are_bounded_per_target() -> None:
    state = UndeliveredCounts("h", max_series=3)
    state.add("h", LogChunk({(f"t{i}", "agent_not_found"): 1 for i in range(10)}, 0, 0))
    assert len(state.counts) == 4  # three types, then one OTHER_TYPE series holding the rest
    assert state.counts[("h", OTHER_TYPE, "agent_not_found")] == 7


def _config(tmp_path: Path, serve: Any, hosts: int = 1) -> Path:
    import yaml

    targets = [{"name": f"h{i}", "kind": "agentrpc", "address": f"127.0.0.1:{50000 + i}",
                "options": {"logs": [str(tmp_path / f"h{i}.log")], "log_format": "json"}} for i in range(hosts)]
    path = tmp_path / "agentops.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "targets": targets, "serve": serve}, sort_keys=False))
    return path


def test_read_cycle_over_the_configured_logs(tmp_path: Path) -> None:
    cfg = load_config(str(_config(tmp_path, {})))
    log = tmp_path / "h0.log"
    log.write_text(NOT_FOUND)
    state = UndeliveredCounts("h0", max_series=100)
    target = cfg.targets["h0"]
    read_cycle(state, target, cluster_spec(cfg), read_undelivered, 1 << 20)
    assert state.counts == {} and state.lag_bytes == {"h0": 0}
    with log.open("a") as fh:
        fh.write(NOT_FOUND)
    read_cycle(state, target, cluster_spec(cfg), read_undelivered, 1 << 20)
    assert state.counts == {("h0", "ghost", "agent_not_found"): 1}


@pytest.mark.parametrize(("section", "hosts", "field", "why"), [
    ({"diagnoses": [{"agent_type": "a/b"}]}, 1, "serve.diagnoses[0].agent_type", "not an agent type"),
    ({"diagnoses": [{"agent_type": "echo", "interval": 0}]}, 1, "serve.diagnoses[0].interval", ">= 0.05"),
    ({"diagnoses": [{"agent_type": "echo", "host": "nope"}]}, 1, "serve.diagnoses[0].host", "no agentrpc"),
    ({"diagnoses": [{"agent_type": "echo"}]}, 2, "serve.diagnoses[0]", "name one with host"),
    ({"diagnoses": [{"agent_type": "echo"}, {"agent_type": "echo"}]}, 1, "serve.diagnoses[1]", "listed twice"),
    ({"diagnoses": [{"agent_type": "echo", "intervall": 3}]}, 1, "serve.diagnoses[0].intervall", "unknown field"),
    ({"diagnose": []}, 1, "serve.diagnose", "unknown field"),
])
def test_serve_section_errors_name_the_field(tmp_path: Path, section: Any, hosts: int, field: str,
                                             why: str) -> None:
    cfg = load_config(str(_config(tmp_path, section, hosts)))
    with pytest.raises(ConfigError) as err:
        diagnosis_specs(cfg)
    text = str(err.value)
    assert field in text and why in text and "agentops.yaml:" in text, text


def test_serve_section_specs(tmp_path: Path) -> None:
    cfg = load_config(str(_config(tmp_path, {"diagnoses": [
        {"agent_type": "echo"}, {"agent_type": "echo", "key": "k1", "host": "h1", "interval": 5, "deadline": 2}]},
        hosts=2)))
    with pytest.raises(ConfigError):  # the first names no host among two
        diagnosis_specs(cfg)
    cfg = load_config(str(_config(tmp_path, {"diagnoses": [
        {"agent_type": "echo", "host": "h0"}, {"agent_type": "echo", "key": "k1", "host": "h1", "interval": 5,
                                               "deadline": 2}]}, hosts=2)))
    a, b = diagnosis_specs(cfg)
    assert (a.name, a.interval_s, a.deadline_s, a.key) == ("echo@h0", 60.0, None, None)
    assert (b.name, b.interval_s, b.deadline_s) == ("echo/k1@h1", 5.0, 2.0)


def _families(text: str) -> dict[str, list[Any]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_the_new_families_parse() -> None:
    text = render_undelivered([{"target": "h", "counts": [{"log": "h", "agent_type": 'we"ird\\', "kind":
                                                            "agent_not_found", "count": 2}],
                                "lag_bytes": {"h": 10}, "problems": {}}])
    fams = _families(text)
    [sample] = fams["agentops_autogen_undelivered"]
    assert sample.labels["agent_type"] == 'we"ird\\' and sample.value == 2
    entry = {"agent_type": "echo", "key": "", "host": "", "runs": 3, "failures": 1, "finished_at": 1.5e9,
             "duration_s": 0.25, "status": "CRITICAL", "verdict": {"id": "worker-frozen", "status": "CRITICAL"}}
    fams = _families(render_diagnoses([entry, {**entry, "agent_type": "never", "finished_at": 0.0,
                                                "duration_s": None, "status": None, "verdict": None}]))
    [verdict] = fams["agentops_diagnosis_verdict"]
    assert verdict.labels["mode"] == "worker-frozen" and verdict.value == 2
    assert [s.labels["agent_type"] for s in fams["agentops_diagnosis_timestamp_seconds"]] == ["echo"]
    assert {s.labels["agent_type"]: s.value for s in fams["agentops_diagnosis_runs"]} == {"echo": 3, "never": 3}
