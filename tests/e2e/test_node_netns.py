"""Every node: two hosts made with network namespaces on this machine (a veth pair, 10.x addresses). On the
worker's host: a plain AutoGen host, a worker and `agentops serve --node` (bearer token, TLS). On the other
host: `agentops diagnose`, whose config says only where the worker's node is. The faults are made on the
worker's host for real (SIGSTOP, SIGKILL, a handler that raises); the verdicts must rest on the node's
process and log evidence. A token that is missing or wrong is refused and said so, never shown.

The namespaces share this machine's filesystem and process table, so the central agentops could read the
worker's files itself; its config names none of them (no pid file, no log path), so everything it knows of the
worker came over the network from the node. Skipped, with the reason, where `ip netns` is not permitted."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.common import wait_for
from tests.fixtures.plain_cluster import HOST_SCRIPT, PING, WORKER_SCRIPT
from tests.fixtures.services import make_tls_files

pytestmark = [pytest.mark.slow]

HOST_PORT = 50051  # each namespace is a fresh network stack: these ports are free in it
NODE_PORT = 9318
METRICS_PORT = 9464
WORKERS = {"wb": ("leaf", "echo"), "wf": ("failing", "none"), "wr": ("relay",)}
SETUP = "text-pid"
# `wr` (relay -> leaf on wb) adds agentops.instrument the way a user would (its outgoing calls on /metrics, on
# the worker host's address): the one source that shows a call waiting on a frozen worker, whose host logs
# nothing. Whether the central config names its metrics_url decides which evidence a test has.
INSTRUMENTED_SCRIPT = WORKER_SCRIPT.replace(
    "    await runtime.start()\n",
    "    if os.environ.get('METRICS_ADDR'):\n"
    "        from agentops.instrument import AgentMetrics\n"
    "        AgentMetrics(runtime, worker='wr').serve(port=int(os.environ['METRICS_PORT']),\n"
    "                                                 addr=os.environ['METRICS_ADDR'])\n"
    "    await runtime.start()\n", 1).replace("import asyncio\n", "import asyncio\nimport os\n", 1)
assert INSTRUMENTED_SCRIPT.count("AgentMetrics(runtime") == 1 and "import os" in INSTRUMENTED_SCRIPT


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


@dataclass
class Hosts:
    """Two network namespaces joined by a veth pair: `worker_ns` at `worker_ip`, `central_ns` at `central_ip`."""

    worker_ns: str
    central_ns: str
    worker_ip: str
    central_ip: str

    def argv(self, ns: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]


def _make_hosts() -> Iterator[Hosts]:
    tag = secrets.token_hex(3)
    subnet = int(tag[:2], 16) % 200 + 20
    hosts = Hosts(f"ao-node-{tag}", f"ao-central-{tag}", f"10.{subnet}.{int(tag[2:4], 16)}.1",
                  f"10.{subnet}.{int(tag[2:4], 16)}.2")
    veth_w, veth_c = f"aow{tag}", f"aoc{tag}"
    try:
        probe = _ip("netns", "add", hosts.worker_ns, check=False)
        if probe.returncode != 0:
            pytest.skip(f"ip netns is not permitted here: {probe.stderr.strip()}")
        _ip("netns", "add", hosts.central_ns)
        _ip("link", "add", veth_w, "type", "veth", "peer", "name", veth_c)
        for veth, ns, addr in ((veth_w, hosts.worker_ns, hosts.worker_ip), (veth_c, hosts.central_ns,
                                                                             hosts.central_ip)):
            _ip("link", "set", veth, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", veth)
            _ip("-n", ns, "link", "set", veth, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield hosts
    finally:
        for ns in (hosts.worker_ns, hosts.central_ns):  # deleting a namespace deletes its end of the veth
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", veth_w, check=False)


@dataclass
class NodeSite:
    """What runs on the worker's host, and the central side's config."""

    hosts: Hosts
    dir: Path
    token: str
    tls: Any = None  # the CA, and the node's certificate for its 10.x address
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def host_address(self) -> str:
        return f"{self.hosts.worker_ip}:{HOST_PORT}"

    @property
    def node_url(self) -> str:
        return f"https://{self.hosts.worker_ip}:{NODE_PORT}"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.dir / f"{name}.stderr", "ab") as stderr:
            proc = subprocess.Popen(self.hosts.argv(self.hosts.worker_ns, *argv), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=stderr, cwd=self.dir,
                                    env={**os.environ, **(env or {})})
        self.procs[name] = proc  # `ip netns exec` execs the command: this pid is the process itself
        return proc

    def stderr(self, name: str) -> str:
        path = self.dir / f"{name}.stderr"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def start_host(self) -> None:
        proc = self._spawn("host", [sys.executable, str(self.dir / "host.py"), SETUP, str(self.dir / "host.log"),
                                    self.host_address])
        (self.dir / "host.pid").write_text(f"{proc.pid}\n")
        log = self.dir / "host.log"
        wait_for(lambda: (log.exists() and "host listening on" in log.read_text()) or proc.poll() is not None,
                 timeout=60, what="the host to listen")
        assert proc.poll() is None, self.stderr("host")

    def start_worker(self, name: str) -> None:
        ready = self.dir / f"{name}.ready"
        ready.unlink(missing_ok=True)
        script, env = "worker.py", None
        if name == "wr":
            script, env = "instrumented.py", {"METRICS_ADDR": self.hosts.worker_ip, "METRICS_PORT": str(METRICS_PORT)}
        proc = self._spawn(name, [sys.executable, str(self.dir / script), SETUP, str(self.dir / f"{name}.log"),
                                  self.host_address, str(ready), *WORKERS[name]], env)
        (self.dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        wait_for(lambda: ready.exists() or proc.poll() is not None, timeout=60, what=f"{name} to register")
        assert ready.exists(), self.stderr(name)

    def start_node(self, tls: Any) -> None:
        proc = self._spawn("node", [sys.executable, "-m", "agentops", "serve", "-c", str(self.dir / "node.yaml"),
                                    "--node", "--token-file", str(self.dir / "node.token"),
                                    "--tls-cert", str(tls.server_cert), "--tls-key", str(tls.server_key),
                                    "--listen", f"{self.hosts.worker_ip}:{NODE_PORT}", "--interval", "3600"])
        err = self.dir / "node.stderr"
        wait_for(lambda: '"listening"' in err.read_text() or proc.poll() is not None, timeout=60,
                 what="the node to listen")
        assert proc.poll() is None, self.stderr("node")

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGCONT)  # a frozen process cannot act on SIGTERM
                    proc.terminate()
                    proc.wait(timeout=10)
                except ProcessLookupError:
                    pass
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)

    def node_config(self) -> Path:
        targets = [{"name": name, "kind": "worker",
                    "options": {"host": self.host_address, "process": {"pid_file": str(self.dir / f"{name}.pid")},
                                "logs": [str(self.dir / f"{name}.log")], "agent_types": list(types)}}
                   for name, types in WORKERS.items()]
        # The AgentRpc host runs here too: the node answers for its process and log (`?host=hub`).
        targets.append({"name": "hub", "kind": "agentrpc", "address": self.host_address,
                        "options": {"process": {"pid_file": str(self.dir / "host.pid")},
                                    "logs": [str(self.dir / "host.log")]}})
        path = self.dir / "node.yaml"
        path.write_text(yaml.safe_dump({"version": 1, "targets": targets}, sort_keys=False))
        return path

    def central_config(self, tls: Any, *, token_file: Path, name: str = "central.yaml",
                       ca: bool = True, extra_types: dict[str, tuple[str, ...]] | None = None,
                       host_node: bool = False, relay_metrics: bool = False) -> Path:
        """What the central agentops knows: the host's address (and, with host_node, its node), each worker's
        types and ping, and its node."""
        node: dict[str, Any] = {"url": self.node_url, "token_file": str(token_file)}
        if ca:
            node["tls"] = {"ca": str(tls.ca)}
        hub: dict[str, Any] = {"name": "hub", "kind": "agentrpc", "address": self.host_address}
        if host_node:
            hub["options"] = {"node": node}
        targets: list[dict[str, Any]] = [hub]
        for worker, types in WORKERS.items():
            options = {"host": self.host_address, "ping": dict(PING),
                       "agent_types": [*types, *(extra_types or {}).get(worker, ())], "node": node}
            if worker == "wr" and relay_metrics:
                options["metrics_url"] = f"http://{self.hosts.worker_ip}:{METRICS_PORT}/metrics"
            targets.append({"name": worker, "kind": "worker", "options": options})
        path = self.dir / name
        path.write_text(yaml.safe_dump({"version": 1, "targets": targets}, sort_keys=False))
        return path

    def diagnose(self, config: Path, *args: str, command: str = "agent") -> tuple[int, dict[str, Any], str]:
        """`agentops diagnose agent|message … -o json` run on the central host."""
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        env.pop("AGENTOPS_CONFIG", None)
        proc = subprocess.run(self.hosts.argv(self.hosts.central_ns, sys.executable, "-m", "agentops", "diagnose",
                                              command, *args, "-c", str(config), "-o", "json"),
                              capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
        assert proc.stdout, proc.stderr
        return proc.returncode, json.loads(proc.stdout), proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeSite]:
    gen = _make_hosts()
    hosts = next(gen)
    site = NodeSite(hosts, tmp_path_factory.mktemp("node"), secrets.token_urlsafe(24))
    try:
        for name, text in (("host.py", HOST_SCRIPT), ("worker.py", WORKER_SCRIPT),
                           ("instrumented.py", INSTRUMENTED_SCRIPT)):
            (site.dir / name).write_text(text)
        (site.dir / "node.token").write_text(site.token + "\n")
        (site.dir / "central.token").write_text(site.token + "\n")
        site.tls = make_tls_files(site.dir / "tls", server_san=f"IP:{hosts.worker_ip}")
        site.node_config()
        site.start_host()
        for name in WORKERS:
            site.start_worker(name)
        site.start_node(site.tls)
        yield site
    finally:
        site.stop()
        gen.close()


def result(doc: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(r for r in doc["results"] if r["id"] == check_id)


def central(site: NodeSite, **kw: Any) -> Path:
    return site.central_config(site.tls, token_file=site.dir / "central.token", **kw)


# ------------------------------------------------------------------------------------------------- tests

def test_the_hosts_are_apart(site: NodeSite) -> None:
    """The central host reaches the worker's host only over the veth: no loopback shortcut to the node."""
    out = subprocess.run(site.hosts.argv(site.hosts.central_ns, "ip", "-o", "addr"), capture_output=True,
                         text=True, timeout=30, check=True).stdout
    assert site.hosts.central_ip in out and site.hosts.worker_ip not in out


