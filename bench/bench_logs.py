"""`agentops logs` beside grep and jq on a generated 1 GB cluster log, in one run.

    .venv/bin/python bench/bench_logs.py                 # 1 GiB in /tmp/agentops-bench-logs (kept for reruns)
    .venv/bin/python bench/bench_logs.py --size 200M --runs 5

Goals (issue 4): counting errors at >= 50 % of `grep -c`'s throughput; a full analyze at >= 5x `jq` doing the
same grouping; memory flat while streaming (peak RSS < 200 MB on the 1 GB file).

- count: `agentops logs count FILE` (records at ERROR or above) against grep counting the same lines. Three
  greps are run: the exact equivalent (`"level": ?"(ERROR|CRITICAL)"`), the looser `ERROR|CRITICAL` (same
  lines on this file, any text elsewhere) and a single fixed string (`"level": "ERROR"`, which misses CRITICAL);
  the ratio that counts is against the fastest grep that reports the same number.
- analyze: `agentops logs analyze FILE -o json` against `jq` selecting ERROR/CRITICAL records and grouping them
  by level, logger, exception line and message with digits replaced (`| sort | uniq -c`). agentops does more
  (security and slow-operation sections, bad-input accounting, correlations, per-minute series).
- agentops runs with its default --jobs (one process per CPU, up to 4, for files >= 64 MiB) and with --jobs 1.

Each command runs --runs times, interleaved, from a warm page cache; the best wall time of each is compared
(the least disturbed by other load), CPU seconds (user+sys, children included) and peak RSS are reported too.
Both sides' answers are checked to agree before any ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JQ_GROUPING = ('select(.level == "ERROR" or .level == "CRITICAL") | [.level, .logger, ((.exception // "") | '
               'split("\\n") | map(select(length > 0)) | last // ""), (.message | split("\\n")[0] | '
               'gsub("[0-9]+"; "<n>"))] | @tsv')
GREPS = {
    "grep -cE '\"level\": ?\"(ERROR|CRITICAL)\"'": ["grep", "-cE", '"level": ?"(ERROR|CRITICAL)"'],
    "grep -cE 'ERROR|CRITICAL'": ["grep", "-cE", "ERROR|CRITICAL"],
    "grep -cF '\"level\": \"ERROR\"'": ["grep", "-cF", '"level": "ERROR"'],
}


def timed(argv: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, float, int, bytes]:
    """Wall seconds, CPU seconds and peak RSS (KiB) of one child and its descendants, and its output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout is None else stdout,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env={**os.environ, "NO_COLOR": "1", "LC_ALL": "C"})
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1, 2):
        raise SystemExit(f"{' '.join(argv)} exited {code}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, out


def ensure_jq() -> str:
    jq = shutil.which("jq")
    if jq:
        return jq
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing jq (apt-get)", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "jq"], check=True, stdout=subprocess.DEVNULL)
        jq = shutil.which("jq")
    if not jq:
        raise SystemExit("jq is needed as the anchor: apt-get install jq")
    return jq


def generate(path: Path, size: str, seed: int) -> None:
    stamp = path.with_suffix(".params")
    params = f"{size} {seed}"
    if path.exists() and stamp.exists() and stamp.read_text() == params:
        return
    print(f"generating {size} of cluster log into {path} …", file=sys.stderr)
    subprocess.run([sys.executable, str(REPO / "bench" / "gen_logs.py"), str(path), "--size", size,
                    "--seed", str(seed)], check=True)
    stamp.write_text(params)


def best(rows: list[tuple[float, float, int, bytes]]) -> tuple[float, float, int, bytes]:
    return min(rows, key=lambda r: r[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1G")
    ap.add_argument("--dir", default="/tmp/agentops-bench-logs")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    jq = ensure_jq()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "cluster.log"
    generate(log, args.size, args.seed)
    size_mb = log.stat().st_size / 1e6
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache

    agentops = [sys.executable, "-m", "agentops", "logs"]
    commands: dict[str, list[str]] = {
        **{name: [*argv, str(log)] for name, argv in GREPS.items()},
        "agentops logs count": [*agentops, "count", str(log), "-o", "json"],
        "agentops logs count --jobs 1": [*agentops, "count", str(log), "-o", "json", "--jobs", "1"],
        "jq grouping | sort | uniq -c": ["sh", "-c", f"{jq} -r '{JQ_GROUPING}' '{log}' | sort | uniq -c"],
        "agentops logs analyze": [*agentops, "analyze", str(log), "-o", "json"],
        "agentops logs analyze --jobs 1": [*agentops, "analyze", str(log), "-o", "json", "--jobs", "1"],
    }
    results: dict[str, list[tuple[float, float, int, bytes]]] = {name: [] for name in commands}
    for run in range(args.runs):
        for name, argv in commands.items():
            results[name].append(timed(argv, stdout=None))
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    top = {name: best(rows) for name, rows in results.items()}

    # The answers must agree before speeds are compared.
    counted = json.loads(top["agentops logs count"][3])["data"]["counts"]["errors"]
    analyzed = json.loads(top["agentops logs analyze"][3])["data"]
    assert json.loads(top["agentops logs count --jobs 1"][3])["data"]["counts"]["errors"] == counted
    assert analyzed["counts"]["errors"] == counted, (analyzed["counts"]["errors"], counted)
    greps = {name: int(top[name][3]) for name in GREPS}
    jq_groups = [line.split(None, 1) for line in top["jq grouping | sort | uniq -c"][3].decode().splitlines()]
    jq_total = sum(int(n) for n, _ in jq_groups)
    assert jq_total == counted, (jq_total, counted)

    print(f"\n{log}: {size_mb:.0f} MB, {analyzed['counts']['records']:,} records, {counted:,} at ERROR or above, "
          f"{len(jq_groups)} jq groups, {analyzed['counts']['patterns']} agentops patterns\n")
    print(f"{'command':36} {'best wall':>10} {'MB/s':>8} {'cpu s':>8} {'peak RSS':>10}  answer")
    for name, (wall, cpu, rss, out) in top.items():
        answer = out.decode().strip() if name in GREPS else (
            f"{jq_total} in {len(jq_groups)} groups" if name.startswith("jq") else
            f"{json.loads(out)['data']['counts']['errors']}")
        print(f"{name:36} {wall:9.2f}s {size_mb / wall:8.0f} {cpu:8.2f} {rss / 1024:8.0f} MB  {answer}")

    same = [name for name, n in greps.items() if n == counted]
    anchor = min(same, key=lambda name: top[name][0])
    count_ratio = top[anchor][0] / top["agentops logs count"][0]
    count_ratio_1 = top[anchor][0] / top["agentops logs count --jobs 1"][0]
    jq_wall = top["jq grouping | sort | uniq -c"][0]
    analyze_ratio = jq_wall / top["agentops logs analyze"][0]
    analyze_ratio_1 = jq_wall / top["agentops logs analyze --jobs 1"][0]
    peak_mb = max(top[n][2] for n in commands if n.startswith("agentops")) / 1024
    goals = [
        (f"count throughput vs {anchor} (same count)", count_ratio, ">= 0.50", count_ratio >= 0.5,
         f"--jobs 1: {count_ratio_1:.2f}"),
        ("analyze speed vs jq grouping", analyze_ratio, ">= 5.0", analyze_ratio >= 5.0,
         f"--jobs 1: {analyze_ratio_1:.2f}x"),
        ("peak RSS of any agentops process (MB)", peak_mb, "< 200", peak_mb < 200, "streaming"),
    ]
    print()
    for what, value, goal, ok, note in goals:
        print(f"{'PASS' if ok else 'MISS'}  {what}: {value:.2f} (goal {goal}; {note})")
    sys.exit(0 if all(g[3] for g in goals) else 1)


if __name__ == "__main__":
    main()
