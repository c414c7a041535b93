"""`agentops health --until-healthy --wait N`: a deploy gate that runs again until the status passes, with its
progress on stderr; it passes as soon as the service it waits for comes up, and gives up with the last run's
status (and the usual exit code) when it does not."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.common import RunningCli, free_port


def _config(path: Path, port: int) -> Path:
    path.write_text(yaml.safe_dump({
        "version": 1, "packs": [],
        "targets": [{"name": "svc", "kind": "tcp", "address": f"127.0.0.1:{port}"}],
        "checks": [{"id": "svc.tcp", "probe": "net.tcp", "target": "svc", "timeout": 2}]}))
    return path


def test_the_gate_opens_when_the_service_comes_up(tmp_path: Path) -> None:
    port = free_port()
    config = _config(tmp_path / "agentops.yaml", port)
    with RunningCli("health", "-c", str(config), "--until-healthy", "--wait", "300", "--every", "0.2",
                    "-o", "json") as gate:
        assert gate.proc.stderr is not None
        first = gate.proc.stderr.readline()  # the first "not healthy yet" line: the gate is waiting
        assert "not healthy yet (run 1): CRITICAL set by svc.tcp@svc" in first, first
        with socket.socket() as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen(16)
            result = gate.finish(timeout=120)
    assert result.code == 0, result.stderr
    assert result.json()["status"] == "OK"
    assert result.stderr.rstrip().endswith("agentops: healthy")


def test_the_gate_gives_up_with_the_last_status(tmp_path: Path, cli: Any) -> None:
    config = _config(tmp_path / "agentops.yaml", free_port())
    r = cli("health", "-c", str(config), "--until-healthy", "--wait", "1", "--every", "0.1", "-o", "json")
    assert r.code == 2, r.stderr
    assert r.json()["status"] == "CRITICAL" and r.json()["results"][0]["reason"] == "connect"
    assert "not healthy yet (run 1)" in r.stderr and "gave up after 1s: still CRITICAL" in r.stderr
    # --fail-on never: the first run passes the gate whatever it found.
    r = cli("health", "-c", str(config), "--until-healthy", "--fail-on", "never", "-o", "json")
    assert r.code == 0 and "not healthy yet" not in r.stderr
