"""`agentops maintain` as cron meets it: the real CLI in a child process with stdin closed (no TTY).

Covers consent, check mode, the audit log, the lock (busy, --wait, two concurrent runs), a run killed with
SIGKILL in the middle of a prune and run again, `when` / continue_on_error / per-step timeouts, bad
playbooks, list / show / schedule."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import psutil
import pytest

from agentops.maintain.audit import read_audit
from agentops.maintain.lock import PlaybookLock
from tests.fixtures.common import REPO, RunningCli, assert_no_traceback, run_cli

DAY = 86400


def make_tree(root: Path, old: int, new: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    t_old = time.time() - 40 * DAY
    for i in range(old):
        p = root / f"old{i:05d}.log"
        p.write_text("o")
        os.utime(p, (t_old, t_old))
    for i in range(new):
        (root / f"new{i:05d}.log").write_text("n")


def count(root: Path, prefix: str) -> int:
    return sum(1 for p in root.iterdir() if p.name.startswith(prefix))


def prune_playbook(path: Path, root: Path, *, name: str = "pruner", unattended: bool = False) -> Path:
    path.write_text(
        f"playbook: {name}\n"
        f"unattended: {str(unattended).lower()}\n"
        "steps:\n"
        "  - id: prune\n"
        "    step: files.prune\n"
        f"    params: {{roots: ['{root}'], match: '*.log', older_than: 30d}}\n"
    )
    return path


def maintain(*args: str, state: Path, env: dict[str, str] | None = None, timeout: float = 120):
    return run_cli("maintain", *args, "--state-dir", str(state), env=env, timeout=timeout)


def test_check_changes_nothing_consent_is_required_without_a_tty_and_the_audit_log_records(tmp_path: Path) -> None:
    root, state = tmp_path / "logs", tmp_path / "state"
    make_tree(root, old=5, new=3)
    pb = prune_playbook(tmp_path / "pb.yaml", root)

    dry = maintain("run", str(pb), "--check", "-o", "json", state=state)
    assert dry.code == 0, dry.stderr
    doc = dry.json()
    jsonschema.validate(doc, json.loads((REPO / "src/agentops/schemas/report.schema.json").read_text()))
    assert doc["kind"] == "maintain.run" and doc["data"]["check"] is True
    assert doc["data"]["recap"] == {"ok": 0, "changed": 1, "skipped": 0, "failed": 0, "interrupted": 0}
    step = doc["results"][0]
    assert step["facts"]["outcome"] == "changed" and step["facts"]["changes_total"] == 5
    assert all(line.startswith("would delete") for line in step["facts"]["changes"])
    assert count(root, "old") == 5

    refused = maintain("run", str(pb), state=state)
    assert refused.code == 3
    assert_no_traceback(refused)
    assert len(refused.stderr.strip().splitlines()) == 1 and "--yes" in refused.stderr
    assert count(root, "old") == 5

    done = maintain("run", str(pb), "--yes", "-o", "json", state=state)
    assert done.code == 0, done.stderr
    assert count(root, "old") == 0 and count(root, "new") == 3
    assert done.json()["results"][0]["metrics"]["files_before"] == 8

    again = maintain("run", str(pb), "--yes", "-o", "json", state=state)
    assert again.json()["data"]["recap"]["ok"] == 1  # idempotent: nothing left to do

    records = read_audit(state)
    runs = [r for r in records if r["event"] == "run.start"]
    assert [r["check"] for r in runs] == [True, False, False]  # the refused run never started
    steps = [r for r in records if r["event"] == "step"]
    assert [s["outcome"] for s in steps] == ["changed", "changed", "ok"]
    assert steps[1]["changes_total"] == 5 and steps[1]["step"] == "prune" and steps[1]["playbook"] == "pruner"
    assert all(r["event"] != "run.end" or r["status"] == "OK" for r in records)
    assert oct((state / "audit.jsonl").stat().st_mode & 0o777) == "0o600"


def test_table_output_shows_steps_changes_and_recap(tmp_path: Path) -> None:
    root, state = tmp_path / "logs", tmp_path / "state"
    make_tree(root, old=2, new=1)
    pb = prune_playbook(tmp_path / "pb.yaml", root, unattended=True)
    r = maintain("run", str(pb), state=state)
    assert r.code == 0, r.stderr
    assert "prune" in r.stdout and "changed" in r.stdout and "RECAP pruner" in r.stdout
    assert "deleted" in r.stdout and str(root) in r.stdout


@pytest.mark.parametrize(("body", "needle"), [
    ("steps:\n  - id: a\n    step: files.nuke\n", ":3: steps[0].step: unknown kind 'files.nuke'"),
    ("steps:\n  - id: a\n    step: files.prune\n    params: {roots: [/etc], older_than: 1d}\n",
     "refusing system directory /etc"),
    ("steps:\n  - id: a\n    step: disk.check\n    when: 'b is ok'\n  - id: b\n    step: disk.check\n",
     "not an earlier step"),
    ("steps:\n  - id: a\n    step: command\n    params: {argv: ['${nope}']}\n", "unknown var ${nope}"),
    ("steps:\n  - id: a\n    step: disk.check\n    timeout: soon\n", "bad duration 'soon'"),
    ("steps:\n  - id: a\n    step: disk.check\n    whenn: x\n", "unknown field (did you mean 'when'?)"),
    ("steps: [\n", "invalid YAML"),
])
def test_bad_playbooks_are_one_line_errors_with_exit_3(tmp_path: Path, body: str, needle: str) -> None:
    pb = tmp_path / "bad.yaml"
    pb.write_text(body)
    r = maintain("run", str(pb), "--check", state=tmp_path / "state")
    assert r.code == 3
    assert_no_traceback(r)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and str(pb) in lines[0], r.stderr


def test_lock_busy_exits_at_once_with_its_own_code_or_waits(tmp_path: Path) -> None:
    root, state = tmp_path / "logs", tmp_path / "state"
    make_tree(root, old=1, new=0)
    pb = prune_playbook(tmp_path / "pb.yaml", root, unattended=True)
    lock = PlaybookLock(state, "pruner")
    lock.acquire()
    try:
        busy = maintain("run", str(pb), "-o", "json", state=state)
        assert busy.code == 4  # "already running", distinct from 3 (broken playbook or config)
        assert "another run of pruner holds the lock since" in busy.stderr
        assert f"(pid {os.getpid()})" in busy.stderr
        doc = busy.json()
        jsonschema.validate(doc, json.loads((REPO / "src/agentops/schemas/report.schema.json").read_text()))
        assert doc["results"][0]["id"] == "lock" and doc["results"][0]["status"] == "UNKNOWN"
        assert count(root, "old") == 1

        with _start_slow_run(pb, state, pace="0", extra=("--wait", "60")) as waiter:
            # Release once the second run is seen waiting (it holds the lock file open), not after a guessed
            # delay; `until` also fails if it gave up instead of waiting.
            waiter.until(lambda: any(f.path == str(lock.path) for f in psutil.Process(waiter.pid).open_files()),
                         "the second run to wait for the lock")
            lock.release()
            done = waiter.finish()
        assert done.code == 0, done.stderr
        assert count(root, "old") == 0
    finally:
        lock.release()


def _start_slow_run(pb: Path, state: Path, pace: str = "0.02", extra: tuple[str, ...] = ()) -> RunningCli:
    return RunningCli("maintain", "run", str(pb), "--state-dir", str(state), "-o", "json", *extra,
                      env={"AGENTOPS_TEST_PRUNE_DELAY_S": pace}, cwd=REPO)


def test_two_concurrent_runs_second_exits_at_once(tmp_path: Path) -> None:
    root, state = tmp_path / "logs", tmp_path / "state"
    make_tree(root, old=300, new=5)
    pb = prune_playbook(tmp_path / "pb.yaml", root, unattended=True)
    with _start_slow_run(pb, state) as first:
        first.until(lambda: count(root, "old") < 300, "the first run to start deleting")
        second = maintain("run", str(pb), state=state)
        assert second.code == 4  # already running
        assert f"(pid {first.pid})" in second.stderr
        assert first.running()  # the first run was still going when the second gave up
        done = first.finish()
    assert done.code == 0, done.stderr
    assert done.json()["results"][0]["facts"]["deleted_files"] == 300
    assert count(root, "old") == 0 and count(root, "new") == 5


def test_a_run_killed_mid_prune_leaves_no_lock_and_the_next_run_completes(tmp_path: Path) -> None:
    root, state = tmp_path / "logs", tmp_path / "state"
    make_tree(root, old=400, new=7)
    pb = prune_playbook(tmp_path / "pb.yaml", root, unattended=True)
    with _start_slow_run(pb, state) as victim:
        victim.until(lambda: count(root, "old") <= 350, "the run to be mid-prune")
        victim.stop(signal.SIGKILL)
    left = count(root, "old")
    assert 0 < left < 400, left  # really killed in the middle
    assert PlaybookLock(state, "pruner").holder().get("pid") == victim.pid  # stale content, no lock held

    rerun = maintain("run", str(pb), "-o", "json", state=state)
    assert rerun.code == 0, rerun.stderr
    assert rerun.json()["results"][0]["facts"]["deleted_files"] == left
    assert count(root, "old") == 0 and count(root, "new") == 7

    records = read_audit(state)
    starts = [r["run_id"] for r in records if r["event"] == "run.start"]
    ends = [r["run_id"] for r in records if r["event"] == "run.end"]
    assert len(starts) == 2 and ends == [starts[1]]  # the killed run has a start and no end


def test_when_continue_on_error_and_step_timeouts(tmp_path: Path) -> None:
    true, false, sleep = shutil.which("true"), shutil.which("false"), shutil.which("sleep")
    pb = tmp_path / "flow.yaml"
    marker = tmp_path / "ran"
    pb.write_text(f"""
