"""The owning worker's evidence when it runs on another machine (`options.node` of its worker target): asked
of the `agentops serve --node` there (core/nodeclient.py), so `diagnose message/agent` run from anywhere keeps
its process and log evidence.

    worker.node      the node answered for the worker (or refused, timed out, failed TLS: said, UNKNOWN)
    worker.process   the same layer as for a local worker (Layers.owner_view), from the node's process view
    logs.worker      the same scan (logscan.scan) over the node's records: those written since the offsets the
                     node reported when the owner was viewed and when the ping was sent (during the probe), and
                     the timestamped ones of the window before
    worker.cpu       CPU used between the two process views of the node

Reads are fetched before the (synchronous) scan runs: RemoteLogs answers the scan's reads from what the node
sent, keyed by each read's arguments. A log file is named `NODE:PATH` in the evidence."""

from __future__ import annotations

import asyncio
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentops.core.model import Observation
from agentops.core.nodeclient import NodeClient, NodeError
from agentops.diagnose import logscan

if TYPE_CHECKING:
    from agentops.core.cluster import WorkerSpec
    from agentops.core.osproc import Located
    from agentops.diagnose.layers import Layers

ReadKey = tuple[str, int | None, int | None, float | None]
WATCH_EVERY_S = 0.3  # how often the ping's log watch asks a remote owner's node (each ask bounded by it too)


