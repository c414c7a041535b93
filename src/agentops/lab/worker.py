"""A lab worker process: `python -m agentops.lab.worker --name w1 --state-dir DIR --host 127.0.0.1:PORT
--agents echo,slow,leak`. A real `GrpcWorkerAgentRuntime` with the lab's agents, JSON logs and /metrics.

Started by `agentops lab up` (lab.manager); runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from agentops.core.cluster import LOG_FORMATS
from agentops.lab.jsonlog import setup_logging
from agentops.lab.layout import BIND, LabLayout, parse_agents

logger = logging.getLogger("agentops.lab.worker")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agentops.lab.worker")
    p.add_argument("--name", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--host", required=True, help="the AgentRpc host, host:port")
    p.add_argument("--agents", required=True, help="type[=behaviour],… e.g. echo,slow,echo2=echo")
    p.add_argument("--metrics-port", type=int, default=0, help="0 = any free port (written to run/)")
    p.add_argument("--slow-seconds", type=float, default=2.0)
    p.add_argument("--leak-kib", type=int, default=1024)
    p.add_argument("--redis", default=None, help="host:port of the lab's Redis (the store agent writes there)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=LOG_FORMATS, default="json")
    return p


async def run(args: argparse.Namespace, layout: LabLayout) -> None:
    from autogen_core import TypeSubscription, try_get_known_serializers_for_type

    from agentops.lab.agents import AGENT_CLASSES, EVENTS_TOPIC, REPLY_TYPES, WorkerContext
    from agentops.lab.metrics import WorkerMetrics
    from agentops.lab.runtime import lab_runtime_class, log_task_exceptions

    asyncio.get_running_loop().set_exception_handler(log_task_exceptions)
    agents = parse_agents(args.agents)
    runtime = lab_runtime_class()(host_address=args.host)
    # agentops.instrument, as any user's worker would add it: before the agents are registered.
    metrics = WorkerMetrics.create(runtime, args.name)
    ctx = WorkerContext(worker=args.name, metrics=metrics, slow_seconds=args.slow_seconds,
                        leak_kib=args.leak_kib, redis_address=args.redis)
    port = metrics.serve(args.metrics_port, BIND)
    layout.port_file(args.name).write_text(f"{port}\n")

    await runtime.start()
    client_id = getattr(getattr(runtime, "_host_connection", None), "_client_id", "")
    layout.client_id_file(args.name).write_text(f"{client_id}\n")
    for reply_type in REPLY_TYPES:
        runtime.add_message_serializer(try_get_known_serializers_for_type(reply_type))
    for agent_type, behaviour in agents.items():
        cls = AGENT_CLASSES[behaviour]
        await cls.register(runtime, agent_type, lambda cls=cls: cls(ctx))
        await runtime.add_subscription(TypeSubscription(topic_type=EVENTS_TOPIC, agent_type=agent_type))
    logger.info("worker %s ready: client %s, host %s, agent types %s, metrics port %d", args.name, client_id,
                args.host, ",".join(agents), port)
    await runtime.stop_when_signal()
    logger.info("worker %s stopped", args.name)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    layout = LabLayout(args.state_dir)
    setup_logging(layout.log_file(args.name), args.name, args.log_level, args.log_format)
    try:
        asyncio.run(run(args, layout))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        logger.critical("worker %s failed: %s: %s", args.name, type(exc).__name__, exc, exc_info=True)
        print(f"worker {args.name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
