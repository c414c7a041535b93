"""The pieces of `worker.start` (logs/worker_start.py) and its verdict rules (diagnose/rules_start.py) that
need no cluster: systemd's `show` output (systemd is not running on this machine, so the text is the format
`systemctl show -p …` prints, not a live reading), gRPC's multi-line error folded for the classifier, a stale
traceback ignored, start records counted in a window, and which finding the judged layers support."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from agentops.core.model import Result, Status
from agentops.diagnose.engine import Deadline, Evidence
from agentops.diagnose.rules_start import start_failed, start_secondary
from agentops.diagnose.verdict import Subject
from agentops.logs import worker_start as ws

DUPLICATE = '''Traceback (most recent call last):
  File "/srv/w2.py", line 20, in main
    await Echo.register(runtime, agent_type, Echo)
grpc.aio._call.AioRpcError: <AioRpcError of RPC that terminated with:
\tstatus = StatusCode.INVALID_ARGUMENT
\tdetails = "Agent type echo already registered with client 793c0b3f-f661-410e-896f-b3583cab5d54."
\tdebug_error_string = "UNKNOWN:Error received from peer"
>
'''


def test_systemctl_show_gives_exit_status_signal_and_restarts() -> None:
    text = ("ActiveState=activating\nSubState=auto-restart\nResult=exit-code\nExecMainPID=0\nExecMainCode=1\n"
            "ExecMainStatus=3\nNRestarts=7\nUnrelated=x\n")
    props = ws.parse_systemctl_show(text)
    assert "Unrelated" not in props and props["NRestarts"] == "7"
    facts, metrics = ws._supervisor_exit(props)
    assert metrics == {"exit_status": 3.0, "restarts": 7.0} and facts["exit"] == "exit status 3"
    facts, metrics = ws._supervisor_exit(ws.parse_systemctl_show("ExecMainCode=2\nExecMainStatus=9\n"))
    assert facts["exit"] == "killed by signal 9" and "exit_status" not in metrics


def test_without_systemd_the_unit_is_said_not_read() -> None:
    if Path("/run/systemd/system").is_dir():
        return  # a machine running systemd reads it for real
    props, why = asyncio.run(ws.systemd_status("agents-w1.service", 1.0))
    assert props is None and "systemd is not running" in why


def test_a_grpc_error_is_folded_so_the_classifier_reads_its_details(tmp_path: Path) -> None:
    err = tmp_path / "w2.err"
    err.write_text(DUPLICATE)
    found = ws.last_error(err)
    assert found is not None and found.kind == "duplicate-registration" and found.case == "duplicate-registration"
    assert "already registered with client 793c0b3f" in found.line


def test_a_traceback_older_than_the_current_start_is_not_its_error(tmp_path: Path) -> None:
    err = tmp_path / "w.err"
    err.write_text("Traceback (most recent call last):\n  File \"w.py\", line 1\nModuleNotFoundError: No module "
                   "named 'x'\n")
    old = time.time() - 3600
    os.utime(err, (old, old))
    assert ws.last_error(err, not_before=time.time()) is None
    assert ws.last_error(err, not_before=old).case == "import-error"


def test_start_records_are_counted_in_the_window_only(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    now = time.time()
    stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + ",000"
    log.write_text("".join(f"{stamp(t)} 41 autogen_core INFO Connecting to host: 127.0.0.1:5\n"
                           for t in (now - 7200, now - 30, now - 20, now - 10))
                   + "INFO:autogen_core:Connecting to host: 127.0.0.1:5\n")
    got = ws.start_records([log], since=now - 600)
    assert got["in_window"] == 3 and got["untimed"] == 1


def _evidence(*results: Result) -> Evidence:
    ev = Evidence(Deadline(5.0))
    ev.results.extend(results)
    return ev


def _start(check_id: str, target: str, status: Status, breached: list[str], case: str = "import-error",
           restarts: float = 0.0) -> Result:
    facts = {"breached": breached, "restarts_from": "start records", "last_error": {
        "line": "ModuleNotFoundError: No module named 'x'", "case": case, "source": "/w.err",
        "written_at": "2026-12-03T12:00:00Z", "cause": "x is missing", "fix": "pip install 'x'"}}
    return Result(id=check_id, target=target, probe="worker.start", status=status, message="m",
                  metrics={"restarts": restarts}, facts=facts)


def test_rules_read_what_the_judge_found_out_of_bounds() -> None:
    s = Subject(to_type="planner", key="k")
    reg = Result(id="agent.registration", target="planner", probe="agentrpc.ownership", status=Status.CRITICAL,
                 facts={"owned": False})
    failed = start_failed(_evidence(reg, _start("worker.start", "w", Status.CRITICAL, ["exit_error"])), s, {}, [])
    assert failed is not None and failed.id == "worker-start-failed" and failed.status is Status.CRITICAL
    assert "could not be imported" in failed.cause and "pip install" in failed.fix
    loop = start_failed(_evidence(reg, _start("worker.start", "w", Status.CRITICAL, ["exit_error", "restarts"],
                                              restarts=5)), s, {}, [])
    assert loop is not None and loop.id == "worker-crash-loop" and "restarted 5 times" in loop.title
    # an OK start layer (no breach) supports nothing: the other rules decide
    assert start_failed(_evidence(reg, _start("worker.start", "w", Status.OK, [])), s, {}, []) is None
    # another configured worker: weighed by its judged check
    owned = Result(id="agent.registration", target="planner", probe="agentrpc.ownership", status=Status.OK,
                   facts={"owned": True, "owner_worker": "w1"})
    peer = _start("cluster.start", "w2", Status.WARNING, ["duplicate_registration"], case="duplicate-registration")
    found = start_secondary(_evidence(owned, peer), s, [], "healthy")
    assert [f.status for f in found] == [Status.WARNING] and "served by w1" in found[0].cause


def test_starts_count_as_crash_restarts_only_with_exit_errors_in_stderr(tmp_path: Path) -> None:
    from agentops.core.cluster import ProcessLocator, WorkerSpec

    log, err = tmp_path / "w.log", tmp_path / "w.err"
    now = time.time()
    stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + ",000"
    log.write_text("".join(f"{stamp(now - 40 + i)} 7 autogen_core INFO Connecting to host: 127.0.0.1:5\n"
                           for i in range(5)))
    spec = WorkerSpec(name="w", host=None, process=ProcessLocator(), logs=[str(log)], log_format=None,
                      metrics_url=None, agent_types=["t"], pings={})
    # five starts and no stderr: deliberate restarts cannot be told from crashes, so none is counted
    obs = asyncio.run(ws.measure_start(spec, since=now - 600, host_address=None, timeout=1.0))
    assert "restarts" not in obs.metrics and "cannot be told" in obs.facts["restarts_note"]
    # two runs ended on an error: two crash restarts, whatever the number of starts
    err.write_text("Traceback (most recent call last):\nValueError: x\n" * 2)
    spec.stderr = [str(err)]
    obs = asyncio.run(ws.measure_start(spec, since=now - 600, host_address=None, timeout=1.0))
    assert obs.metrics["restarts"] == 2 and obs.facts["starts"]["in_window"] == 5
    # a stderr last written before the window holds no crash of it
    old = now - 3600
    os.utime(err, (old, old))
    obs = asyncio.run(ws.measure_start(spec, since=now - 600, host_address=None, timeout=1.0))
    assert obs.metrics["restarts"] == 0


def test_only_the_traceback_a_file_ends_with_is_the_exit(tmp_path: Path) -> None:
    err = tmp_path / "w.err"
    fatal = "Traceback (most recent call last):\n  File \"w.py\", line 3, in <module>\nModuleNotFoundError: No module named 'x'\n"
    err.write_text(fatal + "2026-12-03 12:00:00,000 7 worker INFO still running after it\n")
    assert ws.last_error(err) is None  # the process went on after that traceback
    err.write_text(fatal)
    assert ws.last_error(err).case == "import-error"
    # a log file also holds a handler's logged exceptions: only an error that stops a start counts there
    log = tmp_path / "w.log"
    log.write_text("ERROR:autogen_core:Error handling message\nTraceback (most recent call last):\n"
                   "  File \"h.py\", line 9, in on_ping\nValueError: boom\n")
    assert ws.last_error(log, start_kinds_only=True) is None
    assert ws.last_error(log).kind == "unclassified"


def test_a_json_log_s_last_record_carries_the_exit_in_its_exception_field(tmp_path: Path) -> None:
    """A JSON log holds the traceback inside a field (escaped newlines): the file's last record, read in its
    layout, is the exit; a record written after it means the process went on."""
    import json

    log = tmp_path / "w.log"
    fatal = {"ts": "2026-12-03T12:00:01Z", "level": "ERROR", "logger": "w", "message": "worker failed",
             "exc_info": DUPLICATE.split("\n", 1)[1]}
    later = {"ts": "2026-12-03T12:00:02Z", "level": "INFO", "logger": "w", "message": "retrying"}
    log.write_text(json.dumps({"ts": "2026-12-03T12:00:00Z", "level": "INFO", "message": "Connecting to host: h:1"})
                   + "\n" + json.dumps(fatal) + "\n")
    found = ws.last_error(log, start_kinds_only=True)
    assert found is not None and found.case == "duplicate-registration", found
    assert "already registered" in found.line
    log.write_text(log.read_text() + json.dumps(later) + "\n")
    assert ws.last_error(log, start_kinds_only=True) is None