def test_healthy_remote_worker_has_its_nodes_evidence(site: NodeSite) -> None:
    code, doc, _ = site.diagnose(central(site), "leaf")
    assert doc["findings"][0]["id"] == "healthy", doc["findings"][0]
    node = result(doc, "worker.node")
    assert node["status"] == "OK" and node["facts"]["node"] == f"{site.hosts.worker_ip}:{NODE_PORT}"
    proc = result(doc, "worker.process")
    assert proc["status"] == "OK" and proc["facts"]["connected"] is True, json.dumps(proc)
    assert proc["facts"]["pid"] == site.procs["wb"].pid and "on node" in proc["facts"]["located_by"]
    logs = result(doc, "logs.worker")
    assert logs["facts"]["files"] == [f"{site.hosts.worker_ip}:{NODE_PORT}:{site.dir / 'wb.log'}"]
    assert logs["facts"]["probe_delivered"] is True, logs  # the node's records show the worker took the ping
    assert code == 0


def test_frozen_remote_worker(site: NodeSite) -> None:
    pid = site.procs["wb"].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        import psutil

        wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, what="wb to stop")
        code, doc, _ = site.diagnose(central(site), "leaf")
    finally:
        os.kill(pid, signal.SIGCONT)
    v = doc["findings"][0]
    assert (code, v["id"]) == (2, "worker-frozen"), v
    proc = result(doc, "worker.process")["facts"]
    assert proc["state"] == "T" and isinstance(proc["stopped_for_s"], float), proc
    assert f"kill -CONT {pid}" in v["fix"]


