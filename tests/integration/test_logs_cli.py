"""`agentops logs` through the real CLI on generated logs: what bench/gen_logs.py writes (with its ground truth)
must be what analyze/count report; filters agree with an independent count over the JSON; thresholds set the
exit code; bad input of every kind is counted and never fatal; usage errors are one line and exit 3."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.fixtures.common import REPO, CliResult, assert_no_traceback, run_cli

GEN = REPO / "bench" / "gen_logs.py"
SCHEMA = json.loads((REPO / "src/agentops/schemas/report.schema.json").read_text())
ERROR_LEVELS = ("ERROR", "CRITICAL")


def generate(path: Path, *args: str) -> dict[str, Any]:
    truth = path.with_suffix(".truth.json")
    subprocess.run([sys.executable, str(GEN), str(path), "--truth", str(truth), *args], check=True, timeout=120)
    return json.loads(truth.read_text())


@pytest.fixture(scope="module")
def bad_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """~3 MB over ~50 minutes of log time (an incident in minutes 0-9), with every kind of bad line."""
    path = tmp_path_factory.mktemp("logs") / "cluster.log"
    return path, generate(path, "--size", "3M", "--rate", "2", "--seed", "7", "--bad", "--huge-line", "2")


@pytest.fixture(scope="module")
def clean_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logs") / "clean.log"
    generate(path, "--size", "3M", "--rate", "2", "--seed", "11")
    return path


def analyze_json(*args: str) -> dict[str, Any]:
    result = run_cli("logs", "analyze", *args, "-o", "json")
    assert result.code in (0, 1, 2), result.stderr
    assert_no_traceback(result)
    doc = result.json()
    jsonschema.validate(doc, SCHEMA)
    return doc


def by_pattern(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["pattern"]: p for p in doc["data"]["patterns"]}


def test_analyze_reports_what_the_generator_wrote(bad_log: tuple[Path, dict[str, Any]]) -> None:
    path, truth = bad_log
    doc = analyze_json(str(path), "--min-count", "1", "--top", "100")
    data = doc["data"]
    kinds, levels, bad = truth["kinds"], truth["levels"], truth["bad"]
    # Every bad line is counted; the oversized and the unterminated lines are ERROR records, still counted.
    assert {k: v for k, v in data["bad_input"].items() if v} == {k: v for k, v in bad.items() if k != "blank"}
    assert data["counts"]["errors"] == levels["ERROR"] + levels.get("CRITICAL", 0) + 2
    assert data["counts"]["by_level"] == {"WARNING": levels["WARNING"], "ERROR": levels["ERROR"] + 2,
                                          "CRITICAL": levels.get("CRITICAL", 0)}
    extra_records = sum(v for k, v in bad.items() if k != "blank")
    assert data["counts"]["records"] == truth["records"] + extra_records
    patterns = by_pattern(doc)
    expected = {  # generator kind -> (pattern, error type, recommended action)
        "agent_not_found": ("Agent <agent> not found, failed to deliver message.", "", "agent-not-found"),
        "timeout": ("Timeout waiting for reply from <agent> after <n>s", "TimeoutError", "timeout"),
        "redis_refused": ("Error <n> connecting to <addr>. Connection refused.", "ConnectionError",
                          "connection-refused"),
        "missing_module": ("Failed to load agent plugin <id>", "ModuleNotFoundError", "missing-module"),
        "bad_payload": ("Error handling event", "JSONDecodeError", "payload-malformed"),
        "too_large": ("send_message to <agent> failed", "AioRpcError", "message-too-large"),
        "client_not_found": ("Client <client> not found, failed to send response message.", "",
                             "worker-disconnected"),
        "permission_denied": ("could not open state file", "PermissionError", "permission-denied"),
    }
    for kind, (pattern, error_type, action) in expected.items():
        p = patterns[pattern]
        assert (p["count"], p["error_type"], p["action"]["kind"]) == (kinds[kind], error_type, action), kind
        assert sum(p["per_minute"]["counts"]) == p["count"] - p["untimed"]
    callback = next(p for p in data["patterns"] if p["pattern"].startswith("Exception in callback"))
    assert callback["count"] == kinds["unknown_type_none"] and callback["error_type"] == "ValueError"
    assert callback["action"]["kind"] == "handler-returned-none" and callback["components"] == {"w2": callback["count"]}
    not_found = patterns["Agent <agent> not found, failed to deliver message."]
    assert set(not_found["agents"]) == {"summarizer", "planner", "router"}
    assert not_found["components"] == {"host": kinds["agent_not_found"]}
    # The incident (minutes 0-9) is where the errors are: the busiest minute is inside it.
    counts = not_found["per_minute"]["counts"]
    assert counts.index(max(counts)) < 10 and sum(counts[:10]) > sum(counts[10:])
    # Errors of one incident come together.
    assert any("within 10s" in c["why"] for c in not_found["correlated"])
    oom = next(p for p in data["patterns"] if p["pattern"].startswith("Worker <id> memory limit"))
    assert oom["level"] == "CRITICAL" and oom["count"] == kinds["oom"]
    security = {e["kind"]: e["count"] for e in data["security"]}
    assert security == {"auth_failure": kinds["auth_failure"], "permission_denied": kinds["permission_denied"]}
    perf = data["performance"]
    assert (perf["timed_records"], perf["slow_records"]) == (kinds["handled"], truth["slow"])
    assert perf["operations"][0]["pattern"] == "Handled Ping for <agent>"
    assert perf["operations"][0]["duration_s"]["max"] >= 1.2
    assert doc["notes"] and doc["notes"][0].startswith("bad input:")


def test_patterns_seen_rarely_are_left_out_unless_asked(bad_log: tuple[Path, dict[str, Any]]) -> None:
    path, _ = bad_log
    default = analyze_json(str(path))["data"]
    assert all(p["count"] >= 3 for p in default["patterns"])
    hidden = default["hidden_patterns"]
    assert hidden["patterns"] >= 1  # the oversized and unterminated lines are one-off patterns
    everything = analyze_json(str(path), "--min-count", "1", "--top", "1000")["data"]
    assert len(everything["patterns"]) == len(default["patterns"]) + hidden["patterns"]


def test_parallel_scan_count_and_analyze_agree(clean_log: Path) -> None:
    serial = analyze_json(str(clean_log), "--jobs", "1")["data"]
    parallel = analyze_json(str(clean_log), "--jobs", "2")["data"]
    assert parallel == serial
    count = run_cli("logs", "count", str(clean_log), "--jobs", "2", "-o", "json")
    assert count.code == 0, count.stderr
    counted = count.json()["data"]["counts"]
    assert counted["errors"] == serial["counts"]["errors"]
    assert counted["by_level"] == {k: serial["counts"]["by_level"][k] for k in ERROR_LEVELS}


def _oracle(path: Path, keep: Any, level: tuple[str, ...] = ERROR_LEVELS) -> tuple[int, int]:
    """(records, errors) by reading every line with json.loads: the independent answer."""
    records = errors = 0
    for raw in path.read_text().splitlines():
        rec = json.loads(raw)
        if keep(rec):
            records += 1
            errors += rec["level"] in level
    return records, errors


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(("args", "keep", "levels"), [
    (("--since", "2024-05-01T00:20:00Z", "--until", "2024-05-01T00:40:00Z"),
     lambda r: _epoch("2024-05-01T00:20:00Z") <= _epoch(r["timestamp"]) < _epoch("2024-05-01T00:40:00Z"),
     ERROR_LEVELS),
    (("--component", "w2"), lambda r: r["process"] == "w2", ERROR_LEVELS),
    (("--component", "host,w2"), lambda r: r["process"] in ("host", "w2"), ERROR_LEVELS),
    (("--agent", "slow"), lambda r: (r["agent_id"] or "").startswith("slow/"), ERROR_LEVELS),
    (("--level", "warning"), lambda r: True, ("WARNING", *ERROR_LEVELS)),
])
def test_filters_agree_with_an_independent_count(clean_log: Path, args: tuple[str, ...], keep: Any,
                                                 levels: tuple[str, ...]) -> None:
    counts = analyze_json(str(clean_log), *args)["data"]["counts"]
    assert (counts["records"], counts["errors"]) == _oracle(clean_log, keep, levels)


def test_thresholds_turn_the_result_into_an_exit_code(clean_log: Path) -> None:
    errors = analyze_json(str(clean_log))["data"]["counts"]["errors"]
    assert errors > 10

    def code(*args: str) -> int:
        result = run_cli("logs", "analyze", str(clean_log), *args, "-o", "json")
        assert_no_traceback(result)
        return result.code

    assert code("--max-errors", str(errors)) == 0
    assert code("--max-errors", str(errors - 1)) == 2
    assert code("--max-errors", f"{errors - 1},{errors * 2}") == 1
    assert code("--max-errors", f"{errors - 1},{errors * 2}", "--fail-on", "critical") == 0
    assert code("--max-error-rate", "0.01%") == 2
    assert code("--max-error-rate", "99,100") == 0
    assert code("--max-error-rate", "0.001%,99%") == 1
    assert code("--max-error-rate", "100000/min") == 0
    assert code("--max-error-rate", "0.001,100000/min") == 1
    doc = run_cli("logs", "analyze", str(clean_log), "--max-errors", "1", "-o", "json").json()
    result = next(r for r in doc["results"] if r["id"] == "logs.errors")
    assert (result["status"], result["reason"], result["metrics"]["errors"]) == ("CRITICAL", "threshold", errors)
    # a breached threshold is explained by the largest patterns, with what to do
    assert doc["findings"] and doc["findings"][0]["status"] == "CRITICAL" and doc["findings"][0]["fix"]
    count = run_cli("logs", "count", str(clean_log), "--max-errors", "1", "-o", "nagios")
    assert count.code == 2 and count.stdout.startswith("AGENTOPS CRITICAL")


def test_the_table_shows_patterns_sparklines_and_actions(bad_log: tuple[Path, dict[str, Any]]) -> None:
    path, _ = bad_log
    result = run_cli("logs", "analyze", str(path))
    assert result.code == 0, result.stderr
    assert_no_traceback(result)
    out = result.stdout
    for heading in ("Error patterns", "Recommended actions", "Security events", "Slow operations", "logs.input"):
        assert heading in out
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")
    assert "agent-not-found" in out and "bad input:" in out


def _bare_error(result: CliResult, fragment: str) -> None:
    assert result.code == 3, (result.code, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentops: error:") and fragment in lines[0], result.stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (("analyze", "/nonexistent/agents.log"), "no such file"),
    (("analyze", "/nonexistent/*.log"), "no such file"),
    (("analyze",), "no input"),
    (("analyze", "{log}", "--since", "yesterday"), "--since"),
    (("analyze", "{log}", "--until", "2024-13-45"), "--until"),
    (("analyze", "{log}", "--since", "2024-05-02", "--until", "2024-05-01"), "before"),
    (("analyze", "{log}", "--level", "loud"), "--level"),
    (("analyze", "{log}", "--max-errors", "many"), "--max-errors"),
    (("analyze", "{log}", "--max-error-rate", "1,2,3"), "--max-error-rate"),
    (("analyze", "{log}", "--max-errors", "10,5"), "warning limit 10 is above the critical 5"),
    (("analyze", "{log}", "--max-errors", "-1"), "0 or more"),
    (("analyze", "{log}", "--max-errors", "nan"), "0 or more"),
    (("analyze", "{log}", "--max-errors", ","), "--max-errors"),
    (("analyze", "{log}", "--max-error-rate", "200"), "at most 100"),
    (("analyze", "{log}", "--max-error-rate", "5%,200%"), "at most 100"),
    (("analyze", "{log}", "--max-error-rate", "30/min,10/min"), "warning limit 30 is above the critical 10"),
    (("analyze", "{log}", "--max-error-rate", "1%,30/min"), "not both"),
    (("analyze", "{log}", "--max-error-rate", "50/min,10"), "warning limit 50 is above the critical 10"),
    (("count", "{log}", "--max-errors", "10,5"), "warning limit"),
    (("analyze", "{log}", "--slow", "fast"), "--slow"),
    (("analyze", "{log}", "--journal-dir", "/tmp"), "--journal"),
    (("count", "{log}", "--level", "x"), "--level"),
    (("trace", " ", "{log}"), "ID"),
])
def test_usage_errors_are_one_line_and_exit_3(clean_log: Path, args: tuple[str, ...], fragment: str) -> None:
    _bare_error(run_cli("logs", *[a.replace("{log}", str(clean_log)) for a in args]), fragment)


def test_journal_without_journald_says_so(clean_log: Path) -> None:
    if os.path.exists("/run/systemd/journal"):
        pytest.skip("journald runs here; this checks the machine without it")
    _bare_error(run_cli("logs", "analyze", "--journal", "agents-host"), "journal")


JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"


def write_journal(directory: Path, entries: list[dict[str, str]]) -> None:
    """A real journal file, written by systemd's own journal writer (systemd-journal-remote, from journald's
    export format) since journald itself cannot run in this container; journalctl reads it as it would
    /var/log/journal."""
    if not os.access(JOURNAL_REMOTE, os.X_OK):
        pytest.skip("systemd-journal-remote is not installed (scripts/system-deps.sh installs it)")
    export = directory / "entries.export"
    with export.open("w") as fh:
        for n, entry in enumerate(entries):
            fields = {"__MONOTONIC_TIMESTAMP": str(1000 + n), "_BOOT_ID": "0123456789abcdef0123456789abcdef",
                      "_HOSTNAME": "node1", **entry}
            fh.write("".join(f"{k}={v}\n" for k, v in fields.items()) + "\n")
    journal = directory / "journal"
    journal.mkdir()
    subprocess.run([JOURNAL_REMOTE, f"--output={journal / 'remote.journal'}", str(export)], check=True,
                   capture_output=True, timeout=30)


def test_journal_through_journalctl(tmp_path: Path) -> None:
    """--journal UNIT reads what the real journalctl prints for the unit, from a real journal file: only that
    unit's entries, from --since on, a PRIORITY of 3 (err) counted as an error as much as a JSON message's
    own level."""
    unit = {"_SYSTEMD_UNIT": "agents-host.service", "SYSLOG_IDENTIFIER": "python3"}
    write_journal(tmp_path, [
        {"__REALTIME_TIMESTAMP": "1714435100000000", "PRIORITY": "3", **unit,
         "MESSAGE": "Agent early not found, failed to deliver message."},  # before --since
        {"__REALTIME_TIMESTAMP": "1714521600000000", "PRIORITY": "3", **unit,
         "MESSAGE": "Agent planner not found, failed to deliver message."},
        {"__REALTIME_TIMESTAMP": "1714521601000000", "PRIORITY": "6", **unit,
         "MESSAGE": json.dumps({"timestamp": "2024-05-01T00:00:01.000000Z", "level": "ERROR", "logger": "x",
                                "message": "Agent router not found, failed to deliver message."})},
        {"__REALTIME_TIMESTAMP": "1714521602000000", "PRIORITY": "6", **unit, "MESSAGE": "Client 1 connected."},
        {"__REALTIME_TIMESTAMP": "1714521603000000", "PRIORITY": "3", "_SYSTEMD_UNIT": "other.service",
         "MESSAGE": "Agent elsewhere not found, failed to deliver message."},  # another unit
    ])
    result = run_cli("logs", "analyze", "--journal", "agents-host", "--journal-dir", str(tmp_path / "journal"),
                     "--since", "2024-04-30T00:00:00Z", "--min-count", "1", "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()["data"]
    assert data["counts"]["records"] == 3 and data["counts"]["errors"] == 2
    pattern = data["patterns"][0]
    assert pattern["count"] == 2 and pattern["components"] == {"agents-host": 2}
    assert set(pattern["agents"]) == {"planner", "router"}
    counted = run_cli("logs", "count", "--journal", "agents-host", "--journal-dir", str(tmp_path / "journal"),
                      "-o", "json")
    assert counted.json()["data"]["counts"]["errors"] == 3  # no --since: the early one too


def test_stdin_plain_and_gzipped(clean_log: Path) -> None:
    body = clean_log.read_bytes()[:200_000]
    body = body[:body.rfind(b"\n") + 1]
    expected = sum(1 for line in body.splitlines() if json.loads(line)["level"] in ERROR_LEVELS)
    for data in (body, gzip.compress(body)):
        proc = subprocess.run([sys.executable, "-m", "agentops", "logs", "count", "-", "-o", "json"], input=data,
                              capture_output=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["data"]["counts"]["errors"] == expected
    # `cat a.gz b.gz |` is two gzip members; a stream cut short or followed by junk keeps what decompressed and
    # says the input was read only in part.
    half = body[:body.rfind(b"\n", 0, len(body) // 2) + 1]
    first = sum(1 for line in half.splitlines() if json.loads(line)["level"] in ERROR_LEVELS)
    cut = gzip.compress(body)
    for data, errors, status in ((gzip.compress(half) + gzip.compress(body[len(half):]), expected, "OK"),
                                 (cut[:len(cut) * 3 // 4], None, "WARNING"),
                                 (gzip.compress(half) + b"\x1f\x8b\x08garbage" * 50, first, "WARNING")):
        proc = subprocess.run([sys.executable, "-m", "agentops", "logs", "count", "-", "-o", "json"], input=data,
                              capture_output=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
        assert "Traceback" not in proc.stderr.decode()
        doc = json.loads(proc.stdout)
        assert doc["results"][0]["status"] == status, doc["results"][0]
        assert proc.returncode == (0 if status == "OK" else 1)
        got = doc["data"]["counts"]["errors"]
        assert got == errors if errors is not None else 0 < got < expected


def _as_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI unable to read a mode-000 file: as root, without the capabilities that bypass file modes."""
    cmd = [sys.executable, "-m", "agentops", *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})


