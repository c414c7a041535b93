"""`agentops health` on the default host pack beside a do-nothing Typer app, in the same run.

Rounds interleave every command, so a burst of load elsewhere hits each alike. Printed: medians, the ratio to
the do-nothing app (goal <= 1.1, issue 16), the peak RSS of the default run and the load average. Rows:
"json" (`-o json`, what a cron job or a gate runs), "table" (the default output, which draws with rich), and
"cold" (host.cpu's state removed first, so it samples for 100 ms). With AGENTOPS_BENCH_BASELINE=/path/to/src
(e.g. a `git archive` of main) the same rows run for that tree too (PYTHONPATH), for before/after in one run.

Run: .venv/bin/python bench/bench_startup.py [rounds]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOOP = """
import typer
app = typer.Typer()
@app.command()
def main() -> None:
    pass
app()
"""
GOAL = 1.1


def timed(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child, from wait4's own rusage."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env=env, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1, 2):  # the health of this machine may be anything but "could not run"
        raise SystemExit(f"{argv} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    work = tempfile.mkdtemp(prefix="agentops-bench-")
    noop = Path(work) / "noop.py"
    noop.write_text(NOOP)
    cache = Path(work) / "cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "NO_COLOR": "1"}
    env.pop("AGENTOPS_CONFIG", None)
    # An installed package has byte-code compiled at install time (as typer's has here); an editable checkout
    # under PYTHONDONTWRITEBYTECODE would recompile agentops' own modules on every run and measure that instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    trees = {"agentops": env}
    if os.environ.get("AGENTOPS_BENCH_BASELINE"):
        trees["baseline"] = {**env, "PYTHONPATH": os.environ["AGENTOPS_BENCH_BASELINE"]}
    health = [sys.executable, "-m", "agentops", "health"]
    rows: dict[str, list[float]] = {"noop typer app": []}
    for name in trees:
        rows |= {f"{name} health -o json": [], f"{name} health (table)": [], f"{name} health (cold)": []}
    rss: list[int] = []
    for tree_env in trees.values():  # page cache and byte-code warm-up for every side
        timed([*health, "-o", "json"], tree_env, work)
    timed([sys.executable, str(noop)], env, work)
    for _ in range(runs):
        rows["noop typer app"].append(timed([sys.executable, str(noop)], env, work)[0])
        for name, tree_env in trees.items():
            time.sleep(0.3)  # >= host.cpu's minimum window, as between any two real runs
            wall, peak = timed([*health, "-o", "json"], tree_env, work)
            rows[f"{name} health -o json"].append(wall)
            if name == "agentops":
                rss.append(peak)
            time.sleep(0.3)
            rows[f"{name} health (table)"].append(timed(health, tree_env, work)[0])
            shutil.rmtree(cache, ignore_errors=True)
            rows[f"{name} health (cold)"].append(timed([*health, "-o", "json"], tree_env, work)[0])
    base = statistics.median(rows["noop typer app"])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{runs} interleaved rounds; {os.cpu_count()} CPUs, load average {load}")
    print(f"{'command':30} {'median':>9} {'min':>9} {'ratio':>7}")
    for name, values in rows.items():
        med = statistics.median(values)
        print(f"{name:30} {med * 1000:8.1f}ms {min(values) * 1000:8.1f}ms {med / base:7.2f}")
    print(f"peak RSS of agentops health -o json (default host pack): {max(rss) / 1024:.1f} MiB")
    ratio = statistics.median(rows["agentops health -o json"]) / base
    print(f"goal: agentops health -o json / noop typer app <= {GOAL}: {ratio:.2f} -> "
          f"{'met' if ratio <= GOAL else 'NOT met'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
