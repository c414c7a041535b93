"""What `agentops profile` costs the process it samples, and itself.

A target process does a fixed amount of Python work (allocating, so USS reads of its smaps have something to
walk) each time it is told to, and reports how long that took. Rounds alternate, on the same target:

  none            nobody watches it (the anchor)
  psutil 1 s      the profiler's default interval
  psutil 0.1 s    ten times as often
  + py-spy        0.1 s sampling and py-spy stacks at 50 Hz (--stacks), non-blocking

Printed: the target's median wall time for the work and its slowdown against the anchor (the profiler's
overhead on the sampled process: goal well under 5 % at the default interval), and the profiler's own CPU
per sample (and py-spy's CPU share). Machine noise is reported as the spread of the anchor.

Run: .venv/bin/python bench/bench_profile.py [--rounds 5] [--work 3000000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time

TARGET = r"""
import sys, time
def work(n):
    keep = []
    for i in range(n):
        keep.append([i, i * 2, str(i)])
        if len(keep) > 50000:
            keep.clear()
print("ready", flush=True)
for line in sys.stdin:
    n = int(line)
    t0 = time.perf_counter()
    work(n)
    print(time.perf_counter() - t0, flush=True)
"""


async def one_round(proc: asyncio.subprocess.Process, work: int, mode: str) -> dict[str, float]:
    import psutil

    from agentops.profile import stacks
    from agentops.profile.sampler import sample

    target = psutil.Process(proc.pid)
    stop = asyncio.Event()
    assert proc.stdin is not None and proc.stdout is not None
    cpu0 = time.process_time()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc.stdin.write(f"{work}\n".encode())
    await proc.stdin.drain()
    watchers = []
    if mode != "none":
        interval = 1.0 if mode == "psutil 1 s" else 0.1
        watchers.append(asyncio.create_task(sample([(target, "target")], 3600, interval, stop=stop)))
    if mode == "+ py-spy":
        watchers.append(asyncio.create_task(stacks.record(proc.pid, 2.0, rate=50)))
    line = await proc.stdout.readline()
    stop.set()
    results = await asyncio.gather(*watchers)
    own_cpu = time.process_time() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    spy_cpu = (children.ru_utime + children.ru_stime) - (children0.ru_utime + children0.ru_stime)
    ticks = results[0].ticks if results else 0
    return {"wall": float(line), "own_cpu": own_cpu, "ticks": ticks, "spy_cpu": spy_cpu}


async def main_async(args: argparse.Namespace) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", TARGET, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    modes = ["none", "psutil 1 s", "psutil 0.1 s", "+ py-spy"]
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    try:
        await one_round(proc, args.work, "none")  # warm-up
        for r in range(args.rounds):
            for mode in modes if r % 2 == 0 else list(reversed(modes)):
                rows[mode].append(await one_round(proc, args.work, mode))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        proc.kill()
        await proc.wait()
    base = statistics.median(x["wall"] for x in rows["none"])
    spread = (max(x["wall"] for x in rows["none"]) - min(x["wall"] for x in rows["none"])) / base
    print(f"\ntarget work ({args.work} iterations), median wall over {args.rounds} rounds "
          f"(anchor spread {100 * spread:.1f}%):")
    for mode in modes:
        wall = statistics.median(x["wall"] for x in rows[mode])
        line = f"  {mode:13s} {wall:7.3f}s  {100 * (wall / base - 1):+6.1f}% vs none"
        if mode != "none":
            per_tick = statistics.median(x["own_cpu"] / max(1, x["ticks"]) for x in rows[mode]) * 1000
            line += f"   profiler CPU {per_tick:.2f} ms/sample"
        if mode == "+ py-spy":
            spy = statistics.median(x["spy_cpu"] for x in rows[mode])
            line += f", py-spy CPU {spy:.2f}s for a 2 s record"
        print(line)
    default = statistics.median(x["wall"] for x in rows["psutil 1 s"])
    print(f"\nratio (sampled at the default 1 s / not sampled): {default / base:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=int, default=3_000_000, help="iterations of the target's fixed work")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
