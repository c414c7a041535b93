"""The lab's agents and their messages. Imported only by the worker process (it imports autogen_core).

Every agent handles `Ping{text}`; what it does with it is its behaviour (see `layout.BEHAVIOURS`). The
message classes are plain dataclasses, so on the wire `payload.data_type` is the bare class name ("Ping") and
the data is JSON — an operator pings a lab agent with payload type `Ping` and payload `{"text": "hi"}`.

Every agent also takes `LabControl{mode, delay_s}`: a run-time switch that makes its whole type (every key, on
this worker) slow or failing and back, so a fault drill can break a healthy agent for real and undo it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from autogen_core import MessageContext, RoutedAgent, message_handler

from agentops.lab.jsonlog import trace_id_var
from agentops.lab.metrics import WorkerMetrics
from agentops.lab.runtime import bound

logger = logging.getLogger("agentops.lab.agents")

EVENTS_TOPIC = "lab.events"  # every lab agent type subscribes to it, so inventories show a topic


@dataclass
class Ping:
    text: str = ""


@dataclass
class Pong:
    text: str
    agent: str
    worker: str


@dataclass
class Sleep:
    seconds: float


@dataclass
class Leak:
    mib: int = 1


@dataclass
class Release:
    pass


@dataclass
class LeakStatus:
    leaked_bytes: int


CONTROL_MODES = ("normal", "slow", "fail")


@dataclass
class LabControl:
    """Switch an agent type: "slow" waits `delay_s` before each message (or until switched back), "fail"
    raises instead of handling it, "normal" undoes either."""

    mode: str = "normal"
    delay_s: float = 0.0


@dataclass
class ControlStatus:
    agent_type: str
    mode: str
    delay_s: float
    worker: str


# Reply types must be registered with the worker runtime by hand (RoutedAgent.register registers only the
# types its handlers accept); `NoneType` is deliberately absent.
REPLY_TYPES = (Pong, LeakStatus, ControlStatus)


@dataclass
class WorkerContext:
    """What every agent of one worker process shares."""

    worker: str
    metrics: WorkerMetrics
    slow_seconds: float = 2.0
    leak_kib: int = 1024
    redis_address: str | None = None  # host:port of the lab's Redis (lab up --with-redis)
    leaked: list[bytes] | None = None
    modes: dict[str, LabControl] = field(default_factory=dict)  # agent type -> its LabControl switch
    # Set when a type's mode changes: a handler held by "slow" is released at once by "normal" (the undo).
    mode_changed: dict[str, asyncio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.leaked = []

    def set_mode(self, agent_type: str, control: LabControl) -> None:
        self.modes[agent_type] = control
        old = self.mode_changed.pop(agent_type, None)
        if old is not None:
            old.set()

    async def apply_mode(self, agent_type: str) -> None:
        """What the type's switch does to a message before its handler runs."""
        control = self.modes.get(agent_type)
        if control is None or control.mode == "normal":
            return
        if control.mode == "fail":
            raise RuntimeError(f"{agent_type}: failing on purpose (LabControl mode 'fail')")
        changed = self.mode_changed.setdefault(agent_type, asyncio.Event())
        try:
            await asyncio.wait_for(changed.wait(), max(0.0, control.delay_s))
        except TimeoutError:
            pass

    @property
    def leaked_bytes(self) -> int:
        return sum(len(b) for b in self.leaked or [])

    def leak(self, nbytes: int) -> None:
        # bytes * n writes every page, so the memory is resident (RSS grows), not just reserved.
        assert self.leaked is not None
        self.leaked.append(b"\x5a" * nbytes)
        self.metrics.leaked_bytes.labels(self.worker).set(self.leaked_bytes)

    def release(self) -> None:
        self.leaked = []
        self.metrics.leaked_bytes.labels(self.worker).set(0)


