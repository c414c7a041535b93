"""agentops' load generator beside AutoGen's own client (`GrpcWorkerAgentRuntime.send_message`), against the
same lab, in one run, in alternating rounds so both see the same machine:

  cpu/request  both send Ping to echo at the same open-model rate (--rate, default 500/s) for --duration
               seconds; each client is its own child process and reports the CPU time (all its threads) it
               spent while sending, divided by the requests answered. Goal: agentops <= 0.5x AutoGen.
  max rate     both run closed-model with --concurrency requests in flight for --duration seconds and report
               replies per second: the highest rate each drives against this lab on this machine. Goal:
               agentops >= 1x AutoGen. (Client, host and worker share the machine's cores, so a client that
               costs less CPU leaves more to the cluster.)

AutoGen's side is what an application does to send at a rate: one task per send_message (open model) or C
tasks each awaiting send_message in a loop (closed model). Medians over --rounds; ratios printed last.

Run: .venv/bin/python bench/bench_load.py [--rate 500] [--concurrency 64] [--duration 5] [--rounds 3]
     [--log-level WARNING]   (needs the [lab] extra)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

AGENTOPS_CHILD = r"""
import asyncio, json, sys, time
from agentops.autogen.client import AgentRpcClient
from agentops.load.engine import LoadSpec, run_load
from agentops.load.stream import RequestStream

async def main(address, mode, value, duration):
    async with AgentRpcClient(address) as client:
        stream = RequestStream(client, "echo", "bench", "Ping", b'{"text": "hi"}')
        await stream.open(10)
        await run_load(stream, LoadSpec(concurrency=4, count=50, timeout_s=10))  # warm-up
        spec = LoadSpec(rate=value, duration_s=duration, timeout_s=10) if mode == "open" else \
            LoadSpec(concurrency=int(value), duration_s=duration, timeout_s=10)
        cpu0 = time.process_time()
        stats = await run_load(stream, spec)
        cpu = time.process_time() - cpu0
        await stream.close()
    print(json.dumps({"ok": stats.ok, "failed": stats.failed, "cpu_s": cpu, "elapsed_s": stats.elapsed_s,
                      "p50_s": stats.latency.quantile(0.5), "p99_s": stats.latency.quantile(0.99)}))

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
"""

AUTOGEN_CHILD = r"""
import asyncio, json, sys, time

async def main(address, mode, value, duration):
    from autogen_core import AgentId, try_get_known_serializers_for_type
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime
    from agentops.lab.agents import Ping, Pong

    runtime = GrpcWorkerAgentRuntime(host_address=address)
    await runtime.start()
    for t in (Ping, Pong):
        runtime.add_message_serializer(try_get_known_serializers_for_type(t))
    target = AgentId("echo", "bench")
    await asyncio.gather(*(runtime.send_message(Ping(text="warm"), target) for _ in range(50)))  # warm-up
    loop = asyncio.get_running_loop()
    latencies = []

    async def one(started):
        await runtime.send_message(Ping(text="hi"), target)
        latencies.append(loop.time() - started)

    cpu0 = time.process_time()
    t0 = loop.time()
    if mode == "open":
        tasks = []
        for i in range(int(value * duration)):
            due = t0 + i / value
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    else:
        async def slot():
            while loop.time() < t0 + duration:
                await one(loop.time())
        await asyncio.gather(*(slot() for _ in range(int(value))))
    elapsed = loop.time() - t0
    cpu = time.process_time() - cpu0
    await runtime.stop()
    latencies.sort()
    n = len(latencies)
    print(json.dumps({"ok": n, "failed": 0, "cpu_s": cpu, "elapsed_s": elapsed,
                      "p50_s": latencies[n // 2], "p99_s": latencies[min(n - 1, int(0.99 * n))]}))

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
"""


def child(code: str, address: str, mode: str, value: float, duration: float) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", code, address, mode, str(value), str(duration)],
                          capture_output=True, text=True, timeout=duration * 10 + 120, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"bench child failed ({mode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def run(address: str, args: argparse.Namespace) -> None:
    sides = {"agentops": AGENTOPS_CHILD, "autogen": AUTOGEN_CHILD}
    cpu: dict[str, list[dict[str, float]]] = {s: [] for s in sides}
    top: dict[str, list[dict[str, float]]] = {s: [] for s in sides}
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for side in order:
            cpu[side].append(child(sides[side], address, "open", args.rate, args.duration))
        for side in order:
            top[side].append(child(sides[side], address, "closed", args.concurrency, args.duration))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    print(f"\nopen model, {args.rate:g} req/s for {args.duration:g}s, medians of {args.rounds} rounds:")
    per_req = {}
    for side, rows in cpu.items():
        per_req[side] = statistics.median(row["cpu_s"] / max(1, row["ok"]) for row in rows) * 1000
        print(f"  {side:9s} CPU {per_req[side]:.3f} ms/request   replies {median(rows, 'ok'):.0f}, failed "
              f"{median(rows, 'failed'):.0f}, p50 {median(rows, 'p50_s') * 1000:.1f} ms, p99 "
              f"{median(rows, 'p99_s') * 1000:.1f} ms")
    print(f"\nclosed model, {args.concurrency} in flight for {args.duration:g}s:")
    rate = {}
    for side, rows in top.items():
        rate[side] = statistics.median(row["ok"] / row["elapsed_s"] for row in rows)
        print(f"  {side:9s} {rate[side]:8.0f} replies/s   p50 {median(rows, 'p50_s') * 1000:.1f} ms, p99 "
              f"{median(rows, 'p99_s') * 1000:.1f} ms, CPU "
              f"{statistics.median(r['cpu_s'] / max(1, r['ok']) for r in rows) * 1000:.3f} ms/request")
    print("\nratios (agentops / AutoGen):")
    print(f"  CPU per request at {args.rate:g}/s: {per_req['agentops'] / per_req['autogen']:.2f}x   (goal <= 0.5x)")
    print(f"  highest rate driven:        {rate['agentops'] / rate['autogen']:.2f}x   (goal >= 1x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--host", help="a running lab's AgentRpc host (default: start one)")
    parser.add_argument("--log-level", default="WARNING", help="the started lab's log level (the host logs every "
                        "message twice at INFO, which would make the lab the bottleneck)")
    args = parser.parse_args()
    if args.host:
        run(args.host, args)
        return
    from agentops.lab import manager

    with tempfile.TemporaryDirectory(prefix="agentops-bench-load-") as tmp:
        lab = manager.up(manager.LabOptions(dir=Path(tmp) / "lab", log_level=args.log_level))
        try:
            run(lab.host_address, args)
        finally:
            manager.down(Path(tmp) / "lab", grace=5.0)


if __name__ == "__main__":
    main()
