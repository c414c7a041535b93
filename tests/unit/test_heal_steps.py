"""heal's process and Redis steps on real parts: a real redis-server (SCAN + UNLINK bounded, CLIENT KILL of
named connections only), a real stopped process (SIGCONT), and the systemd step's argv and applicability
(no systemd runs on these machines: what it would run is what is checked)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from agentops.core import registry
from agentops.core.config import Config, parse_config
from agentops.core.yamlsrc import load_yaml_text
from agentops.heal.step import HealContext
from agentops.heal.targets import HealTarget, heal_targets
from tests.fixtures.common import wait_for


def config(tmp_path: Path, worker_options: dict[str, Any], redis_port: int | None = None) -> Config:
    targets: list[dict[str, Any]] = [{"name": "w1", "kind": "worker", "options": {"agent_types": ["echo"],
                                                                                  **worker_options}}]
    if redis_port:
        targets.append({"name": "cache", "kind": "redis", "address": f"127.0.0.1:{redis_port}"})
    text = json.dumps({"version": 1, "targets": targets})
    path = tmp_path / "agentops.yaml"
    path.write_text(text)
    return parse_config(load_yaml_text(text, str(path)), str(path))


def ctx(cfg: Config, params: dict[str, Any], timeout: float = 30) -> HealContext:
    t: HealTarget = heal_targets(cfg)[0]
    return HealContext(target=t, params=params, config=cfg, cluster=None, timeout=timeout, state_dir=Path("/tmp"))


def run(kind: str, c: HealContext) -> Any:
    step = registry.heal_step(kind)
    step.validate_params(c.params)
    assert step.applicable(c) is None, step.applicable(c)
    return asyncio.run(step.apply(c))


def test_resume_sends_sigcont_to_the_stopped_process_only(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "heal-resume-test"])
    try:
        cfg = config(tmp_path, {"process": {"pid_file": str(tmp_path / "w1.pid")}})
        (tmp_path / "w1.pid").write_text(f"{proc.pid}\n")
        step = registry.heal_step("worker.resume")
        assert "no stopped process" in step.applicable(ctx(cfg, {}))
        proc.send_signal(signal.SIGSTOP)
        wait_for(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_STOPPED, what="the process to stop")
        c = ctx(cfg, {})
        assert step.plan(c).action == f"send SIGCONT to pid {proc.pid}"
        out = run("worker.resume", c)
        assert out.status.value == "changed" and out.changes == [f"sent SIGCONT to pid {proc.pid}"]
        assert psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED
    finally:
        proc.kill()
        proc.wait()


def test_restart_unit_runs_systemctl_restart_of_the_workers_unit(tmp_path: Path) -> None:
    step = registry.heal_step("worker.restart_unit")
    assert "no systemd `unit`" in step.applicable(ctx(config(tmp_path, {}), {}))
    c = ctx(config(tmp_path, {"unit": "agents-w1.service"}), {"user": True})
    assert step.argv(c) == ["systemctl", "--user", "restart", "--", "agents-w1.service"]
    assert step.plan(c).to == "unit agents-w1.service (worker w1)"
    with pytest.raises(ValueError, match="user: expected true or false"):
        step.validate_params({"user": "yes"})


def test_clear_prefix_unlinks_only_the_prefix_and_at_most_max_keys(tmp_path: Path, redis_server: Any) -> None:
    r = redis_server.client()
    r.flushdb()
    r.mset({**{f"cache:{i}": "x" for i in range(30)}, "cache*literal": "y", "session:1": "keep", "cachex": "keep"})
    cfg = config(tmp_path, {}, redis_server.port)
    out = run("redis.clear_prefix", ctx(cfg, {"target": "cache", "prefix": "cache:", "max_keys": 20, "batch": 7}))
    assert out.after == {"deleted_keys": 20.0} and "stopped at max_keys" in out.message
    assert len(r.keys("cache:*")) == 10 and r.get("session:1") == b"keep" and r.get("cachex") == b"keep"
    out = run("redis.clear_prefix", ctx(cfg, {"target": "cache", "prefix": "cache*"}))
    assert out.after == {"deleted_keys": 1.0}  # a glob character in the prefix is literal
    assert r.exists("cache*literal") == 0 and len(r.keys("cache:*")) == 10
    with pytest.raises(ValueError, match="prefix"):
        registry.heal_step("redis.clear_prefix").validate_params({"target": "cache", "prefix": ""})


def test_reset_connections_kills_only_the_named_clients(tmp_path: Path, redis_server: Any) -> None:
    pool = [redis_server.client() for _ in range(3)]
    for i, c in enumerate(pool):
        c.client_setname(f"worker-w1-{i}" if i < 2 else "other")
    cfg = config(tmp_path, {}, redis_server.port)
    out = run("redis.reset_connections", ctx(cfg, {"target": "cache", "client_name": "worker-w1-"}))
    assert out.changes_total == 2
    names = [c.get("name") for c in redis_server.client().client_list()]
    assert "other" in names and not any(str(n).startswith("worker-w1-") for n in names)
    step = registry.heal_step("redis.reset_connections")
    assert "no redis target named 'nope'" in step.applicable(ctx(cfg, {"target": "nope", "client_name": "x"}))


def test_failover_starts_the_standby_with_its_own_command(tmp_path: Path) -> None:
    marker = tmp_path / "standby-started"
    targets = [{"name": "w1", "kind": "worker", "options": {"agent_types": ["echo"], "heal": {"standby": "w1b"}}},
               {"name": "w1b", "kind": "worker", "options": {"agent_types": ["echo"], "heal": {
                   "restart_command": ["touch", str(marker)]}}}]
    text = json.dumps({"version": 1, "targets": targets})
    path = tmp_path / "agentops.yaml"
    path.write_text(text)
    cfg = parse_config(load_yaml_text(text, str(path)), str(path))
    c = ctx(cfg, {})
    step = registry.heal_step("worker.failover")
    assert step.plan(c).to == "standby worker w1b (for w1)"
    out = run("worker.failover", c)
    assert marker.exists() and out.changes == [f"started standby w1b: ran touch {marker}"]
    no_standby = ctx(config(tmp_path, {}), {})
    assert "no options.heal.standby" in step.applicable(no_standby)
