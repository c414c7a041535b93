"""Hostile log input through the real CLI (issue 10, items 4, 6, 17, 18, 19): exit codes and reasons as users
meet them, never a traceback, never `internal`, never a hang (every run has a subprocess timeout far above
what the work costs, and far below what the old loops took)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.common import assert_no_traceback, run_cli

GOOD = json.dumps({"timestamp": "2024-05-01T10:00:00.000Z", "level": "ERROR", "message": "boom"}) + "\n"
COMMANDS = (("analyze",), ("count",), ("trace", "4bf92f3577b34da6a3ce929d0e0e4736"))


@pytest.mark.parametrize("ts", ["Infinity", "1e999", '"Infinity"', "NaN", "-1e308"])
def test_a_timestamp_that_is_not_a_time_with_since(tmp_path: Path, ts: str) -> None:
    log = tmp_path / "w1.log"
    log.write_text(GOOD + f'{{"timestamp": {ts}, "level": "ERROR", "message": "bad"}}\n' + GOOD)
    for command in ("analyze", "count"):
        result = run_cli("logs", command, str(log), "--since", "2024-05-01T09:00:00Z", "-o", "json", timeout=60)
        assert_no_traceback(result)
        assert result.code == 0, result.stderr
        assert result.json()["data"]["counts"]["errors"] == 3


def test_a_fifo_is_refused_at_once_not_read(tmp_path: Path) -> None:
    """Decision: a FIFO given as a log file is refused (skipped, named, `assertion`), never opened, so no
    writer is waited for; to read a pipe, give it on stdin (`agentops logs analyze - < fifo`)."""
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    for command in COMMANDS:
        result = run_cli("logs", *command, str(fifo), "-o", "json", timeout=60)
        assert_no_traceback(result)
        doc = result.json()
        assert result.code == 3, result.stderr
        inputs = doc["results"][0]
        assert inputs["status"] == "UNKNOWN" and inputs["reason"] == "assertion", inputs
        assert "not a regular file" in inputs["message"]


def test_a_binary_file_and_a_directory_link_are_input_reasons(tmp_path: Path) -> None:
    (tmp_path / "core.bin").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 20)
    for target in (tmp_path / "core.bin", "/dev/null"):
        result = run_cli("logs", "analyze", str(target), "-o", "json", timeout=60)
        assert_no_traceback(result)
        assert result.code == 3 and result.json()["results"][0]["reason"] == "assertion", result.stdout


def test_copytruncate_nuls_then_records(tmp_path: Path) -> None:
    log = tmp_path / "w1.log"
    log.write_bytes(b"\0" * 300_000 + (GOOD * 4).encode())
    for command in ("analyze", "count"):
        result = run_cli("logs", command, str(log), "-o", "json", timeout=60)
        assert_no_traceback(result)
        assert result.code == 0, result.stderr
        data = result.json()["data"]
        assert data["counts"]["errors"] == 4 and data["bad_input"]["nul_bytes"] == 300_000
    table = run_cli("logs", "analyze", str(log), timeout=60)
    assert "nul bytes" in table.stdout.lower(), table.stdout


@pytest.mark.parametrize("body", [b"", b"\n\n\n", b"\0" * 100])
def test_a_gate_over_no_records_is_unknown(tmp_path: Path, body: bytes) -> None:
    log = tmp_path / "empty.log"
    log.write_bytes(body)
    for command in ("analyze", "count"):
        result = run_cli("logs", command, str(log), "--max-errors", "10", "-o", "json", timeout=60)
        assert_no_traceback(result)
        assert result.code == 3, (command, result.stdout)
        errors = next(r for r in result.json()["results"] if r["id"] == "logs.errors")
        assert errors["status"] == "UNKNOWN" and "no records were read" in errors["message"], errors
        assert run_cli("logs", command, str(log), timeout=60).code == 0  # no gate: nothing found is the answer
    stdin = subprocess.run([sys.executable, "-m", "agentops", "logs", "analyze", "-", "--max-errors", "10"],
                           input=body, capture_output=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert stdin.returncode == 3 and b"no records were read" in stdin.stdout, stdin.stdout


def test_gzip_on_stdin_reads_what_the_path_reads(tmp_path: Path) -> None:
    """A highly compressible gzip piped in (the 174 s case): the same answer as by path."""
    body = "".join(json.dumps({"timestamp": f"2024-05-01T10:{i // 1000 % 60:02d}:00.000Z",
                               "level": "ERROR" if i % 7 == 0 else "INFO", "message": "same " * 30}) + "\n"
                   for i in range(40_000)).encode() + b"\n" * 200_000
    path = tmp_path / "a.log.gz"
    path.write_bytes(gzip.compress(body))
    by_path = run_cli("logs", "analyze", str(path), "-o", "json", timeout=120)
    with path.open("rb") as fh:
        piped = subprocess.run([sys.executable, "-m", "agentops", "logs", "analyze", "-", "-o", "json"], stdin=fh,
                               capture_output=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert piped.returncode == by_path.code == 0, piped.stderr
    assert json.loads(piped.stdout)["data"]["counts"] == by_path.json()["data"]["counts"]