def test_handler_raised_with_the_nodes_log(site: NodeSite) -> None:
    _code, doc, _ = site.diagnose(central(site), "failing")
    v = doc["findings"][0]
    assert v["id"] == "handler-raised", v
    # AutoGen's worker logs no traceback for a handler that raises, only the request it took (INFO): read from
    # the node's copy of the records written during the probe.
    logs = result(doc, "logs.worker")["facts"]
    assert logs["probe_delivered"] is True, json.dumps(logs)
    assert logs["files"] == [f"{site.hosts.worker_ip}:{NODE_PORT}:{site.dir / 'wf.log'}"]


def test_handler_no_reply_is_cut_short_by_the_nodes_log(site: NodeSite) -> None:
    """The ping's log watch reads the remote owner's log on its node: the traceback of a reply AutoGen cannot
    serialize ends the wait before the deadline, and names the cause."""
    code, doc, _ = site.diagnose(central(site), "none")
    v = doc["findings"][0]
    assert (code, v["id"]) == (2, "handler-no-reply"), v
    assert any("NoneType" in e for e in v["evidence"]), v["evidence"]
    ping = result(doc, "agent.ping")["facts"]
    assert "cut_short_by" in ping and ping["waited_s"] < ping["timeout_s"], ping


def test_a_type_the_running_remote_worker_did_not_register(site: NodeSite) -> None:
    """cluster.workers asks the node too: the worker the config expects the type on is running (over there)."""
    code, doc, _ = site.diagnose(central(site, name="ghost.yaml", extra_types={"wb": ("ghost",)}, host_node=True),
                                 "ghost")
    v = doc["findings"][0]
    assert (code, v["id"]) == (2, "type-not-registered"), v
    workers = result(doc, "cluster.workers")["facts"]
    rows = {r["worker"]: r for r in workers["workers"]}
    assert rows["wb"]["alive"] is True and rows["wb"]["pid"] == site.procs["wb"].pid, rows
    # The host's start time, from its node, is what host-restarted compares with: it started before wb here.
    assert workers["host_started_at"] <= rows["wb"]["started_at"], workers  # stamps of whole seconds
    assert "which is running but did not register it" in v["title"] + v["cause"] + json.dumps(v), v


