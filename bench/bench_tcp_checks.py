"""TCP checks at fleet scale: CPU and memory per `net.tcp` check, from 10 to 5000 checks, beside the floor.

One child process (this script with --serve) accepts connections on one loopback port and closes them. For
each size N, a fresh child (--inproc N) loads a generated config of N tcp targets (all that port), plans it,
and runs the plan through agentops' runner: its CPU,
and its memory as the growth of RSS from before the run to the highest reading during it (read every 50
completed checks and at the end, while every result is still held); "+config" counts from before the config
was loaded. Each row runs in a fresh process, after a warm-up of 10 connects, so no memory freed by an
earlier run is reused and hides a cost. Beside it, each in such a child, the floor:
the same N connects with nothing but the unavoidable work — a non-blocking socket, `loop.sock_connect`,
close, under the same concurrency limit — and the same connects through `asyncio.open_connection` (the
floor the issue measured), and the floor plus the least the runner's contract adds per check (a hard stop
and a Result). For memory with the config, the floor of reading it: PyYAML's C loader alone. Sizes run
interleaved, rounds repeated; per check = the slope of a least-squares line through (N, value), so the
fixed cost of a run drops out.

Goals (issue 16): CPU per check <= 1.1x the floor; <= 2 KiB of RSS per check with config and plan.

With AGENTOPS_BENCH_BASELINE=/path/to/other/src (e.g. `git archive` of main) a "baseline" row runs that tree's
agentops (PYTHONPATH) in the same rounds.

Run: .venv/bin/python bench/bench_tcp_checks.py [rounds] [sizes, comma-separated]
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.common import stop_process

PAGE = os.sysconf("SC_PAGE_SIZE")


async def serve() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class Peak:
    def __init__(self) -> None:
        self.base = rss()
        self.peak = self.base
        self.done = 0

    def tick(self, *_: object) -> None:
        self.done += 1
        if self.done % 50 == 0:
            self.peak = max(self.peak, rss())

    def growth(self) -> int:
        return max(self.peak, rss()) - self.base


async def floor_sock(port: int, n: int, concurrency: int, peak: Peak) -> None:
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(concurrency)

    async def one() -> float:
        async with sem:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            t0 = time.perf_counter()
            try:
                await loop.sock_connect(sock, ("127.0.0.1", port))
            finally:
                sock.close()
            peak.tick()
            return time.perf_counter() - t0

    await asyncio.gather(*(one() for _ in range(n)))


async def floor_streams(port: int, n: int, concurrency: int, peak: Peak) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one() -> float:
        async with sem:
            t0 = time.perf_counter()
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            peak.tick()
            return time.perf_counter() - t0

    await asyncio.gather(*(one() for _ in range(n)))


async def floor_contract(port: int, n: int, concurrency: int, peak: Peak) -> list[object]:
    """The sock_connect floor plus the least the runner's contract needs per check: a hard stop (one
    asyncio.timeout) and a Result holding what was measured, kept to the end of the run."""
    from agentops.core.model import Result, Status

    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Result:
        async with sem:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(10.25):
                    await loop.sock_connect(sock, ("127.0.0.1", port))
            finally:
                sock.close()
            peak.tick()
            ms = round((time.perf_counter() - t0) * 1000, 3)
            return Result(id="bench.tcp", target=f"t{i:05d}", probe="net.tcp", status=Status.OK,
                          message=f"connect_ms={ms}", metrics={"connect_ms": ms})

    return await asyncio.gather(*(one(i) for i in range(n)))


def in_process(config: str, port: int, n: int, row: str) -> None:
    """(--inproc) Prints [CPU s, RSS growth bytes, RSS growth of config + plan + run] for one row in a fresh
    process: after a warm-up of 10 connects (imports, the loop's first use), the first run of all N, so no
    memory freed by an earlier run is reused and hides the cost."""
    import gc

    from agentops.core.config import load_config
    from agentops.core.packs import load_specs, plan
    from agentops.core.runner import run_plan

    before_config = rss()
    if row == "floor: yaml.CSafeLoader":
        # The least a config of N targets costs to read: PyYAML's C parser, no line numbers, no objects built
        # from the document (compare the agentops row's "+config").
        import yaml

        doc = yaml.load(Path(config).read_text(), Loader=yaml.CSafeLoader)
        assert len(doc["targets"]) == n
        print(json.dumps([0.0, 0.0, float(rss() - before_config)]))
        return
    cfg = load_config(config)
    checks = plan(cfg, load_specs(cfg))
    assert len(checks) == n, (len(checks), n)
    concurrency = cfg.defaults.concurrency
    runs = {"agentops": lambda k, p: run_plan(checks[:k], concurrency=concurrency, on_done=p.tick),
            "floor: sock_connect": lambda k, p: floor_sock(port, k, concurrency, p),
            "floor: open_connection": lambda k, p: floor_streams(port, k, concurrency, p),
            "floor + hard stop + Result": lambda k, p: floor_contract(port, k, concurrency, p)}
    make = runs[row]
    asyncio.run(make(10, Peak()))
    gc.collect()
    peak = Peak()
    c0 = time.process_time()
    kept = asyncio.run(make(n, peak))
    cpu = time.process_time() - c0
    if row == "agentops":
        bad = [r for r in kept if r.status.value != 0]
        assert not bad, bad[0].message
    print(json.dumps([cpu, float(peak.growth()), float(max(peak.peak, rss()) - before_config)]))


ROWS = ("agentops", "floor: sock_connect", "floor: open_connection", "floor + hard stop + Result",
        "floor: yaml.CSafeLoader")


YAML_FLOOR = "floor: yaml.CSafeLoader"


def write_config(path: Path, port: int, n: int) -> None:
    lines = ["version: 1", "packs: []", "defaults: {retries: 0}", "targets:"]
    lines += [f"  - {{name: t{i:05d}, kind: tcp, address: '127.0.0.1:{port}'}}" for i in range(n)]
    lines += ["checks:", "  - {id: bench.tcp, probe: net.tcp, target: 'kind:tcp', timeout: 10}"]
    path.write_text("\n".join(lines) + "\n")


def slope(points: list[tuple[float, float]]) -> float:
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    sizes = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [10, 1000, 2500, 5000]
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True)
    work = Path(tempfile.mkdtemp(prefix="agentops-bench-tcp-"))
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        for n in sizes:
            write_config(work / f"c{n}.yaml", port, n)
        baseline = os.environ.get("AGENTOPS_BENCH_BASELINE")
        rows = [(row, None) for row in ROWS] + ([("baseline", baseline)] if baseline else [])
        samples: dict[str, list[tuple[float, float, float, float]]] = {}  # row -> (n, cpu, rss, with config)
        for _ in range(rounds):
            for n in sizes:  # interleaved: a burst of load elsewhere hits every size and row alike
                for row, src in rows:
                    env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
                    cpu, grown, whole = json.loads(subprocess.run(
                        [sys.executable, __file__, "--inproc", str(work / f"c{n}.yaml"), str(port), str(n),
                         "agentops" if src else row], capture_output=True, text=True, check=True, timeout=300,
                        stdin=subprocess.DEVNULL, env=env).stdout)
                    samples.setdefault(row, []).append((n, cpu, grown, whole))
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"net.tcp checks, sizes {sizes}, {rounds} interleaved rounds; {os.cpu_count()} CPUs, "
              f"load average {load}")
        print(f"{'':28} {'CPU/check':>10} {'/floor':>7} {'RSS/check':>10} {'+config':>10} {'CPU at max N':>13}")
        per = {name: (slope([(s[0], s[1]) for s in rows]), slope([(s[0], s[2]) for s in rows]),
                      slope([(s[0], s[3]) for s in rows])) for name, rows in samples.items()}
        floor_cpu = per["floor: sock_connect"][0]
        for name, (cpu, mem, whole) in per.items():
            at_max = statistics.median(s[1] for s in samples[name] if s[0] == max(sizes))
            with_config = f"{whole / 1024:8.2f}KiB" if name in ("agentops", "baseline", YAML_FLOOR) else ""
            if name == YAML_FLOOR:
                print(f"{name:28} {'':>10} {'':>7} {'':>10} {with_config:>10}")
                continue
            print(f"{name:28} {cpu * 1e3:8.3f}ms {cpu / floor_cpu:7.2f} {mem / 1024:8.2f}KiB {with_config:>10} "
                  f"{at_max:11.2f}s")
        cpu, mem, whole = per["agentops"]
        print(f"goal: CPU per check <= 1.1x the floor: {cpu / floor_cpu:.2f}x -> "
              f"{'met' if cpu <= 1.1 * floor_cpu else 'NOT met'}; RSS per check <= 2 KiB: run {mem / 1024:.2f} KiB, "
              f"with config and plan {whole / 1024:.2f} KiB -> {'met' if whole <= 2048 else 'NOT met'} "
              f"(PyYAML alone: {per[YAML_FLOOR][2] / 1024:.2f} KiB)")
    finally:
        stop_process(server)
        for f in work.iterdir():
            f.unlink()
        work.rmdir()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve())
    elif len(sys.argv) > 1 and sys.argv[1] == "--inproc":
        in_process(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
