"""`agentops profile` as users run it (the real CLI in a child process) against the real lab cluster: the leak
agent, driven so its worker's RSS really climbs during the window, is flagged; a quiet worker raises nothing;
stacks and the worker's own /metrics come along; bad input is one line and exit 3."""

import asyncio
import json
import subprocess
import sys
import threading
import urllib.request

import jsonschema
import pytest

from tests.fixtures.common import REPO, RunningCli, assert_no_traceback, run_cli

pytestmark = pytest.mark.lab

SCHEMA = json.loads((REPO / "src/agentops/schemas/report.schema.json").read_text())


def validate(doc: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


class LeakDriver:
    """Sends Leak{mib} to the lab's leak agent every `every` seconds until stopped, then Release{}."""

    def __init__(self, address: str, mib: int = 2, every: float = 0.25) -> None:
        self.address, self.mib, self.every = address, mib, every
        self.stop = threading.Event()
        self.replies: list[str] = []
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        from agentops.autogen.client import AgentRpcClient

        async with AgentRpcClient(self.address) as client:
            while not self.stop.is_set():
                r = await client.ping("leak", payload_type="Leak", payload={"mib": self.mib}, timeout=5)
                self.replies.append(r.outcome)
                await asyncio.sleep(self.every)
            await client.ping("leak", payload_type="Release", payload={}, timeout=5)

    def __enter__(self) -> "LeakDriver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def test_a_leaking_agent_is_flagged(lab):
    cmd = [sys.executable, "-m", "agentops", "profile", "--lab-role", "w1", "--lab-dir", str(lab.dir),
           "--duration", "12", "--interval", "0.5", "-o", "json"]
    # The leak runs from before the profiler starts until it has finished: the whole window climbs.
    with LeakDriver(lab.address):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    doc = json.loads(proc.stdout)
    validate(doc)
    assert proc.returncode == 1, proc.stderr  # WARNING: a suspected leak
    (w1,) = doc["data"]["processes"]
    assert w1["label"] == "w1" and w1["pid"] == lab.pid("w1")
    rss = [v for v in w1["series"]["rss_bytes"] if v is not None]
    assert rss[-1] - rss[0] > 20 * 1024 * 1024  # the worker really grew
    assert w1["trend"]["leak_suspected"] and w1["trend"]["slope_mb_per_min"] > 10 and w1["trend"]["r2"] > 0.8
    results = {(r["id"], r["target"]): r for r in doc["results"]}
    assert results[("profile.memory_trend", "w1")]["status"] == "WARNING"
    leak = [f for f in doc["findings"] if f["id"] == "profile.leak"]
    assert leak and "w1" in leak[0]["title"] and leak[0]["evidence"]
    # the worker's own metrics over the same window: the leak agent's messages
    (window,) = doc["data"]["metrics"]
    assert any(t["agent_type"] == "leak" and t["messages"] > 0 for t in window["types"])


def test_a_quiet_worker_raises_nothing(lab):
    r = run_cli("profile", "--lab-role", "w2", "--lab-dir", str(lab.dir), "--duration", "3", "--interval", "0.5",
                "-o", "json")
    assert_no_traceback(r)
    doc = r.json()
    validate(doc)
    assert r.code == 0, r.stdout
    assert doc["status"] == "OK" and doc["findings"] == []
    assert {res["id"] for res in doc["results"]} >= {"profile.cpu", "profile.memory", "profile.memory_trend",
                                                     "profile.fds", "profile.io", "profile.agent_metrics"}
    (w2,) = doc["data"]["processes"]
    assert len(w2["series"]["t"]) == 6 and w2["summary"]["rss_mb"]["max"] > 10
    assert w2["summary"]["threads"]["min"] >= 2 and w2["summary"]["connections"]["min"] >= 1


def test_table_shows_sparklines_and_stacks(lab):
    r = run_cli("profile", "--lab-role", "w2", "--lab-dir", str(lab.dir), "--duration", "2", "--interval", "0.25",
                "--stacks")
    assert_no_traceback(r)
    assert r.code == 0, r.stdout + r.stderr
    assert "OVER TIME" in r.stdout and any(ch in r.stdout for ch in "▁▂▃▄▅▆▇█")
    assert "stacks:" in r.stdout and "event loop" in r.stdout
    assert "memory trend:" in r.stdout


def test_profile_by_pid_and_by_configured_worker(lab):
    by_pid = run_cli("profile", "--pid", str(lab.pid("w2")), "--duration", "1", "--interval", "0.5", "-o", "json")
    assert by_pid.code == 0, by_pid.stderr
    assert by_pid.json()["data"]["processes"][0]["pid"] == lab.pid("w2")
    by_target = run_cli("profile", "-c", str(lab.config), "--target", "w2", "--duration", "1", "--interval", "0.5",
                        "-o", "json")
    assert by_target.code == 0, by_target.stderr
    doc = by_target.json()
    assert doc["data"]["processes"][0]["label"] == "w2" and doc["data"]["metrics"][0]["label"] == "w2"


@pytest.mark.parametrize("args,expect", [
    (["--pid", "999999999"], "no process with pid"),
    (["--name", "("], "not a valid regular expression"),
    (["--name", "no-such-process-zz9"], "no process"),
    (["--lab-role", "w1", "--lab-dir", "/nonexistent/lab"], "no lab"),
    ([], "name what to profile"),
    (["--pid", "1", "--duration", "1", "--interval", "2"], "longer than --duration"),
    (["--pid", "1", "--metrics", "ftp://x"], "expected an http"),
])
def test_bad_input_is_one_line_and_exit_3(args, expect, tmp_path):
    r = run_cli("profile", *args, cwd=tmp_path)
    assert_no_traceback(r)
    assert r.code == 3 and expect in r.stderr and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1


def test_ctrl_c_ends_the_window_early_and_still_reports(lab, http_server):
    # The window's progress is seen from outside through its /metrics watcher, which scrapes at the start and
    # then on the sampler's schedule: w2's real /metrics, relayed by a server that counts the scrapes. The
    # third scrape is due two intervals after the window began, after the sampler's first sample was due (the
    # sampler starts first and its earlier timer fires first), so at least one sample exists at the Ctrl-C.
    path = "/w2-relay-metrics"
    real = lab.metrics_url("w2")
    relay = http_server.route(path, body=lambda: urllib.request.urlopen(real, timeout=5).read(),
                              content_type="text/plain; version=0.0.4")
    with RunningCli("profile", "--lab-role", "w2", "--lab-dir", str(lab.dir), "--duration", "60", "--interval",
                    "0.2", "--metrics", relay, "-o", "json") as run:
        run.until(lambda: sum(r.path == path for r in http_server.requests) >= 3,
                  "the profile window's third /metrics scrape")
        res = run.stop()
    out, err = res.stdout, res.stderr
    assert res.code == 0, err
    doc = json.loads(out)
    assert any("stopped early (Ctrl-C)" in n for n in doc["notes"])
    assert 0 < len(doc["data"]["processes"][0]["series"]["t"]) < 300
