"""`agentops serve` as a real process: a target that accepts and never answers blocks neither /metrics, /healthz
nor the other checks — nor does an AgentRpc host that never answers (its AutoGen view, a periodic diagnosis of
it) or a /probe of a hanging target still in flight; /probe is bounded by Prometheus's scrape-timeout header;
SIGHUP with a broken config (bad YAML, a bad field, a bad `serve:` section, a missing file) keeps the old plan
and says so; SIGTERM stops cleanly. Every wait is for an event (a log line, a series, a connection)."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.common import SilentListener, wait_for
from tests.fixtures.serve import ServeProcess, http_get, parse_samples

HANG_TIMEOUT_S = 120  # the hanging check's own timeout: far longer than any wait below


def _config(path: Path, targets: list[dict[str, Any]], checks: list[dict[str, Any]] | None = None,
            packs: tuple[str, ...] = ("host",)) -> Path:
    doc: dict[str, Any] = {"version": 1, "packs": list(packs), "targets": targets}
    if checks:
        doc["checks"] = checks
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _hang_config(path: Path, listener: SilentListener) -> Path:
    packs = path.parent / "packs"
    packs.mkdir(exist_ok=True)
    (packs / "tcp.yaml").write_text(yaml.safe_dump({"pack": "tcp", "checks": [
        {"id": "tcp.connect", "probe": "net.tcp", "target": "kind:tcp", "timeout": 5}]}))
    _config(path, [{"name": "hang", "kind": "http", "address": f"http://127.0.0.1:{listener.port}/"}],
            [{"id": "hang.http", "probe": "http", "target": "hang", "timeout": HANG_TIMEOUT_S}])
    doc = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**doc, "pack_dirs": ["packs"]}, sort_keys=False))
    return path


def _runs(serve: ServeProcess, check: str) -> float:
    return serve.value("agentops_serve_check_runs_total", check=check) or 0.0


def test_a_hanging_target_blocks_no_scrape_and_no_other_check(silent_listener: SilentListener,
                                                              tmp_path: Path) -> None:
    config = _hang_config(tmp_path / "agentops.yaml", silent_listener)
    with ServeProcess(config, "--interval", "0.2", "--jitter", "0.1") as serve:
        serve.wait_event("listening")
        wait_for(lambda: silent_listener.accepted, timeout=60, what="the hanging check to connect")
        # While hang.http waits on its silent server, the host checks keep running and the routes answer.
        wait_for(lambda: _runs(serve, "host.memory") >= 3, timeout=60, what="host.memory to run again and again")
        assert _runs(serve, "hang.http") == 0
        assert serve.value("agentops_check_status", check="host.memory", target="local") is not None
        status, text = serve.get("/healthz")
        assert status == 503 and text.startswith("starting:"), (status, text)
        status, text = serve.get("/report")
        doc = json.loads(text)
        assert status == 200 and doc["schema"] == "agentops.report/v2"
        assert {r["id"] for r in doc["results"]} >= {"host.memory", "host.disk"}
        assert "hang.http" not in {r["id"] for r in doc["results"]}
        assert silent_listener.accepted  # still hanging: nothing above waited for it
        code = serve.proc.poll()
        assert code is None
        os.kill(serve.pid, signal.SIGTERM)
        assert serve.proc.wait(timeout=30) == 0  # the hanging check is cancelled, not waited for
        serve.wait_event("stopped")


def test_healthz_follows_the_cached_status(silent_listener: SilentListener, tmp_path: Path) -> None:
    # A check whose status does not depend on how busy this machine is (host.cpu would): a port that accepts.
    ok = _config(tmp_path / "agentops.yaml", [{"name": "up", "kind": "tcp", "address":
                                                f"127.0.0.1:{silent_listener.port}"}],
                 [{"id": "up.tcp", "probe": "net.tcp", "target": "up", "timeout": 5}], packs=())
    with ServeProcess(ok, "--interval", "0.2") as serve:
        serve.wait_event("listening")
        _, text = wait_for(lambda: (r := serve.get("/healthz"))[0] == 200 and r, timeout=60,
                                what="/healthz 200")
        assert text == "OK\n", text
    # A check that always fails (nothing listens on its port) makes /healthz 503 and names what set it.
    refused = _config(tmp_path / "refused.yaml", [{"name": "down", "kind": "tcp", "address": "127.0.0.1:1"}],
                      [{"id": "down.tcp", "probe": "net.tcp", "target": "down", "timeout": 2}])
    with ServeProcess(refused, "--interval", "0.2") as serve:
        serve.wait_event("listening")
        _, text = wait_for(lambda: (r := serve.get("/healthz"))[0] == 503 and "CRITICAL" in r[1] and r,
                                timeout=60, what="/healthz 503")
        assert "down.tcp@down" in text
        [(labels, value)] = [s for s in serve.series("agentops_check_status") if s[0]["check"] == "down.tcp"]
        assert value == 2 and labels["reason"] == "connect"


def test_probe_is_bounded_by_the_scrape_timeout_header(silent_listener: SilentListener, tmp_path: Path) -> None:
    config = _hang_config(tmp_path / "agentops.yaml", silent_listener)
    with ServeProcess(config, "--interval", "3600") as serve:
        serve.wait_event("listening")
        # The check's own timeout is HANG_TIMEOUT_S; the scrape's budget (2 s less the 0.5 s offset) ends it,
        # so the answer comes back within the client's deadline instead of when the check gives up.
        status, text = serve.get("/probe?target=hang", {"X-Prometheus-Scrape-Timeout-Seconds": "2"}, timeout=30)
        assert status == 200, text
        [(labels, value)] = parse_samples(text, "agentops_check_status")
        assert labels["check"] == "hang.http" and labels["reason"] == "timeout" and value == 2
        assert labels["kind"] == "probe"
        # An address and a kind: the blackbox_exporter model (service discovery hands the address over), with a
        # pack of the config's pack_dirs.
        status, text = serve.get(f"/probe?target=127.0.0.1:{silent_listener.port}&kind=tcp&pack=tcp")
        assert status == 200, text
        samples = parse_samples(text, "agentops_check_status")
        assert samples and all(s[0]["target"] == f"127.0.0.1:{silent_listener.port}" for s in samples)
        assert {s[1] for s in samples} == {0.0}
        for bad, why in (("/probe", "target"), ("/probe?target=nope", "no target named"),
                         ("/probe?target=hang&pack=/etc/passwd.yaml", "not a path"),
                         ("/probe?target=x&kind=bogus", "cannot be probed"),
                         ("/probe?target=hang&pack=nope", "no check pack named")):
            status, text = serve.get(bad)
            assert status == 400 and why in text, (bad, status, text)
        status, text = serve.get("/probe?target=hang", {"X-Prometheus-Scrape-Timeout-Seconds": "soon"})
        assert status == 400 and "not a number" in text


def test_a_failed_reload_keeps_the_old_config(tmp_path: Path) -> None:
    config = _config(tmp_path / "agentops.yaml", [])
    with ServeProcess(config, "--interval", "0.2") as serve:
        serve.wait_event("listening")
        wait_for(lambda: _runs(serve, "host.memory") >= 1, timeout=60, what="a first run")
        good = config.read_text()
        config.write_text(good + "targets: [ {name: x\n")  # broken YAML
        seen = len(serve.events)
        os.kill(serve.pid, signal.SIGHUP)
        failed = serve.wait_event("reload_failed", after=seen)
        assert failed["level"] == "error" and str(config) in failed["error"]
        assert serve.value("agentops_serve_config_reload_success") == 0
        before = _runs(serve, "host.memory")
        wait_for(lambda: _runs(serve, "host.memory") > before, timeout=60, what="the old plan to keep running")
        # A good config again: the new check joins, the reload is reported as a success.
        _config(config, [{"name": "down", "kind": "tcp", "address": "127.0.0.1:1"}],
                [{"id": "down.tcp", "probe": "net.tcp", "target": "down", "timeout": 2}])
        seen = len(serve.events)
        os.kill(serve.pid, signal.SIGHUP)
        serve.wait_event("reloaded", after=seen)
        wait_for(lambda: _runs(serve, "down.tcp") >= 1, timeout=60, what="the new check to run")
        assert serve.value("agentops_serve_config_reload_success") == 1


def test_a_silent_host_and_a_probe_in_flight_block_nothing(silent_listener: SilentListener,
                                                            tmp_path: Path) -> None:
    config = _hang_config(tmp_path / "agentops.yaml", silent_listener)
    doc = yaml.safe_load(config.read_text())
    # An AgentRpc host that accepts and never answers (its AutoGen view, and a diagnosis of it every 0.5 s), a
    # port that accepts (up.tcp: OK every cycle) and the hanging HTTP check of _hang_config.
    doc["targets"] += [{"name": "silent-host", "kind": "agentrpc", "address": f"127.0.0.1:{silent_listener.port}"},
                       {"name": "up", "kind": "tcp", "address": f"127.0.0.1:{silent_listener.port}"}]
    doc["checks"] += [{"id": "up.tcp", "probe": "net.tcp", "target": "up", "timeout": 5}]
    doc["serve"] = {"diagnoses": [{"agent_type": "echo", "interval": 0.5, "deadline": 2}]}
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    with ServeProcess(config, "--interval", "0.2", "--cluster-interval", "0.2", "--cluster-timeout", "1",
                      "--pack", "tcp") as serve:
        serve.wait_event("listening")
        # A /probe of the hanging target, its budget far longer than anything below, stays in flight meanwhile.
        answer: list[object] = []

        def probe_hanging() -> None:
            try:
                answer.append(http_get(f"http://{serve.address}/probe?target=hang",
                                       {"X-Prometheus-Scrape-Timeout-Seconds": "120"}, timeout=300))
            except OSError as exc:  # SIGTERM below closes it
                answer.append(exc)

        hanging = threading.Thread(target=probe_hanging, daemon=True)
        hanging.start()
        wait_for(lambda: serve.value("agentops_autogen_host_up", target="silent-host", reason="timeout") == 0,
                 timeout=60, what="the silent host reported down (timeout)")
        wait_for(lambda: (serve.value("agentops_diagnosis_runs_total", agent_type="echo") or 0) >= 2, timeout=60,
                 what="the diagnosis of the silent host to end, twice")
        wait_for(lambda: _runs(serve, "up.tcp") >= 5, timeout=60, what="up.tcp to keep running")
        status, text = serve.get(f"/probe?target=127.0.0.1:{silent_listener.port}&kind=tcp&pack=tcp")
        assert status == 200 and {v for _, v in parse_samples(text, "agentops_check_status")} == {0.0}, text
        status, text = serve.get("/report")
        assert status == 200
        assert json.loads(text)["data"]["diagnoses"][0]["agent_type"] == "echo"
        assert serve.get("/healthz")[0] == 503  # hang.http has not finished once
        assert hanging.is_alive() and not answer  # all of the above answered while that probe was still out
        os.kill(serve.pid, signal.SIGTERM)
        assert serve.proc.wait(timeout=60) == 0
        serve.wait_event("stopped")
        hanging.join(timeout=60)


def test_a_reload_with_a_bad_field_or_no_file_keeps_the_old_plan(tmp_path: Path) -> None:
    config = _config(tmp_path / "agentops.yaml", [{"name": "down", "kind": "tcp", "address": "127.0.0.1:1"}],
                     [{"id": "down.tcp", "probe": "net.tcp", "target": "down", "timeout": 2}], packs=())
    good = config.read_text()
    with ServeProcess(config, "--interval", "0.2") as serve:
        serve.wait_event("listening")
        wait_for(lambda: _runs(serve, "down.tcp") >= 1, timeout=60, what="a first run")
        section = "serve:\n  diagnoses:\n    - {agent_type: echo}\n"  # no agentrpc target to diagnose
        for broken, why in ((good + section, "serve.diagnoses[0]"),
                            (good.replace("timeout: 2", "timeout: -1"), "timeout"),
                            (None, "agentops.yaml")):
            if broken is None:
                config.unlink()
            else:
                config.write_text(broken)
            seen = len(serve.events)
            os.kill(serve.pid, signal.SIGHUP)
            failed = serve.wait_event("reload_failed", after=seen)
            assert why in failed["error"] and failed["kept"] == str(config), failed
            if broken is not None:
                assert f"{config}:" in failed["error"]  # file:line
            assert serve.value("agentops_serve_config_reload_success") == 0
            before = _runs(serve, "down.tcp")
            wait_for(lambda b=before: _runs(serve, "down.tcp") > b, timeout=60, what="the old plan to keep running")
        config.write_text(good)
        seen = len(serve.events)
        os.kill(serve.pid, signal.SIGHUP)
        serve.wait_event("reloaded", after=seen)
        assert serve.value("agentops_serve_config_reload_success") == 1


def test_bad_flags_and_config_exit_3_with_one_line(tmp_path: Path, cli: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntargets: [{name: a, kind: nope}]\n")
    bad_section = tmp_path / "bad-section.yaml"
    bad_section.write_text("version: 1\nserve:\n  diagnoses: [{agent_type: a/b}]\n")
    for args in (["serve", "-c", str(bad)], ["serve", "--listen", "nowhere"], ["serve", "-c", str(bad_section)]):
        r = cli(*args, timeout=60)
        assert r.code == 3 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_requests_outside_the_routes(tmp_path: Path) -> None:
    import socket

    with ServeProcess(_config(tmp_path / "agentops.yaml", []), "--interval", "0.2") as serve:
        serve.wait_event("listening")
        assert serve.get("/nope")[0] == 404
        with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as s:
            s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 405")
        with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as s:
            s.sendall(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")  # a head over the limit
            assert s.recv(100).startswith(b"HTTP/1.1 400")
        with socket.create_connection(("127.0.0.1", serve.port), timeout=10) as s:
            s.sendall(b"garbage\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 400")
        assert serve.get("/metrics")[0] == 200  # none of it hurt the service
