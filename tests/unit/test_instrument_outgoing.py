"""agentops.instrument counts the calls an agent makes to other agent types (finished, by outcome, and those
still waiting for their reply), on a real autogen-core SingleThreadedAgentRuntime: a relay whose handler
calls echo, an echo that answers, raises, or holds the call until released."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

pytest.importorskip("autogen_core")

from autogen_core import (
    AgentId,
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    message_handler,
)

from agentops.instrument import AgentMetrics


@dataclass
class Ping:
    text: str


class Echo(RoutedAgent):
    release = asyncio.Event()  # replaced per test (an Event binds no loop until first used)

    def __init__(self) -> None:
        super().__init__("echo")

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Ping:
        if message.text == "raise":
            raise ValueError("echo fails on purpose")
        if message.text == "hold":
            await Echo.release.wait()
        return Ping(message.text)


class Relay(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("relay")

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Ping:
        return await self.send_message(message, AgentId("echo", "k"))


def sample(metrics: AgentMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"worker": "w", **labels})
    return 0.0 if value is None else value


def test_outgoing_calls_by_caller_target_and_outcome() -> None:
    async def main() -> AgentMetrics:
        Echo.release = asyncio.Event()
        runtime = SingleThreadedAgentRuntime()
        metrics = AgentMetrics(runtime, worker="w", process_metrics=False)
        await Echo.register(runtime, "echo", Echo)
        await Relay.register(runtime, "relay", Relay)
        runtime.start()
        relay = AgentId("relay", "k")
        assert (await runtime.send_message(Ping("hi"), relay)).text == "hi"
        with pytest.raises(ValueError, match="on purpose"):
            await runtime.send_message(Ping("raise"), relay)
        held = asyncio.create_task(runtime.send_message(Ping("hold"), relay))
        # The relay's call to echo is waiting: the gauge says so while it waits (polled, not slept on).
        while sample(metrics, "agent_outgoing_in_flight", agent_type="relay", target_type="echo") < 1:
            await asyncio.sleep(0.01)
        assert sample(metrics, "agent_outgoing_calls_total", agent_type="relay", target_type="echo",
                      outcome="ok") == 1
        Echo.release.set()
        assert (await held).text == "hold"
        await runtime.stop_when_idle()
        return metrics

    metrics = asyncio.run(main())
    calls = {outcome: sample(metrics, "agent_outgoing_calls_total", agent_type="relay", target_type="echo",
                             outcome=outcome) for outcome in ("ok", "error")}
    assert calls == {"ok": 2, "error": 1}
    assert sample(metrics, "agent_outgoing_in_flight", agent_type="relay", target_type="echo") == 0
    # The script's own calls (no sending agent) are counted under an empty caller type.
    assert sample(metrics, "agent_outgoing_calls_total", agent_type="", target_type="relay", outcome="ok") == 2
    assert sample(metrics, "agent_outgoing_calls_total", agent_type="", target_type="relay", outcome="error") == 1
    # The handlers themselves are still counted as before.
    assert sample(metrics, "agent_message_count_total", agent_type="echo", outcome="error") == 1
