"""Accuracy and wall time of `agentops diagnose` on plain AutoGen clusters, beside a ping anchor in the same run.

Runs the corpus of tests/corpus/matrix.py: one plain AutoGen cluster per logging setup (tests/fixtures/
plain_cluster.py: JSON lines, `%(asctime)s %(process)d %(name)s %(levelname)s %(message)s`, the default
`LEVEL:name:message`, WARNING only, no log file), every failure mode produced for real and diagnosed with the
real CLI as a user runs it (a child process, `-o json`). Setups run `--jobs` at a time (default 1, so the
times are those of one diagnosis at a time; the test runs them all at once).

Printed:
  accuracy    per setup and overall: cells named correctly (or, where the setup cannot carry the evidence, a
              diagnosis that says it cannot tell) / cells; the cells that are wrong, with what was said
  time        per diagnosis: wall (the CLI child process, start-up included) and the report's own duration_s,
              median and max, and how many stayed under 3 s wall (the issue's goal at the default deadline)
  anchor      AgentRpcClient.ping("echo") round trips on a healthy plain cluster of the same run, before and
              after the matrix: what a probe's round trip costs on this machine right now

--markdown FILE writes the table mode x logging setup (docs/diagnose.md, "Accuracy on plain AutoGen clusters").

Run: .venv/bin/python bench/bench_diagnose_accuracy.py [--setups json,nolog] [--jobs 1] [--markdown FILE]
(needs the [lab] extra: autogen-ext with grpc)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.* are the corpus

from tests.corpus.matrix import EXPECTED, MISSING, MODES, Outcome, judge, run_corpus
from tests.corpus.test_accuracy import XFAIL
from tests.fixtures.common import run_cli
from tests.fixtures.plain_cluster import LOG_SETUPS, PING, PlainCluster

GOAL_S = 3.0


async def pings(address: str, n: int) -> list[float]:
    from agentops.autogen.client import AgentRpcClient

    out = []
    async with AgentRpcClient(address) as client:
        for _ in range(n):
            result = await client.ping("echo", payload_type=PING["payload_type"], payload=PING["payload"],
                                       timeout=5)
            if not result.ok:
                raise SystemExit(f"anchor ping failed: {result.outcome} {result.error}")
            out.append(result.latency_ms or 0.0)
    return out


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms"


def cell_text(mode: str, setup: str, out: Outcome) -> str:
    expect = EXPECTED[(mode, setup)]
    if judge(mode, expect, out):
        return "missing: " + expect[len(MISSING):] if expect.startswith(MISSING) else "named correctly"
    fixed_by = re.search(r"item \d+", XFAIL.get((mode, setup), ""))
    said = f"✗ {out.error[:80]}" if out.error else f"✗ named `{out.verdict}`"
    return said + (f" ({fixed_by.group(0)})" if fixed_by else "")


def cli_floor(n: int) -> list[float]:
    """`agentops --version` as a child process: the interpreter and CLI start-up every diagnosis's wall includes."""
    out = []
    for _ in range(n):
        began = time.perf_counter()
        run_cli("--version")
        out.append((time.perf_counter() - began) * 1000)
    return out


