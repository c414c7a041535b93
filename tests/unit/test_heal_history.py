"""heal's history: maintain's audit format in <state_dir>/heal/, counted per target and window, closed by the
next run after a SIGKILL, and never holding a secret. The commands here are real processes; the verification
stands in for the diagnosis (no cluster here) by checking what the command really did."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from agentops.core.config import Config
from agentops.heal.engine import HealOptions, new_run, run_runbook, step_result, target_result
from agentops.heal.history import attempts, history_rows, open_history, read_history, recover, unfinished
from agentops.heal.runbook import ModeRunbook, RunbookStep
from agentops.heal.targets import HealTarget, Verdict
from agentops.maintain.audit import AuditLog
from tests.fixtures.heal_targets import dead_worker, healthy

SECRET = "hunter2-Zq8vL1x"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_attempts_are_counted_per_target_within_the_window(tmp_path: Path) -> None:
    log = open_history(tmp_path, "r1", apply=True)
    log.write("attempt.start", target="w1", mode="worker-dead")
    log.write("attempt.end", target="w1", outcome="healed")
    open_history(tmp_path, "r2", apply=True).write("attempt.start", target="w2", mode="worker-dead")
    open_history(tmp_path, "plan", apply=False).write("attempt.start", target="w1", mode="worker-dead")
    recs = read_history(tmp_path)
    assert [(a.run_id, a.outcome) for a in attempts(recs, "w1", 0)] == [("r1", "healed")]
    assert attempts(recs, "w1", time.time() + 60) == []  # outside the window
    assert (tmp_path / "heal" / "audit.jsonl").stat().st_mode & 0o777 == 0o600


def test_a_killed_run_is_closed_by_the_next_one(tmp_path: Path) -> None:
    killed = AuditLog(tmp_path / "heal", playbook="heal", run_id="killed", check=False)
    (tmp_path / "heal").mkdir(exist_ok=True)
    killed.base["pid"] = dead_pid()  # what a SIGKILLed heal leaves: its pid is gone
    killed.write("run.start", apply=True, targets=["w1"])
    killed.write("attempt.start", target="w1", mode="worker-dead")
    killed.write("step.start", target="w1", step="restart", kind="worker.restart", plan={})
    live = open_history(tmp_path, "live", apply=True)
    live.write("run.start", apply=True, targets=["w2"])  # this process: alive, so left open
    assert [r["run_id"] for r in unfinished(read_history(tmp_path))] == ["killed"]
    assert recover(live, read_history(tmp_path), "rerun") == ["killed"]
    recs = read_history(tmp_path)
    assert unfinished(recs) == []
    closing = [(r["event"], r["run_id"], r.get("outcome"), r["recovered_by"]) for r in recs if r.get("recovered_by")]
    assert closing == [("attempt.end", "killed", "interrupted", "rerun"), ("run.end", "killed", None, "rerun")]
    assert [(r["run_id"], r["outcome"]) for r in history_rows(recs)] == [("killed", "interrupted")]
    assert attempts(recs, "w1", 0)[0].outcome == "interrupted"  # it still counts against the budget


def target(tmp_path: Path, argv: list[str]) -> tuple[Config, HealTarget]:
    return dead_worker(tmp_path, {"restart_command": argv, "restart_timeout": 30})


def test_a_secret_in_the_restart_command_reaches_no_record_and_no_report(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    argv = ["sh", "-c", f'touch {marker}; echo "starting with $1"', "sh", f"--password={SECRET}"]
    cfg, t = target(tmp_path, argv)
    run = new_run(cfg, HealOptions(state_dir=tmp_path / "state", apply=True))
    run.history = open_history(run.opts.state_dir, run.run_id, apply=True)
    rb = ModeRunbook("worker-dead", "test", tmp_path / "rb.yaml",
                     [RunbookStep("restart", "worker.restart", params={"stop_first": False})])

    async def verify(tg: HealTarget, within_s: float, acted_at: float) -> Verdict:
        return healthy() if marker.exists() else tg.verdict  # type: ignore[return-value]

    out = asyncio.run(run_runbook(rb, t, run, verify))
    assert out.outcome == "healed" and marker.exists()
    history = (tmp_path / "state" / "heal" / "audit.jsonl").read_text()
    assert SECRET not in history and "starting with" in history
    docs = json.dumps([target_result(out, run.specs).to_dict(), *(step_result("w1", s, run.specs).to_dict()
                                                                    for s in out.steps)])
    assert SECRET not in docs and "--password=" in docs


def test_a_failing_command_escalates_and_ends_needing_a_human(tmp_path: Path) -> None:
    cfg, t = target(tmp_path, ["sh", "-c", "echo no disk >&2; exit 7"])
    run = new_run(cfg, HealOptions(state_dir=tmp_path / "state", apply=True))
    run.history = open_history(run.opts.state_dir, run.run_id, apply=True)
    rb = ModeRunbook("worker-dead", "test", tmp_path / "rb.yaml",
                     [RunbookStep("restart", "worker.restart", params={"stop_first": False}),
                      RunbookStep("unit", "worker.restart_unit")])

    async def never(tg: HealTarget, within_s: float, acted_at: float) -> Verdict:
        raise AssertionError("a failed step is not verified")

    out = asyncio.run(run_runbook(rb, t, run, never))
    first, second = out.steps
    assert first.outcome.status.value == "failed" and "exit code 7: no disk" in first.outcome.message
    assert second.outcome.status.value == "skipped" and "no systemd `unit`" in second.outcome.message
    assert out.outcome == "failed" and out.message.startswith("needs a human")
    assert target_result(out, run.specs).status.label == "CRITICAL"
    assert step_result("w1", first, run.specs).status.label == "CRITICAL"
