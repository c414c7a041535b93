"""`agentops diagnose message` follows the hop: a `relay` agent on one worker whose handler calls `echo` on
another (send_message) and returns echo's answer. When relay answers late or not at all (or fails because
its call failed), the diagnosis names the broken hop with the downstream's own verdict.

The cluster is plain AutoGen, not agentops' lab: autogen-ext's own host (tests/fixtures/servers.py) and two
worker scripts written here with Python logging in two common layouts at WARNING. Worker `wa` (relay,
relay2) adds agentops.instrument, the way a user would, so its outgoing calls are visible; worker `wb`
(echo, boom) has no metrics at all. Faults are real: wb killed, wb stopped (SIGSTOP), boom's handler raising.
"""

from __future__ import annotations

import json
import os
import signal
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
from tests.fixtures.report_schema import validate_report
from tests.fixtures.servers import PLAIN_AUTOGEN_HOST_SCRIPT

pytest.importorskip("autogen_ext.runtimes.grpc")
pytestmark = pytest.mark.lab

DEFAULT_DEADLINE_S = 5.0

# argv: host ready_file role(a|b). Role a: relay -> echo, relay2 -> boom, relay3 -> mid -> echo (two hops),
# fanout -> echo and mid (two paths to echo), relay4 -> ghost (registered nowhere), with agentops.instrument and the
# "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s" layout; role b: echo answers, boom raises,
# logging's default "LEVEL:name:message" layout. Both at WARNING, to stderr (the test sends it to a file).
WORKER_SCRIPT = textwrap.dedent('''
    import asyncio
    import json
    import logging
    import os
    import sys
    from dataclasses import dataclass

    from autogen_core import AgentId, MessageContext, RoutedAgent, message_handler
    from autogen_core import try_get_known_serializers_for_type
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    @dataclass
    class Ping:
        text: str = ""

    @dataclass
    class Pong:
        text: str = ""

    class Echo(RoutedAgent):
        def __init__(self):
            super().__init__("echo")

        @message_handler
        async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
            return Pong(text=message.text)

    class Boom(RoutedAgent):
        def __init__(self):
            super().__init__("boom")

        @message_handler
        async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
            raise RuntimeError("boom: the ledger is locked")

    def relay_to(target):
        class Relay(RoutedAgent):
            def __init__(self):
                super().__init__(f"relays to {target}")

            @message_handler
            async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
                return await self.send_message(message, AgentId(target, ctx.sender.key if ctx.sender else "k"))
        return Relay

    class Fanout(RoutedAgent):
        """Calls echo and mid at once (mid calls echo too): two paths to one type."""

        def __init__(self):
            super().__init__("fans out")

        @message_handler
        async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
            key = ctx.sender.key if ctx.sender else "k"
            direct, via_mid = await asyncio.gather(self.send_message(message, AgentId("echo", key)),
                                                   self.send_message(message, AgentId("mid", key)))
            return direct

    async def main(host, ready_file, role):
        if role == "a":
            logging.basicConfig(level=logging.WARNING,
                                format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
        else:
            logging.basicConfig(level=logging.WARNING)
        runtime = GrpcWorkerAgentRuntime(host_address=host)
        ready = {}
        if role == "a":
            from agentops.instrument import AgentMetrics

            metrics = AgentMetrics(runtime, worker="wa")
            ready["metrics_port"] = metrics.serve(port=0, addr="127.0.0.1")
        await runtime.start()
        for cls in (Ping, Pong):
            runtime.add_message_serializer(try_get_known_serializers_for_type(cls))
        if role == "a":
            for agent_type, target in (("relay", "echo"), ("relay2", "boom"), ("mid", "echo"), ("relay3", "mid"),
                                      ("relay4", "ghost")):
                cls = relay_to(target)
                await cls.register(runtime, agent_type, cls)
            await Fanout.register(runtime, "fanout", Fanout)
        else:
            await Echo.register(runtime, "echo", Echo)
            await Boom.register(runtime, "boom", Boom)
        with open(ready_file + ".tmp", "w") as f:
            json.dump(ready, f)
        os.replace(ready_file + ".tmp", ready_file)
        await runtime.stop_when_signal()

    asyncio.run(main(*sys.argv[1:4]))
''')

TYPES = {"wa": ["relay", "relay2", "mid", "relay3", "fanout", "relay4"], "wb": ["echo", "boom"]}


