"""Workers that fail to start, on a plain AutoGen cluster (autogen-ext's host and worker runtimes, Python
`logging` to a file, stderr to another file, a pid file written by the launcher; no agentops lab code):
a second worker whose type is already registered, an import error, a host it cannot reach, and a crash loop
under a shell supervisor. Each is produced for real and named by `diagnose message`, `diagnose agent` and
`health`; the crashed second worker never makes the healthy owner look dead."""

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
from tests.fixtures.report_schema import validate_report
from tests.fixtures.servers import PLAIN_AUTOGEN_HOST_SCRIPT as HOST_SCRIPT

pytest.importorskip("autogen_ext.runtimes.grpc")
pytestmark = pytest.mark.lab

LOG_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
# argv: host log_file agent_type. Logs to its file as a user's worker would; an uncaught exception goes to stderr.
WORKER_SCRIPT = textwrap.dedent(f'''
    import asyncio
    import logging
    import sys
    from dataclasses import dataclass

    logging.basicConfig(level=logging.INFO, filename=sys.argv[2], format="{LOG_FORMAT}")

    from autogen_core import MessageContext, RoutedAgent, message_handler, try_get_known_serializers_for_type
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    @dataclass
    class Ping:
        text: str = ""

    @dataclass
    class Pong:
        text: str

    class Echo(RoutedAgent):
        def __init__(self):
            super().__init__("echo")

        @message_handler
        async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
            return Pong(text=message.text)

    async def main(host, agent_type):
        runtime = GrpcWorkerAgentRuntime(host_address=host)
        runtime.add_message_serializer(try_get_known_serializers_for_type(Pong))
        await runtime.start()
        await Echo.register(runtime, agent_type, Echo)
        logging.getLogger("worker").info("registered %s", agent_type)
        await runtime.stop_when_signal()

    asyncio.run(main(sys.argv[1], sys.argv[3]))
''')
# The same worker with a dependency that is not installed: it dies importing it, before it connects.
BAD_IMPORT_SCRIPT = WORKER_SCRIPT.replace("from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime",
                                          "from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime\n"
                                          "import planner_tools_not_installed")


