"""`agentops serve --node`: what only a worker's machine can see, answered to the central agentops (its
diagnosis, core/nodeclient.py) over the serve edge. Read-only, behind a bearer token, bounded:

    /node/processes?worker=NAME[&host_port=P][&host_ip=IP…]   the worker's processes, viewed as core.osproc sees
                    them (state R/S/T, stopped since, connections to the host port, rss, cpu seconds)
    /node/logs?worker=NAME                                     its log files and their sizes
    /node/logs?worker=NAME&path=P&start=N                      the records written since byte offset N
    /node/logs?worker=NAME&path=P&since=EPOCH[&end=N]          the timestamped records since EPOCH (before N)
    /node/profile?worker=NAME&seconds=S[&interval=I][&stacks=1]  a short sample (profile/sampler.py's series),
                    with Python stacks (profile/stacks.py, py-spy) when asked
    /node/machine?worker=NAME[&seconds=S]                       the machine layers of a diagnosis, measured here:
                    the registered host.starvation measurement of the worker's processes, host.memory's

`host=NAME` in place of `worker=NAME` (processes, logs) names an `agentrpc` target of the node's config: the
AgentRpc host running on this machine, its process and its log.

A worker is named, never described: the node's own config (its `worker` targets) says how to find its
processes and which files are its logs, so a caller can read no file and see no process the node's owner did
not list. Every answer is capped (NodeOptions); a profile runs one at a time.

The readers (logs' byte-range reader, profile's sampler and stack recorder) are handed in by the CLI
(`NodeReaders`): serve, logs and profile are packages of one layer and do not import each other."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentops.core.files import FileProblem, read_file
from agentops.core.model import Observation
from agentops.core.redact import register_secret
from agentops.serve.http import Request, Response

if TYPE_CHECKING:
    from agentops.core.cluster import HostSpec, WorkerSpec
    from agentops.core.config import Config

    Subject = WorkerSpec | HostSpec

MAX_TOKEN_BYTES = 4096


@dataclass(frozen=True)
class NodeReaders:
    """What the node reads with: logs.ranges.read_records/size_of, profile.sampler.sample, profile.stacks.record."""

    read_records: Callable[..., tuple[list[Any], str | None]]
    size_of: Callable[[Path], int]
    sample: Callable[..., Awaitable[Any]]
    stacks: Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class NodeOptions:
    """The bounds of a node's answers, declared once (the client asks within them; more is cut to them)."""

    max_log_bytes: int = 1024 * 1024  # of one file per answer (the last bytes of the range asked)
    max_log_records: int = 2000  # per answer: the latest, with `truncated_records` saying how many were left
    max_profile_s: float = 10.0
    profile_interval_s: float = 0.2  # unless asked (interval=S), and never finer than max_profile_samples allow
    max_profile_samples: int = 500
    max_processes: int = 32  # views per answer (a cmdline regex that matches everything is cut)
    max_machine_s: float = 1.0  # the starvation window of /node/machine


class TokenFileError(ValueError):
    """The token file cannot be used (missing, unreadable, empty, too large)."""


def read_token(path: str) -> str:
    """The bearer token in `path` (its first line, stripped), registered with the redactor."""
    try:
        text = read_file(path, limit=MAX_TOKEN_BYTES).decode("utf-8", errors="replace")
    except FileProblem as exc:
        raise TokenFileError(f"token file {path} cannot be read ({exc})") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise TokenFileError(f"token file {path} is empty")
    register_secret(token)
    return token


def _json(status: int, doc: dict[str, Any]) -> Response:
    return Response(status, json.dumps(doc).encode(), "application/json")


def _error(status: int, text: str) -> Response:
    return _json(status, {"error": text})


