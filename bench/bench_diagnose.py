"""`agentops diagnose message` wall time on a healthy lab cluster, beside two anchors in the same run.

Starts a lab (agentops.lab.manager, in a temp dir) or uses --lab DIR of a running one, then alternates, so all
sides see the same machine load:

  diagnose   `agentops diagnose message --to echo -c <lab>/agentops.yaml -o json` as users run it (a child
             process): wall time, and the report's own duration_s (the diagnosis without interpreter start-up)
  health     `agentops health` with no config (the shipped host pack), a child process: the CLI's floor for a
             command that does real work
  ping       AgentRpcClient.ping("echo") in this process: one round trip through host and worker, the part of
             the diagnosis a user would otherwise do by hand

Printed: median / p90 for each, and the ratios diagnose/health and diagnose/ping (medians). The diagnosis runs
about fifteen layers (DNS … ping … logs, metrics, a 0.1 s CPU sample of the machine), so its price is a few
hundred milliseconds over `health`, not a multiple of the ping.

Run: .venv/bin/python bench/bench_diagnose.py [--n 15] [--lab DIR]   (needs the [lab] extra)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def cli(*args: str) -> tuple[float, dict | None]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("AGENTOPS_CONFIG", None)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "agentops", *args], capture_output=True, text=True, env=env,
                         stdin=subprocess.DEVNULL, timeout=120)
    wall = (time.perf_counter() - t0) * 1000
    try:
        return wall, json.loads(out.stdout)
    except ValueError:
        raise SystemExit(f"agentops {' '.join(args)} printed no JSON (exit {out.returncode}): "
                         f"{out.stderr[-500:]}") from None


async def ping(address: str) -> float:
    from agentops.autogen.client import AgentRpcClient

    async with AgentRpcClient(address) as client:
        result = await client.ping("echo", payload_type="Ping", payload={"text": "bench"}, timeout=5)
    if not result.ok:
        raise SystemExit(f"ping failed: {result.outcome} {result.error}")
    return result.latency_ms or 0.0


def run(lab_dir: Path, address: str, n: int) -> None:
    config = str(lab_dir / "agentops.yaml")
    samples: dict[str, list[float]] = {"diagnose (wall)": [], "diagnose (own duration_s)": [], "health (wall)": [],
                                       "ping rtt": []}
    cli("diagnose", "message", "--to", "echo", "-c", config, "-o", "json")  # warm-up: page cache, agent instance
    cli("health", "-o", "json")
    verdicts = set()
    for _ in range(n):
        wall, doc = cli("diagnose", "message", "--to", "echo", "-c", config, "-o", "json")
        assert doc is not None
        verdicts.add(doc["findings"][0]["id"])
        samples["diagnose (wall)"].append(wall)
        samples["diagnose (own duration_s)"].append(doc["duration_s"] * 1000)
        samples["health (wall)"].append(cli("health", "-o", "json")[0])
        samples["ping rtt"].append(asyncio.run(ping(address)))
    if verdicts != {"healthy"}:
        print(f"note: verdicts seen: {sorted(verdicts)} (the lab was not healthy for every run)")
    print(f"{'':28} {'median ms':>10} {'p90 ms':>10}   (n={n}, {os.cpu_count()} cores)")
    for name, values in samples.items():
        med, p90 = stats(values)
        print(f"{name:28} {med:10.1f} {p90:10.1f}")
    diag = stats(samples["diagnose (wall)"])[0]
    own = stats(samples["diagnose (own duration_s)"])[0]
    print(f"ratio diagnose/health (wall, medians): {diag / stats(samples['health (wall)'])[0]:.2f}x")
    print(f"ratio diagnose/ping (own duration vs one round trip, medians): {own / stats(samples['ping rtt'])[0]:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=15, help="runs per side")
    parser.add_argument("--lab", type=Path, help="a running lab's state directory (default: start one)")
    args = parser.parse_args()
    from agentops.lab import manager
    from agentops.lab.layout import LabLayout, LabManifest

    if args.lab:
        manifest = LabManifest.load(LabLayout(args.lab).manifest)
        run(args.lab.resolve(), manifest.host_address, args.n)
        return
    with tempfile.TemporaryDirectory(prefix="agentops-bench-diagnose-") as tmp:
        lab_dir = Path(tmp) / "lab"
        manifest = manager.up(manager.LabOptions(dir=lab_dir))
        try:
            run(lab_dir, manifest.host_address, args.n)
        finally:
            manager.down(lab_dir)


if __name__ == "__main__":
    main()
