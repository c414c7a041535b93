"""`agentops emergency TYPE` as users run it, on a REAL lab (four workers, one agent type each) and real
receivers on loopback: each incident detected for real (workers stopped, a queue series over its limit from a
real prometheus_client registry, a worker that really grew, the host stopped) and not detected on a healthy
lab; the plan changes nothing; the apply's protective action is verified on the processes and files; the
webhook gets a valid Alertmanager v4 payload; a webhook that never answers does not hang the command; the
webhook URL's secrets appear nowhere."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.fixtures.common import CliResult, SilentListener, assert_no_traceback, run_cli
from tests.fixtures.lab import LabHandle, running_lab
from tests.fixtures.report_schema import validate_report
from tests.fixtures.servers import AgentMetrics, HttpTestServer

pytestmark = pytest.mark.lab

WORKERS = {"w1": {"echo": "echo"}, "w2": {"echo2": "echo"}, "w3": {"echo3": "echo"}, "w4": {"leak": "leak"}}
SECRET = "s3cr3t-hook-token-8b1f"
PASSWORD = "hunter2-webhook-pw"
ALERTMANAGER_KEYS = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
                     "commonAnnotations", "externalURL", "alerts"}
ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}


@pytest.fixture(scope="module")
def em_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    with running_lab(tmp_path_factory.mktemp("emergency-lab"), workers=WORKERS) as handle:
        yield handle


@pytest.fixture
def lab(em_lab: LabHandle) -> Iterator[LabHandle]:
    """The module's lab, put back the way it was after each test: every process running, none stopped."""
    yield em_lab
    for rec in em_lab.manifest.processes:
        pid = em_lab.layout.read_pid(rec.name)
        try:
            proc = psutil.Process(pid) if pid else None
            alive = proc is not None and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        if alive and proc is not None and proc.status() == psutil.STATUS_STOPPED:
            em_lab.signal(rec.name, signal.SIGCONT)
        elif not alive:
            em_lab.restart(rec.name)


@pytest.fixture
def receiver() -> Iterator[HttpTestServer]:
    with HttpTestServer() as server:
        yield server


def emergency(incident: str, config: Path, state: Path, *args: str, timeout: float = 120) -> tuple[CliResult, dict]:
    out = run_cli("emergency", incident, "-c", str(config), "--state-dir", str(state), "-o", "json", *args,
                  timeout=timeout)
    assert_no_traceback(out)
    doc = out.json()
    validate_report(doc)
    return out, doc


def results(doc: dict, rid: str) -> list[dict]:
    return [r for r in doc["results"] if r["id"] == rid]


def hook_url(server: HttpTestServer) -> str:
    """A webhook URL carrying its secrets the usual ways: userinfo and a token in the path."""
    return f"http://agentops:{PASSWORD}@127.0.0.1:{server.port}/hooks/{SECRET}"


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text and PASSWORD not in text, text[-2000:]


def alertmanager_body(server: HttpTestServer) -> dict[str, Any]:
    seen = [r for r in server.requests if r.method == "POST"]
    assert len(seen) == 1, [r.path for r in server.requests]
    assert seen[0].path == f"/hooks/{SECRET}" and seen[0].headers.get("Content-Type") == "application/json"
    body = json.loads(seen[0].body)
    assert set(body) == ALERTMANAGER_KEYS
    assert body["version"] == "4" and body["status"] == "firing" and body["truncatedAlerts"] == 0
    assert body["groupKey"].startswith("{}:{alertname=")
    assert len(body["alerts"]) == 1 and set(body["alerts"][0]) == ALERT_KEYS
    alert = body["alerts"][0]
    assert alert["labels"] == body["commonLabels"] and alert["annotations"] == body["commonAnnotations"]
    assert alert["endsAt"] == "0001-01-01T00:00:00Z" and alert["startsAt"].endswith("Z")
    assert_no_secret(seen[0].body.decode())
    return body