def markdown(results: dict[tuple[str, str], Outcome], setups: list[str], command: str, took_s: float,
             load: tuple[float, float, float], anchor: list[float], floor: list[float]) -> str:
    walls = [o.wall_s for o in results.values() if not o.error]
    lines = [
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, load average "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the start; the matrix took {took_s:.0f} s. "
        f"Regenerate: `{command}`.",
        "",
        f"Per diagnosis (wall, the CLI child process): median {statistics.median(walls):.2f} s, max "
        f"{max(walls):.2f} s, {sum(w < GOAL_S for w in walls)}/{len(walls)} under {GOAL_S:g} s. Anchors in the "
        f"same run: one AgentRpc ping round trip, median {statistics.median(anchor):.1f} ms; `agentops --version` "
        f"(the CLI's start-up, part of every wall time), median {statistics.median(floor) / 1000:.2f} s.",
        "",
        "| mode | " + " | ".join(setups) + " | wall s, median / max |",
        "| --- | " + " | ".join("---" for _ in setups) + " | --- |",
    ]
    for mode in MODES:
        cells = [results[(mode, s)] for s in setups if (mode, s) in results]
        row = [cell_text(mode, o.setup, o) for o in cells]
        times = [o.wall_s for o in cells if not o.error] or [0.0]
        row.append(f"{statistics.median(times):.1f} / {max(times):.1f}")
        lines.append(f"| `{mode}` | " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", default=",".join(LOG_SETUPS), help="comma-separated logging setups")
    parser.add_argument("--jobs", type=int, default=1, help="setups run at once (0: all)")
    parser.add_argument("--anchor-n", type=int, default=20, help="anchor pings before and after the matrix")
    parser.add_argument("--markdown", type=Path, help="write the mode x setup table to this file")
    args = parser.parse_args()
    setups = [s for s in args.setups.split(",") if s]
    unknown = set(setups) - set(LOG_SETUPS)
    if unknown:
        raise SystemExit(f"unknown setup(s) {', '.join(sorted(unknown))}; known: {', '.join(LOG_SETUPS)}")
    given = [a for a in sys.argv[1:] if a not in ("--markdown", str(args.markdown))]  # the file is no part of it
    command = " ".join([".venv/bin/python bench/bench_diagnose_accuracy.py", *given,
                        *(["--markdown", "FILE"] if args.markdown else [])])
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="agentops-bench-accuracy-") as tmp:
        anchor_cluster = PlainCluster(Path(tmp) / "anchor", "nolog")
        anchor_cluster.start()
        try:
            anchor = asyncio.run(pings(anchor_cluster.address, args.anchor_n))
            floor = cli_floor(5)
            began = time.perf_counter()
            results = run_corpus(Path(tmp), setups, jobs=args.jobs)
            took = time.perf_counter() - began
            anchor += asyncio.run(pings(anchor_cluster.address, args.anchor_n))
            floor += cli_floor(5)
        finally:
            anchor_cluster.stop()

    print(f"{len(results)} diagnoses on {len(setups)} setups in {took:.0f} s ({os.cpu_count()} cores, load "
          f"average {load[0]:.2f} at the start, jobs={args.jobs})\n")
    print("accuracy (named correctly, or 'cannot tell' where the setup lacks the evidence)")
    total_ok = 0
    for setup in setups:
        cells = [(m, results[(m, setup)]) for m in MODES if (m, setup) in results]
        ok = sum(judge(m, EXPECTED[(m, setup)], o) for m, o in cells)
        total_ok += ok
        print(f"  {setup:10} {ok:3}/{len(cells)}")
    print(f"  {'all':10} {total_ok:3}/{len(results)}  ({100 * total_ok / len(results):.0f} %)")
    wrong = [(c, o) for c, o in results.items() if not judge(c[0], EXPECTED[c], o)]
    for (mode, setup), o in sorted(wrong):
        print(f"    wrong: {mode} on {setup}: expected {EXPECTED[(mode, setup)]}; said {o.said()[:110]}")
    print("\ntime per diagnosis")
    walls = [o.wall_s * 1000 for o in results.values() if not o.error]
    owns = [o.duration_s * 1000 for o in results.values() if o.duration_s is not None]
    print(f"  wall (CLI process)     {ms(walls)}   {sum(w < GOAL_S * 1000 for w in walls)}/{len(walls)} "
          f"under {GOAL_S:g} s")
    print(f"  own duration_s         {ms(owns)}")
    slow = sorted(((o.wall_s, c) for c, o in results.items() if o.wall_s >= GOAL_S), reverse=True)
    for wall, (mode, setup) in slow[:12]:
        print(f"    {wall:5.2f} s  {mode} on {setup}")
    print(f"  anchor: ping rtt       {ms(anchor)}   (n={len(anchor)}, before and after the matrix)")
    print(f"  anchor: CLI start-up   {ms(floor)}   (`agentops --version`, n={len(floor)})")
    ratio = statistics.median(walls) / statistics.median(anchor)
    print(f"  ratio median diagnosis wall / median ping rtt: {ratio:.0f}x")
    if args.markdown:
        args.markdown.write_text(markdown(results, setups, command, took, load, anchor, floor))
        print(f"\nwrote {args.markdown}")


if __name__ == "__main__":
    main()
