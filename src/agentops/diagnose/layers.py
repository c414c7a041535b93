"""The evidence layers of an AutoGen diagnosis, shared by `diagnose message` and `diagnose agent`.

Each method runs one layer through `Evidence.layer/probe` (so it is a judged Result with its own share of the
deadline) and keeps what later layers need (addresses, the owner, log offsets, the ping). Result ids:

    agentrpc.dns  agentrpc.tcp  agentrpc.process  agentrpc.channel  agentrpc.inventory
    agent.registration  [sender.registration]  [worker.node]  worker.process  [cluster.workers]
    message.payload  agent.ping  logs.host  logs.worker  worker.metrics  worker.cpu  machine.starvation  machine.memory

The cluster comes from the config (the `agentrpc` target and the `worker` targets, parsed by
`agentops.core.cluster`) or from `--host`; what the config does not describe is not guessed but noted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentops.core.cluster import Cluster
from agentops.core.config import Target, split_host_port
from agentops.core.format import duration
from agentops.core.model import Observation, Reason, Result
from agentops.core.osproc import Located, ProcessView, describe_stop, is_local
from agentops.core.packs import CheckSpec, command_specs
from agentops.diagnose import logscan
from agentops.diagnose.engine import PING_GRACE_S, Evidence
from agentops.diagnose.node_layer import NodeEvidence
from agentops.diagnose.pod_layer import PodLayer
from agentops.logs import ranges

if TYPE_CHECKING:
    from agentops.probes.sched import StarvationStart

# The worker metrics the AutoGen services export (names as scraped from prometheus_client). The
# response-time histogram is found with or without the unit suffix prometheus_client may add.
METRIC_ITEMS = (
    ("messages", {"series": "agent_message_count_total"}),
    ("errors", {"series": "agent_errors_total"}),
    ("error_rate", {"ratio": {"numerator": "agent_errors_total", "denominator": "agent_message_count_total"}}),
    ("p95_s", {"quantile": "agent_response_time_seconds", "q": 0.95}),
    ("p95_s.unsuffixed", {"quantile": "agent_response_time", "q": 0.95}),
)
QUEUE_SERIES = "runtime_message_queue_size"
# The machine layer's starvation window, at least this long: it opens when the worker is found, so the
# diagnosis' own layers count towards it and only the rest is waited for at the end.
STARVATION_WINDOW_S = 0.3


class Layers:
    """One diagnosis' layers over one AgentRpc client. Use as an async context manager."""

    def __init__(self, cluster: Cluster, evidence: Evidence, *, since_s: float = 600.0) -> None:
        from agentops.autogen.client import AgentRpcClient

        self.cluster = cluster
        # The diagnose command pack, with the config's pack_dirs' overrides: how the layers are judged.
        self.checks = command_specs("diagnose", cluster.config)
        self.ev = evidence
        self.client = AgentRpcClient.for_target(cluster.target, cluster.address)
        self.host_name, self.host_port = split_host_port(cluster.address, what="host address")
        self.host_ips: set[str] = {self.host_name}
        self.since = time.time() - since_s
        self.registered: list[str] | None = None  # the host's agent types, once the inventory answered
        self.subscriptions: list[dict[str, Any]] = []  # the host's subscription table, once it answered
        self.host_view: ProcessView | None = None
        self.owner: Any = None  # WorkerSpec
        self.owner_found: Located | None = None
        self.start_pending: Any = None  # WorkerSpec whose start layer runs after the ping (a running owner)
        self.owner_cpu: tuple[float, float] | None = None  # (wall, cpu seconds) when the process was viewed
        self.starvation_from: StarvationStart | None = None  # the machine layer's window, opened at that view
        self.ping_offsets: dict[str, int] = {}  # where the logs ended when the ping was sent
        self.ping: dict[str, Any] | None = None  # the ping's facts, when it ran to its end
        self.ping_request_id: str | None = None
        self.start_offsets: dict[str, int] = {}
        self.note_log_offsets()
        self.pods = PodLayer(evidence, self.spec)  # owners that run in a Kubernetes pod
        self.nodes = NodeEvidence(self)  # workers on other machines, asked through their nodes

    async def __aenter__(self) -> Layers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.pods.close()
        await self.client.close()
        await self.nodes.close()

    # ------------------------------------------------------------------------------------ the host

    async def reach_host(self) -> bool:
        """DNS → TCP → the host's process → gRPC channel → GetSubscriptions. False when a layer failed."""
        t = self.cluster.target
        dns = await self.ev.probe(self.spec("agentrpc.dns"), t, cap=1.0)
        if dns.reason is None:
            self.host_ips |= set(dns.facts.get("addresses", []))
        tcp = None
        if dns.reason is None:
            tcp = await self.ev.probe(self.spec("agentrpc.tcp"), t, cap=1.0)
        await self.host_process()
        if tcp is None or tcp.reason is not None:
            return False
        channel = await self.ev.layer(self.spec("agentrpc.channel"), t.name, self._connect,
                                      cap=1.5)
        if channel.reason is not None:
            return False
        inventory = await self.ev.layer(self.spec("agentrpc.inventory"), t.name,
                                        self._inventory, cap=1.0)
        return inventory.reason is None

    async def _connect(self, timeout: float) -> Observation:
        from agentops.autogen.client import AgentRpcError

        try:
            ms = await self.client.connect(timeout)
        except AgentRpcError as exc:
            return Observation.failure(exc.reason, exc.message)
        return Observation(metrics={"connect_ms": round(ms, 3)},
                           message=f"gRPC channel to {self.cluster.address} ready in {ms:.1f} ms")

    async def _inventory(self, timeout: float) -> Observation:
        from agentops.core import registry

        # The registered step health's probes and `cluster inventory` use too, over this diagnosis' channel.
        obs = await registry.probe("agentrpc.inventory").observe(self.client, {}, timeout)
        if obs.reason is not None:
            return obs
        types: list[str] = obs.facts["agent_types"]
        self.registered = types
        # The table itself is `cluster inventory`'s, not the report's; `diagnose publish` matches topics in it.
        self.subscriptions = obs.facts.pop("subscriptions", None) or []
        obs.message = (f"host alive: {len(types)} agent types registered ({', '.join(types[:10]) or 'none'}), "
                       f"GetSubscriptions {obs.metrics['latency_ms']:.1f} ms")
        return obs

    async def host_process(self) -> None:
        host = self.cluster.host
        if host is not None and host.node is not None:  # it runs on another machine: its node sees it
            return await self.nodes.view_host(host)
        if host is None or not host.process.configured:
            self.ev.note("the AgentRpc host's process is not configured (options.process of the agentrpc target): "
                         "its state was not checked")
            return
        if not is_local(self.host_name):
            self.ev.note(f"the AgentRpc host runs on {self.host_name}, not this machine: its process was not checked")
            return
        self.host_observed(_view().locate(host.process), time.perf_counter())

    def host_observed(self, found: Located, started: float) -> None:
        """`agentrpc.process` from the host's located processes (seen here, or by its node: node_layer.py)."""
        alive = found.alive
        self.host_view = alive[0] if alive else None
        facts: dict[str, Any] = {"located_by": found.how, "processes": [v.to_dict() for v in alive]}
        if not alive:
            obs = Observation(facts=facts, reason=Reason.ASSERTION,
                              message=f"no AgentRpc host process running ({found.how})")
        elif self.host_view is not None and self.host_view.stopped:
            v = self.host_view
            obs = Observation(facts=facts, reason=Reason.ASSERTION,
                              message=f"host process {v.pid} is stopped (state {v.state}){describe_stop(v)}")
        else:
            v = alive[0]
            obs = Observation(facts=facts, metrics={"rss_bytes": float(v.rss_bytes)},
                              message=f"host process {v.pid} state {v.state}, started "
                                      f"{v.to_dict()['started_at']}")
        self.ev.record(_judged(self.spec("agentrpc.process"), self.cluster.target.name, obs, started))

    # ------------------------------------------------------------------------------ registration

    async def registration(self, agent_type: str, check_id: str = "agent.registration") -> Result:
        async def measure(timeout: float) -> Observation:
            from agentops.core import registry
            from agentops.core.cluster import name_owner

            obs = await registry.probe("agentrpc.ownership").observe(self.client, {"agent_type": agent_type}, timeout)
            if "owned" not in obs.facts:  # the host could not be asked
                return obs
            obs.facts["in_inventory"] = self.registered is not None and agent_type in self.registered
            client = obs.facts["owner_client_id"]
            if obs.facts["owned"] and client:
                named = name_owner(self.cluster.workers, agent_type, client)
                obs.facts.update(owner_worker=named.worker, owner_named_by=named.how)
                obs.message = (f"{agent_type} is registered, owned by {named.label()}"
                               + (f" (client {client})" if named.worker else ""))
            elif obs.facts["owned"]:
                obs.message = f"{agent_type} is registered (the host named no owner client)"
            return obs

        return await self.ev.layer(self.spec(check_id), agent_type, measure, cap=1.0)

    def spec(self, check_id: str) -> CheckSpec:
        """A layer's check from the diagnose command pack (with the config's overrides, via the cluster)."""
        return self.checks[check_id]

    # ------------------------------------------------------------------------------------ workers

    def worker_local(self, worker: Any) -> bool:
        """Can this machine see the worker's process? (core.cluster.WorkerSpec.runs_here)"""
        return bool(worker.runs_here(self.cluster.address))

    async def owner_process(self, agent_type: str, owner_client: str | None) -> None:
        """The owning worker's process (`worker.process`) and start (`worker.start`); and the start of every other
        configured worker listing the type that is not running (`cluster.start`)."""
        from agentops.core.cluster import name_owner

        owner = self.cluster.owner_of(agent_type)
        mapped_by = f"the config: {owner.name} lists {agent_type} in agent_types" if owner else ""
        noted = False
        if owner_client:
            named = name_owner(self.cluster.workers, agent_type, owner_client, self.cluster.address)
            if named.worker is not None:
                owner, mapped_by = next(w for w in self.cluster.workers if w.name == named.worker), named.how
            elif owner is not None and owner.seen_dead(self.cluster.address):
                # The host names a connected client; the configured worker has no process, so it is not that
                # client (a second worker that exited at start lists the type too): who owns it comes from the
                # host, never from the config's listing.
                self.ev.note(f"{agent_type} is owned by client {owner_client}, none of the configured workers "
                             f"({named.how}): the owner's process, logs and metrics were not checked")
                owner, noted = None, True
        if owner is None:
            if not noted:
                self.ev.note(f"no configured worker lists {agent_type} in agent_types: the owning worker's process, "
                             f"logs and metrics were not checked")
        else:
            self.owner = owner
            if owner.node is not None:  # it runs on another machine: its node sees it
                await self.nodes.view_owner(owner, owner_client, mapped_by)
            elif owner.pod is not None:  # its state, events and logs come from the API (pod_layer.py)
                await self.pods.view(owner, mapped_by, self.since)
            else:
                self._view_owner(owner, agent_type, owner_client, mapped_by)
            if _has_start_evidence(owner):
                proc = self.ev.get("worker.process")
                if proc is not None and proc.facts.get("pid") is not None:
                    # Running: whether it keeps restarting is read after the message's own layers.
                    self.start_pending = owner
                else:  # not running (or not visible here): why it exited, now, on the message's path
                    await self.worker_start(owner, "worker.start")
        for other in self.cluster.workers:
            if other is not owner and agent_type in other.agent_types and other.seen_dead(self.cluster.address):
                await self.worker_start(other, "cluster.start")

    async def pending_start(self) -> None:
        """The running owner's start layer (restarts in the window), deferred by owner_process to after the
        ping so the message's path is measured first."""
        owner, self.start_pending = self.start_pending, None
        if owner is not None:
            await self.worker_start(owner, "worker.start")

    async def worker_start(self, worker: Any, check_id: str) -> Result:
        """What the worker's start left behind (logs/worker_start.py), judged by the pack's `check_id`;
        `breached` records which metrics the judge found out of bounds, for the rules (diagnose/rules_start.py)."""
        from agentops.core.evaluate import metric_verdicts
        from agentops.logs.worker_start import measure_start

        spec = self.spec(check_id)

        async def measure(timeout: float) -> Observation:
            return await measure_start(worker, since=self.since, host_address=self.cluster.address, timeout=timeout)

        result = await self.ev.layer(spec, worker.name, measure, cap=1.0)
        result.facts["breached"] = sorted(metric_verdicts(spec, result.metrics))
        return result

    def _view_owner(self, owner: Any, agent_type: str, owner_client: str | None, mapped_by: str) -> None:
        if not owner.process.configured:
            self.ev.note(f"worker {owner.name} has no options.process: its process state was not checked")
            return
        if not self.worker_local(owner):
            self.ev.note(f"worker {owner.name} does not run on this machine: its process state was not checked")
            return
        started = time.perf_counter()
        found = _view().locate(owner.process, self.host_port, self.host_ips)
        self.owner_view(owner, found, owner_client, mapped_by, started)
        if found.alive:  # the machine layer's window opens here: the diagnosis' own layers are its span
            from agentops.probes.sched import start_starvation

            self.starvation_from = start_starvation(self._cluster_pids(found.alive[0].pid))

    def owner_view(self, owner: Any, found: Located, owner_client: str | None, mapped_by: str,
                   started: float) -> None:
        """`worker.process` from the owner's located processes (seen here, or by its node: node_layer.py)."""
        self.owner_found = found
        alive = found.alive
        facts: dict[str, Any] = {"worker": owner.name, "mapped_by": mapped_by, "located_by": found.how,
                                 "owner_client_id": owner_client,
                                 "processes": [v.to_dict() for v in found.views]}
        if not alive:
            obs = Observation(facts=facts, reason=Reason.ASSERTION,
                              message=f"worker {owner.name} is not running (no process: {found.how})")
        else:
            v = next((p for p in alive if p.stopped), alive[0])
            facts.update(pid=v.pid, state=v.state, connected=v.connected, started_at=v.to_dict()["started_at"])
            if v.stopped:
                facts["stopped_for_s"] = v.last_ran_s_ago
                obs = Observation(facts=facts, reason=Reason.ASSERTION,
                                  message=f"worker {owner.name} (pid {v.pid}) is stopped (state {v.state})"
                                          f"{describe_stop(v)}")
            else:
                self.owner_cpu = (time.monotonic(), v.cpu_seconds)  # the view's own reading, wherever it ran
                link = ("connected to the host port" if v.connected else
                        f"NOT connected to the host port {self.host_port}" if v.connected is False else "")
                obs = Observation(facts=facts, metrics={"rss_bytes": float(v.rss_bytes), "threads": float(v.threads)},
                                  message=f"worker {owner.name} (pid {v.pid}) state {v.state}, {link}".rstrip(", "))
                if v.connected is False:
                    obs.reason = Reason.CONNECT
        spec = self.spec("worker.process")  # up but not connected: a warning, per the pack's on_reason
        self.ev.record(_judged(spec, owner.name, obs, started))

    async def cluster_workers(self) -> None:
        """Each configured worker of this host: alive? which of its types are registered? (Orphans: alive,
        none of their types registered — what a host restart leaves behind.) Remote workers: their nodes'."""
        if self.registered is None or not self.cluster.workers:
            return
        started = time.perf_counter()
        remote = await self.nodes.locate_all(self.cluster.workers)
        registered = set(self.registered)
        rows, orphans, dead = [], [], []
        for worker in self.cluster.workers:
            row: dict[str, Any] = {"worker": worker.name, "agent_types": worker.agent_types,
                                   "registered": [t for t in worker.agent_types if t in registered]}
            found = remote.get(worker.name)
            if found is None and worker.node is None and worker.process.configured and self.worker_local(worker):
                found = _view().locate(worker.process, self.host_port, self.host_ips)
            if found is not None:
                alive = found.alive
                row["alive"] = bool(alive)
                if alive:
                    row.update(pid=alive[0].pid, state=alive[0].state, connected=alive[0].connected,
                               started_at=alive[0].to_dict()["started_at"])
                if alive and worker.agent_types and not row["registered"]:
                    orphans.append(worker.name)
                if not alive:
                    dead.append(worker.name)
            rows.append(row)
        obs = Observation(metrics={"orphaned_workers": float(len(orphans)), "dead_workers": float(len(dead))},
                          facts={"workers": rows, "orphans": orphans, "dead": dead})
        parts = [f"{len(rows)} configured workers"]
        if orphans:
            parts.append(f"alive with none of their types registered: {', '.join(orphans)}")
        if dead:
            parts.append(f"not running: {', '.join(dead)}")
        obs.message = "; ".join(parts)
        if self.host_view is not None:
            obs.facts["host_started_at"] = self.host_view.to_dict()["started_at"]
        spec = self.spec("cluster.workers")
        self.ev.record(_judged(spec, self.cluster.target.name, obs, started))

    # ------------------------------------------------------------------------------- the message

    def payload(self, agent_type: str, key: str, payload_type: str, payload: Any) -> Result:
        """Is the body JSON, and is the message under gRPC's 4 MiB? (An oversized one is never sent.)"""
        from agentops.core import registry

        started = time.perf_counter()
        obs = registry.probe("agentrpc.payload").check({"agent_type": agent_type, "key": key,
                                                        "payload_type": payload_type, "payload": payload})
        # Not JSON: the host forwards it anyway (protocol: a warning, per on_reason); too large: never sent.
        spec = self.spec("message.payload")
        return self.ev.record(_judged(spec, agent_type, obs, started))

    async def ping_type(self, agent_type: str, key: str, payload_type: str, payload: Any, *,
                        source: tuple[str, str] | None, cap: float | None, reserve: float,
                        also_watch: Callable[[float], Awaitable[str]] | None = None) -> Result:
        """One ping under its budget. Meanwhile the host's and the owner's logs are watched: when they show
        this probe's message failing (the handler's traceback, 'Unhandled message', 'Agent X not found'), no
        reply can come any more, and the wait ends there instead of at the deadline. `also_watch` is another
        such proof (hop.watch_calls: the type waits on a call that cannot return), given the ping's timeout;
        it returns its line."""
        for path, _, _ in self._log_paths():
            self.ping_offsets[str(path)] = ranges.size_of(path)
        for remote in (self.cluster.host, self.owner):  # a remote host's or owner's logs, on its node
            await self.nodes.note_offsets(remote, self.ping_offsets)

        from agentops.core import registry

        step = registry.probe("agentrpc.ping")  # the registered step health's agentrpc probe pings with too
        params = {"type": agent_type, "payload_type": payload_type, "payload": payload, "key": key,
                  "source": source}

        async def measure(timeout: float) -> Observation:
            started = time.monotonic()
            ping = asyncio.create_task(step.observe(self.client, params, timeout))
            watch = asyncio.create_task(self._watch_logs(agent_type, key))
            tasks = {ping, watch} | ({asyncio.create_task(also_watch(timeout))} if also_watch is not None else set())
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if ping in done:
                obs: Observation = ping.result()
                self.ping, self.ping_request_id = obs.facts, obs.facts.get("request_id")
                return obs
            if watch not in done:  # also_watch: the type waits on a call that cannot return
                why: str = next(iter(done)).result()
                waited = time.monotonic() - started
                facts = {"outcome": "no_reply", "agent_type": agent_type, "key": key, "payload_type": payload_type,
                         "timeout_s": timeout, "waited_s": round(waited, 3), "cut_short_by_call": why}
                return Observation(facts=facts, reason=Reason.TIMEOUT,
                                   message=f"no reply from {agent_type}/{key}: after {waited:.2f}s {why}")
            sig = watch.result()
            self.ping_request_id = sig.request_id
            waited = time.monotonic() - started
            facts = {"outcome": "no_reply", "agent_type": agent_type, "key": key, "payload_type": payload_type,
                     "request_id": sig.request_id, "timeout_s": timeout, "waited_s": round(waited, 3),
                     "cut_short_by": sig.line}
            return Observation(facts=facts, reason=Reason.TIMEOUT,
                               message=f"no reply from {agent_type}/{key}: after {waited:.2f}s the log showed it "
                                       f"cannot come ({sig.line[:120]})")

        spec = self.spec("agent.ping")
        return await self.ev.layer(spec, f"{agent_type}/{key}", measure, cap=cap, reserve=reserve,
                                   grace=PING_GRACE_S)

    async def _watch_logs(self, agent_type: str, key: str, interval: float = 0.1) -> logscan.Signal:
        """Returns the first log signal proving this probe's message failed; runs until cancelled otherwise."""
        paths = self._log_paths()
        while True:
            await asyncio.sleep(interval)
            if self.owner is not None and self.owner.pod is not None:  # its pod's log, from the API
                await self.pods.follow(self.owner)
            for path, log_format, role in paths:
                records, _ = ranges.read_records(path, start=self.ping_offsets.get(str(path), 0),
                                                  log_format=log_format)
                sig = logscan.fatal_signal(records, agent_type, key, role=role,
                                           probe_offset=self.ping_offsets.get(str(path), 0))
                if sig is not None:
                    await asyncio.sleep(interval)  # let the rest of the failure (its traceback) be written
                    return sig
            remote = await self.nodes.watch([(self.cluster.host, logscan.HOST), (self.owner, logscan.WORKER)],
                                            agent_type, key, self.ping_offsets)
            if remote is not None:  # a remote owner's log, read on its node
                return remote

    # ----------------------------------------------------------------------------------- logs, metrics

    def _log_paths(self) -> list[tuple[Path, str | None, str]]:
        """The host's and the owner's log files, each with its target's declared log_format and its role."""
        specs = [(s, role) for s, role in ((self.cluster.host, logscan.HOST), (self.owner, logscan.WORKER))
                 if s is not None]
        paths = [(path, s.log_format, role) for s, role in specs for path in s.log_files()]
        if self.owner is not None and self.owner.pod is not None:  # the copies of its pod's logs (pod_layer.py)
            paths += [(p, self.owner.log_format, logscan.WORKER) for p in self.pods.log_files(self.owner)]
        return paths

    def note_log_offsets(self) -> None:
        """Where every configured log ends now: what is written after this, the diagnosis saw happen."""
        paths = list(self.cluster.host.log_files()) if self.cluster.host else []
        for worker in self.cluster.workers:
            paths += worker.log_files()
        self.start_offsets = {str(p): ranges.size_of(p) for p in paths}

    async def logs(self, agent_type: str, message_id: str | None = None, key: str | None = None) -> None:
        """The host's and the owner's logs: failures about the type (or the probe's request, or --message-id)
        written during the diagnosis, and in the window before it; request-id collisions always."""
        sources = []
        if self.cluster.host is not None and self.cluster.host.node is not None:  # read on the host's machine
            sources += await self.nodes.log_sources(self.cluster.host, "logs.host", logscan.HOST)
        elif self.cluster.host is not None and self.cluster.host.logs:
            sources.append(("logs.host", self.cluster.target.name, self.cluster.host.log_files(),
                            self.cluster.host.logs, self.cluster.host.log_format, logscan.HOST, logscan.LOCAL))
        else:
            self.ev.note("no host log configured (options.logs of the agentrpc target): host log not read")
        if self.owner is not None and self.owner.node is not None:  # read on the worker's machine
            sources += await self.nodes.log_sources(self.owner)
        elif self.owner is not None and self.owner.logs:
            sources.append(("logs.worker", self.owner.name, self.owner.log_files(), self.owner.logs,
                            self.owner.log_format, logscan.WORKER, logscan.LOCAL))
        elif self.owner is not None and self.pods.log_files(self.owner):
            await self.pods.follow(self.owner, now=True)  # what it wrote since the ping's last poll
            self.start_offsets.update(self.pods.offsets(self.owner))
            sources.append(("logs.worker", self.owner.name, self.pods.log_files(self.owner), ["pods/log"],
                            self.owner.log_format, logscan.WORKER, logscan.LOCAL))
        elif self.owner is not None and self.owner.pod is None:
            self.ev.note(f"worker {self.owner.name} has no options.logs: its log was not read")
        for check_id, target, files, patterns, log_format, role, access in sources:
            started = time.perf_counter()
            obs = logscan.scan(files, patterns, self.start_offsets, since=self.since, agent_type=agent_type,
                               key=key, request_id=self.ping_request_id, message_id=message_id,
                               log_format=log_format, role=role, probe_offsets=self.ping_offsets or None,
                               logs=access)
            result = self.ev.record(_judged(self.spec(check_id), target, obs, started))
            for gap in result.facts.get("unavailable", []):  # evidence this log cannot give: said, not silent
                self.ev.note(f"{check_id}: {gap}")

    async def metrics(self, agent_type: str, reserve: float = 0.0) -> None:
        """The owner's metrics endpoint; and, first, its restarts (the start layer deferred for a running owner)."""
        await self.pending_start()
        if self.owner is None:
            return
        if not self.owner.metrics_url:
            self.ev.note(f"worker {self.owner.name} has no options.metrics_url: its metrics were not read")
            return
        from agentops.core import registry

        target = Target(name=f"{self.owner.name}-metrics", kind="metrics", address=self.owner.metrics_url,
                        where="worker options.metrics_url")
        labels = {"agent_type": agent_type}
        compute = [{"name": name, **item, "labels": labels} for name, item in METRIC_ITEMS]
        compute.append({"name": "queue_size", "series": QUEUE_SERIES})
        probe = registry.probe("metrics")

        async def measure(timeout: float) -> Observation:
            obs = await probe.measure(target, {"compute": compute}, timeout)
            alt = obs.metrics.pop("p95_s.unsuffixed", None)
            if "p95_s" not in obs.metrics and alt is not None:
                obs.metrics["p95_s"] = alt
            # The probe says which families are not exported (facts), and which items failed at all.
            missing = list(obs.facts.get("missing_families", []))
            if "p95_s" in obs.metrics:  # found under the other name
                missing = [f for f in missing if not f.startswith("agent_response_time")]
            failed = obs.facts.get("failed_items", [])
            if obs.reason is Reason.ASSERTION and failed and set(failed) <= set(obs.facts.get("missing_items", [])):
                # A worker exporting other names is not a fault: judge what is there, say what is not.
                obs.reason, obs.message = None, ""
            if obs.reason is None:
                m = obs.metrics
                obs.message = (f"{agent_type}: {m.get('messages', 0):.0f} messages, {m.get('errors', 0):.0f} errors, "
                               f"p95 {duration(m.get('p95_s'))}, worker queue {m.get('queue_size', 0):.0f}")
                if missing:
                    obs.facts["missing_series"] = missing
                    obs.message += f" (not exported: {', '.join(missing)})"
            return obs

        spec = self.spec("worker.metrics")
        await self.ev.layer(spec, self.owner.name, measure, cap=1.0, reserve=reserve)

    async def machine(self) -> None:
        """The worker's CPU during the diagnosis, whether the cluster's own processes (worker, host) were
        starved of CPU, and the machine's memory (only when the worker runs here). A machine kept busy by
        other work is not evidence against the cluster: only its processes waiting for a CPU are."""
        from agentops.probes.sched import measure_starvation, starvation_since

        if self.owner is None:
            return  # already noted: no configured worker owns the type
        if self.owner.node is not None:
            return await self.nodes.machine(self.owner)
        if self.owner_found is None or not self.owner_found.alive:
            self.ev.note("the owning worker's process is not on this machine (or not running): its machine's "
                         "resources were not checked")
            return
        started = time.perf_counter()
        pid = self.owner_found.alive[0].pid
        obs = self._worker_cpu(pid)
        if obs is not None:
            self.ev.record(_judged(self.spec("worker.cpu"), self.owner.name, obs, started))
        pids = self._cluster_pids(pid)
        local = Target(name="local", kind="host", where="built-in")
        opened = self.starvation_from
        if opened is not None and list(opened.pids) == pids:
            async def starvation(timeout: float) -> Observation:
                # The window the worker's view opened: the diagnosis' own layers are in it, and only what they
                # left of STARVATION_WINDOW_S is waited for here.
                left = STARVATION_WINDOW_S - (time.monotonic() - opened.started)
                if left > 0:
                    await asyncio.sleep(min(left, timeout * 0.8))
                return starvation_since(opened)
        else:  # other pids now (the host restarted meanwhile): a window of its own
            async def starvation(timeout: float) -> Observation:
                return await measure_starvation(pids, min(STARVATION_WINDOW_S, timeout * 0.8))
        await asyncio.gather(
            self.ev.layer(self.spec("machine.starvation"), local.name, starvation, cap=1.0),
            self.ev.probe(self.spec("machine.memory"), local, cap=1.0))

    def _cluster_pids(self, worker_pid: int) -> list[int]:
        """The worker's pid and the host's, when the host is one of this machine's processes (a host on another
        machine, options.node, has its pid there)."""
        here = self.host_view if self.cluster.host is None or self.cluster.host.node is None else None
        return [worker_pid] + ([here.pid] if here is not None and here.pid != worker_pid else [])

    def _worker_cpu(self, pid: int) -> Observation | None:
        import psutil

        if self.owner_cpu is None:
            return None
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error as exc:
            return Observation.failure(Reason.INTERNAL, f"cannot read the worker's CPU: {exc}")
        return self.cpu_since_view(times.user + times.system)

    def cpu_since_view(self, cpu_now: float, min_window_s: float = 0.25) -> Observation | None:
        """CPU the worker used since its process was viewed (`cpu_now`: its user+system seconds now); None over
        a window too short to mean anything (a round trip of milliseconds)."""
        if self.owner_cpu is None:
            return None
        wall = time.monotonic() - self.owner_cpu[0]
        if wall < min_window_s:
            return None
        pct = 100.0 * (cpu_now - self.owner_cpu[1]) / wall
        return Observation(metrics={"cpu_percent": round(pct, 1), "window_s": round(wall, 3)},
                           message=f"worker {self.owner.name} used {pct:.0f}% of a core over {wall:.2f}s")


def _has_start_evidence(worker: Any) -> bool:
    """Anything of a worker's start to read: its process, stderr, logs or systemd unit."""
    return bool(worker.process.configured or worker.stderr or worker.logs or worker.unit)


def _judged(spec: Any, target: str, obs: Observation, started: float) -> Result:
    """A layer measured here and now (no awaits), judged; `started` is its perf_counter start."""
    from agentops.core.runner import judge

    return judge(spec, target, obs, time.perf_counter() - started)


def _view() -> Any:
    """The registered process.view probe: the worker probe sees processes through the same one."""
    from agentops.core import registry

    return registry.probe("process.view")
