"""`agentops.instrument` on a plain AutoGen worker: a real GrpcWorkerAgentRuntimeHost and a worker script
written here (no agentops lab code: four tiny RoutedAgents) that adds the two lines, each its own process.
Messages go through the host with the agentrpc probe's ping; the worker's /metrics is read with the real
metrics probe and with `agentops health --pack kpi`. The worker refuses, with an import hook, every module
of agentops other than agentops.instrument and typer/rich/httpx: what a worker's own environment has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentops.core.config import Target
from agentops.core.model import Reason
from tests.fixtures.common import assert_no_traceback, free_port, port_open, run_cli, stop_process, wait_for
from tests.fixtures.servers import PLAIN_AUTOGEN_HOST_SCRIPT as HOST_SCRIPT
from tests.fixtures.servers import run_probe

pytest.importorskip("autogen_ext.runtimes.grpc")
pytestmark = pytest.mark.lab

from autogen_core import MessageContext, RoutedAgent, default_subscription, message_handler  # noqa: E402

SLOW_SECONDS = 0.3  # above the 0.25 s bucket edge: asyncio.sleep never returns early
WORKER = "plain1"

# Refuses what a worker's environment lacks: the rest of agentops (its CLI stack) and its heavy clients.
IMPORT_GUARD = textwrap.dedent('''
    import importlib.abc
    import sys

    class RefuseAgentops(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            allowed = name == "agentops" or name == "agentops.instrument" or name.startswith("agentops.instrument.")
            if (name.startswith("agentops.") and not allowed) or name.split(".")[0] in ("typer", "rich", "httpx"):
                raise ImportError(f"refused in a worker's environment: {name}")
            return None

    sys.meta_path.insert(0, RefuseAgentops())
''')


WORKER_SCRIPT = IMPORT_GUARD + textwrap.dedent('''
    import asyncio
    import json
    import os
    from dataclasses import dataclass

    from autogen_core import MessageContext, RoutedAgent, message_handler, try_get_known_serializers_for_type
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    from agentops.instrument import AgentMetrics

    SLOW_SECONDS = float(os.environ["SLOW_SECONDS"])

    @dataclass
    class Ping:
        text: str = ""

    @dataclass
    class Release:
        pass

    @dataclass
    class Pong:
        text: str

    class Echo(RoutedAgent):
        def __init__(self):
            super().__init__("echo")

        @message_handler
        async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
            return Pong(text=message.text)

    class Boom(RoutedAgent):
        def __init__(self):
            super().__init__("raises")

        @message_handler
        async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
            raise ValueError(f"boom on purpose: {message.text}")

    class Slow(RoutedAgent):
        def __init__(self):
            super().__init__("slow")

        @message_handler
        async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
            await asyncio.sleep(SLOW_SECONDS)
            return Pong(text=message.text)

    class Hold(RoutedAgent):
        """Holds each Ping until a Release arrives (requests run concurrently, one task each)."""

        def __init__(self):
            super().__init__("hold")
            self.released = asyncio.Event()

        @message_handler
        async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
            await self.released.wait()
            return Pong(text=message.text)

        @message_handler
        async def on_release(self, message: Release, ctx: MessageContext) -> Pong:
            self.released.set()
            return Pong(text="released")

    async def main(host, ready_file):
        runtime = GrpcWorkerAgentRuntime(host_address=host)
        metrics = AgentMetrics(runtime, worker="''' + WORKER + '''")
        port = metrics.serve(port=0, addr="127.0.0.1")
        await runtime.start()
        runtime.add_message_serializer(try_get_known_serializers_for_type(Pong))
        for agent_type, cls in (("echo", Echo), ("boom", Boom), ("slow", Slow), ("hold", Hold)):
            await cls.register(runtime, agent_type, cls)
        with open(ready_file + ".tmp", "w") as f:
            json.dump({"metrics_port": port}, f)
        os.replace(ready_file + ".tmp", ready_file)
        await runtime.stop_when_signal()

    import sys
    asyncio.run(main(sys.argv[1], sys.argv[2]))
''')


@dataclass
class PlainCluster:
    address: str
    metrics_url: str
    worker_log: Path

    def ping(self, agent_type: str, payload_type: str = "Ping", text: str = "hi", timeout: float = 10.0):
        target = Target(name="hub", kind="agentrpc", address=self.address, options={}, where="test:1")
        ping = {"type": agent_type, "payload_type": payload_type, "payload": {"text": text} if text else {}}
        return run_probe("agentrpc", target, {"ping": ping}, timeout=timeout)

    def scrape(self, compute: list[dict]) -> dict[str, float]:
        target = Target(name=WORKER, kind="metrics", address=self.metrics_url)
        obs = run_probe("metrics", target, {"compute": compute})
        assert not obs.failed, obs.message
        return obs.metrics


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainCluster]:
    d = tmp_path_factory.mktemp("plain-autogen")
    (d / "host.py").write_text(HOST_SCRIPT)
    (d / "worker.py").write_text(WORKER_SCRIPT)
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "SLOW_SECONDS": str(SLOW_SECONDS)}
    procs: list[subprocess.Popen] = []
    try:
        with open(d / "host.log", "w") as host_log:
            procs.append(subprocess.Popen([sys.executable, str(d / "host.py"), address], stdout=host_log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env))
        wait_for(lambda: port_open(port), timeout=30, what="the AutoGen host to listen")
        ready = d / "worker.ready"
        with open(d / "worker.log", "w") as worker_log:
            procs.append(subprocess.Popen([sys.executable, str(d / "worker.py"), address, str(ready)],
                                          stdout=worker_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env))
        wait_for(lambda: ready.exists() or procs[1].poll() is not None, timeout=60, what="the worker to register")
        assert ready.exists(), (d / "worker.log").read_text()
        metrics_port = json.loads(ready.read_text())["metrics_port"]
        yield PlainCluster(address, f"http://127.0.0.1:{metrics_port}/metrics", d / "worker.log")
    finally:
        for proc in reversed(procs):
            stop_process(proc)


def series(name: str, family: str, **labels: str) -> dict:
    return {"name": name, "series": family, "labels": {"worker": WORKER, **labels}}


def test_counts_latency_and_errors_by_agent_type(plain: PlainCluster) -> None:
    for i in range(5):
        obs = plain.ping("echo", text=f"e{i}")
        assert not obs.failed, obs.message
    for i in range(3):
        obs = plain.ping("boom", text=f"b{i}")
        # A handler's exception reaches the caller as RpcResponse.error: the wrapper re-raised it unchanged.
        assert obs.reason is Reason.ASSERTION and "boom on purpose" in obs.message, obs.message
    for i in range(2):
        obs = plain.ping("slow", text=f"s{i}")
        assert not obs.failed, obs.message

    m = plain.scrape([
        series("echo_ok", "agent_message_count_total", agent_type="echo", outcome="ok"),
        series("echo_error", "agent_message_count_total", agent_type="echo", outcome="error"),
        series("boom_error", "agent_message_count_total", agent_type="boom", outcome="error"),
        series("boom_ok", "agent_message_count_total", agent_type="boom", outcome="ok"),
        series("boom_value_errors", "agent_errors_total", agent_type="boom", error="ValueError"),
        series("errors", "agent_errors_total"),
        series("echo_timed", "agent_response_time_count", agent_type="echo"),
        series("slow_timed", "agent_response_time_count", agent_type="slow"),
        series("slow_seconds", "agent_response_time_sum", agent_type="slow"),
        series("slow_under_250ms", "agent_response_time_bucket", agent_type="slow", le="0.25"),
        series("slow_all", "agent_response_time_bucket", agent_type="slow", le="+Inf"),
        {"name": "slow_p50", "quantile": "agent_response_time", "q": 0.5, "labels": {"agent_type": "slow"}},
        series("active", "runtime_active_agents"),
        series("queue", "runtime_message_queue_size"),
    ])
    assert (m["echo_ok"], m["echo_error"], m["echo_timed"]) == (5, 0, 5)
    assert (m["boom_error"], m["boom_ok"], m["boom_value_errors"], m["errors"]) == (3, 0, 3, 3)
    assert (m["slow_timed"], m["slow_all"], m["slow_under_250ms"]) == (2, 2, 0)
    assert m["slow_seconds"] >= 2 * SLOW_SECONDS  # lower bounds only: a busy machine only adds time
    assert m["slow_p50"] >= 0.25
    assert m["active"] >= 3  # one instance per type pinged (the probe's key); hold may have one too
    assert m["queue"] == 0  # every request was answered


def test_queue_size_counts_a_running_handler(plain: PlainCluster) -> None:
    def queue() -> float:
        return plain.scrape([series("queue", "runtime_message_queue_size")])["queue"]

    import threading

    held: list = []
    sender = threading.Thread(target=lambda: held.append(plain.ping("hold", timeout=60.0)))
    sender.start()  # the handler waits for a Release: this ping is answered only after it
    try:
        wait_for(lambda: queue() >= 1, timeout=30, what="the held handler to show in runtime_message_queue_size")
    finally:
        released = plain.ping("hold", payload_type="Release", text="")
        sender.join(timeout=60)
    assert not released.failed, released.message
    assert held and not held[0].failed, held
    wait_for(lambda: queue() == 0, timeout=20, what="the released handler to leave the queue")
    m = plain.scrape([series("hold_ok", "agent_message_count_total", agent_type="hold", outcome="ok")])
    assert m["hold_ok"] == 2  # the held Ping and the Release, each counted once it returned


def test_the_kpi_pack_reads_a_plain_worker(plain: PlainCluster, tmp_path: Path) -> None:
    """Every family the shipped KPI pack names is there (no traffic in the window: quantiles n/a)."""
    import yaml

    config = tmp_path / "agentops.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "packs": ["kpi"],
                                      "targets": [{"name": "plain-metrics", "kind": "metrics",
                                                   "address": plain.metrics_url}]}))
    result = run_cli("health", "-c", str(config), "-o", "json", "--only", "kpi.*")
    assert_no_traceback(result)
    results = result.json()["results"]
    assert sorted(r["id"] for r in results) == ["kpi.cpu", "kpi.error_rate", "kpi.latency_p95",
                                                "kpi.latency_p99", "kpi.memory", "kpi.throughput"]
    for r in results:
        assert r["reason"] in (None, "threshold"), r
    metrics = {k: v for r in results for k, v in r["metrics"].items()}
    assert 0 < metrics["memory_percent"] < 100 and metrics["cpu_percent"] >= 0


def test_the_module_imports_only_prometheus_client(tmp_path: Path) -> None:
    """In a fresh interpreter that refuses the rest of agentops: importing it pulls in no CLI stack."""
    script = tmp_path / "imports.py"
    script.write_text(IMPORT_GUARD + textwrap.dedent('''
        import agentops.instrument
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("typer", "rich", "httpx", "yaml", "grpc")
                       or (m.startswith("agentops.") and m != "agentops.instrument"))
        print(",".join(heavy) or "none")
    '''))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "none"


@dataclass
class Note:
    text: str


@default_subscription
class Listener(RoutedAgent):
    """For the in-process runtime test (module level: autogen_core resolves handler hints by name)."""

    def __init__(self) -> None:
        super().__init__("listener")

    @message_handler
    async def on_note(self, message: Note, ctx: MessageContext) -> str:
        if message.text == "raise":
            raise KeyError("no such note")
        return message.text


def test_single_threaded_runtime_counts_sends_publishes_and_registered_instances() -> None:
    """The same two lines on autogen-core's in-process runtime: a direct send, a published event reaching two
    agent types, an agent registered as an instance, an async factory, and a handler that raises."""
    import asyncio

    from autogen_core import AgentId, DefaultTopicId, SingleThreadedAgentRuntime
    from prometheus_client import generate_latest

    from agentops.instrument import AgentMetrics

    async def scenario() -> AgentMetrics:
        runtime = SingleThreadedAgentRuntime()
        metrics = AgentMetrics(runtime, worker="inproc", process_metrics=False)

        async def make_listener() -> Listener:
            return Listener()

        await Listener.register(runtime, "listen", make_listener)
        await Listener.register(runtime, "also", Listener)
        await runtime.register_agent_instance(Listener(), AgentId("single", "one"))
        runtime.start()
        assert await runtime.send_message(Note("hi"), AgentId("listen", "k")) == "hi"
        assert await runtime.send_message(Note("hi"), AgentId("single", "one")) == "hi"
        with pytest.raises(KeyError):
            await runtime.send_message(Note("raise"), AgentId("also", "k"))
        await runtime.publish_message(Note("event"), DefaultTopicId())
        await runtime.stop_when_idle()
        return metrics

    metrics = asyncio.run(scenario())
    text = generate_latest(metrics.registry).decode()

    def value(line_start: str) -> float:
        return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))

    ok = 'agent_message_count_total{agent_type="%s",outcome="ok",worker="inproc"}'
    assert value(ok % "listen") == 2  # the send and the published event (the default subscription)
    assert value(ok % "single") == 1
    assert value(ok % "also") == 1  # the published event
    assert value('agent_message_count_total{agent_type="also",outcome="error",worker="inproc"}') == 1
    assert value('agent_errors_total{agent_type="also",error="KeyError",worker="inproc"}') == 1
    assert value('agent_response_time_count{agent_type="listen",worker="inproc"}') == 2
    # listen/k, also/k, single/one, plus listen/default and also/default created for the published event
    assert value('runtime_active_agents{worker="inproc"}') == 5
    assert value('runtime_message_queue_size{worker="inproc"}') == 0
