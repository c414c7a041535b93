"""`agentops diagnose publish` against a real AutoGen host (autogen-ext's GrpcWorkerAgentRuntimeHost) and
workers that are not agentops lab code: a worker script written here registers one agent type and adds one
subscription (a TypeSubscription or a TypePrefixSubscription), each worker its own process. Nothing is
published by the diagnosis; the verdicts come from the host's subscription table, RegisterAgent's answer and
the workers' processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from agentops.core.config import Target
from tests.fixtures.common import assert_no_traceback, free_port, port_open, run_cli, stop_process, wait_for
from tests.fixtures.report_schema import validate_report
from tests.fixtures.servers import PLAIN_AUTOGEN_HOST_SCRIPT as HOST_SCRIPT
from tests.fixtures.servers import run_probe

pytest.importorskip("autogen_ext.runtimes.grpc")
pytestmark = pytest.mark.lab


# argv: host ready_file agent_type kind(type|prefix) topic
WORKER_SCRIPT = textwrap.dedent('''
    import asyncio
    import os
    import sys
    from dataclasses import dataclass

    from autogen_core import (MessageContext, RoutedAgent, TypePrefixSubscription, TypeSubscription,
                              message_handler)
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    @dataclass
    class Event:
        text: str = ""

    class Listener(RoutedAgent):
        def __init__(self):
            super().__init__("listens")

        @message_handler
        async def on_event(self, message: Event, ctx: MessageContext) -> None:
            print("got", message.text, flush=True)

    async def main(host, ready_file, agent_type, kind, topic):
        runtime = GrpcWorkerAgentRuntime(host_address=host)
        await runtime.start()
        await Listener.register(runtime, agent_type, Listener)
        sub = TypeSubscription(topic, agent_type) if kind == "type" else TypePrefixSubscription(topic, agent_type)
        await runtime.add_subscription(sub)
        open(ready_file, "w").close()
        await runtime.stop_when_signal()

    asyncio.run(main(*sys.argv[1:6]))
''')


@dataclass
class Cluster:
    dir: Path
    address: str
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    agent_types: dict[str, str] = field(default_factory=dict)

    def start_worker(self, name: str, agent_type: str, kind: str, topic: str) -> subprocess.Popen:
        ready = self.dir / f"{name}.ready"
        with open(self.dir / f"{name}.log", "w") as log:
            proc = subprocess.Popen([sys.executable, str(self.dir / "worker.py"), self.address, str(ready),
                                     agent_type, kind, topic], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        wait_for(lambda: ready.exists() or proc.poll() is not None, timeout=60, what=f"{name} to subscribe")
        assert ready.exists(), (self.dir / f"{name}.log").read_text()
        (self.dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        self.workers[name], self.agent_types[name] = proc, agent_type
        return proc

    def config(self) -> Path:
        targets = [{"name": "hub", "kind": "agentrpc", "address": self.address}]
        targets += [{"name": name, "kind": "worker",
                     "options": {"host": self.address, "process": {"pid_file": str(self.dir / f"{name}.pid")},
                                 "agent_types": [self.agent_types[name]]}} for name in self.workers]
        path = self.dir / "agentops.yaml"
        path.write_text(yaml.safe_dump({"version": 1, "targets": targets}))
        return path

    def diagnose(self, topic: str, *extra: str):
        result = run_cli("diagnose", "publish", "--topic", topic, "-c", str(self.config()), "-o", "json", *extra)
        assert_no_traceback(result)
        doc = result.json()
        validate_report(doc)
        return result, doc

    def subscribed_types(self) -> set[str]:
        obs = run_probe("agentrpc", Target(name="hub", kind="agentrpc", address=self.address, where="test:1"))
        return set(obs.facts.get("agent_types", []))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("publish")
    (d / "host.py").write_text(HOST_SCRIPT)
    (d / "worker.py").write_text(WORKER_SCRIPT)
    port = free_port()
    c = Cluster(d, f"127.0.0.1:{port}")
    with open(d / "host.log", "w") as log:
        host = subprocess.Popen([sys.executable, str(d / "host.py"), c.address], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open(port), timeout=30, what="the AutoGen host to listen")
        c.start_worker("wbill", "billing", "type", "billing.invoice")
        c.start_worker("waudit", "auditor", "prefix", "audit.")
        yield c
    finally:
        for proc in c.workers.values():
            stop_process(proc)
        stop_process(host)


def test_a_topic_nobody_subscribes_to_is_the_verdict(cluster: Cluster) -> None:
    result, doc = cluster.diagnose("billing.invoices")
    assert result.code == 2, result.stdout
    assert doc["kind"] == "diagnose.publish" and doc["status"] == "CRITICAL"
    assert doc["verdict"]["id"] == "nobody-subscribes"
    assert "billing.invoices" in doc["verdict"]["title"]
    assert "billing.invoice" in doc["verdict"]["cause"]  # the near miss is named
    assert doc["data"]["matches"] == [] and doc["data"]["receivers"] == []
    subs = next(r for r in doc["results"] if r["id"] == "publish.subscribers")
    assert subs["status"] == "CRITICAL" and subs["metrics"]["subscribers"] == 0


def test_an_exact_topic_names_the_type_and_its_worker(cluster: Cluster) -> None:
    result, doc = cluster.diagnose("billing.invoice", "--source", "acme")
    assert result.code == 0, result.stdout
    assert doc["verdict"]["id"] == "publish-delivered" and doc["status"] == "OK"
    assert doc["data"]["receivers"] == ["billing"]
    (match,) = doc["data"]["matches"]
    assert match["kind"] == "type" and match["recipient"] == "billing/acme"
    assert "billing (wbill)" in doc["verdict"]["title"]
    receiver = next(r for r in doc["results"] if r["id"] == "publish.receiver")
    assert receiver["target"] == "billing" and receiver["facts"]["worker"] == "wbill"
    assert receiver["metrics"]["alive"] == 1 and receiver["metrics"]["owned"] == 1


def test_a_prefix_subscription_matches(cluster: Cluster) -> None:
    result, doc = cluster.diagnose("audit.login")
    assert result.code == 0, result.stdout
    assert doc["data"]["receivers"] == ["auditor"]
    assert doc["data"]["matches"][0]["kind"] == "prefix"
    assert "auditor (waudit)" in doc["verdict"]["title"]


def test_the_table_names_the_verdict(cluster: Cluster) -> None:
    result = run_cli("diagnose", "publish", "--topic", "nobody.here", "-c", str(cluster.config()))
    assert_no_traceback(result)
    assert result.code == 2 and "nobody-subscribes" in result.stdout and "nobody.here" in result.stdout


def test_a_killed_subscriber_is_named(cluster: Cluster) -> None:
    proc = cluster.start_worker("wship", "shipper", "type", "ship.order")
    try:
        result, doc = cluster.diagnose("ship.order")
        assert result.code == 0 and doc["verdict"]["id"] == "publish-delivered", result.stdout
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # The host removes the dead client's types and subscriptions once it sees the connection drop.
        wait_for(lambda: "shipper" not in cluster.subscribed_types(), timeout=30, what="the host to drop shipper")
        result, doc = cluster.diagnose("ship.order")
        assert result.code == 2, result.stdout
        assert doc["verdict"]["id"] == "nobody-subscribes"
        gone = next(f for f in doc["findings"] if f["id"] == "publish-subscriber-gone")
        assert gone["status"] == "CRITICAL" and "wship" in gone["title"] and "shipper" in gone["title"]
    finally:
        stop_process(proc)
        del cluster.workers["wship"]


def test_cluster_inventory_lists_topics_and_their_types(cluster: Cluster) -> None:
    result = run_cli("cluster", "inventory", "--host", cluster.address, "-o", "json")
    assert_no_traceback(result)
    doc = result.json()
    validate_report(doc)
    rows = doc["data"]["hosts"][0]["inventory"]["topic_types"]
    assert {"topic": "billing.invoice", "kind": "type", "agent_types": ["billing"]} in rows
    assert {"topic": "audit.", "kind": "prefix", "agent_types": ["auditor"]} in rows
    assert not any(r["topic"].endswith(":") for r in rows)  # direct-message prefixes are not topics
    table = run_cli("cluster", "inventory", "--host", cluster.address)
    assert "billing.invoice" in table.stdout and "audit.*" in table.stdout