def stop_workers(lab: LabHandle, *names: str) -> dict[str, int]:
    pids = {}
    for name in names:
        lab.signal(name, signal.SIGSTOP)
        pids[name] = lab.pid(name)
    return pids


def audit(state: Path) -> list[dict]:
    path = state / "heal" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ------------------------------------------------------------------------------------------------ cascade

def test_cascade_is_not_detected_on_a_healthy_lab(lab: LabHandle, tmp_path: Path) -> None:
    out, doc = emergency("cascade", lab.config, tmp_path / "state")
    (r,) = results(doc, "emergency.cascade")
    assert r["status"] == "OK" and r["metrics"]["failing_types"] == 0 and r["metrics"]["types"] == 4, r
    assert doc["data"]["on"] is False and doc["data"]["actions"] == []
    assert out.code == 0 and doc["findings"][0]["id"] == "cascade-none"


def test_cascade_plan_names_the_stopped_workers_and_changes_nothing(lab: LabHandle, tmp_path: Path) -> None:
    pids = stop_workers(lab, "w1", "w2", "w3")
    out, doc = emergency("cascade", lab.config, tmp_path / "state")
    (r,) = results(doc, "emergency.cascade")
    assert r["status"] == "CRITICAL" and r["metrics"]["failing_types"] == 3, r
    failing = {row["type"]: row for row in r["facts"]["failing"]}
    assert set(failing) == {"echo", "echo2", "echo3"} and "stopped" in failing["echo"]["why"]
    assert doc["data"]["on"] is True and doc["data"]["workers"] == ["w1", "w2", "w3"]
    plans = results(doc, "isolate")
    assert {p["target"] for p in plans} == {"w1", "w2", "w3"}
    for p in plans:
        assert f"SIGTERM to pid {pids[p['target']]}" in p["facts"]["plan"]["action"], p
        assert p["facts"]["outcome"] == "changed" and p["status"] == "OK"  # "would change"
    # The reroute (heal's failover) needs a standby per worker; the lab has none, and the plan says so.
    reroutes = results(doc, "reroute")
    assert {r["target"] for r in reroutes} == {"w1", "w2", "w3"}
    assert all(r["facts"]["outcome"] == "skipped" and "options.heal.standby" in r["message"] for r in reroutes)
    assert out.code == 2 and doc["verdict"]["id"] == "emergency-cascade"
    # The plan changed nothing: the same processes, still stopped, and no history of acting.
    for name, pid in pids.items():
        assert lab.pid(name) == pid and psutil.Process(pid).status() == psutil.STATUS_STOPPED
    assert not [rec for rec in audit(tmp_path / "state") if rec["event"] == "change"]


def test_cascade_apply_isolates_saves_state_and_notifies(lab: LabHandle, tmp_path: Path,
                                                        receiver: HttpTestServer) -> None:
    receiver.route(f"/hooks/{SECRET}", status=200, body="ok")
    state = tmp_path / "state"
    pids = stop_workers(lab, "w1", "w2", "w3")
    out, doc = emergency("cascade", lab.config, state, "--apply", "--yes", "--webhook", hook_url(receiver),
                         "--external-url", "http://grafana.example/d/agents")
    steps = {r["target"]: r for r in results(doc, "isolate")}
    assert set(steps) == {"w1", "w2", "w3"}
    for name, pid in pids.items():
        assert steps[name]["status"] == "OK" and steps[name]["facts"]["outcome"] == "changed", steps[name]["message"]
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert psutil.Process(lab.pid("w4")).status() != psutil.STATUS_STOPPED  # the healthy worker is untouched
    # The state was saved first, and holds the detection.
    snap = json.loads(Path(doc["data"]["snapshot"]).read_text())
    assert snap["kind"] == "emergency" and snap["results"][0]["metrics"]["failing_types"] == 3
    body = alertmanager_body(receiver)
    assert body["commonLabels"]["alertname"] == "AgentopsEmergencyCascade"
    assert body["commonLabels"]["severity"] == "critical" and body["externalURL"] == "http://grafana.example/d/agents"
    (note,) = results(doc, "emergency.notify")
    assert note["status"] == "OK" and note["target"] == f"http://127.0.0.1:{receiver.port}/…"
    assert doc["data"]["notified"] is True and out.code == 2
    events = [(r["event"], r.get("target")) for r in audit(state)]
    assert ("step", "w1") in events and events[-1][0] == "run.end"
    # Each isolated worker is an attempt in heal's history: `heal history` lists it under the incident.
    hist = run_cli("heal", "history", "-c", str(lab.config), "--state-dir", str(state), "-o", "json")
    assert hist.code == 0, hist.stderr
    rows = {row["target"]: row for row in hist.json()["items"]}
    assert set(rows) == {"w1", "w2", "w3"}, rows
    assert all(row["mode"] == "cascade" and row["outcome"] == "contained" for row in rows.values()), rows
    assert_no_secret(out.stdout, out.stderr, (state / "heal" / "audit.jsonl").read_text(),
                     Path(doc["data"]["snapshot"]).read_text())


