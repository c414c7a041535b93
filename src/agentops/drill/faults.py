"""The faults a drill injects for real, how each is undone, and which verdicts count as naming it.

Against the lab (agentops started every process, so it can restart any of them) every fault can be undone.
Against another cluster only what can be undone exactly is allowed: a frozen worker is resumed (SIGCONT), a
message to an unregistered type or an oversized message changes nothing that lasts, a killed worker comes back
only through the operator's own `--undo-cmd` (agentops does not know how their workers are started), and a host
restart or switching an agent slow or failing (the lab agents' LabControl message) need the lab. Redis and
PostgreSQL drills stop a server the drill itself started (drill/servers.py), never the operator's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from agentops.core.config import Target
from agentops.core.model import Report, Result
from agentops.core.osproc import communicate_within

OVERSIZED_BYTES = 5 * 1024 * 1024


class DrillRefused(Exception):
    """This fault cannot be injected (and undone) soundly against this cluster: a one-line reason."""


@dataclass
class DrillTarget:
    """The cluster a drill works on and what it may do there."""

    cluster: Any = None  # diagnose.layers.Cluster
    lab_dir: Path | None = None  # set when the cluster is a lab agentops started (it can restart its processes)
    lab_types: dict[str, str] = field(default_factory=dict)  # lab: agent type -> behaviour
    lab_redis: str | None = None  # lab up --with-redis: the lab-owned Redis its store agent depends on
    agent_type: str | None = None  # --type
    undo_cmd: str | None = None
    deadline_s: float = 5.0

    def lab_type(self, behaviour: str) -> str | None:
        return next((t for t, b in self.lab_types.items() if b == behaviour), None)

    def worker_type(self) -> str:
        """The agent type to aim at: --type, else the lab's first echo type, else the first local worker's first
        configured type."""
        if self.agent_type:
            return self.agent_type
        lab = self.lab_type("echo")
        if lab:
            return lab
        for worker in self.cluster.workers if self.cluster else []:
            if worker.agent_types and worker.process.configured:
                return str(worker.agent_types[0])
        raise DrillRefused("no agent type to aim at: give --type, or configure workers (agent_types, process)")


class Fault(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    expects: ClassVar[tuple[str, ...]]  # verdict ids that name this fault

    def __init__(self, target: DrillTarget) -> None:
        self.t = target
        self.check()

    def check(self) -> None:  # noqa: B027 - optional: raise DrillRefused when not sound here
        """Raise DrillRefused when this fault cannot be injected and undone soundly on this target."""

    async def prepare(self) -> str:
        """Set up what the drill owns (a throw-away server); return what was done, or ""."""
        return ""

    async def baseline(self) -> tuple[bool, str] | None:
        """Before injecting: is the thing healthy? (None: no baseline for this fault.) A drill on a cluster
        that is already broken would measure nothing."""
        report = await self.verify()
        if report is None:
            return None
        verdict = report.findings[0] if report.findings else None
        return self.healthy(report), (verdict.title if verdict else "no verdict")

    def named(self, report: Report) -> tuple[bool, str]:
        """Did the diagnosis name this fault? (and what it said)"""
        verdict = report.findings[0] if report.findings else None
        if verdict is None:
            return False, "no verdict"
        return verdict.id in self.expects, f"{verdict.id}: {verdict.title}"

    async def cleanup(self) -> None:  # noqa: B027 - optional
        """Remove what prepare() set up."""

    @abstractmethod
    async def inject(self) -> str:
        """Make the fault happen for real; return what was done (one line)."""

    async def undo(self) -> str:
        return "nothing to undo"

    @abstractmethod
    async def detect(self) -> Report:
        """Run the diagnosis an operator would run for this symptom."""

    async def verify(self) -> Report | None:
        """After undo: the same diagnosis, expected healthy (None: nothing to verify)."""
        return await self.detect()

    def healthy(self, report: Report) -> bool:
        return bool(report.findings) and report.findings[0].id == "healthy"


class AgentFault(Fault):
    """A fault seen through `diagnose message --to <type>`."""

    deadline_factor: ClassVar[float] = 1.0

    def __init__(self, target: DrillTarget) -> None:
        if target.cluster is None:
            raise DrillRefused("this drill needs an AutoGen cluster (a lab, or -c CONFIG with an agentrpc target)")
        self.type = ""
        super().__init__(target)
        self.type = self.type or target.worker_type()

    def query(self, **overrides: Any) -> Any:
        from agentops.diagnose.message import MessageQuery

        q = MessageQuery(to_type=self.type, deadline_s=self.t.deadline_s * self.deadline_factor)
        for key, value in overrides.items():
            setattr(q, key, value)
        return q

    async def detect(self) -> Report:
        from agentops.diagnose.message import diagnose_message

        return await diagnose_message(self.t.cluster, self.query())

    async def verify(self) -> Report | None:
        from agentops.diagnose.message import diagnose_message

        return await diagnose_message(self.t.cluster, self.query(deadline_s=self.t.deadline_s))

    def owner(self) -> Any:
        worker = self.t.cluster.owner_of(self.type)
        if worker is None or not worker.process.configured:
            raise DrillRefused(f"no configured worker (with options.process) owns {self.type!r}")
        return worker

    def processes(self, worker: Any) -> list[Any]:
        found = [p for p in worker.process.find() if p.pid != os.getpid()]
        if not found:
            raise DrillRefused(f"worker {worker.name} has no running process on this machine "
                               f"({worker.process.describe()})")
        return found


class KillWorker(AgentFault):
    name = "kill-worker"
    summary = "SIGKILL the worker that owns the type; undo: restart it (lab) or --undo-cmd"
    expects = ("worker-dead",)

    def check(self) -> None:
        if self.t.lab_dir is None and not self.t.undo_cmd:
            raise DrillRefused("kill-worker on a cluster agentops did not start needs --undo-cmd (the command that "
                               "starts the worker again); or drill freeze-worker, which undoes itself")

    async def inject(self) -> str:
        self.worker = self.owner()
        procs = self.processes(self.worker)
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
        await _wait_gone([p.pid for p in procs])
        # The host notices the dropped connection within milliseconds; give it that moment.
        await _wait_type(self.t.cluster.address, self.type, registered=False, timeout=5.0)
        return f"killed worker {self.worker.name} (pid {', '.join(str(p.pid) for p in procs)}) with SIGKILL"

    async def undo(self) -> str:
        if self.t.lab_dir is not None:
            await asyncio.to_thread(_lab_restart, self.t.lab_dir, self.worker.name)
            return f"restarted worker {self.worker.name} through the lab manager"
        return await _run_undo_cmd(self.t.undo_cmd or "", self.t.cluster.address, self.type)


class FreezeWorker(AgentFault):
    name = "freeze-worker"
    summary = "SIGSTOP the worker that owns the type; undo: SIGCONT"
    expects = ("worker-frozen",)

    async def inject(self) -> str:
        self.worker = self.owner()
        self.procs = self.processes(self.worker)
        for proc in self.procs:
            proc.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.2)  # long enough for "stopped N s ago" to mean something
        return f"stopped worker {self.worker.name} (pid {', '.join(str(p.pid) for p in self.procs)}) with SIGSTOP"

    async def undo(self) -> str:
        import psutil

        resumed = []
        for proc in getattr(self, "procs", []):
            try:
                proc.send_signal(signal.SIGCONT)
                resumed.append(str(proc.pid))
            except psutil.Error:
                continue
        return f"resumed pid {', '.join(resumed)} with SIGCONT" if resumed else "no process to resume"


class RestartHost(AgentFault):
    name = "restart-host"
    summary = "restart the AgentRpc host (workers stay up, orphaned); undo: restart the workers (lab only)"
    expects = ("host-restarted",)

    def check(self) -> None:
        if self.t.lab_dir is None:
            raise DrillRefused("restart-host needs the lab: agentops restarts only processes it started (a host "
                               "restart also needs every worker restarted afterwards)")

    async def inject(self) -> str:
        from agentops.lab.layout import HOST

        await asyncio.to_thread(_lab_restart, self.t.lab_dir, HOST)
        return "restarted the AgentRpc host through the lab manager; the workers were left running"

    async def undo(self) -> str:
        names = [w.name for w in self.t.cluster.workers]
        for name in names:
            await asyncio.to_thread(_lab_restart, self.t.lab_dir, name)
        return f"restarted the workers ({', '.join(names)}) so they register with the new host"


class UnregisteredType(AgentFault):
    name = "unregistered-type"
    summary = "message an agent type no worker registers"
    expects = ("type-not-registered",)

    def check(self) -> None:
        self.type = f"agentops-drill-{uuid.uuid4().hex[:8]}"

    async def inject(self) -> str:
        return f"chose agent type {self.type!r}, which no worker registers; the diagnosis messages it"

    def query(self, **overrides: Any) -> Any:
        q = super().query(**overrides)
        q.payload_type, q.payload = "Ping", '{"text": "agentops drill"}'
        return q

    async def verify(self) -> Report | None:
        return None  # nothing was changed


class OversizedMessage(AgentFault):
    name = "oversized-message"
    summary = "send a message over gRPC's 4 MiB (the host drops that sender's connection); diagnose it"
    expects = ("message-too-large",)

    def payload(self) -> str:
        return '{"text": "' + "x" * OVERSIZED_BYTES + '"}'

    async def inject(self) -> str:
        from agentops.autogen.client import AgentRpcClient

        async with AgentRpcClient.for_target(self.t.cluster.target, self.t.cluster.address) as client:
            result = await client.ping(self.type, payload_type=self.payload_type(), payload=self.payload(),
                                       timeout=3.0, max_message_bytes=1 << 30)
        return (f"a throw-away client sent {result.size_bytes} bytes to {self.type}: {result.outcome}"
                + (f" ({result.error})" if result.error else ""))

    def payload_type(self) -> str:
        spec = self.t.cluster.ping_for(self.type)
        return spec.payload_type if spec is not None else "Ping"

    def query(self, **overrides: Any) -> Any:
        q = super().query(**overrides)
        q.payload_type, q.payload = self.payload_type(), self.payload()
        return q

    async def verify(self) -> Report | None:
        from agentops.diagnose.message import diagnose_message

        return await diagnose_message(self.t.cluster, super().query())  # the configured, small ping


class LabSwitchFault(AgentFault):
    """Turn a healthy lab agent type slow or failing for real (its LabControl switch, agentops.lab.control),
    diagnose it, and switch it back. Other clusters' agents have no such switch."""

    mode: ClassVar[str]

    def check(self) -> None:
        if self.t.lab_dir is None:
            raise DrillRefused(f"{self.name} needs the lab: it switches a lab agent {self.mode} at run time (a "
                               f"LabControl message), which other clusters' agents do not understand")

    def delay_s(self) -> float:
        return 0.0

    async def inject(self) -> str:
        from agentops.lab.control import set_mode

        reply = await set_mode(self.t.cluster.address, self.type, self.mode, self.delay_s())
        self.switched = True
        what = f"waits {self.delay_s():g}s before each message" if self.mode == "slow" else "raises on every message"
        return f"switched {self.type} on {reply.get('worker', '?')} to mode {self.mode!r}: its handler now {what}"

    async def undo(self) -> str:
        from agentops.lab.control import set_mode

        if not getattr(self, "switched", False):
            return "nothing was switched"
        reply = await set_mode(self.t.cluster.address, self.type, "normal")
        return f"switched {self.type} on {reply.get('worker', '?')} back to mode 'normal'"


