"""`agentops health` on the default host pack beside a do-nothing Typer app, in the same run.

Prints medians, the ratio (goal <= 1.3) and the peak RSS of the default run. Two agentops figures: "warm" is
the everyday case (host.cpu measures since the previous run), "cold" removes that state first so host.cpu
samples for 100 ms. Run: .venv/bin/python bench/bench_startup.py [runs]
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
    agentops = [sys.executable, "-m", "agentops", "health", "-o", "json"]
    rows: dict[str, list[float]] = {"noop typer app": [], "agentops health (warm)": [], "agentops health (cold)": []}
    rss: list[int] = []
    timed(agentops, env, work)  # page cache and byte-code warm-up for both sides
    timed([sys.executable, str(noop)], env, work)
    for _ in range(runs):
        rows["noop typer app"].append(timed([sys.executable, str(noop)], env, work)[0])
        time.sleep(0.3)  # >= host.cpu's minimum window, as between any two real runs
        wall, peak = timed(agentops, env, work)
        rows["agentops health (warm)"].append(wall)
        rss.append(peak)
        shutil.rmtree(cache, ignore_errors=True)
        rows["agentops health (cold)"].append(timed(agentops, env, work)[0])
    base = statistics.median(rows["noop typer app"])
    print(f"{'command':28} {'median':>9} {'min':>9} {'ratio':>7}")
    for name, values in rows.items():
        med = statistics.median(values)
        print(f"{name:28} {med * 1000:8.1f}ms {min(values) * 1000:8.1f}ms {med / base:7.2f}")
    print(f"peak RSS of agentops health (default host pack): {max(rss) / 1024:.1f} MiB")
    print("goal: agentops health (warm) / noop typer app <= 1.3")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