def test_failures_seen_by_runs_within_the_window_count_together(lab: LabHandle, tmp_path: Path) -> None:
    """A cascade spreads over time: echo failed a run ago (within window_s) and answers again; echo2 and echo3
    fail now. Three types failed within the window, so it is a cascade, but only the workers failing now are
    to be isolated."""
    state = tmp_path / "state"
    stop_workers(lab, "w1")
    _, first = emergency("cascade", lab.config, state)
    (r1,) = results(first, "emergency.cascade")
    assert r1["metrics"]["failing_types"] == 1 and r1["status"] == "OK" and first["data"]["on"] is False
    lab.signal("w1", signal.SIGCONT)
    stop_workers(lab, "w2", "w3")
    out, second = emergency("cascade", lab.config, state)
    (r2,) = results(second, "emergency.cascade")
    assert r2["metrics"]["failing_types"] == 3 and r2["metrics"]["failing_now"] == 2 and r2["status"] == "CRITICAL"
    rows = {row["type"]: row for row in r2["facts"]["failing"]}
    assert rows["echo"]["failing_now"] is False and rows["echo2"]["failing_now"] is True
    assert second["data"]["workers"] == ["w2", "w3"] and out.code == 2
    assert {p["target"] for p in results(second, "isolate")} == {"w2", "w3"}


def test_apply_with_no_emergency_does_nothing(lab: LabHandle, tmp_path: Path) -> None:
    state = tmp_path / "state"
    pids = {w: lab.pid(w) for w in ("w1", "w2", "w3", "w4")}
    out, doc = emergency("cascade", lab.config, state, "--apply", "--yes")
    assert out.code == 0 and doc["data"]["on"] is False and doc["data"]["snapshot"] is None
    assert {w: lab.pid(w) for w in pids} == pids and all(psutil.pid_exists(p) for p in pids.values())
    assert audit(state) == []


def test_apply_without_consent_refuses_and_changes_nothing(lab: LabHandle, tmp_path: Path) -> None:
    pids = stop_workers(lab, "w1", "w2", "w3")
    out = run_cli("emergency", "cascade", "-c", str(lab.config), "--state-dir", str(tmp_path), "--apply")
    assert_no_traceback(out)
    assert out.code == 3 and "--yes" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    for pid in pids.values():
        assert psutil.Process(pid).status() == psutil.STATUS_STOPPED


# ----------------------------------------------------------------------------------------------- overflow

def overflow_config(lab: LabHandle, tmp_path: Path, metrics_url: str, redis_url: str | None = None) -> Path:
    """The lab's host, and a worker whose metrics_url is a real prometheus_client registry on loopback."""
    doc = yaml.safe_load(lab.config.read_text())
    host = next(t for t in doc["targets"] if t["kind"] == "agentrpc")
    targets = [host, {"name": "wq", "kind": "worker",
                      "options": {"host": lab.address, "metrics_url": metrics_url, "agent_types": ["queued"]}}]
    if redis_url:
        targets.append({"name": "flags-redis", "kind": "redis", "address": redis_url})
    path = tmp_path / "overflow.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "cluster": "lab", "targets": targets}))
    return path