class SlowHandler(LabSwitchFault):
    name = "slow-handler"
    summary = "switch a healthy lab agent slow (longer than the deadline); undo: switch it back"
    expects = ("overload",)
    mode = "slow"

    def delay_s(self) -> float:
        # Well past the deadline, so the answer is missed for certain; the undo releases the held handler.
        return self.t.deadline_s * 2 + 5.0


class FailingHandler(LabSwitchFault):
    name = "failing-handler"
    summary = "switch a healthy lab agent to raise on every message; undo: switch it back"
    expects = ("handler-raised",)
    mode = "fail"


class ServerDown(Fault):
    """Stop a Redis/PostgreSQL server the drill started itself; detect it as `agentops health` does."""

    kind: ClassVar[str]
    check_id: ClassVar[str]
    expects = ("connect",)

    def __init__(self, target: DrillTarget) -> None:
        super().__init__(target)
        self.server: Any = None

    async def prepare(self) -> str:
        from agentops.drill import servers

        starter = servers.start_redis if self.kind == "redis" else servers.start_postgres
        self.server = await starter()
        return f"started a throw-away {self.kind} server on {self.server.address} (pid {self.server.pid})"

    def target(self) -> Target:
        return Target(name=f"drill-{self.kind}", kind=self.kind, address=self.server.address,
                      username="postgres" if self.kind == "postgres" else None, where="drill")

    async def health(self) -> Result:
        return await _pack_check(self.check_id, self.target(), self.t.deadline_s)

    async def inject(self) -> str:
        pid = self.server.pid
        await self.server.stop()
        return (f"stopped the drill's own {self.kind} server (pid {pid}) with a real shutdown — a server no part of "
                f"the cluster uses: this exercises agentops' detection, not the cluster's dependency")

    async def undo(self) -> str:
        await self.server.start()
        return f"started the {self.kind} server again on {self.server.address} (pid {self.server.pid})"

    async def detect(self) -> Report:
        from agentops.diagnose.message import started_stamp

        stamp, started = started_stamp(), time.perf_counter()
        result = await self.health()
        return Report(kind="health", started_at=stamp, duration_s=time.perf_counter() - started, results=[result])

    async def verify(self) -> Report | None:
        # A server that just started may refuse logins for a moment ("the database system is starting up").
        deadline = time.monotonic() + 15.0
        while True:
            report = await self.detect()
            if self.healthy(report) or time.monotonic() > deadline:
                return report
            await asyncio.sleep(0.2)

    async def baseline(self) -> tuple[bool, str] | None:
        report = await self.verify()
        assert report is not None
        result = report.results[0]
        return self.healthy(report), f"{result.id}: {result.message}"

    def healthy(self, report: Report) -> bool:
        return all(r.reason is None for r in report.results)

    def named(self, report: Report) -> tuple[bool, str]:
        result = report.results[0]
        said = f"{result.id} {result.status.label} ({result.reason.value if result.reason else 'ok'}): {result.message}"
        return result.reason is not None and result.reason.value in self.expects, said

    async def cleanup(self) -> None:
        if self.server is not None:
            await self.server.cleanup()