def test_wrong_token_is_refused_and_never_shown(site: NodeSite) -> None:
    wrong = secrets.token_urlsafe(24)
    bad = site.dir / "wrong.token"
    bad.write_text(wrong + "\n")
    _code, doc, text = site.diagnose(site.central_config(site.tls, token_file=bad, name="wrong.yaml",
                                                        host_node=True), "--to", "leaf", command="message")
    node = result(doc, "worker.node")
    assert node["status"] == "UNKNOWN" and node["reason"] == "auth", node
    assert "refused the token (403" in node["message"]
    assert any("did not answer" in n for n in doc["notes"]), doc["notes"]
    assert wrong not in text and site.token not in text
    assert not any(r["id"] == "worker.process" for r in doc["results"])  # nothing is claimed of the process
    # The host's node refuses it too: said once, and nothing is claimed of the host's process or log.
    host = result(doc, "agentrpc.node")
    assert host["status"] == "UNKNOWN" and host["reason"] == "auth", host
    assert not any(r["id"] in ("agentrpc.process", "logs.host") for r in doc["results"]), doc["results"]
    assert len([n for n in doc["notes"] if "hub" in n and "node" in n]) == 1, doc["notes"]


def test_missing_token_file_is_one_clear_line(site: NodeSite) -> None:
    _code, doc, _text = site.diagnose(site.central_config(site.tls, token_file=site.dir / "absent.token",
                                                        name="absent.yaml"), "leaf")
    node = result(doc, "worker.node")
    assert node["reason"] == "auth" and "cannot read the bearer token in" in node["message"] and "(file not found)" in node["message"], node


