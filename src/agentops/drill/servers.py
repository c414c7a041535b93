"""Throw-away Redis and PostgreSQL servers that a drill owns, so "Redis down" can be a real stop.

A drill never stops a server it did not start: the operator's Redis or PostgreSQL may hold data other things
need, and how to start it again is not agentops' knowledge. So the redis-down and postgres-down drills start
their own server on a free loopback port in a temp dir (the installed redis-server / PostgreSQL binaries),
check it as `agentops health` would, stop it for real by its pid, check again, start it again on the same port
and data dir, check once more, and remove everything at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_OS_USER = "postgres"  # PostgreSQL refuses to run as root; as root, the server runs as this user


class ServerError(Exception):
    """The drill's server could not be started: a one-line reason (missing binary, start failure)."""


def _which(name: str, extra: list[Path] | None = None) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in extra or []:
        candidate = d / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class OwnedServer:
    """A server process the drill started: what to run again, and its pid to stop."""

    kind: str  # redis | postgres
    port: int
    dir: Path
    argv: list[str]
    run_as: dict[str, object] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self, timeout: float = 30.0) -> None:
        log = (self.dir / f"{self.kind}.log").open("ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True, **self.run_as)  # type: ignore[call-overload]
        log.close()
        deadline = time.monotonic() + timeout
        while not _accepts(self.port):
            if self.proc.poll() is not None:
                tail = (self.dir / f"{self.kind}.log").read_text(errors="replace").strip().splitlines()[-1:]
                raise ServerError(f"{self.kind} exited with status {self.proc.returncode}: {' '.join(tail)}")
            if time.monotonic() > deadline:
                raise ServerError(f"{self.kind} did not accept connections on {self.address} within {timeout:g}s")
            await asyncio.sleep(0.05)

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by pid (SIGINT, PostgreSQL's fast shutdown), SIGKILL after `timeout`."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT if self.kind == "postgres" else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
            await asyncio.sleep(0.05)

    async def cleanup(self) -> None:
        await self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


async def start_redis() -> OwnedServer:
    binary = _which("redis-server")
    if binary is None:
        raise ServerError("redis-down needs redis-server on this machine (apt-get install redis-server)")
    port = _free_port()
    root = Path(tempfile.mkdtemp(prefix="agentops-drill-redis-"))
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(root), "--daemonize", "no", "--protected-mode", "yes"]
    server = OwnedServer("redis", port, root, argv)
    try:
        await server.start()
    except BaseException:
        await server.cleanup()
        raise
    return server


def _pg_bin() -> Path | None:
    extra = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    found = _which("initdb", extra)
    return Path(found).resolve().parent if found else None


async def start_postgres() -> OwnedServer:
    bin_dir = _pg_bin()
    if bin_dir is None:
        raise ServerError("postgres-down needs the PostgreSQL server binaries (initdb, postgres) on this machine")
    run_as: dict[str, object] = {}
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            raise ServerError(f"PostgreSQL refuses to run as root and there is no {PG_OS_USER!r} user to run it "
                              f"as") from None
        run_as = {"user": PG_OS_USER, "group": PG_OS_USER, "extra_groups": []}
    root = Path(tempfile.mkdtemp(prefix="agentops-drill-pg-"))
    root.chmod(0o755)
    data, sock = root / "data", root / "sock"
    for d in (data, sock):
        d.mkdir(mode=0o700)
        if run_as:
            shutil.chown(d, PG_OS_USER, PG_OS_USER)
    if run_as:
        shutil.chown(root, PG_OS_USER, PG_OS_USER)
    init = await asyncio.create_subprocess_exec(
        str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C",
        "--no-sync", cwd=root, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, **run_as)  # type: ignore[arg-type]
    _, err = await init.communicate()
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ServerError(f"initdb failed: {err.decode(errors='replace').strip().splitlines()[-1:]}")
    port = _free_port()
    argv = [str(bin_dir / "postgres"), "-D", str(data), "-c", "listen_addresses=127.0.0.1", "-c", f"port={port}",
            "-c", f"unix_socket_directories={sock}", "-c", "fsync=off", "-c", "shared_buffers=16MB",
            "-c", "max_connections=20", "-c", "logging_collector=off"]
    server = OwnedServer("postgres", port, root, argv, run_as)
    try:
        await server.start(timeout=60)
    except BaseException:
        await server.cleanup()
        raise
    return server
