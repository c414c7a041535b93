"""health.gate, baseline.update and disk.check through the real CLI: the gate runs a check pack through the
core runner against a real listening socket and a real closed port; the baseline lands in the state dir
and reads back through the public load_baseline()."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentops.maintain.baseline import load_baseline
from tests.fixtures.common import free_port, run_cli


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Path]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "up.yaml").write_text("checks:\n  - {id: tcp.up, probe: net.tcp, target: up, timeout: 2}\n")
    (packs / "down.yaml").write_text("checks:\n  - {id: tcp.down, probe: net.tcp, target: down, timeout: 2}\n")
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text(f"""
version: 1
cluster: test
pack_dirs: [packs]
targets:
  - {{name: up, kind: tcp, address: "127.0.0.1:{listener.getsockname()[1]}"}}
  - {{name: down, kind: tcp, address: "127.0.0.1:{free_port()}"}}
""")
    yield cfg
    listener.close()


def playbook(tmp_path: Path, gate_pack: str, disk_critical: str) -> Path:
    pb = tmp_path / "gated.yaml"
    pb.write_text(f"""
steps:
  - id: baseline
    step: baseline.update
    params: {{packs: [up]}}
  - id: disk
    step: disk.check
    params: {{paths: ["{tmp_path}"], critical: "{disk_critical}"}}
    continue_on_error: true
  - id: gate
    step: health.gate
    params: {{packs: [{gate_pack}]}}
  - id: after-gate
    step: disk.check
    params: {{paths: ["{tmp_path}"], critical: "> 100"}}
