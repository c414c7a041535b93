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
- agentops runs with its default --jobs (one process per free CPU, up to 4, for files >= 64 MiB) and with
  --jobs 1. With AGENTOPS_BENCH_BASELINE=/path/to/other/src (e.g. `git archive` of main) the agentops rows run
  for that tree too (PYTHONPATH), so before and after are measured in the same run.
- ripgrep (`rg -c`, Debian's ripgrep; `scripts/system-deps.sh --bench`) beside grep, when installed.
- the floor of a Python `logs count`: a process that starts and reads the file through one reused buffer,
  nothing else (its start-up included, as agentops' is); and one that also counts the two level strings with
  bytes.count, the obvious minimal counter.
- the floor of any pure-Python reader: a loop of os.pread into fresh 1 MiB objects (what logs/reader.py does)
  and of os.preadv into one reused buffer, doing nothing with the bytes, in this process.

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
# The least any Python process must do to count anything in this file: start and read it through one reused
# buffer. Run as a command like the others, so its interpreter start is in its time, as agentops' is.
PYTHON_READ_FLOOR = """
import os, sys
fd, buf, pos = os.open(sys.argv[1], os.O_RDONLY), bytearray(1 << 20), 0
while n := os.preadv(fd, [buf], pos):
    pos += n
print(pos)
"""
# The same, counting the two level strings with bytes.count (no lines, no records, no CLI): the obvious
# minimal counter, which agentops' Finder (memchr on a needle's rarest byte) outruns.
PYTHON_COUNT = """
import os, sys
fd, buf, pos, hits, tail = os.open(sys.argv[1], os.O_RDONLY), bytearray(1 << 20), 0, 0, b""
needles = (b'"level": "ERROR"', b'"level": "CRITICAL"')
while n := os.preadv(fd, [buf], pos):
    pos += n
    view = tail + bytes(memoryview(buf)[:n]) if tail else buf if n == len(buf) else buf[:n]
    hits += sum(view.count(x) for x in needles)
    tail = bytes(view[-24:])  # a needle cut by the read boundary is counted once, in the next read
    hits -= sum(tail.count(x) for x in needles)
print(hits)
"""
GREPS = {
    "grep -cE '\"level\": ?\"(ERROR|CRITICAL)\"'": ["grep", "-cE", '"level": ?"(ERROR|CRITICAL)"'],
    "grep -cE 'ERROR|CRITICAL'": ["grep", "-cE", "ERROR|CRITICAL"],
    "grep -cF '\"level\": \"ERROR\"'": ["grep", "-cF", '"level": "ERROR"'],
}


def timed(argv: list[str], stdout: int | None = subprocess.DEVNULL,
          src: str | None = None) -> tuple[float, float, int, bytes]:
    """Wall seconds, CPU seconds and peak RSS (KiB) of one child and its descendants, and its output."""
    env = {**os.environ, "NO_COLOR": "1", "LC_ALL": "C", **({"PYTHONPATH": src} if src else {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed tool has its byte-code compiled
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout is None else stdout,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
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


def read_floor(path: Path) -> tuple[float, float]:
    """Seconds for a pure-Python loop to read the file in 1 MiB preads into fresh objects, and into one reused
    buffer (os.preadv), doing nothing else: what no Python reader of this file can go below."""
    fd = os.open(path, os.O_RDONLY)
    try:
        t0, pos = time.perf_counter(), 0
        while data := os.pread(fd, 1 << 20, pos):
            pos += len(data)
        fresh = time.perf_counter() - t0
        buf = bytearray(1 << 20)
        t0, pos = time.perf_counter(), 0
        while n := os.preadv(fd, [buf], pos):
            pos += n
        return fresh, time.perf_counter() - t0
    finally:
        os.close(fd)


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
    baseline = os.environ.get("AGENTOPS_BENCH_BASELINE")
    trees = {"agentops": None, **({"baseline": baseline} if baseline else {})}
    rg = shutil.which("rg")
    if rg is None:
        print("ripgrep: not installed (apt-get install ripgrep; scripts/system-deps.sh --bench) - row skipped")
    commands: dict[str, tuple[list[str], str | None]] = {
        **{name: ([*argv, str(log)], None) for name, argv in GREPS.items()},
        **({"rg -c 'ERROR|CRITICAL'": ([rg, "-c", "ERROR|CRITICAL", str(log)], None)} if rg else {}),
        "jq grouping | sort | uniq -c": (["sh", "-c", f"{jq} -r '{JQ_GROUPING}' '{log}' | sort | uniq -c"], None),
        "floor: python start + read": ([sys.executable, "-c", PYTHON_READ_FLOOR, str(log)], None),
        "python start + read + bytes.count": ([sys.executable, "-c", PYTHON_COUNT, str(log)], None),
    }
    for tree, src in trees.items():
        commands |= {
            f"{tree} logs count": ([*agentops, "count", str(log), "-o", "json"], src),
            f"{tree} logs count --jobs 1": ([*agentops, "count", str(log), "-o", "json", "--jobs", "1"], src),
            f"{tree} logs analyze": ([*agentops, "analyze", str(log), "-o", "json"], src),
            f"{tree} logs analyze --jobs 1": ([*agentops, "analyze", str(log), "-o", "json", "--jobs", "1"], src),
        }
    results: dict[str, list[tuple[float, float, int, bytes]]] = {name: [] for name in commands}
    floors: list[tuple[float, float]] = []
    for run in range(args.runs):  # interleaved, so a burst of load elsewhere hits every row alike
        for name, (argv, src) in commands.items():
            results[name].append(timed(argv, stdout=None, src=src))
        floors.append(read_floor(log))
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    top = {name: best(rows) for name, rows in results.items()}

    # The answers must agree before speeds are compared.
    counted = json.loads(top["agentops logs count"][3])["data"]["counts"]["errors"]
    analyzed = json.loads(top["agentops logs analyze"][3])["data"]
    for tree in trees:
        for cmd in ("count", "count --jobs 1", "analyze", "analyze --jobs 1"):
            assert json.loads(top[f"{tree} logs {cmd}"][3])["data"]["counts"]["errors"] == counted, (tree, cmd)
    greps = {name: int(top[name][3]) for name in GREPS}
    jq_groups = [line.split(None, 1) for line in top["jq grouping | sort | uniq -c"][3].decode().splitlines()]
    jq_total = sum(int(n) for n, _ in jq_groups)
    assert jq_total == counted, (jq_total, counted)
    if rg:
        assert int(top["rg -c 'ERROR|CRITICAL'"][3]) == greps["grep -cE 'ERROR|CRITICAL'"]
    assert int(top["python start + read + bytes.count"][3]) == counted

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{log}: {size_mb:.0f} MB, {analyzed['counts']['records']:,} records, {counted:,} at ERROR or above, "
          f"{len(jq_groups)} jq groups, {analyzed['counts']['patterns']} agentops patterns; best of {args.runs} "
          f"interleaved runs; {os.cpu_count()} CPUs, load average {load}\n")
    print(f"{'command':40} {'best wall':>10} {'MB/s':>8} {'cpu s':>8} {'peak RSS':>10}  answer")
    for name, (wall, cpu, rss, out) in top.items():
        answer = out.decode().strip() if name in GREPS or name.startswith(("rg ", "floor", "python")) else (
            f"{jq_total} in {len(jq_groups)} groups" if name.startswith("jq") else
            f"{json.loads(out)['data']['counts']['errors']}")
        print(f"{name:40} {wall:9.2f}s {size_mb / wall:8.0f} {cpu:8.2f} {rss / 1024:8.0f} MB  {answer}")
    fresh, reused = (min(f[i] for f in floors) for i in range(2))
    print(f"{'floor: Python pread loop, fresh 1 MiB':40} {fresh:9.2f}s {size_mb / fresh:8.0f}")
    print(f"{'floor: Python preadv loop, one buffer':40} {reused:9.2f}s {size_mb / reused:8.0f}")

    same = [name for name, n in greps.items() if n == counted]
    anchor = min(same, key=lambda name: top[name][0])
    jq_wall = top["jq grouping | sort | uniq -c"][0]
    print()
    for tree in trees:
        count_ratio = top[anchor][0] / top[f"{tree} logs count"][0]
        count_ratio_1 = top[anchor][0] / top[f"{tree} logs count --jobs 1"][0]
        analyze_ratio = jq_wall / top[f"{tree} logs analyze"][0]
        analyze_ratio_1 = jq_wall / top[f"{tree} logs analyze --jobs 1"][0]
        rg_note = (f"; rg: {top['rg -c ' + chr(39) + 'ERROR|CRITICAL' + chr(39)][0] / top[f'{tree} logs count'][0]:.2f}"
                   if rg else "")
        print(f"{tree}: count {count_ratio:.2f}x {anchor}'s speed (--jobs 1: {count_ratio_1:.2f}x{rg_note}); "
              f"analyze {analyze_ratio:.2f}x faster than jq (--jobs 1: {analyze_ratio_1:.2f}x)")
    count_ratio = top[anchor][0] / top["agentops logs count"][0]
    analyze_ratio = jq_wall / top["agentops logs analyze"][0]
    peak_mb = max(top[n][2] for n in commands if n.startswith("agentops")) / 1024
    goals = [
        (f"count throughput vs {anchor} (same count)", count_ratio, ">= 1.0", count_ratio >= 1.0, "issue 16"),
        ("analyze speed vs jq grouping", analyze_ratio, ">= 5.0", analyze_ratio >= 5.0, "issue 16"),
        ("peak RSS of any agentops process (MB)", peak_mb, "< 200", peak_mb < 200, "streaming"),
    ]
    print()
    for what, value, goal, ok, note in goals:
        print(f"{'PASS' if ok else 'MISS'}  {what}: {value:.2f} (goal {goal}; {note})")
    sys.exit(0 if all(g[3] for g in goals) else 1)


if __name__ == "__main__":
    main()
