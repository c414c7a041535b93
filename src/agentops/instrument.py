"""Prometheus metrics for any AutoGen worker, in the families agentops' packs and diagnosis read.

Added to a worker in two lines, before its agents are registered:

    from agentops.instrument import AgentMetrics

    runtime = GrpcWorkerAgentRuntime(host_address="hub:50051")
    metrics = AgentMetrics(runtime, worker="w1")   # 1: count and time every handler call
    metrics.serve(port=9464)                       # 2: /metrics on that port
    await runtime.start()
    await EchoAgent.register(runtime, "echo", EchoAgent)   # unchanged

Names as scraped (prometheus_client adds `_total` to counters and `_bucket/_sum/_count` to histograms):

    agent_message_count_total{worker, agent_type, outcome}      handler calls (outcome: ok | error)
    agent_errors_total{worker, agent_type, error}                handler exceptions, by exception class
    agent_response_time_bucket/_sum/_count{worker, agent_type}   handler time in seconds
    runtime_active_agents{worker}                                agent instances created in this worker
    runtime_message_queue_size{worker}                           handler calls running + messages read, not
                                                                 yet dispatched
    agent_outgoing_calls_total{worker, agent_type, target_type, outcome}
                                                                 send_message calls an agent made, finished,
                                                                 by the type called (outcome: ok | error)
    agent_outgoing_in_flight{worker, agent_type, target_type}   send_message calls waiting for their reply now
plus prometheus_client's process_* and python_info metrics of the worker process.

Why not an InterventionHandler: autogen-ext 0.7.5's `GrpcWorkerAgentRuntime.__init__` takes host_address,
tracer_provider, extra_grpc_config and payload_serialization_format only, and never calls an intervention
handler; only `SingleThreadedAgentRuntime` does, and there on_send/on_response see a message pass, not the
handler's time or its exception. So the measurement sits where the handler runs: `AgentMetrics(runtime)`
wraps the runtime's public `register_factory` / `register_agent_instance` (the doors `RoutedAgent.register`
and `register_instance` go through), and each agent they create gets its `on_message` timed and counted.
A handler's exception propagates unchanged: the gRPC runtime turns it into `RpcResponse.error` (a request)
or logs "Error handling event" (a published event). Works the same on `SingleThreadedAgentRuntime`.
It also wraps the runtime's `send_message` (the door `BaseAgent.send_message` goes through) to count the
calls each agent type makes to other types and those still waiting: what `diagnose message` follows when
an agent does not answer because something it calls does not (docs/diagnose.md, "Following the hop").

This module imports only prometheus_client (autogen_core only for type checking) and nothing else of
agentops, so it runs in a worker's own environment: install agentops without its dependencies
(`pip install --no-deps agentops-cli`) or copy this one file.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

if TYPE_CHECKING:
    from autogen_core import Agent, AgentId, AgentRuntime, AgentType, MessageContext

# Seconds, 1 ms … 30 s: a fast handler, the KPI pack's 2 s / 5 s limits and a diagnosis deadline all fall
# on bucket edges or inside the range.
RESPONSE_TIME_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

MESSAGES = "agent_message_count"
ERRORS = "agent_errors"
RESPONSE_TIME = "agent_response_time"
ACTIVE_AGENTS = "runtime_active_agents"
QUEUE_SIZE = "runtime_message_queue_size"
OUTGOING_CALLS = "agent_outgoing_calls"
OUTGOING_IN_FLIGHT = "agent_outgoing_in_flight"

_MARK = "_agentops_instrumented"  # set on an agent whose on_message is already wrapped


def _received_not_dispatched(runtime: object) -> int:
    # GrpcWorkerAgentRuntime 0.7.5 reads the host stream into HostConnection._recv_queue and its read loop
    # turns each message into a task at once; no public accessor exists, so this is best effort (0 when
    # the runtime has no such queue, e.g. SingleThreadedAgentRuntime or another version).
    queue = getattr(getattr(runtime, "_host_connection", None), "_recv_queue", None)
    qsize = getattr(queue, "qsize", None)
    return int(qsize()) if callable(qsize) else 0


class AgentMetrics:
    """The metrics of one worker process. `registry` is public so a worker can add families of its own."""

    def __init__(self, runtime: AgentRuntime | None = None, *, worker: str,
                 registry: CollectorRegistry | None = None,
                 buckets: tuple[float, ...] = RESPONSE_TIME_BUCKETS, process_metrics: bool = True) -> None:
        self.worker = worker
        # A private registry by default: the names stay exactly these, whatever else the process exports.
        self.registry = registry if registry is not None else CollectorRegistry()
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        labels = ("worker", "agent_type")
        self.messages = Counter(MESSAGES, "Messages handled by agents, by outcome", [*labels, "outcome"],
                                registry=self.registry)
        self.errors = Counter(ERRORS, "Exceptions raised by agent handlers, by class", [*labels, "error"],
                              registry=self.registry)
        self.response_time = Histogram(RESPONSE_TIME, "Time an agent handler took, in seconds", labels,
                                       buckets=buckets, registry=self.registry)
        self.active_agents = Gauge(ACTIVE_AGENTS, "Agent instances created in this worker", ["worker"],
                                   registry=self.registry)
        self.queue_size = Gauge(QUEUE_SIZE, "Handler calls running plus messages read and not yet dispatched",
                                ["worker"], registry=self.registry)
        # What an agent waits on: AutoGen's send_message has no timeout, so a call to a dead or frozen type
        # stays in flight for ever, and these are the only trace of it in the caller's process.
        self.outgoing = Counter(OUTGOING_CALLS, "send_message calls agents made, by the type called and outcome",
                                [*labels, "target_type", "outcome"], registry=self.registry)
        self.outgoing_in_flight = Gauge(OUTGOING_IN_FLIGHT, "send_message calls waiting for their reply",
                                        [*labels, "target_type"], registry=self.registry)
        self.in_flight = 0  # handler calls running now
        self._runtimes: list[object] = []
        self.active_agents.labels(worker).set(0)
        self.queue_size.labels(worker).set_function(
            lambda: self.in_flight + sum(_received_not_dispatched(r) for r in self._runtimes))
        if runtime is not None:
            self.attach(runtime)

    def attach(self, runtime: AgentRuntime) -> AgentMetrics:
        """Instrument every agent `runtime` creates from now on. Call it before registering agents: a type
        registered earlier is not measured."""
        register_factory = runtime.register_factory
        register_agent_instance = runtime.register_agent_instance
        send_message = runtime.send_message

        async def instrumented_register_factory(type: str | AgentType,
                                                agent_factory: Callable[[], Agent | Awaitable[Agent]], *,
                                                expected_class: type[Agent] | None = None) -> AgentType:
            return await register_factory(type=type, agent_factory=self._instrumented_factory(agent_factory),
                                          expected_class=expected_class)

        async def instrumented_register_agent_instance(agent_instance: Agent, agent_id: AgentId) -> AgentId:
            registered = await register_agent_instance(agent_instance=agent_instance, agent_id=agent_id)
            self.instrument_agent(agent_instance)
            return registered

        async def instrumented_send_message(message: Any, recipient: AgentId, **kwargs: Any) -> Any:
            # BaseAgent.send_message calls the runtime's with sender=self.id: the caller's type. A call from
            # outside any agent (a script's own runtime.send_message) has no sender type.
            sender = kwargs.get("sender")
            labels = (self.worker, sender.type if sender is not None else "", recipient.type)
            waiting = self.outgoing_in_flight.labels(*labels)
            waiting.inc()
            outcome = "error"
            try:
                reply = await send_message(message, recipient, **kwargs)
                outcome = "ok"
                return reply
            finally:
                waiting.dec()
                self.outgoing.labels(*labels, outcome).inc()

        # Instance attributes shadow the class's methods for this runtime object only.
        runtime.register_factory = instrumented_register_factory  # type: ignore[method-assign]
        runtime.register_agent_instance = instrumented_register_agent_instance  # type: ignore[method-assign]
        runtime.send_message = instrumented_send_message  # type: ignore[method-assign]
        self._runtimes.append(runtime)
        return self

    def _instrumented_factory(self, factory: Callable[[], Agent | Awaitable[Agent]]
                              ) -> Callable[[], Awaitable[Agent]]:
        # Both runtimes call a registered factory with no arguments (their own factory_wrapper does).
        async def instrumented() -> Agent:
            agent = factory()
            if inspect.isawaitable(agent):
                agent = await agent
            return self.instrument_agent(agent)

        return instrumented

    def instrument_agent(self, agent: Agent) -> Agent:
        """Count and time every call of `agent.on_message` (the runtime's only way into a handler)."""
        if getattr(agent, _MARK, False):
            return agent
        handle = agent.on_message

        async def on_message(message: Any, ctx: MessageContext) -> Any:
            agent_type = agent.id.type
            self.in_flight += 1
            started = time.perf_counter()
            outcome, error = "ok", ""
            try:
                return await handle(message, ctx=ctx)
            except BaseException as exc:  # CancelledError too: the caller gets an error reply for it
                outcome, error = "error", type(exc).__name__
                raise
            finally:
                self.in_flight -= 1
                self.response_time.labels(self.worker, agent_type).observe(time.perf_counter() - started)
                # The message and its error are counted back to back: the exporter is another thread, and a
                # scrape between the two puts one in a window without the other (a window then read 59 of
                # 60 failed).
                self.messages.labels(self.worker, agent_type, outcome).inc()
                if error:
                    self.errors.labels(self.worker, agent_type, error).inc()

        agent.on_message = on_message  # type: ignore[method-assign]
        setattr(agent, _MARK, True)
        self.active_agents.labels(self.worker).inc()
        return agent

    def serve(self, port: int = 9464, addr: str = "0.0.0.0") -> int:
        """Serve /metrics (a daemon thread, as prometheus_client does) and return the port (port 0: any free
        one). The address defaults to every interface, as prometheus_client's does, so Prometheus and
        agentops on another machine can scrape it; pass addr="127.0.0.1" to keep it local."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(server.server_port)