@dataclass
class PlainCluster:
    dir: Path
    address: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    metrics_port: int = 0

    def start_worker(self, name: str) -> subprocess.Popen:
        ready = self.dir / f"{name}.ready"
        ready.unlink(missing_ok=True)
        with open(self.dir / f"{name}.log", "a") as log:
            proc = subprocess.Popen([sys.executable, str(self.dir / "worker.py"), self.address, str(ready),
                                     name[-1]], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: ready.exists() or proc.poll() is not None, timeout=60, what=f"{name} to register")
        assert ready.exists(), (self.dir / f"{name}.log").read_text()
        (self.dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        self.procs[name] = proc
        if name == "wa":
            self.metrics_port = json.loads(ready.read_text())["metrics_port"]
        return proc

    def config(self, metrics: bool = True) -> Path:
        ping = {"payload_type": "Ping", "payload": {"text": "agentops"}}
        targets: list[dict[str, Any]] = [{
            "name": "hub", "kind": "agentrpc", "address": self.address,
            "options": {"process": {"pid_file": str(self.dir / "host.pid")}, "logs": [str(self.dir / "host.log")]}}]
        for name, types in TYPES.items():
            options: dict[str, Any] = {"host": self.address, "process": {"pid_file": str(self.dir / f"{name}.pid")},
                                       "logs": [str(self.dir / f"{name}.log")], "agent_types": types, "ping": ping}
            if name == "wa" and metrics:
                options["metrics_url"] = f"http://127.0.0.1:{self.metrics_port}/metrics"
            targets.append({"name": name, "kind": "worker", "options": options})
        path = self.dir / ("agentops.yaml" if metrics else "agentops-no-metrics.yaml")
        path.write_text(yaml.safe_dump({"version": 1, "targets": targets}))
        return path

    def diagnose(self, to: str, *extra: str, metrics: bool = True) -> tuple[int, dict[str, Any]]:
        result = run_cli("diagnose", "message", "--to", to, "-c", str(self.config(metrics)), "-o", "json", *extra,
                         timeout=60)
        assert_no_traceback(result)
        assert result.stdout, result.stderr
        doc = result.json()
        validate_report(doc)
        return result.code, doc

    def registered(self) -> set[str]:
        from agentops.core.config import Target
        from tests.fixtures.servers import run_probe

        obs = run_probe("agentrpc", Target(name="hub", kind="agentrpc", address=self.address, where="test:1"))
        return set(obs.facts.get("agent_types", []))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainCluster]:
    d = tmp_path_factory.mktemp("hop")
    (d / "host.py").write_text(PLAIN_AUTOGEN_HOST_SCRIPT)
    (d / "worker.py").write_text(WORKER_SCRIPT)
    port = free_port()
    c = PlainCluster(d, f"127.0.0.1:{port}")
    with open(d / "host.log", "w") as log:
        host = subprocess.Popen([sys.executable, str(d / "host.py"), c.address], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    (d / "host.pid").write_text(f"{host.pid}\n")
    try:
        wait_for(lambda: port_open(port), timeout=30, what="the AutoGen host to listen")
        c.start_worker("wb")
        c.start_worker("wa")
        yield c
    finally:
        for proc in c.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)  # a test that failed while wb was stopped
            stop_process(proc)
        stop_process(host)