@pytest.mark.parametrize(("queued", "on"), [(3, False), (5000, True)])
def test_overflow_detection_reads_the_queue_series(lab: LabHandle, tmp_path: Path, receiver: HttpTestServer,
                                                  queued: int, on: bool) -> None:
    metrics = AgentMetrics()
    metrics.queue_size.set(queued)
    config = overflow_config(lab, tmp_path, receiver.metrics_route("/metrics", metrics.registry))
    out, doc = emergency("overflow", config, tmp_path / "state")
    (r,) = results(doc, "emergency.overflow")
    assert r["target"] == "wq" and r["metrics"]["queue_size"] == queued
    assert r["status"] == ("CRITICAL" if on else "OK") and doc["data"]["on"] is on
    assert out.code == (2 if on else 0)
    if on:
        (plan,) = results(doc, "backpressure")
        assert "backpressure flag" in plan["facts"]["plan"]["action"]
        assert not (tmp_path / "state" / "emergency" / "flags").exists()  # planned, not written


def test_overflow_apply_raises_the_backpressure_flag_file_and_redis_key(lab: LabHandle, tmp_path: Path,
                                                                        receiver: HttpTestServer,
                                                                        redis_server: Any) -> None:
    metrics = AgentMetrics()
    metrics.queue_size.set(5000)
    config = overflow_config(lab, tmp_path, receiver.metrics_route("/metrics", metrics.registry), redis_server.url)
    runbooks = tmp_path / "runbooks" / "emergency"
    runbooks.mkdir(parents=True)
    (runbooks / "overflow.yaml").write_text(yaml.safe_dump({"runbook": "my-overflow", "modes": {"overflow": {
        "steps": [{"id": "backpressure", "step": "emergency.flag",
                   "params": {"mode": "backpressure", "ttl_s": 120, "redis": "flags-redis"}}]}}}))
    receiver.route(f"/hooks/{SECRET}", status=200)
    state = tmp_path / "state"
    out, doc = emergency("overflow", config, state, "--apply", "--yes", "--webhook", hook_url(receiver),
                         "--webhook-format", "json")
    (step,) = results(doc, "backpressure")
    assert step["status"] == "OK" and step["facts"]["outcome"] == "changed", step
    assert doc["data"]["runbook"] == str(runbooks / "overflow.yaml")  # the user's runbook beside the config won
    flag = json.loads((state / "emergency" / "flags" / "backpressure-wq.json").read_text())
    assert flag["mode"] == "backpressure" and flag["worker"] == "wq" and flag["incident"] == "overflow"
    key = redis_server.client().get("agentops:backpressure:wq")
    assert key is not None and json.loads(key)["mode"] == "backpressure"
    assert 0 < redis_server.client().ttl("agentops:backpressure:wq") <= 120
    (seen,) = [r for r in receiver.requests if r.method == "POST"]
    plain = json.loads(seen.body)
    assert plain["schema"] == "agentops.emergency.notification/v1" and plain["incident"] == "overflow"
    assert plain["report"]["kind"] == "emergency"
    assert_no_secret(out.stdout, out.stderr, seen.body.decode())
    assert out.code == 2


# ------------------------------------------------------------------------------------------------- memory

def _leak(lab: LabHandle, mib: int, payload_type: str = "Leak") -> None:
    import asyncio

    from agentops.autogen.client import AgentRpcClient

    async def send() -> None:
        async with AgentRpcClient(lab.address) as client:
            result = await client.ping("leak", payload_type=payload_type, payload={"mib": mib} if mib else {},
                                       timeout=30)
            assert result.outcome == "reply", result

    asyncio.run(send())