playbook: flow
steps:
  - id: fails
    step: command
    params: {{argv: [{false}]}}
    continue_on_error: true
  - id: on-failure
    step: command
    params: {{argv: [{shutil.which('touch')}, {marker}]}}
    when: "fails is failed"
  - id: on-success
    step: command
    params: {{argv: [{true}]}}
    when: ["fails is ok"]
  - id: slow
    step: command
    params: {{argv: [{sleep}, "30"]}}
    timeout: 1
  - id: after
    step: command
    params: {{argv: [{true}]}}
""")
    t0 = time.monotonic()
    r = maintain("run", str(pb), "--yes", "-o", "json", state=tmp_path / "state")
    assert time.monotonic() - t0 < 25  # the sleep was killed, not waited for (a bound, not a speed claim)
    assert r.code == 2, r.stderr
    doc = r.json()
    outcomes = {x["id"]: (x["facts"]["outcome"], x["status"]) for x in doc["results"]}
    assert outcomes == {"fails": ("failed", "CRITICAL"), "on-failure": ("changed", "OK"),
                        "on-success": ("skipped", "OK"), "slow": ("failed", "CRITICAL"),
                        "after": ("skipped", "OK")}
    assert marker.exists()
    slow = next(x for x in doc["results"] if x["id"] == "slow")
    assert slow["reason"] == "timeout"
    assert doc["data"]["stopped_at"] == "slow"
    assert doc["data"]["recap"] == {"ok": 0, "changed": 1, "skipped": 2, "failed": 2, "interrupted": 0}


def test_check_mode_does_not_run_commands(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    pb = tmp_path / "c.yaml"
    pb.write_text(f"steps:\n  - id: touch\n    step: command\n    params: {{argv: [touch, '{marker}']}}\n")
    r = maintain("run", str(pb), "--check", "-o", "json", state=tmp_path / "state")
    assert r.code == 0, r.stderr
    assert not marker.exists()
    assert r.json()["results"][0]["facts"]["changes"] == [f"run touch {marker}"]


def test_list_show_and_vars(tmp_path: Path) -> None:
    listed = run_cli("maintain", "list", "-o", "json")
    assert listed.code == 0, listed.stderr
    assert listed.json()["schema"] == "agentops.listing/v1" and listed.json()["kind"] == "maintain.playbooks"
    names = {row["name"] for row in listed.json()["items"]}
    assert {"daily", "weekly", "files", "postgres", "redis"} <= names
    assert all(row["steps"] for row in listed.json()["items"])
    kinds = {row["name"] for row in run_cli("maintain", "list", "--steps", "-o", "json").json()["items"]}
    assert {"files.prune", "postgres.vacuum", "postgres.reindex", "redis.expire_scan", "redis.memory_purge",
            "disk.check", "baseline.update", "health.gate", "command"} <= kinds

    shown = run_cli("maintain", "show", "daily", "--var", f"log_dir={tmp_path}/l", "-o", "json",
                    "--state-dir", str(tmp_path))
    assert shown.code == 0, shown.stderr
    doc = shown.json()
    prune = next(s for s in doc["steps"] if s["id"] == "prune-logs")
    assert prune["params"]["roots"] == [f"{tmp_path}/l"] and prune["destructive"] is True
    vacuum = next(s for s in doc["steps"] if s["id"] == "vacuum")
    assert vacuum["targets"] == []  # no postgres target without a config: skipped at run time

    bad = run_cli("maintain", "show", "daily", "--var", "nope=1")
    assert bad.code == 3 and "defines no var 'nope'" in bad.stderr
    missing = run_cli("maintain", "run", "no-such-playbook")
    assert missing.code == 3 and "available: " in missing.stderr and "daily" in missing.stderr


def test_schedule_prints_cron_and_systemd_and_installs_only_when_asked(tmp_path: Path) -> None:
    cron = run_cli("maintain", "schedule", "daily", "--cron", "0 3 * * *")
    assert cron.code == 0, cron.stderr
    line = cron.stdout.strip()
    assert line.startswith("0 3 * * * ") and " maintain run daily " in line and "--output json" in line

    units = run_cli("maintain", "schedule", "weekly", "--cron", "30 4 * * sun", "--format", "systemd",
                    "--install", str(tmp_path / "units"))
    assert units.code == 0, units.stderr
    timer = (tmp_path / "units" / "agentops-maintain-weekly.timer").read_text()
    service = (tmp_path / "units" / "agentops-maintain-weekly.service").read_text()
    assert "OnCalendar=Sun *-*-* 04:30:00" in timer and "Persistent=true" in timer
    assert "Type=oneshot" in service and "maintain run weekly" in service
    assert timer in units.stdout and service in units.stdout
    if shutil.which("systemd-analyze"):
        calendar = timer.split("OnCalendar=")[1].splitlines()[0]
        assert subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True).returncode == 0

    refused = run_cli("maintain", "schedule", "files", "--cron", "0 3 * * *")
    assert refused.code == 0 and "will refuse to start" in refused.stderr  # files.yaml is not unattended
    for bad in ("0 3 * *", "61 * * * *", "0 3 * * 1", "* * 5-1 * *"):
        r = run_cli("maintain", "schedule", "daily", "--cron", bad, "--format", "systemd")
        if bad == "0 3 * * 1":
            assert r.code == 0
            continue
        assert r.code == 3 and "cron" in r.stderr, (bad, r.stderr)
        assert_no_traceback(r)


@pytest.mark.parametrize(("answer", "code", "left"), [("n", 3, 2), ("y", 0, 0)])
def test_at_a_tty_destructive_steps_are_confirmed_by_a_prompt(tmp_path: Path, answer: str, code: int,
                                                              left: int) -> None:
    """A real pseudo-terminal on stdin, so the run sees a TTY exactly as a human's shell would give it."""
    root = tmp_path / "logs"
    make_tree(root, old=2, new=1)
    pb = prune_playbook(tmp_path / "pb.yaml", root)
    controller, terminal = os.openpty()
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("AGENTOPS_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "agentops", "maintain", "run", str(pb), "--state-dir",
                             str(tmp_path / "state")], stdin=terminal, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    os.close(terminal)
    try:
        os.write(controller, f"{answer}\n".encode())
        _out, err = proc.communicate(timeout=60)
    finally:
        os.close(controller)
    assert proc.returncode == code, err
    assert "Destructive steps will run: prune (files.prune)" in err
    assert count(root, "old") == left and count(root, "new") == 1