class NodeRoutes:
    """The /node/ routes of one serve process. `config` returns the node's current config (the Service sets
    it: a reload changes which workers it answers for)."""

    def __init__(self, token: str, readers: NodeReaders, options: NodeOptions | None = None, *,
                 token_file: str | None = None) -> None:
        self._token = token.encode()
        self.token_file = token_file
        self.readers = readers
        self.config: Callable[[], Config] | None = None
        self.options = options or NodeOptions()
        self._profiling = asyncio.Semaphore(1)
        self.routes: dict[str, Callable[[Request], Awaitable[Response]]] = {
            "/node/processes": self._guarded(self.processes),
            "/node/logs": self._guarded(self.logs),
            "/node/profile": self._guarded(self.profile),
            "/node/machine": self._guarded(self.machine),
        }

    def _guarded(self, handler: Callable[[Request, Subject], Awaitable[Response]]
                 ) -> Callable[[Request], Awaitable[Response]]:
        hosts_too = handler in (self.processes, self.logs)  # a host is viewed and read, not profiled

        async def route(request: Request) -> Response:
            refused = self.refusal(request)
            if refused is not None:
                return refused
            name, kind = request.arg("worker"), "worker"
            if hosts_too and not name and request.arg("host"):
                name, kind = request.arg("host"), "agentrpc"
            if not name:
                return _error(HTTPStatus.BAD_REQUEST, "give ?worker=NAME (a worker target of this node's config)"
                              + (" or ?host=NAME (an agentrpc target)" if hosts_too else ""))
            subject = self.subject(name, kind)
            if subject is None:
                return _error(HTTPStatus.NOT_FOUND, f"this node's config has no {kind} target named {name[:80]!r}")
            try:
                return await handler(request, subject)
            except ValueError as exc:
                return _error(HTTPStatus.BAD_REQUEST, str(exc).splitlines()[0])

        return route

    def reread_token(self) -> str | None:
        """Read the token file again (SIGHUP: a rotated token is taken without a restart). A file that cannot
        be used keeps the token in force, and the reason is returned (the caller logs it); None when taken."""
        if self.token_file is None:
            return None
        try:
            self._token = read_token(self.token_file).encode()
        except TokenFileError as exc:
            return str(exc)
        return None

    def refusal(self, request: Request) -> Response | None:
        """401 without a bearer token, 403 with a wrong one (compared in constant time); None when accepted."""
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            response = _error(HTTPStatus.UNAUTHORIZED, "this node requires a bearer token (Authorization: Bearer …)")
            response.headers["WWW-Authenticate"] = 'Bearer realm="agentops-node"'
            return response
        if not hmac.compare_digest(value.strip().encode(), self._token):
            return _error(HTTPStatus.FORBIDDEN, "this node does not accept the bearer token given")
        return None

    def subject(self, name: str, kind: str = "worker") -> Subject | None:
        """The node's own target `name` of `kind` (worker or agentrpc), parsed; None when it has none."""
        from agentops.core.cluster import host_spec, worker_spec

        if self.config is None:
            return None
        target = self.config().targets.get(name)
        if target is None or target.kind != kind:
            return None
        return worker_spec(target) if kind == "worker" else host_spec(target)

    # ------------------------------------------------------------------------------------------ routes

    async def processes(self, request: Request, worker: Subject) -> Response:
        from agentops.core.cluster import WorkerSpec
        from agentops.core.osproc import locate
        from agentops.core.target import split_host_port

        port_arg = request.arg("host_port")
        port = _int(port_arg, "host_port", 1, 65535) if port_arg else None
        ips = set(request.query.get("host_ip", [])[:16])
        if isinstance(worker, WorkerSpec) and worker.host:
            host, host_port = split_host_port(worker.host)
            ips.add(host)
            port = port or host_port
        if not worker.process.configured:
            return _json(HTTPStatus.OK, {"worker": worker.name, "located_by": "no options.process on the node",
                                         "configured": False, "views": []})
        found = locate(worker.process, port, ips or None)
        views = [asdict(v) for v in found.views[: self.options.max_processes]]
        return _json(HTTPStatus.OK, {"worker": worker.name, "located_by": found.how, "configured": True,
                                     "views": views, "truncated": max(0, len(found.views) - len(views)),
                                     "at": time.time()})

    async def logs(self, request: Request, worker: Subject) -> Response:
        from agentops.core.cluster import WorkerSpec

        read_records, size_of = self.readers.read_records, self.readers.size_of
        files = worker.log_files()
        path_arg = request.arg("path")
        if path_arg is None:
            return _json(HTTPStatus.OK, {"worker": worker.name, "log_format": worker.log_format,
                                         "patterns": worker.logs,
                                         "files": [{"path": str(p), "size": size_of(p)} for p in files]})
        path = next((p for p in files if str(p) == path_arg), None)
        if path is None:  # only the worker's own configured logs are ever read
            kind = "worker" if isinstance(worker, WorkerSpec) else "host"
            raise ValueError(f"not a log file of {kind} {worker.name} on this node: {path_arg[:200]!r}")
        start, end, since = request.arg("start"), request.arg("end"), request.arg("since")
        if (start is None) == (end is None and since is None) or (start is not None and since is not None):
            raise ValueError("give start=OFFSET (records since it), or since=EPOCH (timestamped records since then; "
                             "with end=OFFSET, before it)")
        o = self.options
        asked = request.arg("max_bytes")
        max_bytes = min(_int(asked, "max_bytes", 1, 1 << 40) if asked else o.max_log_bytes, o.max_log_bytes)
        if start is not None:
            records, problem = read_records(path, start=_int(start, "start", 0, 1 << 62), max_bytes=max_bytes,
                                            log_format=worker.log_format)
        else:
            records, problem = read_records(path, end=_int(end, "end", 0, 1 << 62) if end is not None else None,
                                            since=_float(since, "since") if since else None,
                                            max_bytes=max_bytes, log_format=worker.log_format)
        kept = records[-o.max_log_records:]
        return _json(HTTPStatus.OK, {"worker": worker.name, "path": str(path), "size": size_of(path),
                                     "problem": problem, "records": [asdict(r) for r in kept],
                                     "truncated_records": len(records) - len(kept)})

    async def profile(self, request: Request, worker: Subject) -> Response:
        o = self.options
        seconds = min(_float(request.arg("seconds") or "1", "seconds"), o.max_profile_s)
        if not seconds > 0:
            raise ValueError("seconds must be positive")
        procs = worker.process.find() if worker.process.configured else []
        if not procs:
            return _json(HTTPStatus.OK, {"worker": worker.name, "located_by": worker.process.describe(),
                                         "pid": None})
        if self._profiling.locked():
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "a profile is running on this node; ask again after it")
        async with self._profiling:
            proc = procs[0]
            asked = request.arg("interval")
            interval = _float(asked, "interval") if asked else o.profile_interval_s
            interval = min(max(interval, seconds / o.max_profile_samples), seconds)
            # Stacks over the same window, as a local profile records them (session.run_window).
            stacks = self.readers.stacks(proc.pid, seconds) if request.arg("stacks") == "1" else None
            run, recorded = await asyncio.gather(self.readers.sample([(proc, worker.name)], seconds, interval),
                                                 stacks if stacks is not None else _none())
            series = run.processes[0]
            # The whole series (profile/sampler.py's), so the caller builds the same report as a local profile.
            doc: dict[str, Any] = {
                "worker": worker.name, "pid": proc.pid, "window_s": round(run.elapsed_s, 3), "duration_s": seconds,
                "interval_s": interval, "ticks": run.ticks, "cpu_seconds": series.cpu_seconds, "gone": series.gone,
                "series": {k: series.values[k] for k in ("cpu_percent", "rss_bytes", "threads")},
                "process": series.to_dict(), "machine": run.machine.to_dict()}
            if recorded is not None:
                doc["stacks"] = recorded.to_dict()
        return _json(HTTPStatus.OK, doc)

    async def machine(self, request: Request, worker: Subject) -> Response:
        """The diagnosis' machine layers measured on this machine, by the registered measurements: the run-queue
        wait of the worker's processes (host.starvation's, over `seconds`, at most max_machine_s) and the memory
        (host.memory's). Observations, not statuses: the caller judges them with its diagnose pack."""
        from agentops.core import registry
        from agentops.core.target import Target
        from agentops.probes.sched import measure_starvation

        seconds = min(_float(request.arg("seconds") or "0.3", "seconds"), self.options.max_machine_s)
        if not seconds > 0:
            raise ValueError("seconds must be positive")
        pids = [p.pid for p in worker.process.find()][: self.options.max_processes] if worker.process.configured \
            else []
        local = Target(name="local", kind="host", where="serve --node")
        memory = await registry.probe("host.memory").measure(local, {}, seconds + 1.0)
        doc: dict[str, Any] = {"worker": worker.name, "pids": pids, "memory": _observation(memory), "at": time.time()}
        if pids:
            doc["starvation"] = _observation(await measure_starvation(pids, seconds))
        return _json(HTTPStatus.OK, doc)


async def _none() -> None:
    return None


def _observation(obs: Observation) -> dict[str, Any]:
    return {"metrics": obs.metrics, "facts": obs.facts, "reason": obs.reason.value if obs.reason else None,
            "message": obs.message}


def _int(text: str, what: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{what}: not a whole number: {text[:40]!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{what}: out of range ({low}..{high})")
    return value


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: not a number: {text[:40]!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{what}: not a finite number")
    return value