class RedisDown(ServerDown):
    name = "redis-down"
    summary = "stop a Redis the drill started; `redis.ping` must say connect (refused)"
    kind = "redis"
    check_id = "redis.ping"


class LabRedisDown(AgentFault):
    """The lab's own Redis (`lab up --with-redis`), which its `store` agent writes every message to: stop it by
    pid, diagnose a message to `store` (the handler raises redis-py's connection error) beside the config's redis
    check, start it again on the same port."""

    name = "redis-down"
    summary = "stop the lab's Redis that the store agent depends on; undo: start it again on the same port"
    expects = ("handler-raised",)

    def check(self) -> None:
        from agentops.lab.layout import STORE_TYPE

        self.type = STORE_TYPE

    def redis_target(self) -> Target:
        return Target(name="lab-redis", kind="redis", address=self.t.lab_redis, where="lab")

    async def inject(self) -> str:
        from agentops.lab.layout import REDIS
        from agentops.lab.manager import stop_process

        stopped = await asyncio.to_thread(stop_process, self.t.lab_dir, REDIS)
        return (f"stopped the lab's Redis on {self.t.lab_redis} (pid {stopped.pid}: {stopped.outcome}), which "
                f"{self.type} writes every message to")

    async def undo(self) -> str:
        from agentops.lab.layout import REDIS

        rec = await asyncio.to_thread(_lab_restart, self.t.lab_dir, REDIS)
        return f"started the lab's Redis again on {self.t.lab_redis} (pid {rec.pid})"

    async def detect(self) -> Report:
        """The message diagnosis, with the config's redis check beside it: the handler's error alone is redis-py's
        text ("Connection closed by server", "Error 111 connecting to …"), the check names Redis as the cause."""
        import dataclasses

        diagnosis, redis = await asyncio.gather(super().detect(),
                                                _pack_check("redis.ping", self.redis_target(), self.t.deadline_s))
        return dataclasses.replace(diagnosis, results=[*diagnosis.results, redis])

    def named(self, report: Report) -> tuple[bool, str]:
        raised, said = super().named(report)
        redis = next((r for r in report.results if r.id == "redis.ping"), None)
        down = redis is not None and redis.reason is not None and redis.reason.value == "connect"
        if redis is not None:
            said += f"; {redis.id} of {redis.target} {redis.status.label} " \
                    f"({redis.reason.value if redis.reason else 'ok'}): {redis.message}"
        return raised and down, said


