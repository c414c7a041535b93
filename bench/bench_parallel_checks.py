"""200 HTTP checks against 200 local endpoints that each answer after 200 ms, through `agentops health`.

One child process (this script with --serve) listens on 200 loopback ports with asyncio and answers every
request after the delay. A generated config names the 200 endpoints as http targets and one check that
expands over all of them. Beside it, in the same run, the anchor: the same config with `--only` one check,
i.e. one endpoint checked alone. Printed per concurrency limit: the median wall time of the whole
`agentops health` process, the run time the report itself measured (`duration_s`: from the first check
started to the last finished, without interpreter start-up), and both as ratios to the anchor.

Goal: the 200 checks within 0.5 s (the run: checks that each take 200 ms, run side by side), i.e. a run
ratio near 1 — with a concurrency limit >= 200. With the default of 32 the checks go in ceil(200/32) = 7
waves of 200 ms, which is what the first row shows.

Run: .venv/bin/python bench/bench_parallel_checks.py [runs] [endpoints] [delay_s]
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentops.core.config import Defaults

CONCURRENCY_DEFAULT = Defaults.concurrency


# ------------------------------------------------------------------------------------ the 200 endpoints

async def serve(count: int, delay: float) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(delay)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                         b"Connection: close\r\n\r\nok\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(answer, "127.0.0.1", 0, backlog=64) for _ in range(count)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps(ports), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


# ------------------------------------------------------------------------------------------ the bench

def write_config(path: Path, ports: list[int], concurrency: int) -> None:
    lines = ["version: 1", "packs: []", f"defaults: {{concurrency: {concurrency}, retries: 0}}", "targets:"]
    lines += [f"  - {{name: t{i:03d}, kind: http, address: 'http://127.0.0.1:{p}/'}}" for i, p in enumerate(ports)]
    lines += ["checks:", "  - {id: bench.http, probe: http, target: 'kind:http', timeout: 5}"]
    path.write_text("\n".join(lines) + "\n")


def run_health(config: Path, *extra: str) -> tuple[float, float, int]:
    """(process wall s, report duration_s, number of OK results) of one `agentops health` run."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("AGENTOPS_CONFIG", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "agentops", "health", "-c", str(config), "-o", "json", *extra],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=120)
    wall = time.perf_counter() - t0
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"agentops health exited {proc.returncode} without a report: {proc.stderr.strip()}") from None
    ok = sum(1 for r in report["results"] if r["status"] == "OK")
    return wall, report["duration_s"], ok


async def floor(ports: list[int]) -> float:
    """The machine's own floor: the same requests, all at once, with bare asyncio streams in this process
    (no agentops, no httpx, no process start)."""
    async def one(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(p) for p in ports))
    return time.perf_counter() - t0


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.2
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(count), str(delay)],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        work = Path(tempfile.mkdtemp(prefix="agentops-bench-"))
        limits = sorted({CONCURRENCY_DEFAULT, 128, max(count, 256)})
        configs = {}
        for limit in limits:
            configs[limit] = work / f"c{limit}.yaml"
            write_config(configs[limit], ports, limit)
        run_health(configs[limits[-1]])  # byte-code and page-cache warm-up
        floors, anchor, rows = [], [], {limit: [] for limit in limits}
        for _ in range(runs):  # interleaved, so a burst of load elsewhere hits every row alike
            floors.append(asyncio.run(floor(ports)))
            anchor.append(run_health(configs[limits[-1]], "--only", "bench.http@t000"))
            for limit in limits:
                rows[limit].append(run_health(configs[limit]))
        for name, samples in [("anchor", anchor), *rows.items()]:
            expected = 1 if name == "anchor" else count
            bad = [s[2] for s in samples if s[2] != expected]
            if bad:  # a fast run that failed its checks is not a result
                raise SystemExit(f"{name}: only {bad[0]} of {expected} checks were OK")

        f = statistics.median(floors)
        a_wall = statistics.median(s[0] for s in anchor)
        a_run = statistics.median(s[1] for s in anchor)
        print(f"{count} http checks, each endpoint answering after {delay * 1000:.0f} ms; median of {runs} runs; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print(f"{'':38} {'wall':>8} {'run':>8} {'run/anchor':>11} {'run/floor':>10}")
        print(f"{'floor: bare asyncio, same requests':38} {'':>8} {f * 1000:6.0f}ms {'':>11} {1:10.2f}")
        print(f"{'anchor: agentops health, 1 check':38} {a_wall * 1000:6.0f}ms {a_run * 1000:6.0f}ms {1:11.2f} "
              f"{a_run / f:10.2f}")
        for limit, samples in rows.items():
            wall = statistics.median(s[0] for s in samples)
            run = statistics.median(s[1] for s in samples)
            waves = math.ceil(count / limit)
            label = f"{count} checks, concurrency {limit}" + (" (default)" if limit == CONCURRENCY_DEFAULT else "")
            print(f"{label:38} {wall * 1000:6.0f}ms {run * 1000:6.0f}ms {run / a_run:11.2f} {run / f:10.2f}"
                  f"  {waves} wave{'s' if waves > 1 else ''}")
        best = statistics.median(s[1] for s in rows[limits[-1]])
        print(f"goal: {count} checks within 0.5 s: run {best * 1000:.0f} ms at concurrency {limits[-1]} -> "
              f"{'met' if best <= 0.5 else 'NOT met'} (wall includes interpreter start-up and the report)")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(int(sys.argv[2]), float(sys.argv[3])))
    else:
        main()
