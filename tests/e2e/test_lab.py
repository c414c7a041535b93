"""`agentops lab up | status | down` and `agentops cluster inventory` as users run them (the real CLI in a child
process), against real lab clusters; `agentops health -c <lab>/agentops.yaml` works at once."""

import signal
import subprocess
import sys
import textwrap

import psutil
import pytest

from agentops.lab.layout import LabLayout
from tests.fixtures.common import assert_no_traceback, free_port, run_cli, wait_for
from tests.fixtures.report_schema import validate_report

pytestmark = pytest.mark.lab

BLOCK_AUTOGEN = """
import sys

class _BlockAutogen:
    # The test's stand-in for "the [lab] extra is not installed": any import of autogen fails.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("autogen_core", "autogen_ext", "autogen_agentchat"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, _BlockAutogen())
"""


@pytest.fixture
def no_autogen_env(tmp_path):
    site = tmp_path / "block-autogen"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(BLOCK_AUTOGEN))
    return {"PYTHONPATH": str(site)}


def lab_pids(directory):
    layout = LabLayout(directory)
    return {p.stem: int(p.read_text()) for p in layout.run_dir.glob("*.pid")}


def gone(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_up_health_inventory_down(tmp_path):
    d = tmp_path / "state"
    up = run_cli("lab", "up", "--dir", str(d), "--slow-seconds", "1")
    try:
        assert_no_traceback(up)
        assert up.code == 0, up.stderr
        assert "lab up: AgentRpc host 127.0.0.1:" in up.stdout and f"agentops health -c {d}" in up.stdout
        pids = lab_pids(d)
        assert set(pids) == {"host", "w1", "w2"} and not any(gone(p) for p in pids.values())
        config = d / "agentops.yaml"

        status = run_cli("lab", "status", "--dir", str(d), "-o", "json")
        assert status.code == 0, status.stdout
        doc = status.json()
        assert doc["schema"] == "agentops.report/v2" and doc["kind"] == "lab.status"
        validate_report(doc)
        assert {(r["id"], r["target"]) for r in doc["results"]} == {
            ("lab.process", "host"), ("lab.process", "w1"), ("lab.process", "w2"), ("lab.registration", "host")}
        assert {p["name"]: p["pid"] for p in doc["data"]["processes"]} == pids

        health = run_cli("health", "-c", str(config), "-p", "autogen", "-o", "json")
        assert health.code == 0, health.stdout
        results = {(r["id"], r["target"]): r for r in health.json()["results"]}
        assert set(results) == {("autogen.host", "lab-host"), ("autogen.worker", "w1"), ("autogen.worker", "w2"),
                                ("autogen.worker.start", "w1"), ("autogen.worker.start", "w2")}
        assert results[("autogen.host", "lab-host")]["metrics"]["ping_ms"] > 0

        everything = run_cli("health", "-c", str(config), "-o", "json")  # every default pack: runs, no error
        assert_no_traceback(everything)
        assert everything.code in (0, 1, 2) and everything.json()["results"]

        inv = run_cli("cluster", "inventory", "-c", str(config), "--owners", "-o", "json")
        assert inv.code == 0, inv.stderr
        host = inv.json()["data"]["hosts"][0]
        assert host["inventory"]["agent_types"] == ["echo", "echo2", "failing", "leak", "none", "slow"]
        w1_client = (d / "run" / "w1.client_id").read_text().strip()
        assert host["owners"]["echo"] == host["owners"]["slow"] == w1_client != host["owners"]["failing"]
        address = host["address"]
        table = run_cli("cluster", "inventory", "--host", address)
        assert table.code == 0 and "lab.events" in table.stdout and "failing:*" in table.stdout

        again = run_cli("lab", "up", "--dir", str(d))
        assert again.code == 3 and "already running" in again.stderr and len(again.stderr.splitlines()) == 1
        taken = run_cli("lab", "up", "--dir", str(tmp_path / "other"), "--port", address.rsplit(":", 1)[1])
        assert taken.code == 3 and "is in use" in taken.stderr and len(taken.stderr.splitlines()) == 1
        assert not (tmp_path / "other" / "run").exists() or not list((tmp_path / "other" / "run").glob("*.pid"))
    finally:
        down = run_cli("lab", "down", "--dir", str(d), "-o", "json")
    assert down.code == 0, down.stderr
    assert down.json()["schema"] == "agentops.listing/v1" and down.json()["kind"] == "lab.down"
    assert {p["name"]: p["outcome"] for p in down.json()["processes"]} == {
        "host": "stopped", "w1": "stopped", "w2": "stopped"}
    assert all(gone(pid) for pid in pids.values())
    after = run_cli("lab", "status", "--dir", str(d))
    assert after.code == 3 and "no lab in" in after.stderr


def test_up_without_the_extra_says_how_to_install(tmp_path, no_autogen_env):
    r = run_cli("lab", "up", "--dir", str(tmp_path / "x"), env=no_autogen_env)
    assert_no_traceback(r)
    assert r.code == 3 and r.stderr.count("\n") == 1 and "install agentops-cli[lab]" in r.stderr
    assert not (tmp_path / "x").exists()


def test_status_and_inventory_never_import_autogen(lab, no_autogen_env):
    status = run_cli("lab", "status", "--dir", str(lab.dir), env=no_autogen_env)
    assert status.code == 0, status.stdout + status.stderr
    inv = run_cli("cluster", "inventory", "--host", lab.address, "-o", "json", env=no_autogen_env)
    assert inv.code == 0 and inv.json()["results"][0]["status"] == "OK"
    health = run_cli("health", "-c", str(lab.config), "-p", "autogen", env=no_autogen_env)
    assert health.code == 0, health.stdout


def test_status_shows_a_frozen_and_a_dead_worker(fresh_lab):
    fresh_lab.signal("w1", signal.SIGSTOP)
    fresh_lab.signal("w2", signal.SIGKILL)
    wait_for(lambda: gone(fresh_lab.pid("w2")), what="w2 to die")
    wait_for(lambda: "failing" not in _inventory_types(fresh_lab), what="the host to drop w2's types")
    r = run_cli("lab", "status", "--dir", str(fresh_lab.dir), "-o", "json")
    assert r.code == 2
    results = {(x["id"], x["target"]): x for x in r.json()["results"]}
    w1, w2 = results[("lab.process", "w1")], results[("lab.process", "w2")]
    assert w1["status"] == "CRITICAL" and w1["facts"]["state"] == "T" and "stopped" in w1["message"]
    assert w2["status"] == "CRITICAL" and w2["metrics"]["alive"] == 0
    reg = results[("lab.registration", "host")]
    assert reg["status"] == "CRITICAL" and reg["message"].endswith("failing, none, echo2")  # the host noticed
    # down resumes the frozen worker and stops everything that is left
    down = run_cli("lab", "down", "--dir", str(fresh_lab.dir), "-o", "json")
    outcomes = {p["name"]: p["outcome"] for p in down.json()["processes"]}
    assert outcomes == {"host": "stopped", "w1": "stopped", "w2": "not running"}


def _inventory_types(lab):
    import asyncio

    from agentops.autogen.client import AgentRpcClient

    async def go():
        async with AgentRpcClient(lab.address) as client:
            return (await client.inventory(timeout=3)).agent_types
    return asyncio.run(go())


def test_down_leaves_a_recycled_pid_alone(tmp_path):
    """A pid file whose pid now belongs to another program: `lab down` must not signal it."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        layout = LabLayout(tmp_path / "lab")
        layout.make()
        layout.pid_file("w1").write_text(f"{stranger.pid}\n")
        r = run_cli("lab", "down", "--dir", str(layout.root), "--grace", "0.5")
        assert r.code == 0 and "not ours" in r.stdout
        assert stranger.poll() is None and layout.pid_file("w1").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_cluster_inventory_bad_input_and_unreachable_host(tmp_path):
    bad = run_cli("cluster", "inventory", "--host", "nohostport")
    assert bad.code == 3 and "no port" in bad.stderr
    empty = tmp_path / "agentops.yaml"
    empty.write_text("version: 1\ntargets: []\n")
    none = run_cli("cluster", "inventory", "-c", str(empty))
    assert none.code == 3 and "no agentrpc target" in none.stderr
    down = run_cli("cluster", "inventory", "--host", f"127.0.0.1:{free_port()}", "-o", "json")
    assert down.code == 2 and down.json()["results"][0]["reason"] == "connect"
    for r in (bad, none, down):
        assert_no_traceback(r)


def _ping(lab, agent_type, payload_type="Ping", payload=None, timeout=5.0):
    import asyncio

    from agentops.autogen.client import AgentRpcClient

    async def go():
        async with AgentRpcClient(lab.address) as client:
            return await client.ping(agent_type, payload_type=payload_type, payload={"text": "m"} if payload is None else payload,
                                     timeout=timeout)
    return asyncio.run(go())


def _scrape(url):
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _value(samples, name, **labels):
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def test_worker_metrics_count_what_the_agents_did(lab):
    before_w1, before_w2 = _scrape(lab.metrics_url("w1")), _scrape(lab.metrics_url("w2"))
    assert _ping(lab, "echo").outcome == "reply"
    assert _ping(lab, "failing").outcome == "error"
    w1, w2 = _scrape(lab.metrics_url("w1")), _scrape(lab.metrics_url("w2"))
    ok = ("agent_message_count_total", {"agent_type": "echo", "outcome": "ok", "worker": "w1"})
    assert _value(w1, ok[0], **ok[1]) == _value(before_w1, ok[0], **ok[1]) + 1
    err = {"agent_type": "failing", "worker": "w2", "error": "RuntimeError"}
    assert _value(w2, "agent_errors_total", **err) == _value(before_w2, "agent_errors_total", **err) + 1
    assert _value(w1, "agent_response_time_count", agent_type="echo") >= 1
    assert _value(w1, "agent_response_time_bucket", agent_type="echo", le="+Inf") >= 1
    assert _value(w1, "runtime_active_agents", worker="w1") >= 1
    assert ("runtime_message_queue_size", (("worker", "w1"),)) in w1
    assert _value(w1, "process_resident_memory_bytes") > 10 * 2**20


def test_leak_agent_grows_and_releases_real_memory(lab):
    proc = psutil.Process(lab.pid(lab.owner("leak")))
    rss_before = proc.memory_info().rss
    grown = _ping(lab, "leak", "Leak", {"mib": 64})
    try:
        assert grown.outcome == "reply" and grown.reply["leaked_bytes"] >= 64 * 2**20
        assert proc.memory_info().rss - rss_before > 48 * 2**20  # resident, not just reserved
        assert _value(_scrape(lab.metrics_url("w1")), "lab_leaked_bytes") >= 64 * 2**20
    finally:
        released = _ping(lab, "leak", "Release", {})
    assert released.outcome == "reply" and released.reply == {"leaked_bytes": 0}
    assert _value(_scrape(lab.metrics_url("w1")), "lab_leaked_bytes") == 0


def test_slow_agent_answers_after_its_sleep(lab):
    late = _ping(lab, "slow", timeout=0.3)
    assert late.outcome == "no_reply"
    on_time = _ping(lab, "slow", "Sleep", {"seconds": 0.05}, timeout=5)
    assert on_time.outcome == "reply" and on_time.reply["text"] == "slept 0.05s"


def test_lab_control_switches_a_healthy_type_slow_failing_and_back(lab):
    """The run-time switch the handler drills use: echo2 (a healthy type) fails, then is slow, then is normal
    again; a handler held by "slow" is released by "normal" (the undo), and other types are not touched."""
    import asyncio

    from agentops.lab.control import ControlError, set_mode

    address = lab.address
    try:
        assert asyncio.run(set_mode(address, "echo2", "fail"))["worker"] == lab.owner("echo2")
        failed = _ping(lab, "echo2")
        assert failed.outcome == "error" and "failing on purpose" in (failed.error or "")
        assert _ping(lab, "echo").outcome == "reply"  # another type on another worker: untouched
        asyncio.run(set_mode(address, "echo2", "slow", delay_s=60))
        assert _ping(lab, "echo2", timeout=0.5).outcome == "no_reply"
        in_flight = ("runtime_message_queue_size", (("worker", lab.owner("echo2")),))
        assert _scrape(lab.metrics_url(lab.owner("echo2")))[in_flight] >= 1
    finally:
        asyncio.run(set_mode(address, "echo2", "normal"))
    assert _ping(lab, "echo2").outcome == "reply"
    wait_for(lambda: _scrape(lab.metrics_url(lab.owner("echo2")))[in_flight] == 0, what="the held handler to end")
    with pytest.raises(ControlError, match="did not confirm"):
        asyncio.run(set_mode(address, "echo2", "sideways"))


def test_a_start_up_failure_stops_what_was_started(tmp_path):
    from agentops.lab import manager

    with pytest.raises(manager.LabError) as err:  # /bin/false "starts" the host and exits 1 at once
        manager.up(manager.LabOptions(dir=tmp_path / "lab", python="/bin/false", ready_timeout=10))
    assert err.value.exit_code == 2 and "host exited with status 1 during start-up" in str(err.value)
    assert not list((tmp_path / "lab" / "run").glob("*.pid")) and not (tmp_path / "lab" / "lab.json").exists()
    with pytest.raises(manager.LabError, match="unknown agent behaviour 'teleport'") as bad:
        manager.up(manager.LabOptions(dir=tmp_path / "lab2", workers={"w1": {"x": "teleport"}}))
    assert bad.value.exit_code == 3


def test_host_never_shares_a_port(tmp_path):
    """A gRPC server with gRPC's default SO_REUSEPORT holds the port: a second default server would share it
    silently; the lab host (so_reuseport=0) must refuse to start instead."""
    from concurrent import futures

    import grpc

    from agentops.lab.host import EXIT_BIND_FAILED

    holder = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # default options: port sharing on
    port = holder.add_insecure_port("127.0.0.1:0")
    holder.start()
    try:
        layout = LabLayout(tmp_path / "lab")
        layout.make()
        r = subprocess.run([sys.executable, "-m", "agentops.lab.host", "--state-dir", str(layout.root), "--port",
                            str(port)], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == EXIT_BIND_FAILED, r.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
        assert not layout.port_file("host").exists()
    finally:
        holder.stop(None)
