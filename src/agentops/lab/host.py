"""The lab's AgentRpc host process: `python -m agentops.lab.host --state-dir DIR --port PORT`.

A real `GrpcWorkerAgentRuntimeHost` bound to loopback without port sharing (gRPC's Python server sets
SO_REUSEPORT by default, which would let two hosts share a port silently), JSON logs, until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from agentops.core.cluster import LOG_FORMATS
from agentops.lab.jsonlog import setup_logging
from agentops.lab.layout import BIND, HOST, LabLayout

logger = logging.getLogger("agentops.lab.host")

# Exit status when the port cannot be bound, so the manager can say "port in use" rather than "crashed".
EXIT_BIND_FAILED = 98


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agentops.lab.host")
    p.add_argument("--name", default=HOST)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bind", default=BIND)
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=LOG_FORMATS, default="json")
    return p


async def run(args: argparse.Namespace, layout: LabLayout) -> int:
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntimeHost

    address = f"{args.bind}:{args.port}"
    try:
        host = GrpcWorkerAgentRuntimeHost(address=address, extra_grpc_config=[("grpc.so_reuseport", 0)])
    except RuntimeError as exc:  # grpc: "Failed to bind to address …"
        logger.critical("cannot listen on %s: %s", address, exc)
        print(f"cannot listen on {address}: {exc}", file=sys.stderr)
        return EXIT_BIND_FAILED
    host.start()
    await asyncio.sleep(0)  # let the serve task start the server before announcing the port
    layout.port_file(args.name).write_text(f"{args.port}\n")
    logger.info("host ready on %s", address)
    await host.stop_when_signal(grace=1)
    return 0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    layout = LabLayout(args.state_dir)
    setup_logging(layout.log_file(args.name), args.name, args.log_level, args.log_format)
    try:
        code = asyncio.run(run(args, layout))
    except KeyboardInterrupt:
        code = 0
    except Exception as exc:
        logger.critical("host failed: %s: %s", type(exc).__name__, exc, exc_info=True)
        print(f"host failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
