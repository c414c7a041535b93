"""The owning worker's and the AgentRpc host's evidence when they run on another machine (`options.node` of
their targets): asked of the `agentops serve --node` there (core/nodeclient.py), so `diagnose message/agent`
run from anywhere keeps its process and log evidence.

    worker.node      the node answered for the worker (or refused, timed out, failed TLS: said, UNKNOWN)
    worker.process   the same layer as for a local worker (Layers.owner_view), from the node's process view
    logs.worker      the same scan (logscan.scan) over the node's records: those written since the offsets the
                     node reported when the owner was viewed and when the ping was sent (during the probe), and
                     the timestamped ones of the window before
    worker.cpu       CPU used between the two process views of the node
    machine.*        the node's machine, measured there (/node/machine) and judged here
    agentrpc.node    the host's node answered for it; then agentrpc.process (Layers.host_observed) and
                     logs.host as above, and the host's records since the ping for the hop's leads (hop.py)

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
from agentops.core.osproc import Located
from agentops.diagnose import logscan

if TYPE_CHECKING:
    from agentops.core.cluster import HostSpec, WorkerSpec
    from agentops.diagnose.layers import Layers
    from agentops.logs.records import Record

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
        self.silent: set[str] = set()  # subjects whose node did not answer: noted once, not asked again
        self.watched_at = 0.0
        self.host_records: list[Record] = []  # the remote host's records since the ping (refresh_host_records)

    def client(self, worker: WorkerSpec | HostSpec) -> NodeClient:
        assert worker.node is not None
        key = f"{worker.node.url}|{worker.node.worker}"
        if key not in self.clients:
            self.clients[key] = NodeClient(worker.node)
        return self.clients[key]

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients.values()), return_exceptions=True)

    def _key(self, worker: WorkerSpec | HostSpec, path: str) -> str:
        assert worker.node is not None
        key = f"{worker.node.label}:{path}"
        self.paths[key] = path
        return key

    def _timeout(self, cap: float) -> float:
        return max(0.05, self.layers.ev.deadline.budget(cap, 0.0))

    # ------------------------------------------------------------------------------------ the process

    async def view_owner(self, owner: WorkerSpec, owner_client: str | None, mapped_by: str) -> None:
        """`worker.node`, then `worker.process` from the node's view, and the log offsets the scan starts at."""
        found = await self._view(owner, "worker.node", f"worker {owner.name}", "worker", cap=2.0,
                                 host_port=self.layers.host_port, host_ips=self.layers.host_ips)
        if found is not None:
            self.layers.owner_view(owner, found, owner_client, mapped_by, time.perf_counter())

    async def view_host(self, host: HostSpec) -> None:
        """`agentrpc.node`, then `agentrpc.process` from the node's view of the host (its start time is what
        host-restarted compares with the workers'), and the offsets its log's scan starts at."""
        found = await self._view(host, "agentrpc.node", f"the AgentRpc host {host.name}", "host", cap=1.5)
        if found is not None:
            self.layers.host_observed(found, time.perf_counter())

    async def _view(self, subject: WorkerSpec | HostSpec, check_id: str, what: str, fact: str, *, cap: float,
                    host_port: int | None = None, host_ips: set[str] | None = None) -> Located | None:
        """The `*.node` layer: the subject's processes and log files asked of its node; its log sizes kept (the
        scan starts at them). None, with a note, when the node did not answer."""
        assert subject.node is not None
        node, client = subject.node, self.client(subject)
        seen: dict[str, Any] = {}

        async def measure(timeout: float) -> Observation:
            started = time.perf_counter()
            try:
                found = await client.processes(host_port, host_ips or set(), timeout)
                sizes = await client.log_files(max(0.05, timeout - (time.perf_counter() - started)))
            except NodeError as exc:
                return Observation(facts={"node": node.label, fact: node.worker}, reason=exc.reason,
                                   message=exc.message)
            seen.update(found=found, sizes=sizes)
            ms = (time.perf_counter() - started) * 1000.0
            return Observation(metrics={"answer_ms": round(ms, 3)},
                               facts={"node": node.label, fact: node.worker, "log_files": sorted(sizes)},
                               message=f"node {node.label} answered for {what} in {ms:.0f} ms: "
                                       f"{len(found.alive)} live process(es), {len(sizes)} log file(s)")

        result = await self.layers.ev.layer(self.layers.spec(check_id), subject.name, measure, cap=cap)
        if "found" not in seen:
            self.silent.add(subject.name)
            self.layers.ev.note(f"{what} runs on node {node.label}, which did not answer ({result.message}): its "
                                f"process state and log were not checked")
            return None
        self._remember_sizes(subject, seen["sizes"])
        found: Located = seen["found"]
        return found

    def _remember_sizes(self, subject: WorkerSpec | HostSpec, sizes: dict[str, int]) -> RemoteLogs:
        remote = self.remote[subject.name] = RemoteLogs()
        for path, size in sizes.items():
            key = self._key(subject, path)
            remote.sizes[key] = size
            self.layers.start_offsets.setdefault(key, size)
        return remote

    async def _ensure_remote(self, subject: WorkerSpec | HostSpec) -> RemoteLogs | None:
        """The subject's remote log files: known since it was viewed, or asked now (a hop's own Layers share
        the parent's offsets but not its answers); None, noted, when the node does not answer."""
        if subject.name in self.remote or subject.name in self.silent:
            return self.remote.get(subject.name)
        assert subject.node is not None
        try:
            sizes = await self.client(subject).log_files(self._timeout(0.5))
        except NodeError as exc:
            self.silent.add(subject.name)
            self.layers.ev.note(f"{subject.name}'s log on node {subject.node.label}: {exc.message}: not read")
            return None
        return self._remember_sizes(subject, sizes)

    async def locate(self, worker: WorkerSpec, cap: float = 0.5) -> Located | None:
        """One remote worker's processes, seen by its node now; None (noted) when the node does not answer."""
        return (await self.locate_all([worker], cap)).get(worker.name)

    async def locate_all(self, workers: list[WorkerSpec], cap: float = 1.0) -> dict[str, Located]:
        """{worker name: its processes on its node} for the workers with a node, asked at once (cluster.workers);
        a node that does not answer leaves its worker out, noted."""
        remote = [w for w in workers if w.node is not None]
        if not remote:
            return {}
        timeout = self._timeout(cap)
        answers = await asyncio.gather(*(self.client(w).processes(self.layers.host_port, self.layers.host_ips,
                                                                  timeout) for w in remote), return_exceptions=True)
        found: dict[str, Located] = {}
        for worker, answer in zip(remote, answers, strict=True):
            if isinstance(answer, NodeError):
                self.layers.ev.note(f"worker {worker.name}'s process on its node: {answer.message}: not checked")
            elif isinstance(answer, BaseException):
                raise answer
            else:
                found[worker.name] = answer
        return found

    async def note_offsets(self, owner: WorkerSpec | HostSpec | None, offsets: dict[str, int]) -> None:
        """Where a remote owner's (or host's) logs end now (before the ping): records after it were written
        during it."""
        if owner is None or owner.node is None or await self._ensure_remote(owner) is None:
            return
        try:
            sizes = await self.client(owner).log_files(self._timeout(0.5))
        except NodeError as exc:
            self.layers.ev.note(f"{owner.name}'s log offsets before the ping: {exc.message}")
            return
        for path, size in sizes.items():
            offsets[self._key(owner, path)] = size

    # ------------------------------------------------------------------------------------------ logs

    async def log_sources(self, owner: WorkerSpec | HostSpec, check_id: str = "logs.worker",
                          role: str = logscan.WORKER) -> list[tuple[Any, ...]]:
        """The `logs.worker` (or `logs.host`) source of Layers.logs for a remote owner (host), its reads
        fetched from the node."""
        assert owner.node is not None
        remote = await self._ensure_remote(owner)
        if remote is None:
            return []  # noted when the node did not answer
        keys = sorted(remote.sizes)
        if not keys:
            self.layers.ev.note(f"{owner.name}'s node {owner.node.label} lists no log file for it "
                                f"(options.logs of its target there): its log was not read")
            return []
        client, timeout = self.client(owner), self._timeout(1.0)
        await asyncio.gather(*(self._fetch(client, remote, key, timeout) for key in keys))
        patterns = [f"{owner.node.label}:{p}" for p in (owner.logs or ["(the node's options.logs)"])]
        return [(check_id, owner.name, [Path(k) for k in keys], patterns, owner.log_format, role, remote)]

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

    async def watch(self, watched: list[tuple[WorkerSpec | HostSpec | None, str]], agent_type: str, key: str,
                    offsets: dict[str, int]) -> logscan.Signal | None:
        """One look at the remote logs (the owner's, the host's: (subject, role)) during the ping, at most every
        WATCH_EVERY_S: the record proving the probe's message failed, if a node has one (Layers._watch_logs,
        which runs until the ping ends)."""
        now = time.monotonic()
        if now - self.watched_at < WATCH_EVERY_S:
            return None
        self.watched_at = now
        for subject, role in watched:
            if subject is None or subject.node is None or subject.name not in self.remote:
                continue
            for records, offset in await self._since(subject, offsets, WATCH_EVERY_S):
                sig = logscan.fatal_signal(records, agent_type, key, role=role, probe_offset=offset)
                if sig is not None:
                    return sig
        return None

    async def _since(self, subject: WorkerSpec | HostSpec, offsets: dict[str, int],
                     timeout: float) -> list[tuple[list[Record], int]]:
        """The subject's records written since `offsets` (the ping's), per file with its offset; a file the
        node could not read is left out."""
        client, remote = self.client(subject), self.remote[subject.name]
        keys = sorted(remote.sizes)
        starts = [offsets.get(k, self.layers.start_offsets.get(k, 0)) for k in keys]
        answers = await asyncio.gather(*(self._answer(client, remote, k, timeout, start=start)
                                         for k, start in zip(keys, starts, strict=True)))
        return [(a["parsed"][0], start) for start, a in zip(starts, answers, strict=True) if a["parsed"][1] is None]

    async def records_since(self, subject: WorkerSpec | HostSpec, offsets: dict[str, int]) -> list[Record]:
        """The subject's records since `offsets` (the ping's), read on its node; none when it does not answer."""
        if subject.node is None or await self._ensure_remote(subject) is None:
            return []
        return [r for records, _ in await self._since(subject, offsets, self._timeout(0.5)) for r in records]

    async def refresh_host_records(self, offsets: dict[str, int]) -> None:
        """The remote host's records since the ping (`host_records`), for hop.host_leads, which reads them with
        the local host log's; a host on this machine, or a node that does not answer, leaves them empty."""
        host = self.layers.cluster.host
        self.host_records = await self.records_since(host, offsets) if host is not None else []

    # --------------------------------------------------------------------------------------- machine

    async def machine(self, owner: WorkerSpec) -> None:
        """`worker.cpu` from a second process view of the node; `machine.starvation` (the worker's processes'
        run-queue wait) and `machine.memory` measured on the node (/node/machine), judged here by the pack."""
        from agentops.core.runner import judge

        assert owner.node is not None
        layers = self.layers
        found = layers.owner_found
        if found is None or not found.alive:
            layers.ev.note(f"worker {owner.name}'s process was not seen on node {owner.node.label}: that "
                           f"machine's resources were not checked")
            return
        pid, started = found.alive[0].pid, time.perf_counter()
        client = self.client(owner)
        views, measured = await asyncio.gather(
            client.processes(layers.host_port, layers.host_ips, self._timeout(0.5)),
            client.machine(0.3, self._timeout(1.5)), return_exceptions=True)
        for answer, what in ((views, "CPU"), (measured, "machine")):
            if isinstance(answer, NodeError):
                layers.ev.note(f"worker {owner.name}'s {what} on node {owner.node.label}: {answer.message}")
            elif isinstance(answer, BaseException):
                raise answer
        if isinstance(views, Located) and layers.owner_cpu is not None:
            view = next((v for v in views.alive if v.pid == pid), None)
            obs = layers.cpu_since_view(view.cpu_seconds) if view is not None else None
            if obs is not None:
                layers.ev.record(judge(layers.spec("worker.cpu"), owner.name, obs, time.perf_counter() - started))
        if isinstance(measured, dict):
            target = f"node {owner.node.label}"
            for key, check_id in (("starvation", "machine.starvation"), ("memory", "machine.memory")):
                if key in measured:
                    obs = measured[key]
                    obs.facts["measured_on"] = target
                    layers.ev.record(judge(layers.spec(check_id), target, obs, time.perf_counter() - started))