class PostgresDown(ServerDown):
    name = "postgres-down"
    summary = "stop a PostgreSQL the drill started; `postgres.connect` must say connect (refused)"
    kind = "postgres"
    check_id = "postgres.connect"


FAULTS: dict[str, type[Fault]] = {f.name: f for f in (KillWorker, FreezeWorker, RestartHost, UnregisteredType,
                                                       OversizedMessage, SlowHandler, FailingHandler, RedisDown,
                                                       PostgresDown)}


def make_fault(name: str, target: DrillTarget) -> Fault:
    """The fault `name` on this target (DrillRefused when it cannot run soundly there). redis-down on a lab
    started --with-redis stops the Redis the lab's store agent depends on; elsewhere a drill-owned one."""
    if name == "redis-down" and target.lab_redis and target.cluster is not None:
        return LabRedisDown(target)
    return FAULTS[name](target)


# --------------------------------------------------------------------------------------------- helpers

async def _pack_check(check_id: str, target: Target, deadline_s: float) -> Result:
    """The shipped pack's check `check_id` on `target`, run as `agentops health` runs it."""
    from agentops.core.packs import PlannedCheck, builtin_pack_dir, load_pack
    from agentops.core.runner import run_check

    spec = next(s for s in load_pack(builtin_pack_dir() / f"{target.kind}.yaml") if s.id == check_id)
    timeout = min(spec.timeout or 3.0, deadline_s)
    return await run_check(PlannedCheck(spec, target, timeout, retries=0, retry_delay=0.0))