""")
    return pb


def run(cfg: Path, pb: Path, state: Path, *args: str):
    return run_cli("maintain", "run", str(pb), "-c", str(cfg), "--state-dir", str(state), "-o", "json", *args)


def test_gate_stops_the_playbook_when_a_check_fails(cluster: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    r = run(cluster, playbook(tmp_path, "down", "> 100"), state)
    assert r.code == 2, r.stderr
    res = {x["id"]: x for x in r.json()["results"]}
    assert res["gate"]["facts"]["outcome"] == "failed" and res["gate"]["reason"] == "connect"
    assert res["gate"]["facts"]["not_passing"][0]["id"] == "tcp.down"
    assert res["after-gate"]["facts"]["outcome"] == "skipped" and "stopped after step gate" in res["after-gate"]["message"]
    assert res["disk"]["facts"]["outcome"] == "ok"

    assert res["baseline"]["facts"]["outcome"] == "changed"
    baseline = load_baseline(state)
    assert baseline is not None and baseline.cluster == "test"
    assert baseline.value("tcp.up", "up", "connect_ms") is not None


def test_gate_passes_and_a_full_disk_fails_its_step_but_continue_on_error_goes_on(cluster: Path,
                                                                                 tmp_path: Path) -> None:
    state = tmp_path / "state"
    dry = run(cluster, playbook(tmp_path, "up", "> 0"), state, "--check")
    assert load_baseline(state) is None  # check mode measured but stored nothing
    assert {x["id"]: x["facts"]["outcome"] for x in dry.json()["results"]}["baseline"] == "changed"
    r = run(cluster, playbook(tmp_path, "up", "> 0"), state)
    assert r.code == 2, r.stderr
    res = {x["id"]: x for x in r.json()["results"]}
    assert res["disk"]["facts"]["outcome"] == "failed" and res["disk"]["reason"] == "threshold"
    assert res["gate"]["facts"]["outcome"] == "ok" and res["after-gate"]["facts"]["outcome"] == "ok"
    assert r.json()["data"]["stopped_at"] is None
    assert load_baseline(state) is not None


def test_disk_check_reports_the_used_percent_df_and_health_report(tmp_path: Path) -> None:
    # Reserved blocks (and quotas) make (total - available) / total far larger than what df shows; the step
    # must say what df and `agentops health` say about the same mount.
    import shutil
    import subprocess

    pb = tmp_path / "disk.yaml"
    pb.write_text('steps:\n  - {id: disk, step: disk.check, params: {paths: ["/"], critical: "> 100", '
                  'warning: "> 100"}}\n')
    r = run_cli("maintain", "run", str(pb), "--state-dir", str(tmp_path / "state"), "-o", "json")
    assert r.code == 0, r.stderr
    step_pct = r.json()["results"][0]["facts"]["before"]["used_percent:/"]
    df = subprocess.run([shutil.which("df") or "df", "--output=pcent", "/"], capture_output=True, text=True,
                        check=True, timeout=10)
    df_pct = float(df.stdout.splitlines()[1].strip().rstrip("%"))
    assert df_pct - 1 <= step_pct <= df_pct  # df rounds its Use% up to a whole percent
    health = run_cli("health", "--only", "host.disk", "-o", "json")
    disk = next(x for x in health.json()["results"] if x["probe"] == "host.disk")
    assert abs(disk["metrics"]["disk_used_percent:/"] - step_pct) < 0.5


def test_health_baseline_reads_what_baseline_update_stored_and_informs_without_judging(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"AGENTOPS_STATE_DIR": str(state)}
    no_base = run_cli("health", "--only", "host.disk", "--baseline", "-o", "json", env=env)
    assert no_base.code == 0 and "no baseline yet" in no_base.stderr

    pb = tmp_path / "base.yaml"
    pb.write_text("steps:\n  - {id: base, step: baseline.update, params: {packs: [host], only: [host.disk]}}\n")
    r = run_cli("maintain", "run", str(pb), "-o", "json", env=env)
    assert r.code == 0, r.stderr
    stored = load_baseline(state)
    assert stored is not None
    used = stored.value("host.disk", "local", "disk_used_percent:/")
    assert used is not None

    h = run_cli("health", "--only", "host.disk", "--baseline", "-o", "json", env=env)
    assert h.code == 0, h.stderr
    disk = h.json()["results"][0]
    entry = disk["facts"]["baseline"]["disk_used_percent:/"]
    assert entry["baseline"] == used and entry["now"] == disk["metrics"]["disk_used_percent:/"]
    assert abs(entry["change_percent"]) < 5  # the same disk a second later
    assert any("no metric moved more than 50%" in n for n in h.json()["notes"])

    # A past in which the disk was half as full: the baseline file as baseline.update wrote it, with the one
    # stored median halved, so "now" is a real +100% against it.
    doc = json.loads(stored.path.read_text())
    doc["checks"]["host.disk@local"]["metrics"]["disk_used_percent:/"] = used / 2
    past = tmp_path / "past.json"
    past.write_text(json.dumps(doc))
    h = run_cli("health", "--only", "host.disk", "--baseline-file", str(past), "--baseline-tolerance", "50",
                "-o", "json", env=env)
    assert h.code == 0, h.stderr
    disk = h.json()["results"][0]
    assert disk["status"] == "OK"  # the baseline informs; thresholds judge
    assert 90 < disk["facts"]["baseline"]["disk_used_percent:/"]["change_percent"] < 110
    [moved] = [n for n in h.json()["notes"] if n.startswith("baseline ")]
    assert "1 metrics moved more than 50%" in moved and "host.disk@local disk_used_percent:/=" in moved
    table = run_cli("health", "--only", "host.disk", "--baseline-file", str(past), env=env)
    assert "moved more than 50%" in table.stdout + table.stderr
    missing = run_cli("health", "--only", "host.disk", "--baseline-file", str(tmp_path / "none.json"), env=env)
    assert missing.code == 0 and "no baseline at" in missing.stderr
    past.write_text("{broken")
    bad = run_cli("health", "--only", "host.disk", "--baseline-file", str(past), env=env)
    assert bad.code == 3 and "not valid JSON" in bad.stderr and "Traceback" not in bad.stderr