def test_unreadable_inputs_are_counted_not_fatal(tmp_path: Path, clean_log: Path) -> None:
    shutil.copy(clean_log, tmp_path / "w1.log")
    locked = tmp_path / "host.log"
    shutil.copy(clean_log, locked)
    locked.chmod(0)
    (tmp_path / "w2.log").symlink_to(tmp_path / "rotated-away.log")  # a dangling symlink
    proc = _as_unprivileged("logs", "analyze", str(tmp_path), "-o", "json")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1, proc.stderr  # WARNING: the analysis is missing inputs
    doc = json.loads(proc.stdout)
    status = {Path(s["name"]).name: (s["status"], s.get("reason")) for s in doc["data"]["inputs"]["sources"]}
    assert status == {"host.log": ("unreadable", "permission denied"), "w1.log": ("read", None),
                      "w2.log": ("unreadable", "no such file or directory")}
    assert doc["data"]["bad_input"]["unreadable_inputs"] == 2
    assert doc["data"]["counts"]["errors"] == _oracle(clean_log, lambda r: True)[1]
    only_locked = _as_unprivileged("logs", "analyze", str(locked), "-o", "json")
    assert only_locked.returncode == 3 and json.loads(only_locked.stdout)["status"] == "UNKNOWN"
    assert "Traceback" not in only_locked.stderr