@dataclass
class PlainCluster:
    dir: Path
    address: str
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)

    def start(self, name: str, agent_type: str, *, script: str = "worker.py", host: str | None = None,
              ) -> subprocess.Popen[Any]:
        """Start a worker as a launcher would: stderr appended to NAME.err, then the pid file written."""
        with open(self.dir / f"{name}.err", "ab") as err:
            proc = subprocess.Popen([sys.executable, str(self.dir / script), host or self.address,
                                     str(self.dir / f"{name}.log"), agent_type],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        (self.dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        self.procs.append(proc)
        return proc

    def start_and_wait_registered(self, name: str, agent_type: str) -> subprocess.Popen[Any]:
        proc = self.start(name, agent_type)
        log = self.dir / f"{name}.log"
        wait_for(lambda: proc.poll() is not None or (log.exists() and f"registered {agent_type}" in log.read_text()),
                 timeout=60, what=f"{name} to register {agent_type}")
        assert proc.poll() is None, (self.dir / f"{name}.err").read_text()
        return proc

    def start_and_wait_exit(self, name: str, agent_type: str, **kw: Any) -> int:
        proc = self.start(name, agent_type, **kw)
        return proc.wait(timeout=60)  # reaped: its pid is gone, as a crashed worker's is

    def worker(self, name: str, types: list[str], *, stderr: bool = True, **extra: Any) -> dict[str, Any]:
        options: dict[str, Any] = {"host": self.address, "process": {"pid_file": str(self.dir / f"{name}.pid")},
                                   "logs": [str(self.dir / f"{name}.log")], "agent_types": types, **extra}
        if stderr:
            options["stderr"] = [str(self.dir / f"{name}.err")]
        return {"name": name, "kind": "worker", "options": options}

    def config(self, *workers: dict[str, Any], name: str = "agentops.yaml") -> Path:
        hub = {"name": "hub", "kind": "agentrpc", "address": self.address,
               "options": {"process": {"pid_file": str(self.dir / "host.pid")},
                           "ping": {"type": "echo", "payload_type": "Ping", "payload": {"text": "agentops"}}}}
        path = self.dir / name
        path.write_text(yaml.safe_dump({"version": 1, "targets": [hub, *workers]}))
        return path


def diagnose(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("diagnose", *args, "-o", "json", timeout=120)
    assert_no_traceback(result)
    doc = result.json()
    validate_report(doc)
    return result.code, doc


def result_of(doc: dict[str, Any], check_id: str, target: str | None = None) -> dict[str, Any]:
    return next(r for r in doc["results"] if r["id"] == check_id and (target is None or r["target"] == target))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainCluster]:
    d = tmp_path_factory.mktemp("worker-start")
    (d / "host.py").write_text(HOST_SCRIPT)
    (d / "worker.py").write_text(WORKER_SCRIPT)
    (d / "bad_import.py").write_text(BAD_IMPORT_SCRIPT)
    port = free_port()
    c = PlainCluster(d, f"127.0.0.1:{port}")
    with open(d / "host.out", "w") as out:
        host = subprocess.Popen([sys.executable, str(d / "host.py"), c.address], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    (d / "host.pid").write_text(f"{host.pid}\n")
    try:
        wait_for(lambda: port_open(port), timeout=30, what="the AutoGen host to listen")
        c.start_and_wait_registered("w1", "echo")
        yield c
    finally:
        for proc in c.procs:
            stop_process(proc)
        stop_process(host)


@pytest.fixture(scope="module")
def duplicate(cluster: PlainCluster) -> PlainCluster:
    """w2 started for echo, which w1 owns: it exits at start with 'Agent type echo already registered'."""
    code = cluster.start_and_wait_exit("w2", "echo")
    assert code == 1 and "already registered" in (cluster.dir / "w2.err").read_text()
    return cluster


def test_a_crashed_second_worker_never_makes_the_healthy_owner_dead(duplicate: PlainCluster) -> None:
    c = duplicate
    # The crashed worker declared first, both listing echo (issue 12: "the healthy owner was reported dead").
    config = c.config(c.worker("w2", ["echo"]), c.worker("w1", ["echo"]))
    for command in (("message", "--to", "echo"), ("agent", "echo")):
        code, doc = diagnose(*command, "-c", str(config))
        assert doc["verdict"]["id"] == "healthy", doc["verdict"]
        assert "w1" in doc["verdict"]["title"]
        proc = result_of(doc, "worker.process")
        assert proc["target"] == "w1" and proc["status"] == "OK"
        # the crashed one is named beside it, as what it is: a second worker for a type another client serves
        also = [f for f in doc["findings"][1:] if f["id"] == "worker-start-failed"]
        assert len(also) == 1 and also[0]["status"] == "WARNING", doc["findings"]
        assert "w2" in also[0]["title"] and "already registered" in also[0]["title"]
        assert "served by w1" in also[0]["cause"]
        assert result_of(doc, "cluster.start", "w2")["status"] == "WARNING"
        assert code == 1  # a configured worker is down: a warning, not "echo is broken"


def test_only_the_crashed_worker_declared_the_owner_is_the_hosts_client(duplicate: PlainCluster) -> None:
    c = duplicate
    config = c.config(c.worker("w2", ["echo"]), name="only-w2.yaml")
    code, doc = diagnose("message", "--to", "echo", "-c", str(config))
    assert doc["verdict"]["id"] == "healthy" and code == 1, doc["verdict"]
    reg = result_of(doc, "agent.registration")
    assert reg["facts"]["owner_worker"] is None and "w2" in reg["facts"]["owner_named_by"]
    assert not any(r["id"] == "worker.process" for r in doc["results"])  # w2 is not the owner, so not its process
    assert any("none of the configured workers" in n for n in doc["notes"])
    assert any(f["id"] == "worker-start-failed" and "already registered" in f["title"] for f in doc["findings"])
    inventory = run_cli("cluster", "inventory", "-c", str(config), "--owners", "-o", "json")
    assert inventory.code == 0, inventory.stderr
    assert inventory.json()["data"]["hosts"][0]["owner_workers"]["echo"]["worker"] is None


def test_an_import_error_at_start_is_named(cluster: PlainCluster) -> None:
    c = cluster
    assert c.start_and_wait_exit("wimp", "planner", script="bad_import.py") == 1
    config = c.config(c.worker("w1", ["echo"]), c.worker("wimp", ["planner"]), name="imp.yaml")
    for command in (("agent", "planner"), ("message", "--to", "planner")):
        code, doc = diagnose(*command, "-c", str(config))
        verdict = doc["verdict"]
        assert code == 2 and verdict["id"] == "worker-start-failed", verdict
        assert "wimp" in verdict["title"] and "planner_tools_not_installed" in verdict["title"]
        assert "could not be imported" in verdict["cause"] and "wimp.err" in verdict["cause"]
        assert "pip install" in verdict["fix"]
        start = result_of(doc, "worker.start", "wimp")
        assert start["status"] == "CRITICAL" and start["facts"]["last_error"]["case"] == "import-error"
        assert "which is gone" in start["message"]  # the pid file names a dead pid


def test_a_host_it_cannot_reach_is_named(cluster: PlainCluster) -> None:
    c = cluster
    nowhere = f"127.0.0.1:{free_port()}"  # started with a wrong address: nothing listens there
    assert c.start_and_wait_exit("wfar", "far", host=nowhere) == 1
    config = c.config(c.worker("wfar", ["far"]), name="far.yaml")
    code, doc = diagnose("agent", "far", "-c", str(config))
    verdict = doc["verdict"]
    assert code == 2 and verdict["id"] == "worker-start-failed", verdict
    assert result_of(doc, "worker.start")["facts"]["last_error"]["case"] == "host-unreachable"
    assert "could not reach the AgentRpc host" in verdict["cause"] and nowhere in verdict["title"]


def test_without_its_stderr_the_missing_evidence_is_said_not_guessed(cluster: PlainCluster) -> None:
    c = cluster
    if not (c.dir / "wimp.pid").exists():
        assert c.start_and_wait_exit("wimp", "planner", script="bad_import.py") == 1
    config = c.config(c.worker("wimp", ["planner"], stderr=False), name="no-stderr.yaml")
    code, doc = diagnose("agent", "planner", "-c", str(config))
    assert doc["verdict"]["id"] == "worker-dead" and code == 2, doc["verdict"]  # what the process says, nothing more
    start = result_of(doc, "worker.start")
    assert start["status"] == "OK" and "no error in its stderr or logs" in start["message"]
    assert "options.stderr" in start["message"]


def test_a_crash_loop_under_a_supervisor_is_counted(cluster: PlainCluster) -> None:
    c = cluster
    nowhere = f"127.0.0.1:{free_port()}"
    log, err, pid = (c.dir / f"wloop.{ext}" for ext in ("log", "err", "pid"))
    # A supervisor as a shell loop: start, write the pid file, wait, start again.
    loop = (f'while :; do "{sys.executable}" "{c.dir / "worker.py"}" {nowhere} "{log}" loopy 2>>"{err}" & '
            f'echo $! > "{pid}"; wait $!; sleep 0.2; done')
    supervisor = subprocess.Popen(["bash", "-c", loop], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    c.procs.append(supervisor)
    try:
        wait_for(lambda: log.exists() and log.read_text().count("Connecting to host:") >= 5, timeout=120,
                 what="five starts of the crash-looping worker")
        config = c.config(c.worker("wloop", ["loopy"]), name="loop.yaml")
        code, doc = diagnose("agent", "loopy", "-c", str(config))
        verdict = doc["verdict"]
        assert code == 2 and verdict["id"] == "worker-crash-loop", verdict
        start = result_of(doc, "worker.start")
        assert start["metrics"]["restarts"] >= 4 and "restarts" in start["facts"]["breached"]
        assert "in its log" in start["facts"]["restarts_from"]
        assert f"restarted {int(start['metrics']['restarts'])} times" in verdict["title"]
        health = run_cli("health", "-c", str(config), "--only", "autogen.worker.start", "-o", "json")
        assert_no_traceback(health)
        row = result_of(health.json(), "autogen.worker.start", "wloop")
        assert row["status"] == "CRITICAL" and row["metrics"]["restarts"] >= 4
    finally:
        stop_process(supervisor)


def test_health_names_each_start_failure_with_its_reason(duplicate: PlainCluster) -> None:
    c = duplicate
    if not (c.dir / "wimp.pid").exists():
        assert c.start_and_wait_exit("wimp", "planner", script="bad_import.py") == 1
    config = c.config(c.worker("w1", ["echo"]), c.worker("w2", ["echo"]), c.worker("wimp", ["planner"]),
                      name="health.yaml")
    result = run_cli("health", "-c", str(config), "--only", "autogen.worker*", "-o", "json")
    assert_no_traceback(result)
    doc = result.json()
    start = {r["target"]: r for r in doc["results"] if r["id"] == "autogen.worker.start"}
    assert start["w1"]["status"] == "OK" and start["w1"]["metrics"]["running"] == 1
    assert start["w2"]["status"] == "WARNING" and "already registered" in start["w2"]["message"]
    assert start["wimp"]["status"] == "CRITICAL" and "planner_tools_not_installed" in start["wimp"]["message"]
    assert result.code == 2
