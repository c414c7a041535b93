"""The Prometheus metrics a lab worker exposes on its /metrics endpoint: exactly what `agentops.instrument`
exports for any AutoGen worker (messages, errors, handler time, active agents, queue size — see that module),
plus one lab-only family on the same registry:

    lab_leaked_bytes{worker}                                  what the leak agents hold on purpose
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import Gauge

from agentops.instrument import AgentMetrics

if TYPE_CHECKING:
    from autogen_core import AgentRuntime


@dataclass
class WorkerMetrics:
    agent: AgentMetrics
    leaked_bytes: Gauge
    worker: str

    @classmethod
    def create(cls, runtime: AgentRuntime, worker: str) -> WorkerMetrics:
        """Instrument `runtime` (before any agent is registered on it) and add the lab's own family."""
        agent = AgentMetrics(runtime, worker=worker)
        leaked = Gauge("lab_leaked_bytes", "Memory the lab's leak agents hold on purpose", ["worker"],
                       registry=agent.registry)
        leaked.labels(worker).set(0)
        return cls(agent=agent, leaked_bytes=leaked, worker=worker)

    def serve(self, port: int, addr: str) -> int:
        return self.agent.serve(port, addr)