def test_a_truncated_gzip_is_a_warning_naming_what_was_lost(tmp_path: Path, clean_log: Path) -> None:
    """A rotated log cut short (a copy interrupted, a full disk): what decompressed is analysed, and the result
    says the input was read only in part, so a cron gate exits non-zero instead of trusting a partial count."""
    whole = gzip.compress(clean_log.read_bytes())
    cut = tmp_path / "w1.log.1.gz"
    cut.write_bytes(whole[:len(whole) // 2])
    shutil.copy(clean_log, tmp_path / "w2.log")
    for command in (("analyze",), ("count",), ("trace", "no-such-id-0123456789")):
        result = run_cli("logs", *command, str(tmp_path), "-o", "json")
        assert_no_traceback(result)
        doc = result.json()
        inputs = next(r for r in doc["results"] if r["id"] == "logs.input")
        assert inputs["status"] == "WARNING" and inputs["reason"] == "protocol", inputs
        assert "w1.log.1.gz" in inputs["message"] and "past the damage are lost" in inputs["message"]
        assert "w2.log" not in inputs["message"]
        assert result.code == (3 if command[0] == "trace" else 1), (command, result.stderr)
    # Half a compressed file holds part of the records: fewer than the whole, more than none — also when what
    # decompressed is less than one read.
    errors = analyze_json(str(cut))["data"]["counts"]["errors"]
    assert 0 < errors < _oracle(clean_log, lambda r: True)[1]
    small = clean_log.read_bytes()[:300_000]
    whole = gzip.compress(small[:small.rfind(b"\n") + 1])
    cut.write_bytes(whole[:len(whole) // 2])
    assert analyze_json(str(cut))["data"]["counts"]["records"] > 100


def test_records_without_timestamps_have_no_rate_per_minute(tmp_path: Path) -> None:
    """Python logging's default layout has no time: there is no span to divide by, so the rate is n/a rather
    than errors per one invented minute, and a per-minute threshold cannot be judged (UNKNOWN, saying why)."""
    log = tmp_path / "w1.log"
    log.write_text("ERROR:agents:handler failed: boom\nERROR:agents:handler failed: boom\nINFO:agents:ok\n")
    doc = analyze_json(str(log), "--min-count", "1")
    data = doc["data"]
    assert data["counts"]["errors"] == 2 and data["bad_input"]["untimed_records"] == 2
    assert data["counts"]["errors_per_minute"] is None and data["span"]["minutes"] is None
    errors = next(r for r in doc["results"] if r["id"] == "logs.errors")
    assert "errors_per_minute" not in errors["metrics"] and errors["status"] == "OK"
    table = run_cli("logs", "analyze", str(log), "--min-count", "1")
    assert table.code == 0 and "n/a per minute" in table.stdout and "/min)" not in table.stdout
    judged = run_cli("logs", "analyze", str(log), "--max-error-rate", "1/min", "-o", "json")
    assert_no_traceback(judged)
    rate = next(r for r in judged.json()["results"] if r["id"] == "logs.error_rate")
    assert judged.code == 3 and rate["status"] == "UNKNOWN" and "no timestamps" in rate["message"], rate
    assert run_cli("logs", "analyze", str(log), "--max-error-rate", "50%").code == 2  # 2 of 3 records
    log.write_text("INFO:agents:ok\n")  # no errors: a rate of 0 whatever the span
    assert run_cli("logs", "analyze", str(log), "--max-error-rate", "1/min").code == 0


def test_a_50_mb_line_does_not_blow_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.log"
    with path.open("w") as fh:
        fh.write(json.dumps({"timestamp": "2024-05-01T00:00:00Z", "level": "INFO", "message": "before"}) + "\n")
        fh.write(json.dumps({"timestamp": "2024-05-01T00:00:01Z", "level": "ERROR", "logger": "agents.caller",
                             "message": "payload dump " + "x" * (50 << 20)}) + "\n")
        fh.write(json.dumps({"timestamp": "2024-05-01T00:00:02Z", "level": "ERROR", "message": "after"}) + "\n")
    # A parent of its own, so RUSAGE_CHILDREN is the CLI's peak alone.
    probe = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True); "
             "sys.stdout.buffer.write(p.stdout); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode, file=sys.stderr)")
    for command in ("analyze", "count"):
        proc = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "agentops", "logs", command,
                               str(path), "-o", "json"], capture_output=True, text=True, timeout=120)
        peak_kib, code = map(int, proc.stderr.split()[-2:])
        assert code == 0 and peak_kib < 150 * 1024, (command, peak_kib)
        data = json.loads(proc.stdout)["data"]
        assert data["counts"]["errors"] == 2 and data["bad_input"]["oversized_lines"] == 1
