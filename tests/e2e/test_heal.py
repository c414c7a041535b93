"""`agentops heal` as users run it, on the real AutoGen lab: faults made for real (SIGSTOP, SIGKILL of a worker,
SIGKILL of heal itself), each remedy verified by the diagnosis, the safety rules (plan by default, consent, the
attempt budget, the breaker, one heal per worker, a history a killed run leaves complete) checked by what the
processes and the history show, not by what heal says about itself.

The restart command given in the config is what an init script does: start the worker detached (setsid, its
output to its stderr file) and write its pid file; it is the lab's own worker command line.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.fixtures.common import RunningCli, assert_no_traceback, run_cli
from tests.fixtures.lab import LabHandle, running_lab
from tests.fixtures.report_schema import validate_report

pytestmark = [pytest.mark.lab, pytest.mark.slow]

WORKERS = ("w1", "w2")
PROBE = {"w1": "echo", "w2": "echo2"}  # w2's first type, `failing`, raises by design: not a health signal


@pytest.fixture(scope="module")
def heal_lab(tmp_path_factory: pytest.TempPathFactory):
    with running_lab(tmp_path_factory.mktemp("heal-lab")) as handle:
        yield handle


@pytest.fixture
def lab(heal_lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> LabHandle:
    """The module's lab, healthy at the start of every test: a worker an earlier test left down is started
    again by heal itself (a fresh history, so no budget carries over)."""
    for name in WORKERS:
        proc = _proc(heal_lab, name)
        if proc is not None and proc.status() == psutil.STATUS_STOPPED:
            heal_lab.signal(name, signal.SIGCONT)
    if any(_proc(heal_lab, n) is None for n in WORKERS):
        d = tmp_path_factory.mktemp("restore")
        cfg = heal_config(heal_lab, d, breaker_off=True)
        out = heal(cfg, d / "state", "--apply", "--yes")
        assert out.code == 0, out.stdout + out.stderr
    return heal_lab


def _proc(lab: LabHandle, name: str) -> psutil.Process | None:
    pid = lab.layout.read_pid(name)
    try:
        p = psutil.Process(pid) if pid else None
        return p if p is not None and p.status() != psutil.STATUS_ZOMBIE else None
    except psutil.NoSuchProcess:
        return None


def start_script(lab: LabHandle, name: str) -> str:
    rec = next(p for p in lab.manifest.processes if p.name == name)
    cmd = list(rec.cmdline)
    cmd[cmd.index("--metrics-port") + 1] = lab.layout.port_file(name).read_text().strip() \
        if lab.layout.port_file(name).exists() else cmd[cmd.index("--metrics-port") + 1]
    line = " ".join(shlex.quote(a) for a in cmd)
    err = shlex.quote(str(lab.layout.stderr_file(name)))
    pid = shlex.quote(str(lab.layout.pid_file(name)))
    return f"cd {shlex.quote(str(lab.dir))} && setsid {line} >>{err} 2>&1 </dev/null & echo $! > {pid}"


def heal_config(lab: LabHandle, d: Path, *, before_start: str = "", breaker_off: bool = False,
                **policy: Any) -> Path:
    """The lab's own agentops.yaml plus, per worker, how heal restarts it; `before_start` runs first in the
    restart command (a gate a test holds the restart at)."""
    doc = yaml.safe_load(lab.config.read_text())
    for t in doc["targets"]:
        if t["kind"] == "worker":
            script = (before_start + "; " if before_start else "") + start_script(lab, t["name"])
            t["options"]["heal"] = {"probe_type": PROBE[t["name"]], "restart_command": ["sh", "-c", script]}
    doc["heal"] = {"backoff": "0s", **policy}
    if breaker_off:  # the breaker's share is data: a pack override in pack_dirs changes it
        packs = d / "packs"
        packs.mkdir(exist_ok=True)
        (packs / "heal.yaml").write_text(yaml.safe_dump({"pack": "heal", "checks": [
            {"id": "heal.breaker", "probe": "heal", "critical": {"unhealthy_share": "> 1"}}]}))
        doc["pack_dirs"] = [str(packs)]
    path = d / "agentops.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def heal(cfg: Path, state: Path, *args: str, timeout: float = 240) -> Any:
    out = run_cli("heal", "-c", str(cfg), "--state-dir", str(state), "-o", "json", *args, timeout=timeout)
    assert_no_traceback(out)
    return out


def targets(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for t in doc["data"]["targets"]}


def history(state: Path) -> list[dict[str, Any]]:
    path = state / "heal" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def kill(lab: LabHandle, name: str) -> int:
    p = _proc(lab, name)
    assert p is not None, f"{name} is not running"
    p.kill()
    p.wait(timeout=30)
    return p.pid


def test_the_plan_changes_nothing(lab: LabHandle, tmp_path: Path) -> None:
    lab.signal("w1", signal.SIGSTOP)
    w2_pid = kill(lab, "w2")
    w1 = _proc(lab, "w1")
    assert w1 is not None
    out = heal(heal_config(lab, tmp_path), tmp_path / "state")
    doc = out.json()
    validate_report(doc)
    t = targets(doc)
    assert doc["kind"] == "heal" and doc["data"]["apply"] is False
    assert t["w1"]["outcome"] == "planned" and t["w1"]["verdict"]["mode"] == "worker-frozen"
    assert t["w2"]["outcome"] == "planned" and t["w2"]["verdict"]["mode"] == "worker-dead"
    first = t["w1"]["steps"][0]
    assert first["id"] == "resume" and f"SIGCONT to pid {w1.pid}" in first["plan"]["action"]
    assert "worker-frozen" in first["plan"]["why"] and first["plan"]["to"] == "worker w1"
    # Both workers broken: the plan says --apply would be refused by the breaker, which sets the status.
    assert out.code == 2 and "heal.breaker@cluster" in doc["status_set_by"]
    assert "--apply would refuse: the blast-radius breaker is open" in t["w1"]["message"]
    assert next(r for r in doc["results"] if r["id"] == "heal.target" and r["target"] == "w1")["status"] == "WARNING"
    # Nothing changed: w1 is the same process, still stopped; w2 is still dead; nothing was recorded.
    assert _proc(lab, "w1").pid == w1.pid and w1.status() == psutil.STATUS_STOPPED
    assert _proc(lab, "w2") is None and lab.layout.read_pid("w2") == w2_pid
    assert [r for r in history(tmp_path / "state") if not r["check"]] == []


def test_apply_without_consent_is_refused(lab: LabHandle, tmp_path: Path) -> None:
    lab.signal("w1", signal.SIGSTOP)
    out = heal(heal_config(lab, tmp_path), tmp_path / "state", "--apply")
    assert out.code == 3 and out.stdout == ""
    assert out.stderr.startswith("agentops: error: heal --apply would act on w1 (worker-frozen) and there is no TTY")
    assert out.stderr.count("\n") == 1
    assert _proc(lab, "w1").status() == psutil.STATUS_STOPPED


def test_a_frozen_worker_is_resumed_and_verified(lab: LabHandle, tmp_path: Path) -> None:
    lab.signal("w1", signal.SIGSTOP)
    pid = lab.pid("w1")
    out = heal(heal_config(lab, tmp_path), tmp_path / "state", "--apply", "--yes")
    doc = out.json()
    validate_report(doc)
    w1 = targets(doc)["w1"]
    assert out.code == 0, out.stdout
    assert w1["outcome"] == "healed" and [s["id"] for s in w1["steps"]] == ["resume"]
    assert w1["steps"][0]["verified"] is True and w1["verdict_after"]["mode"] == "healthy"
    assert _proc(lab, "w1").pid == pid and _proc(lab, "w1").status() != psutil.STATUS_STOPPED
    events = [(r["event"], r.get("target")) for r in history(tmp_path / "state")]
    assert ("attempt.start", "w1") in events and ("attempt.end", "w1") in events
    assert any(r["event"] == "change" and r["change"] == f"sent SIGCONT to pid {pid}"
               for r in history(tmp_path / "state"))


def test_a_killed_worker_is_restarted_with_its_command_and_verified(lab: LabHandle, tmp_path: Path) -> None:
    old = kill(lab, "w1")
    out = heal(heal_config(lab, tmp_path), tmp_path / "state", "--apply", "--yes")
    doc = out.json()
    w1 = targets(doc)["w1"]
    assert out.code == 0, out.stdout
    assert w1["verdict"]["mode"] == "worker-dead" and w1["outcome"] == "healed"
    assert w1["steps"][0]["step"] == "worker.restart" and w1["steps"][0]["verified"] is True
    new = _proc(lab, "w1")
    assert new is not None and new.pid != old and "agentops.lab.worker" in " ".join(new.cmdline())
    rows = run_cli("heal", "history", "-c", str(tmp_path / "agentops.yaml"), "--state-dir", str(tmp_path / "state"),
                   "-o", "json").json()["items"]
    assert [(r["target"], r["mode"], r["outcome"]) for r in rows] == [("w1", "worker-dead", "healed")]


def test_a_fourth_failure_within_the_window_needs_a_human(lab: LabHandle, tmp_path: Path) -> None:
    cfg, state = heal_config(lab, tmp_path), tmp_path / "state"
    for i in range(3):
        kill(lab, "w1")
        out = heal(cfg, state, "--apply", "--yes")
        assert targets(out.json())["w1"]["outcome"] == "healed", (i, out.stdout)
    kill(lab, "w1")
    out = heal(cfg, state, "--apply", "--yes")
    doc = out.json()
    validate_report(doc)
    w1 = targets(doc)["w1"]
    assert out.code == 2 and doc["status"] == "CRITICAL"
    assert w1["outcome"] == "needs-human" and "needs a human" in w1["message"]
    assert "3 attempts" in w1["message"] and w1["attempts_in_window"] == 3
    assert any("not running" in line or "w1" in line for line in w1["verdict"]["evidence"])
    assert _proc(lab, "w1") is None  # not acted on
    assert sum(1 for r in history(state) if r["event"] == "attempt.start") == 3


def test_the_breaker_refuses_when_most_workers_are_down(lab: LabHandle, tmp_path: Path) -> None:
    kill(lab, "w1")
    kill(lab, "w2")
    out = heal(heal_config(lab, tmp_path), tmp_path / "state", "--apply", "--yes")
    doc = out.json()
    validate_report(doc)
    breaker = next(r for r in doc["results"] if r["id"] == "heal.breaker")
    assert breaker["status"] == "CRITICAL" and breaker["metrics"]["unhealthy_share"] == 1.0
    assert {t["outcome"] for t in targets(doc).values()} == {"refused"}
    assert "breaker" in targets(doc)["w1"]["message"]
    assert out.code == 2
    assert _proc(lab, "w1") is None and _proc(lab, "w2") is None
    assert [r for r in history(tmp_path / "state") if r["event"] == "attempt.start"] == []


def test_two_heals_at_once_do_not_both_act(lab: LabHandle, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    cfg = heal_config(lab, tmp_path, before_start=f"while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.05; done")
    state = tmp_path / "state"
    kill(lab, "w1")
    with RunningCli("heal", "-c", str(cfg), "--state-dir", str(state), "-o", "json", "--apply", "--yes") as first:
        first.until(lambda: any(r["event"] == "step.start" for r in history(state)), "the first heal to act")
        second = heal(cfg, state, "--apply", "--yes")
        gate.touch()
        done = first.finish(timeout=240)
    assert second.code == 4, second.stdout + second.stderr
    busy = targets(second.json())["w1"]
    assert busy["outcome"] == "busy" and busy["lock_holder"]["pid"] == first.pid
    assert targets(json.loads(done.stdout))["w1"]["outcome"] == "healed", done.stdout
    assert sum(1 for r in history(state) if r["event"] == "step.start") == 1
    assert sum(1 for r in history(state) if r["event"] == "attempt.start") == 1


def test_sigkill_in_the_middle_leaves_a_history_a_rerun_completes(lab: LabHandle, tmp_path: Path) -> None:
    hung = tmp_path / "hung"
    hung.mkdir()
    # The restart hangs (records its own pid so the test can end it): heal is killed while it waits.
    blocked = heal_config(lab, hung, before_start=f"echo $$ > {shlex.quote(str(hung / 'pid'))}; "
                                                  f"while true; do sleep 0.05; done")
    state = tmp_path / "state"
    kill(lab, "w1")
    with RunningCli("heal", "-c", str(blocked), "--state-dir", str(state), "-o", "json", "--apply",
                    "--yes") as first:
        first.until(lambda: (hung / "pid").exists() and any(r["event"] == "step.start" for r in history(state)),
                    "heal to be running the restart")
        os.kill(first.pid, signal.SIGKILL)
        first.finish(timeout=60)
    os.kill(int((hung / "pid").read_text()), signal.SIGKILL)  # the orphaned restart command
    killed = next(r["run_id"] for r in history(state) if r["event"] == "run.start")
    assert not any(r["event"] == "run.end" for r in history(state))

    out = heal(heal_config(lab, tmp_path), state, "--apply", "--yes")
    doc = out.json()
    assert out.code == 0, out.stdout
    assert targets(doc)["w1"]["outcome"] == "healed" and targets(doc)["w1"]["attempts_in_window"] == 1
    recs = history(state)
    rerun = doc["data"]["run_id"]
    closed = [r for r in recs if r["run_id"] == killed and r.get("recovered_by") == rerun]
    assert [(r["event"], r.get("outcome") or r.get("status")) for r in closed] == [
        ("attempt.end", "interrupted"), ("run.end", "INTERRUPTED")]
    rows = run_cli("heal", "history", "-c", str(tmp_path / "agentops.yaml"), "--state-dir", str(state),
                   "-o", "json").json()["items"]
    assert [(r["run_id"], r["outcome"]) for r in rows] == [(killed, "interrupted"), (rerun, "healed")]
    assert _proc(lab, "w1") is not None


def test_a_paused_heal_acts_on_nothing_until_resumed(lab: LabHandle, tmp_path: Path) -> None:
    cfg, state = heal_config(lab, tmp_path), tmp_path / "state"
    paused = run_cli("heal", "pause", "-c", str(cfg), "--state-dir", str(state), "-o", "json")
    assert paused.code == 0 and paused.json()["paused"] is True
    lab.signal("w1", signal.SIGSTOP)
    out = heal(cfg, state, "--apply", "--yes")
    w1 = targets(out.json())["w1"]
    assert w1["outcome"] == "refused" and "paused" in w1["message"] and out.code == 1
    assert _proc(lab, "w1").status() == psutil.STATUS_STOPPED
    assert run_cli("heal", "resume", "-c", str(cfg), "--state-dir", str(state), "-o", "json").json()["paused"] is False
    out = heal(cfg, state, "--apply", "--yes")
    assert targets(out.json())["w1"]["outcome"] == "healed" and out.code == 0


def test_after_a_host_restart_every_worker_is_restarted(lab: LabHandle, tmp_path: Path) -> None:
    old = {n: lab.pid(n) for n in WORKERS}
    lab.restart("host")  # back with an empty registry: AutoGen workers do not re-register
    out = heal(heal_config(lab, tmp_path), tmp_path / "state", "--apply", "--yes")
    doc = out.json()
    t = targets(doc)
    assert {t[n]["verdict"]["mode"] for n in WORKERS} == {"host-restarted"}
    # One cause for all: the breaker does not count it (runbook `breaker: false`), so heal acts.
    assert next(r for r in doc["results"] if r["id"] == "heal.breaker")["status"] == "OK"
    assert all(t[n]["outcome"] == "healed" and t[n]["steps"][0]["step"] == "worker.restart" for n in WORKERS), out.stdout
    assert out.code == 0
    assert all(_proc(lab, n) is not None and _proc(lab, n).pid != old[n] for n in WORKERS)


def test_watch_heals_then_finds_the_cluster_healthy(lab: LabHandle, tmp_path: Path) -> None:
    lab.signal("w1", signal.SIGSTOP)
    out = heal(heal_config(lab, tmp_path), tmp_path / "state", "--apply", "--yes", "--watch", "--count", "2",
               "--interval", "1")
    rounds = [json.loads(line) for line in out.stdout.splitlines()]
    assert [targets(d)["w1"]["outcome"] for d in rounds] == ["healed", "healthy"], out.stdout
    assert out.code == 0