class LabAgent(RoutedAgent):
    """Labels (log context) and logs every message; subclasses only say what to do with it."""

    behaviour = ""

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(f"lab agent ({self.behaviour})")
        self.lab = ctx

    async def on_message_impl(self, message: Any, ctx: MessageContext) -> Any:
        # Counted and timed by agentops.instrument around on_message (the lab uses it as any worker would).
        # The runtime (lab.runtime) bound the request's ids already; a published event reaches several agents,
        # so the agent id is bound here per handler call.
        with bound(f"{self.id.type}/{self.id.key}", ctx.message_id, trace_id_var.get()):
            try:
                logger.info("handling %s", type(message).__name__)
                if not isinstance(message, LabControl):  # the switch itself must work in every mode
                    await self.lab.apply_mode(self.id.type)
                return await super().on_message_impl(message, ctx)
            except Exception as exc:
                logger.error("handler failed: %s: %s", type(exc).__name__, exc, exc_info=True)
                raise

    @message_handler
    async def on_control(self, message: LabControl, ctx: MessageContext) -> ControlStatus:
        if message.mode not in CONTROL_MODES:
            raise ValueError(f"LabControl mode {message.mode!r}: expected one of {', '.join(CONTROL_MODES)}")
        self.lab.set_mode(self.id.type, message)
        logger.warning("%s switched to mode %s (delay %gs)", self.id.type, message.mode, message.delay_s)
        return ControlStatus(agent_type=self.id.type, mode=message.mode, delay_s=message.delay_s,
                             worker=self.lab.worker)

    def pong(self, text: str) -> Pong:
        return Pong(text=text, agent=f"{self.id.type}/{self.id.key}", worker=self.lab.worker)


class EchoAgent(LabAgent):
    behaviour = "echo"

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
        return self.pong(message.text)


class SlowAgent(LabAgent):
    behaviour = "slow"

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
        await asyncio.sleep(self.lab.slow_seconds)
        return self.pong(message.text)

    @message_handler
    async def on_sleep(self, message: Sleep, ctx: MessageContext) -> Pong:
        await asyncio.sleep(max(0.0, message.seconds))
        return self.pong(f"slept {message.seconds:g}s")


class FailingAgent(LabAgent):
    behaviour = "failing"

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
        raise RuntimeError(f"failing agent: deliberate failure handling {message.text!r}")


class NoneAgent(LabAgent):
    behaviour = "none"

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> None:
        # Returning None is the bug on purpose: the runtime has no serializer for NoneType and never replies.
        return None


class LeakAgent(LabAgent):
    behaviour = "leak"

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
        self.lab.leak(self.lab.leak_kib * 1024)
        return self.pong(message.text)

    @message_handler
    async def on_leak(self, message: Leak, ctx: MessageContext) -> LeakStatus:
        self.lab.leak(max(0, message.mib) * 1024 * 1024)
        return LeakStatus(leaked_bytes=self.lab.leaked_bytes)

    @message_handler
    async def on_release(self, message: Release, ctx: MessageContext) -> LeakStatus:
        self.lab.release()
        return LeakStatus(leaked_bytes=0)


class StoreAgent(LabAgent):
    """Depends on the lab's Redis for real: a Redis that is down makes its handler raise redis-py's own
    ConnectionError, which is what the caller gets (the redis-down drill)."""

    behaviour = "store"

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__(ctx)
        self.redis: Any = None

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Pong:
        if self.redis is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            if not self.lab.redis_address:
                raise RuntimeError("store agent: this worker was started without --redis")
            host, _, port = self.lab.redis_address.rpartition(":")
            # No retries: a Redis that is down must fail this message now, not after a back-off; the pool
            # reconnects by itself on the next message once Redis is back.
            self.redis = Redis(host=host, port=int(port), socket_timeout=2.0, socket_connect_timeout=2.0,
                               retry=Retry(NoBackoff(), 0))
        await self.redis.set(f"lab:store:{self.id.key}", message.text)
        return self.pong(message.text)


AGENT_CLASSES: dict[str, type[LabAgent]] = {
    cls.behaviour: cls for cls in (EchoAgent, SlowAgent, FailingAgent, NoneAgent, LeakAgent, StoreAgent)
}
