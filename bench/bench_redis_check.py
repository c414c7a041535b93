"""A single Redis check through `agentops health` beside `redis-cli ping`, and the PostgreSQL checks beside
`pg_isready`, all in the same run against servers this script starts (the test fixtures' code).

Each round runs every command once, interleaved, so machine noise hits all sides alike. Prints medians and
the ratio of each agentops run to its anchor. The anchors are C programs doing less (redis-cli sends one
PING; pg_isready does not even authenticate), so the ratio is mostly Python's start-up: the in-process line
shows what the check itself costs once the interpreter is up.

A last line per check reads agentops' own report: the check's own time (its duration_s, the probe's
latency metrics) beside the import of its client library (the fact client_import_ms), which the runner does
before any clock starts and reports apart.

Run: .venv/bin/python bench/bench_redis_check.py [rounds]
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fixtures.services import (  # noqa: E402 - needs the repository on sys.path first
    init_postgres_template,
    require_binary,
    start_postgres,
    start_redis,
    write_config,
)

PASSWORD_ENV = "AGENTOPS_BENCH_PG_PASSWORD"


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          env=env, timeout=60)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:  # a failing check would time the wrong thing
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return elapsed


def in_process(config: Path, only: str, rounds: int) -> list[float]:
    """The check alone, through load → plan → runner, in this already-started interpreter."""
    from agentops.core.config import load_config
    from agentops.core.packs import Selection, load_specs, plan
    from agentops.core.runner import run_plan

    cfg = load_config(str(config))
    checks = plan(cfg, load_specs(cfg), Selection(only=[only]))
    times = []
    for _ in range(rounds + 1):
        t0 = time.perf_counter()
        results = asyncio.run(run_plan(checks))
        times.append(time.perf_counter() - t0)
        if any(r.status.value != 0 for r in results):
            raise SystemExit(f"in-process {only}: {[(r.id, r.status.label, r.message) for r in results]}")
    return times[1:]  # the first run pays the imports


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    redis_cli = require_binary("redis-cli", "redis-tools")
    work = Path(tempfile.mkdtemp(prefix="agentops-bench-"))
    template = init_postgres_template()
    pg_isready = str(template.bin_dir / "pg_isready")
    redis = start_redis(work / "redis")
    pg = start_postgres(template)
    try:
        config = write_config(work / "agentops.yaml", [
            {"name": "cache", "kind": "redis", "address": redis.address},
            {"name": "db", "kind": "postgres", "address": pg.address, "username": pg.user,
             "password_env": PASSWORD_ENV},
        ], packs=["redis", "postgres"])
        os.environ[PASSWORD_ENV] = pg.password
        env = {**os.environ, "NO_COLOR": "1", "XDG_CACHE_HOME": str(work / "cache")}
        env.pop("AGENTOPS_CONFIG", None)
        health = [sys.executable, "-m", "agentops", "health", "-c", str(config), "-o", "json", "--only"]
        commands = {
            "redis-cli ping": [redis_cli, "-h", redis.host, "-p", str(redis.port), "ping"],
            "agentops --only redis.ping": [*health, "redis.ping"],
            "pg_isready": [pg_isready, "-h", pg.host, "-p", str(pg.port), "-t", "5"],
            "agentops --only postgres.connect": [*health, "postgres.connect"],
            "agentops --only 'postgres.*'": [*health, "postgres.*"],
        }
        for argv in commands.values():  # warm the page cache and byte-code on every side
            timed(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, argv in commands.items():
                samples[name].append(timed(argv, env))
        own = {}
        for check in ("redis.ping", "postgres.connect"):
            doc = json.loads(subprocess.run([*health, check], capture_output=True, env=env, timeout=60,
                                            stdin=subprocess.DEVNULL).stdout)
            (r,) = doc["results"]
            own[check] = (r["duration_s"] * 1000, r["facts"].get("client_import_ms"), r["metrics"])
        inproc = {"redis.ping (in-process)": in_process(config, "redis.ping", rounds),
                  "postgres.connect (in-process)": in_process(config, "postgres.connect", rounds)}
    finally:
        redis.stop()
        pg.cleanup()
        template.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    med = {name: statistics.median(v) * 1000 for name, v in {**samples, **inproc}.items()}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{rounds} interleaved rounds, medians (ms); {os.cpu_count()} CPUs, load average {load}")
    for name, ms in med.items():
        print(f"  {name:<36} {ms:8.1f}")
    print("ratios")
    pairs = [("agentops --only redis.ping", "redis-cli ping"),
             ("agentops --only postgres.connect", "pg_isready"),
             ("agentops --only 'postgres.*'", "pg_isready"),
             ("redis.ping (in-process)", "redis-cli ping"),
             ("postgres.connect (in-process)", "pg_isready")]
    for ours, anchor in pairs:
        print(f"  {ours:<36} / {anchor:<16} {med[ours] / med[anchor]:6.2f}")
    print("one agentops run's own report: the check's time beside its client library's import")
    for check, (took, imported, metrics) in own.items():
        latency = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items() if k.endswith("_ms"))
        print(f"  {check:<20} check {took:6.1f} ms ({latency}); client_import_ms {imported}")


if __name__ == "__main__":
    main()