class RemoteLogs:
    """A LogAccess over a node's answers (logscan.LogAccess): what was not fetched is a problem, not empty."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.answers: dict[ReadKey, tuple[list[Any], str | None]] = {}

    def size(self, path: Path) -> int:
        return self.sizes.get(str(path), 0)

    def read(self, path: Path, *, start: int | None = None, end: int | None = None, since: float | None = None,
             log_format: str | None = None) -> tuple[list[Any], str | None]:
        return self.answers.get((str(path), start, end, since), ([], f"{path}: not read from the node"))


class NodeEvidence:
    """One diagnosis' nodes: a client per node, each remote owner's log files and their offsets."""

    def __init__(self, layers: Layers) -> None:
        self.layers = layers
        self.clients: dict[str, NodeClient] = {}
        self.remote: dict[str, RemoteLogs] = {}  # per worker name, once its node answered
        self.paths: dict[str, str] = {}  # NODE:PATH -> PATH on the node
        self.watched_at = 0.0

    def client(self, worker: WorkerSpec) -> NodeClient:
        assert worker.node is not None
        key = f"{worker.node.url}|{worker.node.worker}"
        if key not in self.clients:
            self.clients[key] = NodeClient(worker.node)
        return self.clients[key]

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients.values()), return_exceptions=True)

    def _key(self, worker: WorkerSpec, path: str) -> str:
        assert worker.node is not None
        key = f"{worker.node.label}:{path}"
        self.paths[key] = path
        return key

    def _timeout(self, cap: float) -> float:
        return max(0.05, self.layers.ev.deadline.budget(cap, 0.0))

    # ------------------------------------------------------------------------------------ the process

    async def view_owner(self, owner: WorkerSpec, owner_client: str | None, mapped_by: str) -> None:
        """`worker.node`, then `worker.process` from the node's view, and the log offsets the scan starts at."""
        assert owner.node is not None
        node, client = owner.node, self.client(owner)
        seen: dict[str, Any] = {}

        async def measure(timeout: float) -> Observation:
            started = time.perf_counter()
            try:
                found = await client.processes(self.layers.host_port, self.layers.host_ips, timeout)
                sizes = await client.log_files(max(0.05, timeout - (time.perf_counter() - started)))
            except NodeError as exc:
                return Observation(facts={"node": node.label, "worker": node.worker}, reason=exc.reason,
                                   message=exc.message)
            seen.update(found=found, sizes=sizes)
            ms = (time.perf_counter() - started) * 1000.0
            return Observation(metrics={"answer_ms": round(ms, 3)},
                               facts={"node": node.label, "worker": node.worker, "log_files": sorted(sizes)},
                               message=f"node {node.label} answered for worker {owner.name} in {ms:.0f} ms: "
                                       f"{len(found.alive)} live process(es), {len(sizes)} log file(s)")

        result = await self.layers.ev.layer(self.layers.spec("worker.node"), owner.name, measure, cap=2.0)
        if "found" not in seen:
            self.layers.ev.note(f"worker {owner.name} runs on node {node.label}, which did not answer "
                                f"({result.message}): its process state and log were not checked")
            return
        remote = self.remote[owner.name] = RemoteLogs()
        for path, size in seen["sizes"].items():
            key = self._key(owner, path)
            remote.sizes[key] = size
            self.layers.start_offsets.setdefault(key, size)
        self.layers.owner_view(owner, seen["found"], owner_client, mapped_by, time.perf_counter())

    async def locate_all(self, workers: list[WorkerSpec]) -> dict[str, Located]:
        """{worker name: its processes on its node} for the workers with a node, asked at once (cluster.workers);
        a node that does not answer leaves its worker out, noted."""
        remote = [w for w in workers if w.node is not None]
        if not remote:
            return {}
        timeout = self._timeout(1.0)
        answers = await asyncio.gather(*(self.client(w).processes(self.layers.host_port, self.layers.host_ips,
                                                                  timeout) for w in remote), return_exceptions=True)
        found: dict[str, Located] = {}
        for worker, answer in zip(remote, answers, strict=True):
            if isinstance(answer, NodeError):
                self.layers.ev.note(f"cluster.workers: worker {worker.name}: {answer.message}: not checked")
            elif isinstance(answer, BaseException):
                raise answer
            else:
                found[worker.name] = answer
        return found

    async def note_offsets(self, owner: WorkerSpec | None, offsets: dict[str, int]) -> None:
        """Where the remote owner's logs end now (before the ping): records after it were written during it."""
        if owner is None or owner.node is None or owner.name not in self.remote:
            return
        try:
            sizes = await self.client(owner).log_files(self._timeout(0.5))
        except NodeError as exc:
            self.layers.ev.note(f"worker {owner.name}'s log offsets before the ping: {exc.message}")
            return
        for path, size in sizes.items():
            offsets[self._key(owner, path)] = size

    # ------------------------------------------------------------------------------------------ logs

    async def log_sources(self, owner: WorkerSpec) -> list[tuple[Any, ...]]:
        """The `logs.worker` source of Layers.logs for a remote owner, its reads fetched from the node."""
        assert owner.node is not None
        remote = self.remote.get(owner.name)
        if remote is None:
            return []  # noted when the node did not answer
        keys = sorted(remote.sizes)
        if not keys:
            self.layers.ev.note(f"worker {owner.name}'s node {owner.node.label} lists no log file for it "
                                f"(options.logs of its worker target there): its log was not read")
            return []
        client, timeout = self.client(owner), self._timeout(1.0)
        await asyncio.gather(*(self._fetch(client, remote, key, timeout) for key in keys))
        patterns = [f"{owner.node.label}:{p}" for p in (owner.logs or ["(the node's options.logs)"])]
        return [("logs.worker", owner.name, [Path(k) for k in keys], patterns, owner.log_format, logscan.WORKER,
                 remote)]

    async def _fetch(self, client: NodeClient, remote: RemoteLogs, key: str, timeout: float) -> None:
        """The reads logscan.scan makes of one file: since the start offset, the window before it, its tail."""
        start, since = self.layers.start_offsets.get(key, 0), self.layers.since
        during = await self._answer(client, remote, key, timeout, start=start)
        remote.sizes[key] = during.get("size", remote.sizes.get(key, 0))
        tail = max(0, remote.sizes[key] - logscan.LEVEL_BYTES)
        reads: list[tuple[ReadKey, dict[str, Any]]] = [((key, None, start, since), {"end": start, "since": since})]
        if tail != start:
            reads.append(((key, tail, None, None), {"start": tail}))
        answers = await asyncio.gather(*(self._answer(client, remote, key, timeout, **kw) for _, kw in reads))
        for (read_key, _), answer in zip(reads, answers, strict=True):
            remote.answers[read_key] = answer["parsed"]
        remote.answers[(key, start, None, None)] = during["parsed"]

    async def _answer(self, client: NodeClient, remote: RemoteLogs, key: str, timeout: float,
                      **range_: Any) -> dict[str, Any]:
        from agentops.logs.records import Record

        names = {f.name for f in fields(Record)}
        try:
            doc = await client.log_records(self.paths[key], timeout, **range_)
        except NodeError as exc:
            return {"parsed": ([], f"{key}: {exc.message}")}
        records = []
        for raw in doc.get("records", []):
            if isinstance(raw, dict):
                record = Record(**{k: v for k, v in raw.items() if k in names})
                record.source = key
                records.append(record)
        # Past the node's cap the latest records were kept: the scan reports the last 20 signals anyway.
        return {"parsed": (records, doc.get("problem")), "size": int(doc.get("size", 0))}

    async def watch(self, owner: WorkerSpec | None, agent_type: str, key: str,
                    offsets: dict[str, int]) -> logscan.Signal | None:
        """One look at a remote owner's log during the ping (at most every WATCH_EVERY_S): the record proving
        the probe's message failed, if the node has one (Layers._watch_logs, which runs until the ping ends)."""
        if owner is None or owner.node is None or owner.name not in self.remote:
            return None
        now = time.monotonic()
        if now - self.watched_at < WATCH_EVERY_S:
            return None
        self.watched_at = now
        client, remote = self.client(owner), self.remote[owner.name]
        for path_key in sorted(remote.sizes):
            offset = offsets.get(path_key, 0)
            answer = await self._answer(client, remote, path_key, WATCH_EVERY_S, start=offset)
            records, problem = answer["parsed"]
            if problem is None:
                sig = logscan.fatal_signal(records, agent_type, key, role=logscan.WORKER, probe_offset=offset)
                if sig is not None:
                    return sig
        return None

    # --------------------------------------------------------------------------------------- machine

    async def machine(self, owner: WorkerSpec) -> None:
        """`worker.cpu` from a second process view of the node; the node's machine is not measured."""
        from agentops.core.runner import judge

        assert owner.node is not None
        layers = self.layers
        found = layers.owner_found
        layers.ev.note(f"worker {owner.name} runs on node {owner.node.label}: that machine's CPU starvation and "
                       f"memory were not measured (a node answers process views, logs and profile samples)")
        if found is None or not found.alive or layers.owner_cpu is None:
            return
        pid, started = found.alive[0].pid, time.perf_counter()
        try:
            fresh = await self.client(owner).processes(layers.host_port, layers.host_ips, self._timeout(0.5))
        except NodeError as exc:
            layers.ev.note(f"worker {owner.name}'s CPU: {exc.message}")
            return
        view = next((v for v in fresh.alive if v.pid == pid), None)
        obs = layers.cpu_since_view(view.cpu_seconds) if view is not None else None
        if obs is not None:
            layers.ev.record(judge(layers.spec("worker.cpu"), owner.name, obs, time.perf_counter() - started))
