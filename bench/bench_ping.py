"""agentops' AgentRpc ping beside AutoGen's own `GrpcWorkerAgentRuntime.send_message`, against the same lab.

Starts a lab (agentops.lab.manager, a temp dir) or uses --host of a running one, then in the same process and
the same run, in alternating rounds so both sides see the same machine load:

  anchor   AutoGen: a GrpcWorkerAgentRuntime with no agents of its own sends Ping to echo/bench and awaits
           the Pong (send_message: the runtime's one long-lived OpenChannel stream, through host and worker)
  ping     agentops: AgentRpcClient.ping("echo") on one client — a fresh OpenChannel stream per ping (as a
           probe run does), uuid request id, traceparent, deadline; `rtt` is request written -> reply read,
           `call` the whole ping() call including opening and closing the stream
  connect  a new AgentRpcClient's connect() (TCP + HTTP/2 handshake), for the record

Printed: p50 / mean / p95 in ms for each, and ratios to the anchor (p50 and mean). A ratio near 1 means the
probe costs what the application's own call costs; > 1 is the price of a fresh stream per ping.

Run: .venv/bin/python bench/bench_ping.py [--n 400] [--rounds 8] [--host HOST:PORT] [--log-level INFO]
(needs the [lab] extra; with --host the lab must have an `echo` agent answering Ping {"text": str}).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return statistics.median(ordered), statistics.fmean(ordered), p95


async def measure(address: str, n: int, rounds: int) -> dict[str, list[float]]:
    from autogen_core import AgentId, try_get_known_serializers_for_type
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    from agentops.autogen.client import AgentRpcClient
    from agentops.lab.agents import Ping, Pong

    runtime = GrpcWorkerAgentRuntime(host_address=address)
    await runtime.start()
    for t in (Ping, Pong):
        runtime.add_message_serializer(try_get_known_serializers_for_type(t))
    target = AgentId("echo", "bench")
    samples: dict[str, list[float]] = {"send_message": [], "ping rtt": [], "ping call": [], "connect": []}
    per_round = max(1, n // rounds)
    async with AgentRpcClient(address) as client:
        for _ in range(20):  # warm-up: agent instances created, connections up, caches hot
            await runtime.send_message(Ping(text="warm"), target)
            await client.ping("echo", payload_type="Ping", payload={"text": "warm"}, timeout=5)
        for _ in range(rounds):
            for _ in range(per_round):
                t0 = time.perf_counter()
                reply = await asyncio.wait_for(runtime.send_message(Ping(text="hi"), target), 5)
                samples["send_message"].append((time.perf_counter() - t0) * 1000)
                assert isinstance(reply, Pong), reply
            for _ in range(per_round):
                t0 = time.perf_counter()
                result = await client.ping("echo", payload_type="Ping", payload={"text": "hi"}, timeout=5)
                samples["ping call"].append((time.perf_counter() - t0) * 1000)
                assert result.ok, result
                samples["ping rtt"].append(result.latency_ms or 0.0)
            for _ in range(max(1, per_round // 10)):
                async with AgentRpcClient(address) as fresh:
                    samples["connect"].append(await fresh.connect(5))
    await runtime.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="round trips per side")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds")
    parser.add_argument("--host", help="a running lab's AgentRpc host (default: start one)")
    parser.add_argument("--log-level", default="INFO", help="the started lab's log level")
    args = parser.parse_args()

    from agentops.lab import manager

    tmp = None
    address = args.host
    if address is None:
        tmp = tempfile.TemporaryDirectory(prefix="agentops-bench-lab-")
        manifest = manager.up(manager.LabOptions(dir=Path(tmp.name), log_level=args.log_level.upper()))
        address = manifest.host_address
    try:
        samples = asyncio.run(measure(address, args.n, args.rounds))
    finally:
        if tmp is not None:
            manager.down(Path(tmp.name), grace=3)
            tmp.cleanup()

    anchor_p50, anchor_mean, _ = summary(samples["send_message"])
    print(f"AgentRpc round trip to echo via {address} ({len(samples['send_message'])} per side, "
          f"{args.rounds} alternating rounds)")
    print(f"{'':<28}{'p50 ms':>9}{'mean ms':>9}{'p95 ms':>9}{'p50 ratio':>11}{'mean ratio':>12}")
    for name, label in (("send_message", "anchor: AutoGen send_message"), ("ping rtt", "agentops ping (rtt)"),
                        ("ping call", "agentops ping (whole call)"), ("connect", "agentops connect")):
        p50, mean, p95 = summary(samples[name])
        ratio = "" if name == "connect" else f"{p50 / anchor_p50:>10.2f}x{mean / anchor_mean:>11.2f}x"
        print(f"{label:<28}{p50:>9.2f}{mean:>9.2f}{p95:>9.2f}{ratio}")


if __name__ == "__main__":
    main()