def test_no_token_and_plain_http_are_refused_by_the_node(site: NodeSite) -> None:
    """The node itself, asked from the central host without a token, over TLS verified against the CA."""
    script = (
        "import ssl, sys, urllib.request, urllib.error\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
        "try:\n"
        "    urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code, e.headers.get('WWW-Authenticate'), e.read().decode())\n")
    url = f"{site.node_url}/node/processes?worker=wb"
    out = subprocess.run(site.hosts.argv(site.hosts.central_ns, sys.executable, "-c", script, url,
                                         str(site.tls.ca)),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("401 Bearer"), out.stdout + out.stderr
    assert "bearer token" in out.stdout and site.token not in out.stdout
    # A client that does not trust the node's CA fails the handshake: TLS is on, said as `tls`.
    _code, doc, _ = site.diagnose(central(site, name="noca.yaml", ca=False), "leaf")
    assert result(doc, "worker.node")["reason"] == "tls", result(doc, "worker.node")


def test_the_remote_host_and_machine_are_seen_by_the_node(site: NodeSite) -> None:
    """The AgentRpc host runs on the worker's machine: its process (state, start time) and its log come from the
    node (`options.node` of the agentrpc target); the machine layers are measured there (/node/machine)."""
    label = f"{site.hosts.worker_ip}:{NODE_PORT}"
    code, doc, _ = site.diagnose(central(site, name="hostnode.yaml", host_node=True), "--to", "leaf",
                                 command="message")
    assert doc["findings"][0]["id"] == "healthy", doc["findings"][0]
    node = result(doc, "agentrpc.node")
    assert node["status"] == "OK" and node["facts"]["host"] == "hub", node
    proc = result(doc, "agentrpc.process")
    assert proc["status"] == "OK" and f"on node {label}" in proc["facts"]["located_by"], proc
    assert [p["pid"] for p in proc["facts"]["processes"]] == [site.procs["host"].pid], proc
    logs = result(doc, "logs.host")
    assert logs["facts"]["files"] == [f"{label}:{site.dir / 'host.log'}"], logs
    for check_id, metric in (("machine.memory", "memory_used_percent"), ("machine.starvation",
                                                                         "run_queue_wait_percent")):
        m = result(doc, check_id)
        assert m["target"] == f"node {label}" and metric in m["metrics"] and m["reason"] is None, m
    assert result(doc, "machine.starvation")["facts"]["pids"] == [site.procs["wb"].pid]
    assert not any("not measured" in n or "not this machine" in n for n in doc["notes"]), doc["notes"]
    assert code == 0


def _relay_with_wb_frozen(site: NodeSite, config: Path) -> tuple[int, dict[str, Any]]:
    """`diagnose message --to relay` while leaf's worker wb is stopped (SIGSTOP on its host), resumed after."""
    import psutil

    pid = site.procs["wb"].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, what="wb to stop")
        code, doc, _ = site.diagnose(config, "--to", "relay", command="message")
    finally:
        os.kill(pid, signal.SIGCONT)
    return code, doc


