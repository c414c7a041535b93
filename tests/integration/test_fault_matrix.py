"""The fault matrix: every kind of fault against every kind of target, through the real CLI, under a global
deadline. Each cell is a target in one agentops.yaml; all cells run concurrently in one `agentops health`
run, repeated, so the matrix costs a few deadlines of wall time, not one per cell.

For every cell it asserts the failure reason, the status (CRITICAL: each check's default on_failure and
on_timeout), that the same fault gives the same status and reason on every run, and that each run ends by
its deadline + 10 %, measured two ways: inside the process (the report's duration_s, which counts from when
agentops started) and from outside (the child's wall time minus the start-up of the same interpreter doing
nothing, measured right before, so a busy machine's slow process start does not count against agentops).

Faults, all made for real:
  refused     a loopback port nobody listens on
  blackhole   a socket that accepts and never answers (SilentListener)
  slow        the real server behind a relay that holds every byte for a minute (a link slower than any
              timeout): unlike the blackhole, the server itself is there and healthy
  credentials a wrong password (redis, postgres); a server answering 401 (http, metrics)
  tls-to-plain  a TLS client at a plain port
  plain-to-tls  a plain client at a TLS port
  nxdomain    a name under .invalid (RFC 6761: never resolves)

Cells that make no sense for a kind are not in the matrix:
  - net.tcp has no credentials and no TLS, and its measurement is the TCP connect, which a blackhole and
    a slow link complete in the kernel (net.tcp rightly says OK): only refused and nxdomain apply.
  - grpc.health and agentrpc carry no credentials (the AutoGen host authenticates nobody): skipped.
  - postgres negotiates TLS inside its own protocol on one port and accepts plain clients unless pg_hba
    says otherwise (then it is an auth refusal): plain-to-tls is skipped.
  - redis-server on a plain port takes a TLS ClientHello for the start of an inline command and waits for
    its end without a word: to the client that is a TLS handshake without an answer, exactly a blackhole,
    so that cell accepts timeout beside tls.
  - agentrpc's plain-to-tls cell runs against autogen-ext's real host servicer behind TLS
    (tests/fixtures/agentrpc_tls.py): autogen-ext's own host only ever opens a plaintext port.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.common import REPO, SilentListener, free_port

DEADLINE_S = 4.0
RUNS = 3
MARGIN = 1.10
NXDOMAIN = "agentops-fault-matrix.invalid"
WRONG_PASSWORD = "not-the-password"


class SlowRelay:
    """A TCP relay to a real server that holds every byte it relays for `hold_s` before passing it on: the
    server is up and healthy, the link to it is slower than any check's timeout."""

    def __init__(self, upstream_port: int, hold_s: float = 60.0) -> None:
        self.upstream_port = upstream_port
        self.hold_s = hold_s
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._socks += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self._stop.wait(self.hold_s):
                    return
                dst.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for s in self._socks:
            s.close()


@dataclass
class Cell:
    kind: str  # the probe
    fault: str
    target: dict[str, Any]
    reasons: set[str]  # the reason the cell must report (a set where two words are both right)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.kind.replace('.', '-')}-{self.fault}"


TARGET_KIND = {"net.tcp": "tcp", "redis": "redis", "postgres": "postgres", "http": "http",
               "metrics": "metrics", "grpc.health": "grpc", "agentrpc": "agentrpc"}
METRICS_PARAMS = {"compute": [{"name": "up", "series": "up"}]}


def _address(kind: str, host: str, port: int, *, https: bool = False) -> str:
    if kind in ("http", "metrics"):
        return f"{'https' if https else 'http'}://{host}:{port}/{'metrics' if kind == 'metrics' else 'health'}"
    return f"{host}:{port}"


