"""`agentops diagnose message` on a plain AutoGen cluster whose logs name no agent id: autogen-ext's own
GrpcWorkerAgentRuntimeHost (tests/fixtures/servers.py, which configures no logging, so AutoGen's errors are
the bare lines of logging's lastResort on stderr) and worker scripts written here (no agentops code), each
configuring Python `logging` its own way: the `%(asctime)s %(process)d %(name)s %(levelname)s %(message)s`
layout at INFO, logging's default `LEVEL:name:message` at WARNING, and JSON lines from a formatter of its own.
No metrics endpoint anywhere. Each worker registers `<w>echo` (replies), `<w>none` (its handler returns None,
so the worker's serializer raises inside asyncio's `Exception in callback …`) and `<w>slow` (holds the
message longer than any deadline here).

What is asserted is the issue's first and last points: a traceback with no agent id, in the owning worker's
log during the probe, is evidence about the probed type (handler-no-reply, not `overload`); overload is only
given when saturation is measured (the worker's INFO 'Processing request' line with no error); a WARNING-only
log says which evidence it could not hold; and a bad `log_format` is a one-line config error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.common import assert_no_traceback, free_port, port_open, run_cli, stop_process, wait_for
from tests.fixtures.servers import PLAIN_AUTOGEN_HOST_SCRIPT as HOST_SCRIPT

pytest.importorskip("autogen_ext.runtimes.grpc")
pytestmark = pytest.mark.lab

PID_LAYOUT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"

# argv: host ready_file log_file setup prefix
WORKER_SCRIPT = textwrap.dedent('''
    import asyncio
    import json
    import logging
    import os
    import sys
    from dataclasses import dataclass

    from autogen_core import AgentId, MessageContext, RoutedAgent, message_handler
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    host, ready_file, log_file, setup, prefix = sys.argv[1:6]

    class JsonLines(logging.Formatter):
        def format(self, record):
            doc = {"time": self.formatTime(record), "level": record.levelname, "name": record.name,
                   "msg": record.getMessage()}
            if record.exc_info:
                doc["exc_info"] = self.formatException(record.exc_info)
            return json.dumps(doc)

    if setup == "pid":
        logging.basicConfig(filename=log_file, level=logging.INFO, format="''' + PID_LAYOUT + '''")
    elif setup == "default":
        logging.basicConfig(filename=log_file, level=logging.WARNING)
    else:
        handler = logging.FileHandler(log_file)
        handler.setFormatter(JsonLines())
        logging.basicConfig(level=logging.INFO, handlers=[handler])

    @dataclass
    class Ping:
        text: str = ""

    @dataclass
    class Pong:
        text: str = ""

    class Plain(RoutedAgent):
        """echo: replies; none: returns None (the runtime cannot serialize it); slow: holds the message;
        relay: asks <w>ghost, which nobody registers, and waits."""

        def __init__(self, mode):
            super().__init__(mode)
            self.mode = mode

        @message_handler
        async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong | None:  # None passes the check
            if self.mode == "slow":
                await asyncio.sleep(60)
            if self.mode == "relay":  # waits on a type nobody registers: the host drops the hop
                return await self.send_message(Ping(text=message.text), AgentId(self.id.type[:2] + "ghost", "k"))
            return None if self.mode == "none" else Pong(text=message.text)

    async def main():
        from autogen_core import try_get_known_serializers_for_type

        runtime = GrpcWorkerAgentRuntime(host_address=host)
        await runtime.start()
        runtime.add_message_serializer(try_get_known_serializers_for_type(Pong))
        if setup != "idle":  # idle: connected, registers nothing (as a worker whose registration code broke)
            for mode in ("echo", "none", "slow", "relay"):
                await Plain.register(runtime, prefix + mode, lambda mode=mode: Plain(mode))
        open(ready_file, "w").close()
        await runtime.stop_when_signal()

    asyncio.run(main())
''')

SETUPS = {"wp": "pid", "wd": "default", "wj": "json"}
IDLE = "wz"  # started after the host, alive, none of its configured types registered


@dataclass
class PlainCluster:
    dir: Path
    address: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def config(self, log_formats: dict[str, str] | None = None, name: str = "agentops.yaml") -> Path:
        host_opts = {"process": {"pid_file": str(self.dir / "hub.pid")}, "logs": [str(self.dir / "hub.log")]}
        targets: list[dict[str, Any]] = [{"name": "hub", "kind": "agentrpc", "address": self.address,
                                          "options": host_opts}]
        for w in SETUPS:
            opts: dict[str, Any] = {"host": self.address, "process": {"pid_file": str(self.dir / f"{w}.pid")},
                                    "logs": [str(self.dir / f"{w}.log")],
                                    "agent_types": [f"{w}echo", f"{w}none", f"{w}slow", f"{w}relay"],
                                    "ping": {"payload_type": "Ping", "payload": {"text": "agentops"}}}
            if log_formats and w in log_formats:
                opts["log_format"] = log_formats[w]
            targets.append({"name": w, "kind": "worker", "options": opts})
        targets.append({"name": IDLE, "kind": "worker", "options": {
            "host": self.address, "process": {"pid_file": str(self.dir / f"{IDLE}.pid")},
            "agent_types": [f"{IDLE}echo"], "ping": {"payload_type": "Ping", "payload": {"text": "agentops"}}}})
        path = self.dir / name
        path.write_text(yaml.safe_dump({"version": 1, "targets": targets}))
        return path

    def diagnose(self, to: str, config: Path | None = None, *extra: str) -> tuple[int, dict[str, Any]]:
        result = run_cli("diagnose", "message", "--to", to, "-c", str(config or self.config()), "-o", "json",
                         "--deadline", "3", *extra, timeout=60)
        assert_no_traceback(result)
        assert result.stdout, result.stderr
        return result.code, result.json()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainCluster]:
    d = tmp_path_factory.mktemp("plain-logs")
    (d / "host.py").write_text(HOST_SCRIPT)
    (d / "worker.py").write_text(WORKER_SCRIPT)
    port = free_port()
    c = PlainCluster(d, f"127.0.0.1:{port}")
    try:
        with open(d / "hub.log", "w") as log:  # the host configures no logging: lastResort's bare lines
            c.procs["hub"] = subprocess.Popen([sys.executable, str(d / "host.py"), c.address], stdout=log,
                                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        (d / "hub.pid").write_text(f"{c.procs['hub'].pid}\n")
        wait_for(lambda: port_open(port), timeout=30, what="the AutoGen host to listen")
        for w, setup in (*SETUPS.items(), (IDLE, "idle")):
            ready = d / f"{w}.ready"
            with open(d / f"{w}.out", "w") as out:
                proc = subprocess.Popen([sys.executable, str(d / "worker.py"), c.address, str(ready),
                                         str(d / f"{w}.log"), setup, w], stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
            c.procs[w] = proc
            wait_for(lambda r=ready, p=proc: r.exists() or p.poll() is not None, timeout=60,
                     what=f"{w} to register")
            assert ready.exists(), (d / f"{w}.out").read_text()
            (d / f"{w}.pid").write_text(f"{proc.pid}\n")
        yield c
    finally:
        for proc in reversed(list(c.procs.values())):
            stop_process(proc)


def result(doc: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(r for r in doc["results"] if r["id"] == check_id)


@pytest.mark.parametrize("w", list(SETUPS))
def test_a_healthy_type_is_healthy_on_every_logging_setup(plain: PlainCluster, w: str) -> None:
    code, doc = plain.diagnose(f"{w}echo")
    assert doc["verdict"]["id"] == "healthy", doc["verdict"]
    assert code == 0, doc["status_set_by"]


@pytest.mark.parametrize("w", list(SETUPS))
def test_a_handler_returning_none_is_named_from_a_traceback_without_agent_id(plain: PlainCluster, w: str) -> None:
    code, doc = plain.diagnose(f"{w}none")
    v = doc["verdict"]
    assert v["id"] == "handler-no-reply", v  # the issue saw `overload` here: the traceback had been dropped
    assert code == 2
    sigs = result(doc, "logs.worker")["facts"]["during_diagnosis"]
    none = [s for s in sigs if s["kind"] == "exception:handler-returned-none"]
    assert none and none[-1]["attributed_by"] == "written in the owning worker's log during the probe", sigs
    assert "NoneType" in none[-1]["line"]
    # The log showed the failure, so the ping did not wait for its deadline.
    assert result(doc, "agent.ping")["facts"].get("cut_short_by"), result(doc, "agent.ping")


def test_a_warning_only_log_says_what_it_cannot_show(plain: PlainCluster) -> None:
    code, doc = plain.diagnose("wdslow")
    logs = result(doc, "logs.worker")["facts"]
    assert logs["probe_delivered"] is None  # unknown, not "no"
    # Empty when this test runs first, else only the ERROR records of the other tests: either way it says so.
    assert any("level is above INFO" in u and "Processing request" in u and "cannot appear" in u
               for u in logs["unavailable"]), logs
    assert any("level is above INFO" in n and "logs.worker" in n for n in doc["notes"]), doc["notes"]
    assert any("metrics_url" in n for n in doc["notes"])  # no metrics endpoint: said as well
    # No saturation was measured (no metrics, and the log cannot show the request being taken): not overload.
    v = doc["verdict"]
    assert (v["id"], v["status"]) == ("unexplained", "UNKNOWN"), v
    assert code == 2  # the unanswered ping itself is CRITICAL (agent.ping), whatever the verdict could name
    assert "overload considered" in v["cause"] and "INFO" in v["fix"]


def test_overload_rests_on_the_request_taken_and_still_in_its_handler(plain: PlainCluster) -> None:
    code, doc = plain.diagnose("wpslow")
    assert result(doc, "logs.worker")["facts"]["probe_delivered"] is True
    v = doc["verdict"]
    assert (v["id"], v["status"], code) == ("overload", "CRITICAL", 2), v
    assert "Processing request" in v["cause"]


def test_a_declared_logging_format_string_is_used(plain: PlainCluster) -> None:
    config = plain.config({"wp": PID_LAYOUT, "wd": "%(levelname)s:%(name)s:%(message)s",
                           "wj": "json"}, name="declared.yaml")
    for w in ("wp", "wd", "wj"):
        _, doc = plain.diagnose(f"{w}none", config)
        assert doc["verdict"]["id"] == "handler-no-reply", (w, doc["verdict"])


@pytest.mark.parametrize("bad, why", [("%(asctime)s %(levelname)s", "has no %(message)s"),
                                      ("(?P<ts>\\S+", "valid regex"),
                                      ("xml", "named group 'message'")])
def test_a_bad_log_format_is_a_one_line_config_error(plain: PlainCluster, bad: str, why: str) -> None:
    config = plain.config({"wp": bad}, name="bad.yaml")
    res = run_cli("diagnose", "message", "--to", "wpecho", "-c", str(config), timeout=60)
    assert_no_traceback(res)
    assert res.code == 3, (res.code, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "log_format" in lines[0] and why in lines[0], res.stderr


def test_an_orphan_the_host_did_not_outlive_is_not_a_host_restart(plain: PlainCluster) -> None:
    """The issue's third point: a live worker with none of its types registered looks like an orphan of a host
    restart, but this host's process started before the worker's; the verdict must not be host-restarted."""
    code, doc = plain.diagnose(f"{IDLE}echo")
    workers = result(doc, "cluster.workers")["facts"]
    (row,) = [r for r in workers["workers"] if r["worker"] == IDLE]
    assert IDLE in workers["orphans"] and workers["host_started_at"] < row["started_at"], workers
    v = doc["verdict"]
    assert v["id"] == "type-not-registered", v
    assert f"{IDLE} registers '{IDLE}echo'" in v["fix"] and code == 2
    assert any(e.startswith("host-restarted considered, not seen: the host's process started after") for e in
               v["evidence"]), v["evidence"]


def test_a_relay_waiting_on_an_undeliverable_hop_is_not_overload(plain: PlainCluster) -> None:
    """The issue's first point, second case: the relay's worker took the request (INFO) and waits on a type the
    host cannot deliver to ('Agent wpghost not found' in the host's bare log during the probe). That is not a
    saturated worker: overload is ruled out, and the hop is followed (diagnose/hop.py) and named as the broken one."""
    _, doc = plain.diagnose("wprelay")
    assert result(doc, "logs.worker")["facts"]["probe_delivered"] is True
    hops = result(doc, "logs.host")["facts"]["other_types_during_probe"]
    assert [(h["kind"], h["agent_type"]) for h in hops] == [("agent-not-found", "wpghost")], hops
    v = doc["verdict"]
    assert v["id"] == "downstream-broken", v
    assert v["title"].startswith("wprelay waits on wpghost: agent type wpghost is not registered"), v
    assert "wpghost" in v["cause"] and "'wpghost'" in v["fix"], v