def _lab_restart(lab_dir: Path | None, name: str) -> Any:
    from agentops.lab.manager import restart_process

    assert lab_dir is not None
    return restart_process(lab_dir, name, ready_timeout=30.0)


async def _wait_gone(pids: list[int], timeout: float = 5.0) -> None:
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.waitpid(pid, os.WNOHANG)  # our own child (a lab started in-process) must be reaped
            except ChildProcessError:
                pass
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                continue
        if not alive:
            return
        await asyncio.sleep(0.05)


async def _wait_type(address: str, agent_type: str, *, registered: bool, timeout: float) -> bool:
    """Poll the host's inventory until `agent_type` is (or is no longer) registered."""
    from agentops.autogen.client import AgentRpcClient, AgentRpcError

    deadline = time.monotonic() + timeout
    async with AgentRpcClient(address) as client:
        while time.monotonic() < deadline:
            try:
                inv = await client.inventory(timeout=1.0)
                if (agent_type in inv.agent_types) == registered:
                    return True
            except AgentRpcError:
                pass
            await asyncio.sleep(0.1)
    return False


async def _run_undo_cmd(command: str, address: str, agent_type: str, timeout: float = 60.0) -> str:
    proc = await asyncio.create_subprocess_shell(command, stdin=asyncio.subprocess.DEVNULL,
                                                 stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    done = await communicate_within(proc, timeout)
    if done is None:
        return f"--undo-cmd did not finish within {timeout:g}s"
    _, err = done
    if proc.returncode != 0:
        return f"--undo-cmd exited with {proc.returncode}: {err.decode(errors='replace').strip()[-200:]}"
    back = await _wait_type(address, agent_type, registered=True, timeout=30.0)
    return "ran --undo-cmd; " + (f"{agent_type} is registered again" if back else
                                 f"{agent_type} is still not registered after 30s")