def test_a_relay_waiting_on_a_frozen_remote_leaf_is_the_broken_hop(site: NodeSite) -> None:
    """relay (on wr) calls leaf (on wb), frozen; the host, remote too, logs nothing. relay's metrics show the
    call waiting, leaf's node shows its worker stopped: the ping is cut short there, and the hop is the verdict
    (it was `overload` while a remote worker's process could not be asked)."""
    code, doc = _relay_with_wb_frozen(site, central(site, name="relay.yaml", host_node=True, relay_metrics=True))
    v = doc["findings"][0]
    assert (code, v["id"]) == (2, "downstream-broken"), v
    assert v["title"].startswith("relay waits on leaf: worker wb is frozen (process state T"), v["title"]
    ping = result(doc, "agent.ping")["facts"]
    assert "leaf's worker wb (pid" in ping.get("cut_short_by_call", ""), ping


def test_an_uninstrumented_relay_waiting_on_a_frozen_remote_leaf(site: NodeSite) -> None:
    """The same fault without relay's metrics: the lead is relay's own worker log, read on its node (AutoGen's
    runtime logs at INFO the request it sent to leaf, and no response came); leaf's node shows it stopped."""
    code, doc = _relay_with_wb_frozen(site, central(site, name="relay-plain.yaml", host_node=True))
    v = doc["findings"][0]
    assert (code, v["id"]) == (2, "downstream-broken"), v
    assert v["title"].startswith("relay waits on leaf: worker wb is frozen (process state T"), v["title"]
    calls = result(doc, "hop.calls")["facts"]
    assert calls["metrics"] == "not configured", calls
    (lead,) = calls["leads"]
    assert lead["agent_type"] == "leaf" and lead["waiting"] == 0 and lead["host_log"] == [], lead
    assert any("from relay to leaf sent, no response logged" in x for x in lead["worker_log"]), lead


def test_publish_receivers_are_seen_by_their_node(site: NodeSite) -> None:
    _code, doc, _ = site.diagnose(central(site, name="publish.yaml"), "--topic", "plain.events", command="publish")
    rec = result(doc, "publish.receiver")["facts"]
    assert rec["worker"] == "wb" and rec["pid"] == site.procs["wb"].pid, rec
    assert "on node" in rec["located_by"], rec


def test_killed_remote_worker_is_dead(site: NodeSite) -> None:
    """Last: the worker does not come back."""
    proc = site.procs["wb"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    code, doc, _ = site.diagnose(central(site), "leaf")
    v = doc["findings"][0]
    assert (code, v["id"]) == (2, "worker-dead"), v
    facts = result(doc, "worker.process")["facts"]
    assert facts["processes"] == [] and "on node" in facts["located_by"], facts
    # relay, without its metrics, waits on leaf, which the host can no longer deliver to: the lead is the host's
    # log during the ping, read on its node.
    code, doc, _ = site.diagnose(central(site, name="relay-dead.yaml", host_node=True), "--to", "relay",
                                 command="message")
    v = doc["findings"][0]
    assert (code, v["id"]) == (2, "downstream-broken"), v
    lead = result(doc, "hop.calls")["facts"]["leads"][0]
    assert lead["agent_type"] == "leaf" and any("Agent leaf not found" in x for x in lead["host_log"]), lead



def test_a_restarted_remote_host_orphans_its_workers(site: NodeSite) -> None:
    """Last, after the kill: the AgentRpc host is restarted on its machine, wf keeps running with none of its
    types registered. host-restarted needs the host's start time after the worker's: both come from the node."""
    host = site.procs["host"]
    host.terminate()
    host.wait(timeout=30)
    (site.dir / "host.log").unlink()
    site.start_host()
    wait_for(lambda: site.procs["wf"].poll() is None, what="wf to outlive its host")
    code, doc, _ = site.diagnose(central(site, name="restart.yaml", host_node=True), "failing")
    v = doc["findings"][0]
    assert (code, v["id"]) == (2, "host-restarted"), v
    workers = result(doc, "cluster.workers")["facts"]
    rows = {r["worker"]: r for r in workers["workers"]}
    assert "wf" in workers["orphans"] and workers["host_started_at"] > rows["wf"]["started_at"], workers
    assert result(doc, "agentrpc.process")["facts"]["processes"][0]["pid"] == site.procs["host"].pid