@pytest.fixture(scope="module")
def silent() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def tls_servers(pki: Any, tls_files: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """TLS-only servers for the plain-to-tls cells: redis-server (TLS port only), HTTPS, gRPC over TLS, the
    AutoGen host servicer over TLS."""
    from tests.fixtures.agentrpc_tls import AgentRpcTlsHost
    from tests.fixtures.servers import GrpcHealthServer, HttpTestServer
    from tests.fixtures.services import start_redis

    redis = start_redis(tmp_path_factory.mktemp("redis-tls"), tls=tls_files)
    https = HttpTestServer(pki.issue("matrix-https", days=30))
    grpc_tls = GrpcHealthServer(cert=pki.issue("matrix-grpc", days=30))
    agentrpc_tls = AgentRpcTlsHost(tls_files)
    yield {"redis": redis.port, "http": https.port, "metrics": https.port, "grpc.health": grpc_tls.port,
           "agentrpc": int(agentrpc_tls.tls.rsplit(":", 1)[1])}
    agentrpc_tls.stop()
    grpc_tls.stop()
    https.stop()
    redis.stop()


@pytest.fixture(scope="module")
def plain_servers(redis_factory_module: Any, postgres_server: Any, grpc_health_server: Any,
                  http_server: Any) -> dict[str, int]:
    """Healthy plain servers of each kind (redis with a password, for the credentials cell)."""
    http_server.route("/health", body="ok\n")
    http_server.route("/metrics", body="up 1\n")
    http_server.route("/denied/health", status=401, body="who are you\n")
    http_server.route("/denied/metrics", status=401, body="who are you\n")
    return {"redis": redis_factory_module.port, "postgres": postgres_server.port,
            "grpc.health": grpc_health_server.port, "http": http_server.port, "metrics": http_server.port}


@pytest.fixture(scope="module")
def redis_factory_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.fixtures.services import start_redis

    server = start_redis(tmp_path_factory.mktemp("redis-auth"), password="the-password")
    yield server
    server.stop()


def build_cells(plain: dict[str, int], tls: dict[str, int], silent_port: int, lab_port: int,
                tls_ca: Path, relays: list[SlowRelay]) -> list[Cell]:
    cells: list[Cell] = []
    refused = free_port()

    def target(kind: str, address: str, **extra: Any) -> dict[str, Any]:
        return {"kind": TARGET_KIND[kind], "address": address, **extra}

    for kind in TARGET_KIND:
        cells.append(Cell(kind, "refused", target(kind, _address(kind, "127.0.0.1", refused)), {"connect"}))
        cells.append(Cell(kind, "nxdomain", target(kind, _address(kind, NXDOMAIN, 80)), {"dns"}))
        if kind != "net.tcp":
            cells.append(Cell(kind, "blackhole", target(kind, _address(kind, "127.0.0.1", silent_port)),
                              {"timeout"}))
            upstream = lab_port if kind == "agentrpc" else plain[kind]
            relay = SlowRelay(upstream)
            relays.append(relay)
            cells.append(Cell(kind, "slow", target(kind, _address(kind, "127.0.0.1", relay.port)), {"timeout"}))
    for kind in ("redis", "postgres"):
        extra: dict[str, Any] = {"password_env": "MATRIX_WRONG_PASSWORD"}
        if kind == "postgres":
            extra["username"] = "postgres"
        cells.append(Cell(kind, "credentials", target(kind, _address(kind, "127.0.0.1", plain[kind]), **extra),
                          {"auth"}))
    for kind in ("http", "metrics"):
        url = _address(kind, "127.0.0.1", plain[kind]).replace("/health", "/denied/health").replace(
            "/metrics", "/denied/metrics")
        cells.append(Cell(kind, "credentials", target(kind, url), {"auth"}))
    tls_on = {"enabled": True, "ca": str(tls_ca)}
    for kind in ("redis", "postgres", "http", "metrics", "grpc.health", "agentrpc"):
        if kind in ("http", "metrics"):
            t = target(kind, _address(kind, "127.0.0.1", plain[kind], https=True), tls={"ca": str(tls_ca)})
        elif kind == "postgres":
            t = target(kind, _address(kind, "127.0.0.1", plain[kind]), tls=tls_on, options={"sslmode": "require"})
        else:
            t = target(kind, _address(kind, "127.0.0.1", lab_port if kind == "agentrpc" else plain[kind]), tls=tls_on)
        cells.append(Cell(kind, "tls-to-plain", t, {"tls", "timeout"} if kind == "redis" else {"tls"}))
    for kind in ("redis", "http", "metrics", "grpc.health", "agentrpc"):
        host = "localhost" if kind in ("http", "metrics") else "127.0.0.1"
        cells.append(Cell(kind, "plain-to-tls", target(kind, _address(kind, host, tls[kind])), {"tls", "protocol"}))
    for cell in cells:
        if cell.kind == "metrics":
            cell.params = METRICS_PARAMS
    return cells


def write_matrix_config(path: Path, cells: list[Cell]) -> Path:
    import yaml

    doc = {"version": 1, "packs": [], "defaults": {"retries": 1, "retry_delay": 1.0},
           "targets": [{"name": c.name, **c.target} for c in cells],
           "checks": [{"id": f"matrix.{c.name}", "probe": c.kind, "target": c.name, "params": c.params,
                       **({"critical": {"up": "< 1"}} if c.kind == "metrics" else {})} for c in cells]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def interpreter_startup_s() -> float:
    """The wall time of this interpreter starting and exiting with nothing to do (best of three)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
        best = min(best, time.monotonic() - t0)
    return best


def run_health(config: Path) -> tuple[dict[str, Any], float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "NO_COLOR": "1", "MATRIX_WRONG_PASSWORD": WRONG_PASSWORD}
    env.pop("AGENTOPS_CONFIG", None)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "agentops", "health", "-c", str(config), "-o", "json",
                           "--timeout", str(DEADLINE_S)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=REPO, stdin=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout), wall, proc


def test_every_fault_against_every_target_kind(tmp_path: Path, plain_servers: dict[str, int],
                                               tls_servers: dict[str, int], silent: SilentListener,
                                               lab: Any, tls_files: Any) -> None:
    relays: list[SlowRelay] = []
    try:
        cells = build_cells(plain_servers, tls_servers, silent.port, lab.port, tls_files.ca, relays)
        config = write_matrix_config(tmp_path / "agentops.yaml", cells)
        seen: dict[str, set[tuple[str, str]]] = {c.name: set() for c in cells}
        for _ in range(RUNS):
            startup = interpreter_startup_s()
            report, wall, proc = run_health(config)
            assert proc.returncode == 2, proc.stderr
            assert report["duration_s"] <= DEADLINE_S * MARGIN, report["duration_s"]
            assert wall - startup <= DEADLINE_S * MARGIN, (wall, startup)
            by_target = {r["target"]: r for r in report["results"]}
            for c in cells:
                r = by_target[c.name]
                seen[c.name].add((r["status"], r["reason"]))
        wrong = {c.name: sorted(seen[c.name]) for c in cells
                 if len(seen[c.name]) != 1 or not all(s == "CRITICAL" and why in c.reasons for s, why in seen[c.name])}
        assert not wrong, "cells with the wrong or an unsteady status/reason:\n" + "\n".join(
            f"  {name}: {got} (expected CRITICAL with {sorted(next(c for c in cells if c.name == name).reasons)})"
            for name, got in wrong.items())
        assert WRONG_PASSWORD not in json.dumps(report)
    finally:
        for relay in relays:
            relay.close()
