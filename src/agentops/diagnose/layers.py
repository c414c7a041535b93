"""The evidence layers of an AutoGen diagnosis, shared by `diagnose message` and `diagnose agent`.

Each method runs one layer through `Evidence.layer/probe` (so it is a judged Result with its own share of the
deadline) and keeps what later layers need (addresses, the owner, log offsets, the ping). Result ids:

    agentrpc.dns  agentrpc.tcp  agentrpc.process  agentrpc.channel  agentrpc.inventory
    agent.registration  [sender.registration]  worker.process  [cluster.workers]
    message.payload  agent.ping  logs.host  logs.worker  worker.metrics  worker.cpu  machine.cpu  machine.memory

The cluster comes from the config (the `agentrpc` target and the `worker` targets, parsed by
`agentops.autogen.workers`) or from `--host`; what the config does not describe is not guessed but noted.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from agentops.core.config import Target, split_host_port
from agentops.core.format import duration
from agentops.core.model import Observation, Reason, Result, Status
from agentops.diagnose import logscan
from agentops.diagnose.cluster import Cluster, is_local
from agentops.diagnose.engine import Evidence, check
from agentops.diagnose.process import Located, ProcessView, describe_stop, locate

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


class Layers:
    """One diagnosis' layers over one AgentRpc client. Use as an async context manager."""

    def __init__(self, cluster: Cluster, evidence: Evidence, *, since_s: float = 600.0) -> None:
        from agentops.autogen.client import AgentRpcClient

        self.cluster = cluster
        self.ev = evidence
        self.client = AgentRpcClient.for_target(cluster.target, cluster.address)
        self.host_name, self.host_port = split_host_port(cluster.address, what="host address")
        self.host_ips: set[str] = {self.host_name}
        self.since = time.time() - since_s
        self.inventory: Any = None
        self.host_view: ProcessView | None = None
        self.owner: Any = None  # WorkerSpec
        self.owner_found: Located | None = None
        self.owner_cpu: tuple[float, float] | None = None  # (wall, cpu seconds) when the process was viewed
        self.ping_offsets: dict[str, int] = {}  # where the logs ended when the ping was sent
        self.ping: Any = None  # autogen.client.PingResult, when the ping ran to its end
        self.ping_request_id: str | None = None
        self.start_offsets: dict[str, int] = {}
        self.note_log_offsets()

    async def __aenter__(self) -> Layers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    # ------------------------------------------------------------------------------------ the host

    async def reach_host(self) -> bool:
        """DNS → TCP → the host's process → gRPC channel → GetSubscriptions. False when a layer failed."""
        t = self.cluster.target
        dns = await self.ev.probe(check("agentrpc.dns", "net.dns"), t, cap=1.0)
        if dns.reason is None:
            self.host_ips |= set(dns.facts.get("addresses", []))
        tcp = None
        if dns.reason is None:
            tcp = await self.ev.probe(check("agentrpc.tcp", "net.tcp"), t, cap=1.0)
        self.host_process()
        if tcp is None or tcp.reason is not None:
            return False
        channel = await self.ev.layer(check("agentrpc.channel", "agentrpc.channel"), t.name, self._connect,
                                      cap=1.5)
        if channel.reason is not None:
            return False
        inventory = await self.ev.layer(check("agentrpc.inventory", "agentrpc.inventory"), t.name,
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
        from agentops.autogen.client import AgentRpcError

        try:
            inv = await self.client.inventory(timeout)
        except AgentRpcError as exc:
            return Observation.failure(exc.reason, exc.message)
        self.inventory = inv
        return Observation(
            metrics={"agent_types": float(len(inv.agent_types)), "subscriptions": float(len(inv.subscriptions)),
                     "latency_ms": inv.latency_ms},
            facts={"agent_types": inv.agent_types, "topics": inv.topics},
            message=f"host alive: {len(inv.agent_types)} agent types registered "
                    f"({', '.join(inv.agent_types[:10]) or 'none'}), GetSubscriptions {inv.latency_ms:.1f} ms")

    def host_process(self) -> None:
        host = self.cluster.host
        if host is None or not host.process.configured:
            self.ev.note("the AgentRpc host's process is not configured (options.process of the agentrpc target): "
                         "its state was not checked")
            return
        if not is_local(self.host_name):
            self.ev.note(f"the AgentRpc host runs on {self.host_name}, not this machine: its process was not checked")
            return
        started = time.perf_counter()
        found = locate(host.process)
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
        self.ev.record(_judged(check("agentrpc.process", "host.process"), self.cluster.target.name, obs, started))

    # ------------------------------------------------------------------------------ registration

    async def registration(self, agent_type: str, check_id: str = "agent.registration") -> Result:
        async def measure(timeout: float) -> Observation:
            from agentops.autogen.client import AgentRpcError

            try:
                own = await self.client.ownership(agent_type, timeout)
            except AgentRpcError as exc:
                return Observation.failure(exc.reason, exc.message)
            from agentops.autogen.owners import name_owner

            listed = self.inventory is not None and agent_type in self.inventory.agent_types
            facts = {"owned": own.owned, "owner_client_id": own.owner_client_id, "in_inventory": listed,
                     "agent_type": agent_type}
            if own.owned and own.owner_client_id:
                named = name_owner(self.cluster.workers, agent_type, own.owner_client_id)
                facts.update(owner_worker=named.worker, owner_named_by=named.how)
                return Observation(metrics={"latency_ms": round(own.latency_ms, 3)}, facts=facts,
                                   message=f"{agent_type} is registered, owned by {named.label()}"
                                           + (f" (client {own.owner_client_id})" if named.worker else ""))
            if own.owned:
                return Observation(metrics={"latency_ms": round(own.latency_ms, 3)}, facts=facts,
                                   message=f"{agent_type} is registered (the host named no owner client)")
            return Observation(facts=facts, reason=Reason.ASSERTION,
                               message=f"{agent_type} is not registered on the host: no worker owns it "
                                       f"(a RegisterAgent for it was accepted, then released)")

        return await self.ev.layer(check(check_id, "agentrpc.ownership"), agent_type, measure, cap=1.0)

    # ------------------------------------------------------------------------------------ workers

    def worker_local(self, worker: Any) -> bool:
        """Can this machine see the worker's process? Yes when it connects to a loopback host or its pid file
        exists here; otherwise it runs elsewhere and its absence here proves nothing."""
        host = (worker.host or self.cluster.address).rsplit(":", 1)[0].strip("[]")
        if is_local(host):
            return True
        return bool(worker.process.pid_file and Path(worker.process.pid_file).exists())

    async def owner_process(self, agent_type: str, owner_client: str | None) -> None:
        from agentops.autogen.owners import name_owner

        owner = self.cluster.owner_of(agent_type)
        mapped_by = f"the config: {owner.name} lists {agent_type} in agent_types" if owner else ""
        if owner_client:
            named = name_owner(self.cluster.workers, agent_type, owner_client)
            if named.worker is not None:
                owner, mapped_by = next(w for w in self.cluster.workers if w.name == named.worker), named.how
        if owner is None:
            self.ev.note(f"no configured worker lists {agent_type} in agent_types: the owning worker's process, logs "
                         f"and metrics were not checked")
            return
        self.owner = owner
        if not owner.process.configured:
            self.ev.note(f"worker {owner.name} has no options.process: its process state was not checked")
            return
        if not self.worker_local(owner):
            self.ev.note(f"worker {owner.name} does not run on this machine: its process state was not checked")
            return
        started = time.perf_counter()
        found = locate(owner.process, self.host_port, self.host_ips)
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
                self._remember_cpu(v.pid)
                link = ("connected to the host port" if v.connected else
                        f"NOT connected to the host port {self.host_port}" if v.connected is False else "")
                obs = Observation(facts=facts, metrics={"rss_bytes": float(v.rss_bytes), "threads": float(v.threads)},
                                  message=f"worker {owner.name} (pid {v.pid}) state {v.state}, {link}".rstrip(", "))
                if v.connected is False:
                    obs.reason = Reason.CONNECT
        self.ev.record(_judged(check("worker.process", "host.process", on_failure=Status.CRITICAL), owner.name,
                               obs, started, on_reason={Reason.CONNECT: Status.WARNING}))

    def _remember_cpu(self, pid: int) -> None:
        import psutil

        try:
            times = psutil.Process(pid).cpu_times()
            self.owner_cpu = (time.monotonic(), times.user + times.system)
        except psutil.Error:
            self.owner_cpu = None

    def cluster_workers(self) -> None:
        """Each configured worker of this host: alive? which of its types are registered? (Orphans: alive,
        none of their types registered — what a host restart leaves behind.)"""
        if self.inventory is None or not self.cluster.workers:
            return
        started = time.perf_counter()
        registered = set(self.inventory.agent_types)
        rows, orphans, dead = [], [], []
        for worker in self.cluster.workers:
            row: dict[str, Any] = {"worker": worker.name, "agent_types": worker.agent_types,
                                   "registered": [t for t in worker.agent_types if t in registered]}
            if worker.process.configured and self.worker_local(worker):
                alive = locate(worker.process, self.host_port, self.host_ips).alive
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
        spec = check("cluster.workers", "agentrpc.workers", critical={"orphaned_workers": "> 0", "dead_workers": "> 0"})
        self.ev.record(_judged(spec, self.cluster.target.name, obs, started))

    # ------------------------------------------------------------------------------- the message

    def payload(self, agent_type: str, key: str, payload_type: str, payload: Any) -> Result:
        """Is the body JSON, and is the message under gRPC's 4 MiB? (An oversized one is never sent.)"""
        from agentops.autogen.client import MAX_MESSAGE_BYTES, encode_payload, message_size

        started = time.perf_counter()
        body = encode_payload(payload)
        size = message_size(agent_type, payload_type, body, key=key)
        facts: dict[str, Any] = {"payload_type": payload_type, "size_bytes": size, "limit_bytes": MAX_MESSAGE_BYTES,
                                 "payload_bytes": len(body), "too_large": size > MAX_MESSAGE_BYTES}
        obs = Observation(metrics={"size_bytes": float(size)}, facts=facts,
                          message=f"{payload_type} payload: a message of {size} bytes (limit {MAX_MESSAGE_BYTES})")
        try:
            json.loads(body)
            facts["json_valid"] = True
        except ValueError as exc:
            facts["json_valid"] = False
            obs.reason, obs.message = Reason.ASSERTION, f"the {payload_type} payload is not valid JSON ({exc})"
        status = Status.WARNING
        if facts["too_large"]:
            obs.reason, status = Reason.ASSERTION, Status.CRITICAL
            obs.message = (f"the message would be {size} bytes, over the {MAX_MESSAGE_BYTES}-byte gRPC limit: not "
                           f"sent (the host would drop the sender's whole connection)")
        return self.ev.record(_judged(check("message.payload", "agentrpc.payload"), agent_type, obs, started,
                                      {Reason.ASSERTION: status}))

    async def ping_type(self, agent_type: str, key: str, payload_type: str, payload: Any, *,
                        source: tuple[str, str] | None, cap: float | None, reserve: float) -> Result:
        """One ping under its budget. Meanwhile the host's and the owner's logs are watched: when they show
        this probe's message failing (the handler's traceback, 'Unhandled message', 'Agent X not found'), no
        reply can come any more, and the wait ends there instead of at the deadline."""
        for path in self._log_paths():
            self.ping_offsets[str(path)] = logscan.size_of(path)

        async def measure(timeout: float) -> Observation:
            started = time.monotonic()
            ping = asyncio.create_task(self.client.ping(agent_type, payload_type=payload_type, payload=payload,
                                                        key=key, timeout=timeout, source=source))
            watch = asyncio.create_task(self._watch_logs(agent_type, key))
            done, _ = await asyncio.wait({ping, watch}, return_when=asyncio.FIRST_COMPLETED)
            if ping in done:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
                return self._ping_observation(ping.result(), agent_type, key, timeout)
            ping.cancel()
            await asyncio.gather(ping, return_exceptions=True)
            sig = watch.result()
            self.ping_request_id = sig.request_id
            waited = time.monotonic() - started
            facts = {"outcome": "no_reply", "agent_type": agent_type, "key": key, "payload_type": payload_type,
                     "request_id": sig.request_id, "timeout_s": timeout, "waited_s": round(waited, 3),
                     "cut_short_by": sig.line}
            return Observation(facts=facts, reason=Reason.TIMEOUT,
                               message=f"no reply from {agent_type}/{key}: after {waited:.2f}s the log showed it "
                                       f"cannot come ({sig.line[:120]})")

        spec = check("agent.ping", "agentrpc.ping", warning={"rtt_ms": "> 1000"})
        return await self.ev.layer(spec, f"{agent_type}/{key}", measure, cap=cap, reserve=reserve)

    def _ping_observation(self, result: Any, agent_type: str, key: str, timeout: float) -> Observation:
        self.ping, self.ping_request_id = result, result.request_id
        facts = {k: v for k, v in result.to_dict().items() if k != "reply" and v is not None}
        if result.reply is not None:
            facts["reply"] = str(result.reply)[:300]
        where = f"{agent_type}/{key}"
        if result.outcome == "reply":
            return Observation(metrics={"rtt_ms": round(result.latency_ms or 0.0, 3)}, facts=facts,
                               message=f"{where} replied {result.reply_type} in {result.latency_ms:.1f} ms")
        if result.outcome == "error":
            return Observation(facts=facts, reason=Reason.ASSERTION,
                               message=f"{where} answered with an error: {result.error}")
        if result.outcome == "no_reply":
            return Observation(facts=facts, reason=Reason.TIMEOUT,
                               message=f"no reply from {where} within {timeout:.2g}s (request {result.request_id})")
        if result.outcome == "too_large":
            return Observation(facts=facts, reason=Reason.ASSERTION, message=result.error or "too large")
        return Observation(facts=facts, reason=result.reason or Reason.CONNECT, message=result.error or "")

    async def _watch_logs(self, agent_type: str, key: str, interval: float = 0.1) -> logscan.Signal:
        """Returns the first log signal proving this probe's message failed; runs until cancelled otherwise."""
        paths = self._log_paths()
        probe_agent = f"{agent_type}/{key}"
        while True:
            await asyncio.sleep(interval)
            for path in paths:
                records, _ = logscan.read_records(path, start=self.ping_offsets.get(str(path), 0))
                # A record names the probe's agent ("type/key"), or only the type (the host's "Agent X not found"),
                # or nothing (then its signal says which type it is about).
                ours = [r for r in records if r.agent_id in ("", probe_agent, agent_type)]
                for sig in logscan.signals(ours):
                    fatal = sig.kind in ("agent-not-found", "unhandled-message") or sig.kind.startswith("exception:")
                    if fatal and sig.agent_type == agent_type:
                        await asyncio.sleep(interval)  # let the rest of the failure (its traceback) be written
                        return sig

    # ----------------------------------------------------------------------------------- logs, metrics

    def _log_paths(self) -> list[Path]:
        paths = list(self.cluster.host.log_files()) if self.cluster.host else []
        if self.owner is not None:
            paths += self.owner.log_files()
        return paths

    def note_log_offsets(self) -> None:
        """Where every configured log ends now: what is written after this, the diagnosis saw happen."""
        paths = list(self.cluster.host.log_files()) if self.cluster.host else []
        for worker in self.cluster.workers:
            paths += worker.log_files()
        self.start_offsets = {str(p): logscan.size_of(p) for p in paths}

    def logs(self, agent_type: str, message_id: str | None = None, key: str | None = None) -> None:
        """The host's and the owner's logs: failures about the type (or the probe's request, or --message-id)
        written during the diagnosis, and in the window before it; request-id collisions always."""
        sources = []
        if self.cluster.host is not None and self.cluster.host.logs:
            sources.append(("logs.host", self.cluster.target.name, self.cluster.host.log_files(),
                            self.cluster.host.logs))
        else:
            self.ev.note("no host log configured (options.logs of the agentrpc target): host log not read")
        if self.owner is not None and self.owner.logs:
            sources.append(("logs.worker", self.owner.name, self.owner.log_files(), self.owner.logs))
        elif self.owner is not None:
            self.ev.note(f"worker {self.owner.name} has no options.logs: its log was not read")
        for check_id, target, files, patterns in sources:
            started = time.perf_counter()
            obs = logscan.scan(files, patterns, self.start_offsets, since=self.since, agent_type=agent_type,
                               key=key, request_id=self.ping_request_id, message_id=message_id)
            self.ev.record(_judged(check(check_id, "logs.scan", on_failure=Status.WARNING), target, obs, started))

    async def metrics(self, agent_type: str, reserve: float = 0.0) -> None:
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
            parts = obs.message.split("; ") if obs.reason is Reason.ASSERTION else []
            missing = [p for p in parts if p.startswith("no series")]
            if "p95_s" in obs.metrics:  # found under the other name
                missing = [p for p in missing if "agent_response_time" not in p]
            if parts and all(p.startswith("no series") for p in parts):
                # A worker exporting other names is not a fault: judge what is there, say what is not.
                obs.reason, obs.message = None, ""
            if obs.reason is None:
                m = obs.metrics
                obs.message = (f"{agent_type}: {m.get('messages', 0):.0f} messages, {m.get('errors', 0):.0f} errors, "
                               f"p95 {duration(m.get('p95_s'))}, worker queue {m.get('queue_size', 0):.0f}")
                if missing:
                    obs.facts["missing_series"] = missing
                    obs.message += f" (not exported: {'; '.join(missing)})"
            return obs

        spec = check("worker.metrics", "metrics", warning={"error_rate": "> 0.05", "p95_s": "> 2",
                                                           "queue_size": "> 10"},
                     on_failure=Status.WARNING, on_timeout=Status.WARNING)
        await self.ev.layer(spec, self.owner.name, measure, cap=1.0, reserve=reserve)

    async def machine(self) -> None:
        """The worker's CPU during the diagnosis and its machine's CPU and memory (only when it runs here)."""
        if self.owner is None:
            return  # already noted: no configured worker owns the type
        if self.owner_found is None or not self.owner_found.alive:
            self.ev.note("the owning worker's process is not on this machine (or not running): its machine's "
                         "resources were not checked")
            return
        started = time.perf_counter()
        obs = self._worker_cpu(self.owner_found.alive[0].pid)
        if obs is not None:
            self.ev.record(_judged(check("worker.cpu", "host.process", warning={"cpu_percent": "> 90"}),
                                   self.owner.name, obs, started))
        local = Target(name="local", kind="host", where="built-in")
        for spec in _machine_specs():
            await self.ev.probe(spec, local, cap=1.0)

    def _worker_cpu(self, pid: int, min_window_s: float = 0.25) -> Observation | None:
        """CPU the worker used since its process was viewed; None over a window too short to mean anything
        (a round trip of milliseconds)."""
        import psutil

        if self.owner_cpu is None:
            return None
        wall = time.monotonic() - self.owner_cpu[0]
        if wall < min_window_s:
            return None
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error as exc:
            return Observation.failure(Reason.INTERNAL, f"cannot read the worker's CPU: {exc}")
        pct = 100.0 * (times.user + times.system - self.owner_cpu[1]) / wall
        return Observation(metrics={"cpu_percent": round(pct, 1), "window_s": round(wall, 3)},
                           message=f"worker {self.owner.name} used {pct:.0f}% of a core over {wall:.2f}s")


def _machine_specs() -> list[Any]:
    """host.cpu and host.memory judged at the shipped host pack's CRITICAL levels, reported as WARNING: a
    diagnosis names a saturated machine (not a busy one: `agentops health` covers those levels), and a
    saturated machine slows messages rather than losing them."""
    from agentops.core.packs import builtin_pack_dir, load_pack

    specs = []
    for spec in load_pack(builtin_pack_dir() / "host.yaml"):
        if spec.probe in ("host.cpu", "host.memory"):
            spec.id = "machine." + spec.probe.split(".", 1)[1]
            spec.rules = [r for r in spec.rules if r.critical is not None]
            for rule in spec.rules:  # saturation slows agents, it does not lose messages: WARNING at most
                rule.warning, rule.critical = rule.critical, None
            if spec.probe == "host.cpu":
                spec.params = {"interval": 0.1, "max_age": 0}  # now, not since some earlier run
            specs.append(spec)
    return specs


def _judged(spec: Any, target: str, obs: Observation, started: float,
            on_reason: dict[Reason, Status] | None = None) -> Result:
    """A layer measured here and now (no awaits), judged; `started` is its perf_counter start."""
    from agentops.core.runner import judge

    result = judge(spec, target, obs, time.perf_counter() - started)
    if on_reason and obs.reason in on_reason:
        result.status = on_reason[obs.reason]
    return result
