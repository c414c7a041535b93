"""`agentops watch`: the plan re-run on an interval; each refresh's document carries each metric's recent
values and the status changes with their time. A service coming up mid-watch shows as a change."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.common import RunningCli, free_port
from tests.fixtures.report_schema import validate_report


def _config(path: Path, port: int) -> Path:
    path.write_text(yaml.safe_dump({
        "version": 1, "packs": ["host"],
        "targets": [{"name": "svc", "kind": "tcp", "address": f"127.0.0.1:{port}"}],
        "checks": [{"id": "svc.tcp", "probe": "net.tcp", "target": "svc", "timeout": 2}]}))
    return path


def _svc(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["results"] if r["id"] == "svc.tcp")


def test_watch_shows_a_change_as_it_happens(tmp_path: Path) -> None:
    port = free_port()
    config = _config(tmp_path / "agentops.yaml", port)
    with RunningCli("watch", "-c", str(config), "--interval", "0.2", "-o", "json") as watch:
        assert watch.proc.stdout is not None
        first = json.loads(watch.proc.stdout.readline())
        validate_report(first)
        assert first["kind"] == "watch" and _svc(first)["status"] == "CRITICAL"
        with socket.socket() as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen(16)
            while True:  # refreshes go on; wait for the one that sees the service up
                doc = json.loads(watch.proc.stdout.readline())
                if _svc(doc)["status"] == "OK":
                    break
        validate_report(doc)
        [change] = [c for c in doc["data"]["changes"] if c["check"] == "svc.tcp"]
        assert (change["before"], change["after"], change["target"]) == ("CRITICAL", "OK", "svc")
        history = {(h["check"], h["metric"]): h["values"] for h in doc["data"]["history"]}
        assert len(history[("host.memory", "memory_used_percent")]) >= 2  # one value per refresh so far
        result = watch.stop(signal.SIGINT)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_watch_table_with_count(tmp_path: Path, cli: Any) -> None:
    config = _config(tmp_path / "agentops.yaml", free_port())
    r = cli("watch", "-c", str(config), "--interval", "0.1", "--count", "3", "--only", "svc.tcp,host.memory")
    assert r.code == 2, r.stderr  # the last refresh's status, as health exits
    assert r.stdout.count("agentops watch") == 3 and "memory_used_percent" in r.stdout
    assert "CRITICAL" in r.stdout and "Traceback" not in r.stderr
    r = cli("watch", "-c", str(config), "--only", "nothing-matches", "--count", "1")
    assert r.code == 3 and "no check to run" in r.stderr