def _audited_deletions(state: Path) -> list[str]:
    """Paths the audit log says were deleted ("change" records carry one change line each)."""
    return [r["change"].split(" ")[1] for r in read_audit(state) if r["event"] == "change"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_mid_prune_yields_an_interrupted_report_and_every_deletion_is_audited(
        tmp_path: Path, signum: signal.Signals) -> None:
    root, state = tmp_path / "logs", tmp_path / "state"
    make_tree(root, old=300, new=2)
    pb = prune_playbook(tmp_path / "pb.yaml", root, unattended=True)
    with _start_slow_run(pb, state) as run:
        # The event, not a time: the audit log holds the first deletion.
        run.until(lambda: _audited_deletions(state), "the first deletion in the audit log")
        res = run.stop(signum)
    out, err = res.stdout, res.stderr
    assert res.code == 3, (res.code, err)
    assert "Traceback" not in err and "interrupted" in err, err
    doc = json.loads(out)
    jsonschema.validate(doc, json.loads((REPO / "src/agentops/schemas/report.schema.json").read_text()))
    assert doc["data"]["interrupted"] == {"signal": signum.name, "step": "prune", "target": "local"}
    [prune] = doc["results"]
    assert prune["status"] == "UNKNOWN" and prune["facts"]["outcome"] == "interrupted"
    assert f"interrupted by {signum.name}" in prune["message"]

    missing = {str(root / f"old{i:05d}.log") for i in range(300) if not (root / f"old{i:05d}.log").exists()}
    audited = _audited_deletions(state)
    assert 0 < len(missing) < 300  # really interrupted in the middle
    assert set(audited) == missing and len(audited) == len(missing)  # each deletion once, none unrecorded
    assert prune["facts"]["changes_total"] == len(missing) == prune["facts"]["deleted_files"]
    assert count(root, "new") == 2
    ends = [r for r in read_audit(state) if r["event"] == "run.end"]
    assert [e["status"] for e in ends] == ["INTERRUPTED"] and ends[0]["interrupted"]["signal"] == signum.name
    lock = PlaybookLock(state, "pruner")
    lock.acquire()  # released: no --wait needed
    lock.release()


def test_a_signal_during_a_later_step_reports_the_finished_steps_and_kills_the_command(tmp_path: Path) -> None:
    root, state, fifo = tmp_path / "logs", tmp_path / "state", tmp_path / "gate.fifo"
    make_tree(root, old=5, new=0)
    os.mkfifo(fifo)
    pb = tmp_path / "two.yaml"
    # `cat` on a FIFO nobody writes blocks for ever: a step that is deterministically still running.
    pb.write_text(f"playbook: two\nunattended: true\nsteps:\n"
                  f"  - id: prune\n    step: files.prune\n"
                  f"    params: {{roots: ['{root}'], match: '*.log', older_than: 30d}}\n"
                  f"  - id: wait\n    step: command\n    params: {{argv: [{shutil.which('cat')}, '{fifo}']}}\n"
                  f"  - id: after\n    step: command\n    params: {{argv: [{shutil.which('true')}]}}\n")
    with _start_slow_run(pb, state, pace="0") as run:
        def cat_started() -> bool:
            return any(p.name() == "cat" for p in psutil.Process(run.pid).children(recursive=True))

        run.until(cat_started, "the command step's cat to be running")
        [cat] = psutil.Process(run.pid).children(recursive=True)
        res = run.stop(signal.SIGTERM)
    out, err = res.stdout, res.stderr
    assert res.code == 3, err
    doc = json.loads(out)
    outcomes = {r["id"]: r["facts"]["outcome"] for r in doc["results"]}
    assert outcomes == {"prune": "changed", "wait": "interrupted", "after": "skipped"}
    assert doc["data"]["interrupted"]["step"] == "wait"
    assert doc["data"]["recap"] == {"ok": 0, "changed": 1, "skipped": 1, "failed": 0, "interrupted": 1}
    assert len(_audited_deletions(state)) == 5 and count(root, "old") == 0
    assert not cat.is_running() or cat.status() == psutil.STATUS_ZOMBIE  # its process group was killed


def test_a_password_in_a_command_argv_never_reaches_the_report_the_audit_log_or_show(tmp_path: Path) -> None:
    planted, token = "PLANTED-s3cret-91c2", "PLANTED-tok-55ab"
    pb = tmp_path / "secret.yaml"
    # echo prints its argv back, so the output tail is a place the secret could leak through too.
    pb.write_text(f"steps:\n  - id: dump\n    step: command\n"
                  f"    params: {{argv: [{shutil.which('echo')}, --password, {planted}, '--api-key={token}'],\n"
                  f"              env: {{PGPASSWORD: {planted}}}}}\n")
    state = tmp_path / "state"
    outputs = []
    for args in (("run", str(pb), "--yes", "-o", "json"), ("run", str(pb), "--yes"),
                 ("run", str(pb), "--check", "-o", "json"), ("show", str(pb), "-o", "json"), ("show", str(pb))):
        r = maintain(*args, state=state)
        assert r.code == 0, r.stderr
        outputs += [r.stdout, r.stderr]
    doc = json.loads(outputs[0])
    assert doc["results"][0]["facts"]["argv"][2] == "***"
    outputs.append((state / "audit.jsonl").read_text())
    for text in outputs:
        assert planted not in text and token not in text


def test_secret_named_env_values_of_a_command_never_reach_its_output_tail(tmp_path: Path) -> None:
    """A command's `env` secrets (issue 10, item 11): `env` prints its environment, so every value is in the
    output tail the report and the audit log keep. Secret-named values and the password of a DSN-valued one
    are masked; an ordinary value stays readable."""
    secrets = {"DB_PASSWORD": "PLANTED-pw-3a7e", "API_TOKEN_PROD": "PLANTED-tok-9d1c",
               "APP_SECRET": "PLANTED-sec-4b2f", "CLIENT_PASSPHRASE": "PLANTED-pass-77aa"}
    dsn_password = "PLANTED-dsn-5e6f"
    env = {**secrets, "DATABASE_URL": f"postgresql://app:{dsn_password}@db:5432/app",
           "PASSWORD_FILE": "/run/secrets/visible-path", "GREETING": "visible-value"}
    pb = tmp_path / "envleak.yaml"
    pb.write_text("steps:\n  - id: show\n    step: command\n    params:\n"
                  f"      argv: [{shutil.which('env')}]\n      env: {json.dumps(env)}\n")
    state = tmp_path / "state"
    r = maintain("run", str(pb), "--yes", "-o", "json", state=state)
    assert r.code == 0, r.stderr
    tail = r.json()["results"][0]["facts"]["output_tail"]
    assert "GREETING=visible-value" in tail and "PASSWORD_FILE=/run/secrets/visible-path" in tail
    assert "DATABASE_URL=postgresql://app:***@db:5432/app" in tail
    for text in (r.stdout, r.stderr, (state / "audit.jsonl").read_text()):
        for planted in [*secrets.values(), dsn_password]:
            assert planted not in text, planted
