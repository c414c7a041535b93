"""Every documented top-level, `defaults.*` and AutoGen-target option does what it says (the per-kind connection
options are in test_every_option.py, whose helpers this reuses). One case per option, each showing a real
difference against real things: a server that records how many requests it holds at once and when each
arrived, a pack directory, a maintenance run's state directory, and (marked `lab`) the real AutoGen lab
cluster, whose diagnosis reads the logs, metrics endpoint, ping and process each option names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from agentops.core.model import Reason
from tests.fixtures.common import assert_no_traceback, run_cli, wait_for
from tests.fixtures.servers import AgentMetrics, unique_name
from tests.integration import test_every_option as base

# --------------------------------------------------------------------------------------- helpers


class Overlap:
    """A route body that records how many requests the server holds at once. Each request is held until
    `expect` are in (or `hold` seconds pass), so checks that run together are seen together, by the server."""

    def __init__(self, expect: int, hold: float) -> None:
        self.expect, self.hold = expect, hold
        self.lock = threading.Lock()
        self.now = self.peak = self.seen = 0
        self.all_in = threading.Event()

    def __call__(self) -> bytes:
        with self.lock:
            self.now += 1
            self.seen += 1
            self.peak = max(self.peak, self.now)
            if self.now >= self.expect:
                self.all_in.set()
        self.all_in.wait(self.hold)
        with self.lock:
            self.now -= 1
        return b"ok\n"


class Arrivals:
    """A route body that notes when each request arrived (the server's own monotonic clock)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self) -> bytes:
        self.times.append(time.monotonic())
        return b"down\n"


def _write(r: pytest.FixtureRequest, doc: dict[str, Any], name: str = "") -> Path:
    directory: Path = r.getfixturevalue("tmp_path")
    config = directory / f"{name or unique_name('cfg')}.yaml"
    config.write_text(json.dumps(doc))
    return config


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    result = run_cli(*args, env=env)
    assert_no_traceback(result)
    return result


def _health(config: Path, *extra: str) -> Any:
    return _cli("health", "-c", str(config), "-o", "json", *extra)


def _ids(result: Any) -> set[str]:
    return {r["id"] for r in result.json()["results"]}


def _http_targets(url: str, n: int) -> list[dict[str, Any]]:
    return [{"name": f"api{i}", "kind": "http", "address": f"{url}?n={i}"} for i in range(n)]


# ------------------------------------------------------------------------------------------- defaults

def defaults_concurrency(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("http_server")
    runs = {}
    for concurrency, hold in ((256, 30.0), (1, 0.3)):
        overlap = Overlap(expect=3, hold=hold)
        url = server.route(f"/{unique_name('conc')}", body=overlap)
        config = _write(r, {"version": 1, "packs": [], "defaults": {"concurrency": concurrency},
                            "targets": _http_targets(url, 3),
                            "checks": [{"id": "api.up", "probe": "http", "target": "kind:http"}]})
        result = _health(config)
        assert result.code == 0, result.stderr
        runs[concurrency] = (overlap.seen, overlap.peak)
    # the server held all three at once when allowed, never two with concurrency 1
    assert runs == {256: (3, 3), 1: (3, 1)}


def defaults_retry_delay(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("http_server")
    arrivals = Arrivals()
    url = server.route(f"/{unique_name('retry')}", status=503, body=arrivals)
    config = _write(r, {"version": 1, "packs": [], "defaults": {"retries": 1, "retry_delay": 0.8},
                        "targets": _http_targets(url, 1),
                        "checks": [{"id": "api.up", "probe": "http", "target": "api0"}]})
    result = _health(config)
    assert result.json()["results"][0]["attempts"] == 2
    assert len(arrivals.times) == 2
    assert arrivals.times[1] - arrivals.times[0] >= 0.7  # the pause between attempts, as the server saw it


# ------------------------------------------------------------------------------------------- top level

def _tcp_target(r: pytest.FixtureRequest) -> dict[str, Any]:
    return {"name": "port", "kind": "tcp", "address": f"127.0.0.1:{r.getfixturevalue('http_server').port}"}


def _pack(directory: Path, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yaml").write_text(
        f"pack: {name}\ndescription: a pack of the test's own\nchecks:\n"
        f"  - id: {name}.port\n    probe: net.tcp\n    target: kind:tcp\n")


def top_packs(r: pytest.FixtureRequest) -> None:
    doc = {"version": 1, "targets": [_tcp_target(r)]}
    tcp_only = _health(_write(r, {**doc, "packs": [], "checks": [{"id": "x.port", "probe": "net.tcp",
                                                                "target": "port"}]}))
    assert _ids(tcp_only) == {"x.port"}  # packs: [] runs no shipped pack (not even host on `local`)
    shipped = _health(_write(r, {**doc, "packs": ["host"]}), "--only", "host.load")
    assert _ids(shipped) == {"host.load"}
    assert any(r["target"] == "local" for r in shipped.json()["results"])


def top_pack_dirs(r: pytest.FixtureRequest) -> None:
    tmp: Path = r.getfixturevalue("tmp_path")
    name = unique_name("optpack").replace("-", "_")
    _pack(tmp / "mine", name)
    doc = {"version": 1, "targets": [_tcp_target(r)], "packs": [name]}
    found = _health(_write(r, {**doc, "pack_dirs": ["mine"]}))  # relative to the config file
    assert found.code == 0, found.stderr
    assert _ids(found) == {f"{name}.port"}
    missing = _health(_write(r, doc))
    assert missing.code == 3 and name in missing.stderr, missing.stderr
    # and playbooks: `playbooks/` inside a pack directory is searched for a playbook given by name
    (tmp / "mine" / "playbooks").mkdir()
    (tmp / "empty").mkdir()
    (tmp / "mine" / "playbooks" / f"{name}.yaml").write_text(
        f"playbook: {name}\nsteps:\n  - id: prune\n    step: files.prune\n"
        f"    params: {{roots: ['{tmp / 'empty'}'], match: '*.log', older_than: 30d}}\n")
    for dirs, code in ((["mine"], 0), ([], 3)):
        config = _write(r, {"version": 1, "packs": [], "pack_dirs": dirs})
        run = _cli("maintain", "run", name, "-c", str(config), "--check", "--state-dir", str(tmp / "st"))
        assert run.code == code, (dirs, run.stderr)


def top_version(r: pytest.FixtureRequest) -> None:
    config = _write(r, {"version": 1, "packs": []}, "v1")
    assert _cli("config", "validate", "-c", str(config)).code == 0
    config.write_text("version: 2\npacks: []\n")
    refused = _cli("config", "validate", "-c", str(config))
    assert refused.code == 3 and f"{config}:1: version: unsupported config version 2" in refused.stderr, \
        refused.stderr


def _baseline_run(r: pytest.FixtureRequest, doc: dict[str, Any]) -> Any:
    tmp: Path = r.getfixturevalue("tmp_path")
    playbook = tmp / "baseline-pb.yaml"
    playbook.write_text("playbook: opt-baseline\nsteps:\n  - id: baseline\n    step: baseline.update\n")
    config = _write(r, {"version": 1, "packs": [], "targets": [_tcp_target(r)],
                        "checks": [{"id": "x.port", "probe": "net.tcp", "target": "port"}], **doc})
    env = {k: v for k, v in os.environ.items() if k not in ("AGENTOPS_STATE_DIR", "AGENTOPS_CONFIG")}
    env["XDG_STATE_HOME"] = str(tmp / "xdg")  # where state would go without state_dir: must stay empty
    result = _cli("maintain", "run", str(playbook), "-c", str(config), "--yes", "-o", "json", env=env)
    assert result.code == 0, result.stderr
    return result


def top_state_dir(r: pytest.FixtureRequest) -> None:
    tmp: Path = r.getfixturevalue("tmp_path")
    _baseline_run(r, {"state_dir": "st-a"})  # relative to the config file
    assert (tmp / "st-a" / "audit.jsonl").is_file()
    assert (tmp / "st-a" / "baselines" / "default.json").is_file()
    assert not (tmp / "xdg").exists() or not any((tmp / "xdg").rglob("*.json*"))
    _baseline_run(r, {"state_dir": "st-b"})
    assert (tmp / "st-b" / "audit.jsonl").is_file()
    audit = [json.loads(line) for line in (tmp / "st-a" / "audit.jsonl").read_text().splitlines()]
    assert {e.get("playbook") for e in audit} == {"opt-baseline"}


def top_cluster(r: pytest.FixtureRequest) -> None:
    tmp: Path = r.getfixturevalue("tmp_path")
    _baseline_run(r, {"state_dir": "named", "cluster": "prod-agents-opt"})
    _baseline_run(r, {"state_dir": "unnamed"})
    named = json.loads((tmp / "named" / "baselines" / "default.json").read_text())
    unnamed = json.loads((tmp / "unnamed" / "baselines" / "default.json").read_text())
    assert (named["cluster"], unnamed["cluster"]) == ("prod-agents-opt", "default")


# ----------------------------------------------------------------------------------- agentrpc (no lab)

def agentrpc_ping_key(r: pytest.FixtureRequest) -> None:
    host, _ = base._tls_host(r)
    obs = base.probe("agentrpc", {"kind": "agentrpc", "address": host.plain, "options": {
        "ping": {"type": "ghost", "payload_type": "Ping", "payload": {}, "key": "opt-key-7"}}}, timeout=1.0)
    base.failed(obs, Reason.ASSERTION)
    assert obs.facts["ping"]["key"] == "opt-key-7"
    obs = base.probe("agentrpc", {"kind": "agentrpc", "address": host.plain, "options": {
        "ping": {"type": "ghost", "payload_type": "Ping", "payload": {}}}}, timeout=1.0)
    assert obs.facts["ping"]["key"] == "agentops-probe"


def worker_process_name(r: pytest.FixtureRequest) -> None:
    """`process: {name}`: the exact process name. A link to the interpreter under a name of the test's own
    makes a real process with that name (the kernel names a process after the file it executes)."""
    tmp: Path = r.getfixturevalue("tmp_path")
    name = unique_name("aop")[:15]  # a process name is at most 15 characters
    (tmp / name).symlink_to(sys.executable)
    proc = subprocess.Popen([str(tmp / name), "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)

    def stop() -> None:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)

    r.addfinalizer(stop)
    wait_for(lambda: psutil.Process(proc.pid).name() == name)
    obs = base.probe("worker", {"kind": "worker", "options": {"process": {"name": name}}})
    base.ok(obs)
    assert obs.facts["pids"] == [proc.pid]
    base.failed(base.probe("worker", {"kind": "worker", "options": {"process": {"name": name + "x"}}}),
                Reason.ASSERTION)


# ----------------------------------------------------------------------------- the AutoGen lab cluster
# Each case diagnoses the lab's `echo` with a copy of the lab's own config that changes one option, and
# compares. Nothing here fails a message on the shared lab: pings carry a valid payload, and failures are
# planted in log files of the test's own.

HOST, AGENT = "lab-host", "echo"


def _lab_diagnose(r: pytest.FixtureRequest, change: Callable[[dict[str, Any], dict[str, Any]], None]) -> Any:
    """`diagnose agent echo -o json` on the lab with `change(host options, owner options)` applied."""
    lab = r.getfixturevalue("lab")
    doc = yaml.safe_load(lab.config.read_text())
    targets = {t["name"]: t for t in doc["targets"]}
    change(targets[HOST]["options"], targets[lab.owner(AGENT)]["options"])
    result = run_cli("diagnose", "agent", AGENT, "-c", str(_write(r, doc)), "-o", "json", timeout=60)
    assert_no_traceback(result)
    return result.json()


def _result(doc: Any, check_id: str) -> dict[str, Any] | None:
    return next((x for x in doc["results"] if x["id"] == check_id), None)


def _planted(r: pytest.FixtureRequest) -> tuple[Path, str]:
    """A log file with one JSON record of now saying the host could not deliver to echo."""
    marker = unique_name("planted")
    log = r.getfixturevalue("tmp_path") / f"{marker}.log"
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
    log.write_text(json.dumps({"timestamp": now, "level": "WARNING", "logger": "autogen_ext.runtimes.grpc",
                               "message": f"Agent {AGENT} not found, failed to deliver message ({marker})"}) + "\n")
    return log, marker


def _cited(doc: Any, check_id: str, marker: str) -> bool:
    found = _result(doc, check_id)
    assert found is not None, [x["id"] for x in doc["results"]]
    return any(marker in s["line"] for s in found["facts"]["recent"] + found["facts"]["during_diagnosis"])


def lab_agentrpc_process(r: pytest.FixtureRequest) -> None:
    lab = r.getfixturevalue("lab")
    proc, pid_file = base._sleeper(r, r.getfixturevalue("tmp_path"))
    cmdline = proc.args[-1]  # type: ignore[index]

    def pids(doc: Any) -> list[int]:
        found = _result(doc, "agentrpc.process")
        assert found is not None, doc["notes"]
        return [p["pid"] for p in found["facts"]["processes"]]

    assert pids(_lab_diagnose(r, lambda h, w: None)) == [lab.pid("host")]
    for process in ({"cmdline": cmdline}, {"pid_file": str(pid_file)}):
        assert pids(_lab_diagnose(r, lambda h, w, p=process: h.update(process=p))) == [proc.pid], process
    doc = _lab_diagnose(r, lambda h, w: h.pop("process"))
    assert _result(doc, "agentrpc.process") is None
    assert any("host's process is not configured" in n for n in doc["notes"]), doc["notes"]


def _logs_case(r: pytest.FixtureRequest, check_id: str, which: int) -> None:
    log, marker = _planted(r)

    def plant(h: dict[str, Any], w: dict[str, Any]) -> None:
        (h, w)[which]["logs"] = [str(log)]

    assert _cited(_lab_diagnose(r, plant), check_id, marker)
    doc = _lab_diagnose(r, lambda h, w: (h, w)[which].pop("logs"))
    assert _result(doc, check_id) is None
    assert any("log" in n and "not read" in n for n in doc["notes"]), doc["notes"]


def _log_format_case(r: pytest.FixtureRequest, check_id: str, which: int) -> None:
    log, marker = _planted(r)  # a JSON line: a record of now when read as JSON, a line without a time as text
    cited = {}
    for log_format in ("json", "text", None):
        def plant(h: dict[str, Any], w: dict[str, Any], fmt: str | None = log_format) -> None:
            opts = (h, w)[which]
            opts["logs"] = [str(log)]
            opts.pop("log_format", None)
            if fmt:
                opts["log_format"] = fmt
        cited[log_format] = _cited(_lab_diagnose(r, plant), check_id, marker)
    # read as text, the JSON line has no time of its own, so it is not recent history; detected, it is JSON
    assert cited == {"json": True, "text": False, None: True}


def lab_agentrpc_logs(r: pytest.FixtureRequest) -> None:
    _logs_case(r, "logs.host", 0)


def lab_worker_logs(r: pytest.FixtureRequest) -> None:
    _logs_case(r, "logs.worker", 1)


def lab_agentrpc_log_format(r: pytest.FixtureRequest) -> None:
    _log_format_case(r, "logs.host", 0)


def lab_worker_log_format(r: pytest.FixtureRequest) -> None:
    _log_format_case(r, "logs.worker", 1)


def lab_worker_metrics_url(r: pytest.FixtureRequest) -> None:
    server = r.getfixturevalue("http_server")
    metrics = AgentMetrics()
    metrics.observe(AGENT, *[0.01] * 7)
    path = f"/{unique_name('wm')}"
    url = server.metrics_route(path, metrics.registry)
    doc = _lab_diagnose(r, lambda h, w: w.update(metrics_url=url))
    found = _result(doc, "worker.metrics")
    assert found is not None and found["facts"]["url"] == url
    assert found["message"].startswith(f"{AGENT}: 7 messages"), found["message"]  # our server's figures
    assert any(req.path == path for req in server.requests)
    doc = _lab_diagnose(r, lambda h, w: w.pop("metrics_url"))
    assert _result(doc, "worker.metrics") is None
    assert any("no options.metrics_url" in n for n in doc["notes"]), doc["notes"]


def lab_worker_ping(r: pytest.FixtureRequest) -> None:
    def reply(doc: Any) -> str:
        found = _result(doc, "agent.ping")
        assert found is not None and found["facts"]["outcome"] == "reply", found or doc["notes"]
        return str(found["facts"]["reply"])

    def default_ping(h: dict[str, Any], w: dict[str, Any]) -> None:
        h.pop("ping", None)
        w["ping"] = {"payload_type": "Ping", "payload": {"text": "opt-default-ping"}}

    assert "opt-default-ping" in reply(_lab_diagnose(r, default_ping))

    def per_type(h: dict[str, Any], w: dict[str, Any]) -> None:  # a type's own ping wins over the default
        default_ping(h, w)
        w["agent_types"] = [{"type": AGENT, "ping": {"payload_type": "Ping", "payload": {"text": "opt-type-ping"}}}
                            if t == AGENT else t for t in w["agent_types"]]

    assert "opt-type-ping" in reply(_lab_diagnose(r, per_type))
    doc = _lab_diagnose(r, lambda h, w: (h.pop("ping", None), w.pop("ping")))
    assert _result(doc, "agent.ping") is None
    assert any("no ping payload configured" in n for n in doc["notes"]), doc["notes"]


CASES: dict[str, Callable[[pytest.FixtureRequest], None]] = {
    name: fn for name, fn in list(globals().items())
    if callable(fn) and name.split("_", 1)[0] in ("defaults", "top", "agentrpc", "worker")
    and not name.startswith("_")
}
LAB_CASES: dict[str, Callable[[pytest.FixtureRequest], None]] = {
    name.removeprefix("lab_"): fn for name, fn in list(globals().items())
    if callable(fn) and name.startswith("lab_")
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_option(case: str, request: pytest.FixtureRequest) -> None:
    CASES[case](request)


@pytest.mark.lab
@pytest.mark.parametrize("case", sorted(LAB_CASES))
def test_option_on_the_lab(case: str, request: pytest.FixtureRequest) -> None:
    LAB_CASES[case](request)
