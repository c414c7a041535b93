"""Switch a lab agent type slow, failing or back to normal at run time, over agentops' own AgentRpc client.

Every lab agent handles a `LabControl{mode, delay_s}` message (agentops.lab.agents); this sends one to the type
and returns the worker's `ControlStatus` reply. No autogen import: it is a ping with another payload, the same
one an operator can send with `agentops diagnose message --to echo --payload-type LabControl --payload …`.
"""

from __future__ import annotations

from typing import Any

CONTROL_PAYLOAD_TYPE = "LabControl"
CONTROL_KEY = "agentops-control"  # its own agent instance, so the probe's instance is not the one switched


class ControlError(Exception):
    """The switch was not confirmed: a one-line reason."""


async def set_mode(address: str, agent_type: str, mode: str, delay_s: float = 0.0,
                   timeout: float = 3.0) -> dict[str, Any]:
    """Set `agent_type`'s mode ("normal", "slow", "fail") and return the worker's confirmation."""
    from agentops.autogen.client import AgentRpcClient

    async with AgentRpcClient(address) as client:
        result = await client.ping(agent_type, payload_type=CONTROL_PAYLOAD_TYPE,
                                   payload={"mode": mode, "delay_s": delay_s}, key=CONTROL_KEY, timeout=timeout)
    if result.outcome != "reply" or not isinstance(result.reply, dict) or result.reply.get("mode") != mode:
        detail = result.error or (f"reply {result.reply!r}" if result.outcome == "reply" else result.outcome)
        raise ControlError(f"{agent_type} did not confirm mode {mode!r}: {detail} (is it a lab agent?)")
    return result.reply
