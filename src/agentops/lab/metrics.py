"""The Prometheus metrics a lab worker exposes on its /metrics endpoint.

Names as scraped (prometheus_client adds `_total` to counters and `_bucket/_sum/_count` to histograms):

    agent_message_count_total{worker, agent_type, outcome}   messages handled (outcome: ok | error)
    agent_errors_total{worker, agent_type, error}             handler exceptions, by exception class
    agent_response_time_bucket/_sum/_count{worker, agent_type}   handler time in seconds
    runtime_active_agents{worker}                             agent instances alive (one per type/key used)
    runtime_message_queue_size{worker}                        messages received and not yet answered
    lab_leaked_bytes{worker}                                  what the leak agents hold on purpose
plus prometheus_client's default process_* metrics (RSS, CPU, open fds) of the worker process.

A private registry keeps the names exactly these (no collision with a library's metrics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Seconds; the slow agent's default 2 s and a diagnosis deadline sit inside the range.
RESPONSE_TIME_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class WorkerMetrics:
    registry: Any
    message_count: Any
    errors: Any
    response_time: Any
    active_agents: Any
    queue_size: Any
    leaked_bytes: Any
    worker: str

    @classmethod
    def create(cls, worker: str, queue_size: Callable[[], float]) -> WorkerMetrics:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.platform_collector import PlatformCollector
        from prometheus_client.process_collector import ProcessCollector

        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        labels = ("worker", "agent_type")
        metrics = cls(
            registry=registry,
            message_count=Counter("agent_message_count", "Messages handled by lab agents",
                                  [*labels, "outcome"], registry=registry),
            errors=Counter("agent_errors", "Exceptions raised by lab agent handlers", [*labels, "error"],
                           registry=registry),
            response_time=Histogram("agent_response_time", "Time a lab agent handler took, in seconds", labels,
                                    buckets=RESPONSE_TIME_BUCKETS, registry=registry),
            active_agents=Gauge("runtime_active_agents", "Agent instances alive in this worker", ["worker"],
                                registry=registry),
            queue_size=Gauge("runtime_message_queue_size", "Messages received and not yet answered",
                             ["worker"], registry=registry),
            leaked_bytes=Gauge("lab_leaked_bytes", "Memory the lab's leak agents hold on purpose", ["worker"],
                               registry=registry),
            worker=worker,
        )
        metrics.queue_size.labels(worker).set_function(queue_size)
        metrics.active_agents.labels(worker).set(0)
        metrics.leaked_bytes.labels(worker).set(0)
        return metrics

    def serve(self, port: int = 0, addr: str = "127.0.0.1") -> int:
        """Start the /metrics HTTP server (a daemon thread, as prometheus_client does) and return its port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(server.server_port)