def finding(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["findings"][0]


def results(doc: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    """The target's own results of `check_id` (not those of a downstream type followed)."""
    return [r for r in doc["results"] if r["id"] == check_id and "downstream" not in r["tags"]]


def downstream_results(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["results"] if "downstream" in r["tags"]]


def within_deadline(doc: dict[str, Any], deadline: float = DEFAULT_DEADLINE_S) -> None:
    # The report's own duration: the hop is diagnosed within the one deadline, not after it.
    assert doc["duration_s"] < deadline + 1.0, doc["duration_s"]


def stopped(pid: int) -> bool:
    import psutil

    return psutil.Process(pid).status() == psutil.STATUS_STOPPED


# --- healthy first: no false alarm, no hop followed ----------------------------------------------------------

def test_a_healthy_relay_follows_no_hop(cluster: PlainCluster) -> None:
    code, doc = cluster.diagnose("relay")
    v = finding(doc)
    assert v["id"] == "healthy" and v["status"] == "OK", v
    assert "relay/agentops-probe on wa" in v["title"]
    assert doc["data"]["hops"] == []
    assert not [r for r in doc["results"] if r["id"].startswith("hop.")] and not downstream_results(doc)
    not_ok = [r for r in doc["results"] if r["status"] != "OK"]
    # This machine is shared: a starved CPU may honestly WARN; nothing else may.
    assert all(r["id"].startswith("machine.") and r["status"] == "WARNING" for r in not_ok), not_ok
    assert code == (1 if not_ok else 0)


# --- the callee's handler raises: the caller answers with its error ------------------------------------------

def test_a_failing_call_is_named_as_the_broken_hop(cluster: PlainCluster) -> None:
    code, doc = cluster.diagnose("relay2")
    v = finding(doc)
    assert code == 2 and v["id"] == "downstream-broken" and v["status"] == "CRITICAL", v
    assert v["title"].startswith("relay2's call to boom fails: the handler of boom raised"), v["title"]
    assert "the ledger is locked" in v["title"]
    # Found by relay2's own metrics (agentops.instrument): its calls to boom failed.
    (calls,) = results(doc, "hop.calls")
    assert calls["target"] == "relay2" and calls["facts"]["leads"][0]["agent_type"] == "boom"
    assert calls["facts"]["leads"][0]["failed"] >= 1
    (hop,) = results(doc, "hop.downstream")
    assert hop["target"] == "relay2 → boom" and hop["facts"]["verdict"]["id"] == "handler-raised"
    # boom's own layers are in the report, its type in their target; its own ping got the error itself.
    ping = next(r for r in downstream_results(doc) if r["id"] == "agent.ping")
    assert ping["target"].startswith("boom/") and ping["status"] == "CRITICAL"
    assert "the ledger is locked" in ping["message"]
    assert all("boom" in r["target"] for r in downstream_results(doc)), downstream_results(doc)
    assert set(r["id"] for r in downstream_results(doc)) <= set(v["checks"])
    assert doc["data"]["hops"] == [{"from": "relay2", "to": "boom", "depth": 1, "chain": ["relay2", "boom"],
                                    "found_by": hop["facts"]["found_by"], "verdict": "handler-raised",
                                    "status": "CRITICAL", "title": hop["facts"]["verdict"]["title"]}]
    within_deadline(doc)


# --- the callee's worker is stopped: the host logs nothing, the caller's metrics show the waiting call -------

def test_a_frozen_downstream_worker_is_named(cluster: PlainCluster) -> None:
    wb = cluster.procs["wb"]
    os.kill(wb.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: stopped(wb.pid), timeout=10, what="wb to be stopped")
        code, doc = cluster.diagnose("relay")
    finally:
        os.kill(wb.pid, signal.SIGCONT)
    v = finding(doc)
    assert code == 2 and v["id"] == "downstream-broken" and v["status"] == "CRITICAL", v
    assert v["title"].startswith("relay waits on echo: worker wb is frozen (process state T"), v["title"]
    assert f"kill -CONT {wb.pid}" in v["fix"]
    # The wait for relay's reply ended as soon as its call to echo was seen waiting on a stopped worker.
    ping = results(doc, "agent.ping")[0]
    assert "echo's worker wb (pid" in ping["facts"]["cut_short_by_call"], ping["facts"]
    (calls,) = results(doc, "hop.calls")
    lead = calls["facts"]["leads"][0]
    assert lead["agent_type"] == "echo" and lead["waiting"] >= 1 and lead["host_log"] == [], lead
    (hop,) = results(doc, "hop.downstream")
    assert hop["facts"]["verdict"]["id"] == "worker-frozen"
    proc = next(r for r in downstream_results(doc) if r["id"] == "worker.process")
    assert proc["target"] == "echo: wb" and proc["status"] == "CRITICAL" and proc["facts"]["state"] == "T"
    # relay's own worker is fine: the target's results are its own, not the downstream's.
    own = next(r for r in doc["results"] if r["id"] == "worker.process" and "downstream" not in r["tags"])
    assert own["target"] == "wa" and own["status"] == "OK"
    within_deadline(doc)


# --- the callee's type is registered by nobody ----------------------------------------------------------------

def test_a_call_to_a_type_nobody_registers_is_named(cluster: PlainCluster) -> None:
    code, doc = cluster.diagnose("relay4")
    v = finding(doc)
    assert code == 2 and v["id"] == "downstream-broken" and v["status"] == "CRITICAL", v
    assert v["title"] == "relay4 waits on ghost: agent type ghost is not registered on the host", v["title"]
    # ghost is in no config and not on the host: the host's 'Agent ghost not found' named it.
    lead = results(doc, "hop.calls")[0]["facts"]["leads"][0]
    assert lead["agent_type"] == "ghost" and any("Agent ghost not found" in x for x in lead["host_log"]), lead
    assert doc["data"]["hops"][0]["verdict"] == "type-not-registered"
    assert "the host dropped a message to ghost" in results(doc, "agent.ping")[0]["facts"]["cut_short_by_call"]
    within_deadline(doc)


# --- two hops deep, then the callee's worker killed ------------------------------------------------------------

def test_a_dead_downstream_worker_is_the_verdict_not_overload(cluster: PlainCluster) -> None:
    """The issue's first bullet: a relay whose downstream worker had died was called `overload`."""
    wb = cluster.procs["wb"]
    wb.kill()
    wb.wait()
    try:
        wait_for(lambda: "echo" not in cluster.registered(), timeout=30, what="the host to drop echo")
        # Without following the hop, relay's own evidence is all there is (its stuck handler in the queue).
        code, doc = cluster.diagnose("relay", "--hops", "0")
        assert finding(doc)["id"] != "downstream-broken" and doc["data"]["hops"] == [], finding(doc)
        assert "cut_short_by_call" not in results(doc, "agent.ping")[0]["facts"]
        assert not [r for r in doc["results"] if r["id"].startswith("hop.")]

        code, doc = cluster.diagnose("relay")
        v = finding(doc)
        assert code == 2 and v["id"] == "downstream-broken" and v["status"] == "CRITICAL", v
        assert v["title"] == "relay waits on echo: worker wb, which owns echo, is not running", v["title"]
        assert "start worker wb again" in v["fix"]
        assert "cut_short_by_call" in results(doc, "agent.ping")[0]["facts"]
        lead = results(doc, "hop.calls")[0]["facts"]["leads"][0]
        # Both kinds of evidence: relay's call waiting, and the host dropping it during the ping.
        assert lead["agent_type"] == "echo" and lead["waiting"] >= 1
        assert any("Agent echo not found" in x for x in lead["host_log"]), lead
        assert doc["data"]["hops"][0]["verdict"] == "worker-dead"
        within_deadline(doc)

        # Without relay's metrics, the host's log during the ping is the lead; echo's own verdict confirms it.
        code, doc = cluster.diagnose("relay", metrics=False)
        v = finding(doc)
        assert v["id"] == "downstream-broken" and v["title"].startswith("relay waits on echo: worker wb"), v
        (calls,) = results(doc, "hop.calls")
        assert calls["facts"]["metrics"] == "not configured"
        assert calls["facts"]["leads"][0]["waiting"] == 0 and calls["facts"]["leads"][0]["host_log"]
        within_deadline(doc)

        # relay3 -> mid -> echo: two hops, within the same deadline, the broken end named.
        code, doc = cluster.diagnose("relay3")
        v = finding(doc)
        assert v["id"] == "downstream-broken", v
        assert v["title"] == ("relay3 waits on mid, which waits on echo: worker wb, which owns echo, is not running"), \
            v["title"]
        chain = [(h["from"], h["to"]) for h in doc["data"]["hops"]]
        assert ("relay3", "mid") in chain and ("mid", "echo") in chain, chain
        within_deadline(doc)

        # fanout calls echo and mid, and mid calls echo: echo is diagnosed once, its verdict reused for mid.
        code, doc = cluster.diagnose("fanout")
        assert finding(doc)["id"] == "downstream-broken", finding(doc)
        chain = [(h["from"], h["to"]) for h in doc["data"]["hops"]]
        assert {("fanout", "echo"), ("fanout", "mid"), ("mid", "echo")} <= set(chain), chain
        assert len([r for r in doc["results"] if r["id"] == "agent.registration" and r["target"] == "echo"]) == 1
        assert any("diagnosed already" in n for n in doc["notes"]), doc["notes"]
        within_deadline(doc)

        # --hops 1: mid is followed, echo is not; mid's own verdict is then the evidence.
        code, doc = cluster.diagnose("relay3", "--hops", "1")
        assert [(h["from"], h["to"]) for h in doc["data"]["hops"]] == [("relay3", "mid")]
    finally:
        cluster.start_worker("wb")
