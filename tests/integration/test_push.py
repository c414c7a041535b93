"""`health --push` to Debian's real prometheus-pushgateway: one group per host and pack, replaced by each push,
deleted by `--push-delete`; a Pushgateway that is down exits 3 after the report. And the textfile collector's
file (`-o prometheus --output-file`), valid for promtool, with the run's timestamp so its age can be alerted on."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

from tests.fixtures.common import free_port
from tests.fixtures.serve import PushgatewayServer, parse_samples
from tests.fixtures.services import require_binary


def _groups(text: str) -> set[tuple[str, str, str]]:
    return {(labels["job"], labels["instance"], labels["pack"])
            for labels, _ in parse_samples(text, "agentops_check_status")}


def test_push_groups_by_host_and_pack_and_deletes(tmp_path: Path, cli: Any) -> None:
    host = platform.node()
    with PushgatewayServer(tmp_path) as gateway:
        r = cli("health", "--push", gateway.url, "-o", "json", "--fail-on", "never")
        assert r.code == 0, r.stderr
        r = cli("health", "--pack", "host", "--only", "host.memory", "--push", gateway.url, "-o", "json",
                "--fail-on", "never")
        assert r.code == 0, r.stderr
        text = gateway.metrics()
        assert _groups(text) == {("agentops", host, "default"), ("agentops", host, "host")}
        # The second push replaced only its own group: it holds one check, the other group all of them.
        checks = {(labels["pack"], labels["check"]) for labels, _ in parse_samples(text, "agentops_check_status")}
        assert {c for p, c in checks if p == "host"} == {"host.memory"}
        assert len({c for p, c in checks if p == "default"}) > 1
        assert parse_samples(text, "agentops_run_timestamp_seconds")
        r = cli("health", "--pack", "host", "--push", gateway.url, "--push-delete")
        assert r.code == 0 and r.stdout == "" and "deleted" in r.stderr, r.stderr
        assert _groups(gateway.metrics()) == {("agentops", host, "default")}


def test_push_failures_are_one_line_and_exit_3(cli: Any) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    r = cli("health", "--only", "host.memory", "--push", down, "-o", "json", "--fail-on", "never")
    assert r.code == 3 and r.json()["kind"] == "health", r.stderr  # the report is still written
    assert "push failed" in r.stderr and "Traceback" not in r.stderr
    r = cli("health", "--push", "ftp://x/")
    assert r.code == 3 and r.stderr.count("\n") == 1 and "not an http(s)://" in r.stderr
    r = cli("health", "--push-delete")
    assert r.code == 3 and "needs --push" in r.stderr


def test_textfile_collector_file_is_valid_and_carries_its_time(tmp_path: Path, cli: Any) -> None:
    promtool = require_binary("promtool", "prometheus")
    out = tmp_path / "agentops.prom"
    r = cli("health", "-o", "prometheus", "--output-file", str(out), "--fail-on", "never")
    assert r.code == 0 and r.stdout == "", r.stderr
    check = subprocess.run([promtool, "check", "metrics"], input=out.read_text(), capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    [(_, stamp)] = parse_samples(out.read_text(), "agentops_run_timestamp_seconds")
    assert stamp > 0