def memory_pack(tmp_path: Path, lab: LabHandle, limit_mib: float) -> Path:
    """The lab's config with a pack_dir whose emergency.yaml lowers the worker RSS limit (by id)."""
    packs = tmp_path / "packs"
    packs.mkdir()
    # The shared test machine's own memory is not under test here: its limit is set out of reach.
    (packs / "emergency.yaml").write_text(yaml.safe_dump({"pack": "emergency", "checks": [
        {"id": "emergency.memory.worker", "probe": "emergency.memory", "critical": {"rss_mib": f"> {limit_mib}"}},
        {"id": "emergency.memory.machine", "probe": "emergency.memory", "critical": {"memory_used_percent": "> 100"}},
    ]}))
    doc = yaml.safe_load(lab.config.read_text())
    doc["pack_dirs"] = [str(packs)]
    path = tmp_path / "agentops.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_memory_is_not_detected_with_the_shipped_limits(lab: LabHandle, tmp_path: Path) -> None:
    _out, doc = emergency("memory", lab.config, tmp_path / "state")
    assert {r["target"] for r in results(doc, "emergency.memory.worker")} == {"w1", "w2", "w3", "w4"}
    assert all(r["status"] == "OK" for r in results(doc, "emergency.memory.worker"))
    assert doc["data"]["on"] is False


