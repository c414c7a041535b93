"""The accuracy corpus: every failure mode of the diagnosis that concerns a running cluster, produced for real on
plain AutoGen clusters (tests/fixtures/plain_cluster.py) in each logging setup, and diagnosed with the real CLI
(`agentops diagnose message|agent|publish -c <the user's config> -o json`, a child process).

One cluster per logging setup runs the whole sequence (`run_setup`): faults that can be undone are undone
(SIGCONT), only what a fault broke is restarted (the killed worker), and the host faults come last (the host is
frozen, then killed, then started again with its workers left orphaned). The setups share no state, so
`run_corpus` runs them concurrently. The test (tests/corpus/test_accuracy.py) and the benchmark
(bench/bench_diagnose_accuracy.py) both read the outcomes through `judge` and `EXPECTED`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures.common import run_cli
from tests.fixtures.plain_cluster import LOG_SETUPS, FullBacklogListener, PlainCluster

MISSING = "evidence-missing: "

# The modes, in the order each setup produces them (healthy first: no error line may colour it).
MODES = ("healthy", "type-not-registered", "message-too-large", "handler-raised", "handler-no-reply",
         "payload-invalid", "overload", "nobody-subscribes", "dns", "not-agentrpc", "network",
         "request-id-collision", "worker-frozen", "worker-dead", "downstream-broken", "sender-disconnected",
         "worker-start-failed", "host-unresponsive", "host-down", "host-restarted")

# Modes whose target type stays healthy: the mode must be among the findings (not the verdict), and the healthy
# owner must never be called dead.
BESIDE_HEALTHY = {"worker-start-failed"}

_NO_LOG = "worker log (none configured)"


def _expected(setup: str) -> dict[str, str]:
    """EXPECTED for one setup: the mode id, or MISSING + the evidence the setup cannot carry (short: it is a
    table cell; docs/diagnose.md says why each is missing)."""
    cells = {m: m for m in MODES}
    if setup == "warning":
        cells.update({
            # A slow handler logs nothing above INFO; what tells it took the request is AutoGen's INFO record.
            "overload": MISSING + "worker's INFO 'Processing request' (level WARNING), no metrics",
            # What WARNING keeps, 'Unknown type NoneType', is also what a handler returning None leaves.
            "payload-invalid": MISSING + "worker's INFO 'Unhandled message' (level WARNING)",
        })
    if setup == "default":
        cells.update({
            # logging's default layout has no time: a collision logged before the diagnosis cannot be placed
            # in the --since window (a record read from the probe's own offset could be).
            "request-id-collision": MISSING + "host log's time stamps (the default layout has none)",
        })
    if setup == "nolog":
        cells.update({
            "overload": MISSING + _NO_LOG + ", no metrics",
            "handler-no-reply": MISSING + _NO_LOG,
            "payload-invalid": MISSING + _NO_LOG,
            "request-id-collision": MISSING + "host log (none configured)",
            "downstream-broken": MISSING + "host log (none configured), no metrics",
            "worker-start-failed": MISSING + "worker log and stderr (none configured)",
        })
    return cells


# What a diagnosis may say where the setup cannot carry a mode's evidence: that it cannot tell (`unexplained`),
# or what is still true of the target. Default: only `unexplained`.
WITHOUT_EVIDENCE: dict[str, frozenset[str]] = {
    # The worker type replies now, in lag's LAG_S: "healthy" or a late-reply "overload" are both true of it.
    "request-id-collision": frozenset({"unexplained", "healthy", "overload"}),
    # leaf's owner is healthy; the failed replica is only absent (and must not make the owner look dead).
    "worker-start-failed": frozenset({"healthy"}),
    # At WARNING both leave the same NoneType error: naming the handler is as far as the evidence goes.
    "payload-invalid": frozenset({"unexplained", "handler-no-reply"}),
}


EXPECTED: dict[tuple[str, str], str] = {(m, s): e for s in LOG_SETUPS for m, e in _expected(s).items()}


@dataclass
class Outcome:
    mode: str
    setup: str
    command: list[str]
    code: int = 0
    verdict: str | None = None
    findings: list[str] = field(default_factory=list)
    title: str = ""
    evidence: list[str] = field(default_factory=list)
    not_ok: list[tuple[str, str]] = field(default_factory=list)  # (result id, status) of every result not OK
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    duration_s: float | None = None
    error: str = ""  # the CLI printed no report, or producing the fault failed

    def said(self) -> str:
        return self.error or f"{self.verdict}: {self.title}"


def judge(mode: str, expect: str, out: Outcome) -> bool:
    """Did the diagnosis say what EXPECTED says it must?"""
    if out.error:
        return False
    if expect.startswith(MISSING):
        # The setup cannot carry the mode's evidence: the diagnosis must say it cannot tell, not guess a cause.
        allowed = WITHOUT_EVIDENCE.get(mode, frozenset({"unexplained"}))
        return out.verdict in allowed and not (mode in BESIDE_HEALTHY and "worker-dead" in out.findings)
    if mode == "healthy":
        # No false alarm: one finding, and only a busy machine (this one is shared) may honestly WARN.
        return (out.verdict == "healthy" and out.findings == ["healthy"]
                and all(r.startswith("machine.") and st == "WARNING" for r, st in out.not_ok))
    if mode in BESIDE_HEALTHY:
        return expect in out.findings and out.verdict != "worker-dead"
    return out.verdict == expect


# ----------------------------------------------------------------------------------------------- running

@dataclass
class Shared:
    """Servers every setup points a config at: a gRPC server that is not AgentRpc, a port that drops SYNs."""

    not_agentrpc: str
    network: str


def diagnose(mode: str, setup: str, config: Path, *args: str) -> Outcome:
    command = ["diagnose", *args[:1], "-c", str(config), "-o", "json", *args[1:]]
    out = Outcome(mode, setup, command)
    began = time.perf_counter()
    result = run_cli(*command, timeout=120)
    out.wall_s, out.code = time.perf_counter() - began, result.code
    try:
        doc: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        out.error = f"no JSON report (exit {result.code}): {result.stderr.strip()[-300:]}"
        return out
    if "Traceback" in result.stderr:
        out.error = f"traceback on stderr: {result.stderr.strip()[-300:]}"
    findings = doc.get("findings") or []
    out.findings = [f["id"] for f in findings]
    if findings:
        out.verdict, out.title, out.evidence = findings[0]["id"], findings[0]["title"], findings[0]["evidence"]
    out.not_ok = [(r["id"], r["status"]) for r in doc.get("results", []) if r["status"] != "OK"]
    out.notes, out.duration_s = list(doc.get("notes") or []), doc.get("duration_s")
    return out


def _failed(mode: str, setup: str, why: str) -> Outcome:
    return Outcome(mode, setup, [], error=why)


def run_setup(setup: str, root: Path, shared: Shared, modes: Iterable[str] = MODES) -> dict[str, Outcome]:
    """Produce each mode for real on one plain cluster with this logging setup; diagnose each. `modes` limits
    which are diagnosed (the faults still run in order where a later one depends on an earlier one)."""
    wanted = set(modes)
    c = PlainCluster(root / setup, setup)
    cfg = c.config()
    out: dict[str, Outcome] = {}

    def cell(mode: str, *args: str, config: Path = cfg) -> None:
        if mode in wanted:
            out[mode] = diagnose(mode, setup, config, *args)

    big = c.dir / "big.json"
    big.write_text(json.dumps({"text": "x" * (4 * 1024 * 1024 + 10)}))
    steps: list[tuple[str, Callable[[], None]]] = [
        ("healthy", lambda: cell("healthy", "message", "--to", "echo")),
        ("type-not-registered", lambda: cell("type-not-registered", "message", "--to", "ech")),
        ("message-too-large", lambda: cell("message-too-large", "message", "--to", "echo", "--payload-type", "Ping",
                                           "--payload", f"@{big}")),
        ("handler-raised", lambda: cell("handler-raised", "message", "--to", "failing")),
        ("handler-no-reply", lambda: cell("handler-no-reply", "message", "--to", "none")),
        ("payload-invalid", lambda: cell("payload-invalid", "message", "--to", "echo", "--payload-type", "Bogus",
                                         "--payload", '{"a": 1}')),
        ("overload", lambda: cell("overload", "message", "--to", "slow")),
        ("nobody-subscribes", lambda: cell("nobody-subscribes", "publish", "--topic", "plain.event")),
        ("dns", lambda: cell("dns", "message", "--to", "echo",
                             config=c.config(f"agentops-no-such-host.invalid:{c.port}", name="dns.yaml"))),
        ("not-agentrpc", lambda: cell("not-agentrpc", "message", "--to", "echo",
                                      config=c.config(shared.not_agentrpc, name="not-agentrpc.yaml"))),
        ("network", lambda: cell("network", "message", "--to", "echo",
                                 config=c.config(shared.network, name="network.yaml"))),
        ("request-id-collision", lambda: _collision(c, cell)),
        ("worker-frozen", lambda: _frozen(c, cell, "wb", "worker-frozen", "leaf")),
        ("worker-dead", lambda: _killed(c, cell)),
        ("worker-start-failed", lambda: _duplicate(c, cell)),
        ("host-unresponsive", lambda: _frozen(c, cell, "host", "host-unresponsive", "echo")),
        ("host-down", lambda: _host_killed(c, cell)),
    ]
    try:
        c.start()
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # a fault that could not be produced is an outcome, not a lost run
                out[name] = _failed(name, setup, f"producing the fault failed: {type(exc).__name__}: {exc}")
    except Exception as exc:
        for mode in wanted - set(out):
            out[mode] = _failed(mode, setup, f"the cluster did not start: {exc}")
    finally:
        c.stop()
    for mode in wanted - set(out):
        out[mode] = _failed(mode, setup, "not diagnosed: the step producing it failed (see its step's outcome)")
    return out


Cell = Callable[..., None]


def _collision(c: PlainCluster, cell: Cell) -> None:
    said = c.collide("lag")
    if "no reply" not in said:
        raise RuntimeError(f"the two senders did not collide: {said.strip()[-200:]}")
    cell("request-id-collision", "message", "--to", "lag", "--message-id", "1")


def _frozen(c: PlainCluster, cell: Cell, process: str, mode: str, to: str) -> None:
    """SIGSTOP `process`, diagnose a message to `to`, SIGCONT it (the one fault the corpus undoes exactly)."""
    c.freeze(process)
    try:
        cell(mode, "message", "--to", to)
    finally:
        c.resume(process)


def _killed(c: PlainCluster, cell: Cell) -> None:
    c.kill("wb")
    cell("worker-dead", "message", "--to", "leaf")
    cell("downstream-broken", "message", "--to", "relay")  # relay (on wa) waits on leaf, whose worker is dead
    cell("sender-disconnected", "message", "--to", "echo", "--from", "leaf")
    c.start_worker("wb")


def _duplicate(c: PlainCluster, cell: Cell) -> None:
    # A second replica of wb: its registration of leaf is refused ("already registered"), and it exits.
    code = c.start_worker("wb2", ("leaf",), expect_ready=False)
    if code == 0:
        raise RuntimeError("the second worker registered leaf: no duplicate registration happened")
    cell("worker-start-failed", "agent", "leaf", config=c.config(name="replica.yaml", extra_workers={"wb2": ("leaf",)}))


def _host_killed(c: PlainCluster, cell: Cell) -> None:
    c.kill("host")
    cell("host-down", "message", "--to", "echo")
    c.start_host()  # on the same port; the workers stay up, registered with the old host only
    cell("host-restarted", "message", "--to", "echo")


def run_corpus(root: Path, setups: Iterable[str] = LOG_SETUPS, *, jobs: int = 0,
               modes: Iterable[str] = MODES) -> dict[tuple[str, str], Outcome]:
    """Every setup's sequence, `jobs` at a time (0: all at once); outcomes by (mode, setup)."""
    from tests.fixtures.servers import GrpcHealthServer

    setups, modes = list(setups), list(modes)
    grpc_server, listener = GrpcHealthServer(), FullBacklogListener()
    shared = Shared(not_agentrpc=grpc_server.address, network=listener.address)
    try:
        with ThreadPoolExecutor(max_workers=jobs or len(setups)) as pool:
            done = list(pool.map(lambda s: run_setup(s, root, shared, modes), setups))
    finally:
        grpc_server.stop()
        listener.close()
    return {(mode, o.setup): o for per_setup in done for mode, o in per_setup.items()}
