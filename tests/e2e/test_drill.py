"""`agentops drill FAULT` as users run it: each fault injected for real into a lab (or a throw-away Redis /
PostgreSQL the drill starts), the diagnosis must name it, and the undo must leave the cluster healthy — which
the next drill, on the same lab, depends on. Refusals are one line and exit 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.common import assert_no_traceback, run_cli
from tests.fixtures.lab import start_lab, stop_lab
from tests.fixtures.report_schema import validate_report

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def drill_lab(tmp_path_factory: pytest.TempPathFactory):
    # --with-redis: a lab-owned redis-server that the `store` agent writes every message to (redis-down).
    handle = start_lab(tmp_path_factory.mktemp("drill-lab"), with_redis=True)
    try:
        yield handle
    finally:
        stop_lab(handle)


def drill(*args: str) -> tuple[int, dict]:
    out = run_cli("drill", *args, "-o", "json", timeout=120)
    assert_no_traceback(out)
    return out.code, out.json()


def steps(doc: dict) -> dict[str, dict]:
    return {r["id"]: r for r in doc["results"]}


@pytest.mark.parametrize(("fault", "expected", "extra"), [
    ("freeze-worker", "worker-frozen", []),
    ("kill-worker", "worker-dead", []),
    ("restart-host", "host-restarted", []),
    ("oversized-message", "message-too-large", []),
    ("unregistered-type", "type-not-registered", []),
])
def test_lab_drills_name_the_fault_and_undo_it(drill_lab, fault: str, expected: str, extra: list[str]) -> None:
    code, doc = drill(fault, "--lab", str(drill_lab.dir), *extra)
    s = steps(doc)
    assert doc["kind"] == "drill" and doc["data"]["fault"] == fault
    validate_report(doc)
    assert s["drill.detect"]["status"] == "OK", s["drill.detect"]["message"]
    assert doc["data"]["named"] is True and doc["data"]["verdict"].startswith(expected)
    # How long the diagnosis took, by its own report; within the deadline it was given.
    deadline = float(extra[1]) if extra else 5.0
    assert doc["data"]["diagnosis"]["duration_s"] == pytest.approx(doc["data"]["time_to_verdict_s"], abs=1e-3)
    assert doc["data"]["time_to_verdict_s"] < min(10.0, deadline + 1.0)
    assert s["drill.undo"]["status"] == "OK"
    if "drill.verify" in s:  # faults that changed something are checked healthy again
        assert s["drill.verify"]["status"] == "OK", s["drill.verify"]["message"]
    assert code == 0 and doc["findings"][0]["status"] == "OK"


@pytest.mark.parametrize(("fault", "expected", "extra", "symptom"), [
    ("slow-handler", "overload", ["--deadline", "1.5"], "too slow"),
    ("failing-handler", "handler-raised", [], "failing on purpose"),
])
def test_handler_drills_break_the_healthy_echo_agent_and_switch_it_back(drill_lab, fault: str, expected: str,
                                                                       extra: list[str], symptom: str) -> None:
    """Not the lab's permanently misbehaving types: echo itself is switched slow/failing, diagnosed, switched
    back, and must answer normally again."""
    code, doc = drill(fault, "--lab", str(drill_lab.dir), *extra)
    s = steps(doc)
    assert "switched echo" in s["drill.inject"]["message"], s["drill.inject"]["message"]
    diagnosis = doc["data"]["diagnosis"]
    assert diagnosis["data"]["to"].split("/")[0] == "echo"
    verdict = diagnosis["findings"][0]
    assert verdict["id"] == expected and "echo" in verdict["title"]
    assert symptom in verdict["title"] + " ".join(verdict["evidence"]), verdict
    assert "back to mode 'normal'" in s["drill.undo"]["message"]
    assert s["drill.verify"]["status"] == "OK", s["drill.verify"]["message"]
    assert code == 0
    # After the drill echo is healthy for anyone, not just in the drill's own verify step.
    out = run_cli("diagnose", "message", "--to", "echo", "-c", str(drill_lab.config), "-o", "json")
    verdict = out.json()["findings"][0]  # (a busy shared machine may add a WARNING of its own: not asserted)
    assert verdict["id"] == "healthy" and verdict["status"] == "OK", out.stdout[-2000:]


@pytest.mark.parametrize("fault", ["redis-down", "postgres-down"])
def test_server_drills_stop_a_server_the_drill_owns(fault: str, tmp_path: Path) -> None:
    code, doc = drill(fault)
    s = steps(doc)
    assert code == 0, [(r["id"], r["message"]) for r in doc["results"]]
    assert "throw-away" in s["drill.prepare"]["message"]
    assert "not the cluster's dependency" in s["drill.inject"]["message"]  # said plainly
    assert "(connect)" in s["drill.detect"]["message"]
    assert s["drill.verify"]["status"] == "OK"


def test_redis_down_stops_the_lab_redis_the_store_agent_depends_on(drill_lab) -> None:
    import psutil

    from agentops.lab.layout import LabLayout, LabManifest

    before = LabManifest.load(LabLayout(drill_lab.dir).manifest).redis
    assert before is not None and "lab-redis" in drill_lab.config.read_text()
    code, doc = drill("redis-down", "--lab", str(drill_lab.dir))
    s = steps(doc)
    assert "prepare" not in " ".join(s)  # no throw-away server: the lab's own
    assert f"pid {before.pid}" in s["drill.inject"]["message"] and "store" in s["drill.inject"]["message"]
    diagnosis = doc["data"]["diagnosis"]
    assert diagnosis["data"]["to"].split("/")[0] == "store"
    assert diagnosis["findings"][0]["id"] == "handler-raised"
    redis = next(r for r in diagnosis["results"] if r["id"] == "redis.ping")
    assert redis["target"] == "lab-redis" and redis["reason"] == "connect"
    assert s["drill.verify"]["status"] == "OK", s["drill.verify"]["message"]
    assert code == 0 and doc["data"]["named"] is True
    after = LabManifest.load(LabLayout(drill_lab.dir).manifest).redis
    assert after is not None and after.port == before.port and after.pid != before.pid
    # The old server is gone (a zombie at most: this test process started the lab, so it is the parent).
    try:
        assert psutil.Process(before.pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass
    assert psutil.Process(after.pid).status() != psutil.STATUS_ZOMBIE


def test_a_cluster_that_is_not_a_lab_needs_yes(drill_lab, tmp_path: Path) -> None:
    config = tmp_path / "agentops.yaml"  # the same cluster, but not in a lab's directory
    config.write_text(drill_lab.config.read_text())
    out = run_cli("drill", "freeze-worker", "-c", str(config))
    assert_no_traceback(out)
    assert out.code == 3 and "without --yes" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    # With --yes, what cannot be undone exactly is still refused.
    out = run_cli("drill", "kill-worker", "-c", str(config), "--yes")
    assert out.code == 3 and "--undo-cmd" in out.stderr
    out = run_cli("drill", "restart-host", "-c", str(config), "--yes")
    assert out.code == 3 and "needs the lab" in out.stderr
    # And what can be undone runs.
    code, doc = drill("freeze-worker", "-c", str(config), "--yes")
    assert code == 0 and doc["data"]["named"] is True


def test_kill_worker_on_a_non_lab_cluster_with_an_undo_command(drill_lab, tmp_path: Path) -> None:
    config = tmp_path / "agentops.yaml"
    config.write_text(drill_lab.config.read_text())
    undo = (f"{Path(__import__('sys').executable)} -c \"from agentops.lab.manager import restart_process; "
            f"restart_process('{drill_lab.dir}', 'w1')\"")
    code, doc = drill("kill-worker", "-c", str(config), "--yes", "--type", "echo", "--undo-cmd", undo)
    s = steps(doc)
    assert s["drill.detect"]["status"] == "OK", s
    assert "is registered again" in s["drill.undo"]["message"]
    assert code == 0


@pytest.mark.parametrize(("args", "needle"), [
    (["no-such-fault"], "unknown fault"),
    (["freeze-worker", "--lab", "/nonexistent/lab-state"], "no lab in"),
], ids=["unknown", "no-lab"])
def test_refusals(args: list[str], needle: str) -> None:
    out = run_cli("drill", *args)
    assert_no_traceback(out)
    assert out.code == 3 and needle in out.stderr, out.stderr