def test_memory_detects_the_worker_that_grew_and_apply_runs_the_cleanup_playbook(lab: LabHandle,
                                                                                 tmp_path: Path) -> None:
    before = psutil.Process(lab.pid("w4")).memory_info().rss / 2**20
    limit = max(psutil.Process(lab.pid(w)).memory_info().rss for w in ("w1", "w2", "w3")) / 2**20 + 100
    config = memory_pack(tmp_path, lab, round(limit))
    # The cleanup playbook prunes a tmpfs-like directory the test fills with old files.
    shm = tmp_path / "shm"
    shm.mkdir()
    for i in range(3):
        f = shm / f"spill-{i}.bin"
        f.write_bytes(b"x" * 4096)
        old = time.time() - 3600
        os.utime(f, (old, old))
    runbooks = tmp_path / "runbooks" / "emergency"
    runbooks.mkdir(parents=True)
    (runbooks / "memory.yaml").write_text(yaml.safe_dump({"runbook": "mem", "modes": {"memory": {"steps": [
        {"id": "cleanup", "step": "emergency.cleanup",
         "params": {"playbook": "emergency-memory", "vars": {"shm_dir": str(shm), "shm_age": "10m"}}}]}}}))
    try:
        _leak(lab, int(limit - before) + 150)
        out, doc = emergency("memory", config, tmp_path / "state")
        grown = {r["target"]: r for r in results(doc, "emergency.memory.worker")}
        assert grown["w4"]["status"] == "CRITICAL" and grown["w1"]["status"] == "OK", grown
        assert doc["data"]["workers"] == ["w4"] and out.code == 2
        assert len(list(shm.iterdir())) == 3  # the plan deleted nothing
        out, doc = emergency("memory", config, tmp_path / "state", "--apply", "--yes")
        (step,) = results(doc, "cleanup")
        assert step["status"] == "OK" and step["facts"]["playbook"] == "emergency-memory", step
        assert list(shm.iterdir()) == []
        maintain_audit = [json.loads(x) for x in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
        assert any(r["event"] == "run.end" and r["playbook"] == "emergency-memory" for r in maintain_audit)
    finally:
        _leak(lab, 0, payload_type="Release")


# ---------------------------------------------------------------------------------------------- partition

def test_partition_is_not_detected_while_the_host_answers(lab: LabHandle, tmp_path: Path) -> None:
    out, doc = emergency("partition", lab.config, tmp_path / "state")
    (r,) = results(doc, "emergency.partition")
    assert r["status"] == "OK" and r["metrics"]["host_unreachable"] == 0 and r["metrics"]["local_workers_up"] == 4
    assert out.code == 0


def test_partition_apply_raises_degraded_mode_for_the_local_workers(lab: LabHandle, tmp_path: Path,
                                                                     receiver: HttpTestServer) -> None:
    receiver.route(f"/hooks/{SECRET}", status=200)
    state = tmp_path / "state"
    lab.signal("host", signal.SIGSTOP)
    out, doc = emergency("partition", lab.config, state, "--apply", "--yes", "--webhook", hook_url(receiver))
    (r,) = results(doc, "emergency.partition")
    assert r["status"] == "CRITICAL" and r["facts"]["host_reason"] == "timeout", r
    assert sorted(r["target"] for r in results(doc, "degraded-mode")) == ["w1", "w2", "w3", "w4"]
    for w in ("w1", "w2", "w3", "w4"):
        flag = json.loads((state / "emergency" / "flags" / f"degraded-{w}.json").read_text())
        assert flag["mode"] == "degraded" and flag["incident"] == "partition"
    body = alertmanager_body(receiver)
    assert body["commonLabels"]["incident"] == "partition"
    # A cascade is not claimed while the host itself does not answer: that is this incident, not that one.
    _, doc2 = emergency("cascade", lab.config, state)
    (c,) = results(doc2, "emergency.cascade")
    assert c["status"] == "UNKNOWN" and "partition" in c["message"], c
    assert out.code == 2 and doc["data"]["notified"] is True


# ------------------------------------------------------------------------------------------------ webhook

def test_a_webhook_that_never_answers_does_not_hang_the_command(lab: LabHandle, tmp_path: Path) -> None:
    listener = SilentListener()
    try:
        stop_workers(lab, "w1", "w2", "w3")
        url = f"http://127.0.0.1:{listener.port}/hooks/{SECRET}?token={SECRET}"
        # run_cli's own timeout (120 s) fails the test if the command hangs.
        out, doc = emergency("cascade", lab.config, tmp_path / "state", "--apply", "--yes", "--webhook", url,
                             "--webhook-deadline", "2", "--webhook-retries", "1")
        (note,) = results(doc, "emergency.notify")
        assert note["status"] == "WARNING" and note["reason"] == "timeout", note
        assert listener.accepted  # it really connected, and got no answer
        assert doc["data"]["notified"] is False
        assert all(r["status"] == "OK" for r in results(doc, "isolate"))  # the protective steps stand
        assert_no_secret(out.stdout, out.stderr)
    finally:
        listener.close()


def test_bad_input_is_one_line_and_exit_3(lab: LabHandle, tmp_path: Path) -> None:
    for args, words in ((["flood"], "unknown emergency type"),
                        (["cascade", "--webhook", "ftp://x/y"], "not an http(s):// URL"),
                        (["cascade", "--webhook-format", "xml"], "--webhook-format")):
        out = run_cli("emergency", *args, "-c", str(lab.config), "--state-dir", str(tmp_path))
        assert_no_traceback(out)
        assert out.code == 3 and words in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr



@pytest.mark.parametrize(("status", "attempts", "delivered"), [(503, 3, False), (400, 1, False), (202, 1, True)])
def test_delivery_retries_a_server_error_but_not_a_refusal(receiver: HttpTestServer, status: int, attempts: int,
                                                           delivered: bool) -> None:
    """Against a real HTTP server: a 5xx is retried (retries=2: three attempts), a 4xx is the receiver's answer
    and is not, a 2xx is delivered; every attempt carries the same Alertmanager body."""
    import asyncio

    from agentops.heal.emergency_notify import Delivery, alertmanager_payload, check_url, deliver

    receiver.route(f"/hooks/{SECRET}", status=status)
    url = check_url(hook_url(receiver))
    payload = alertmanager_payload(incident="overflow", cluster="lab", severity="critical", summary=f"s {SECRET}",
                                   description="d", started_at=time.time())
    obs = asyncio.run(deliver(Delivery(url=url, retries=2, backoff_s=0.01, deadline_s=30), payload))
    posts = [r for r in receiver.requests if r.method == "POST"]
    assert len(posts) == attempts and obs.metrics["attempts"] == attempts
    assert (obs.reason is None) is delivered and obs.metrics["http_status"] == status
    assert len({p.body for p in posts}) == 1
    assert_no_secret(posts[0].body.decode(), obs.message)  # the summary's secret is masked in the payload too
