"""The human view of `profile` (and the process part of `diagnose performance`): per process a table of every
series — min / mean / p95 / max and a sparkline of the window — the memory trend, the hot stack frames and the
agents' own metrics; then the checks, findings and summary every report has. Reads only the report document.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from agentops.core.format import compact, sparkline
from agentops.render.blocks import render_findings, render_results, render_summary
from agentops.render.registry import presenter

# series key in data.processes[].summary -> (row label, scale of the raw series for the sparkline, unit)
ROWS = (
    ("cpu_percent", "CPU %", "cpu_percent", 1.0),
    ("rss_mb", "RSS MB", "rss_bytes", 1024 * 1024),
    ("uss_mb", "USS MB", "uss_bytes", 1024 * 1024),
    ("threads", "threads", "threads", 1.0),
    ("fds", "open fds", "fds", 1.0),
    ("connections", "connections", "connections", 1.0),
    ("ctx_switches_per_s", "ctx switches/s", "ctx_switches_per_s", 1.0),
    ("io_read_bytes_per_s", "IO read B/s", "io_read_bytes_per_s", 1.0),
    ("io_write_bytes_per_s", "IO write B/s", "io_write_bytes_per_s", 1.0),
)
SPARK_WIDTH = 40


def render_process(proc: dict[str, Any], console: Console) -> None:
    title = f"{proc['label']} — pid {proc['pid']} {proc['name']}".rstrip()
    table = Table(title=title, title_justify="left")
    for col in ("SERIES", "MIN", "MEAN", "P95", "MAX"):
        table.add_column(col, justify="right" if col != "SERIES" else "left", no_wrap=True)
    table.add_column("OVER TIME", no_wrap=True)
    series = proc["series"]
    for key, label, raw, scale in ROWS:
        s = proc["summary"].get(key)
        if not s or s["max"] is None:
            continue
        values = [v / scale if v is not None else float("nan") for v in series.get(raw, [])]
        # CPU on a fixed 0..100 scale, so an idle process does not draw a busy-looking line.
        # Memory moves by a few hundred KB all the time: draw changes of under 2 % (or 1 MB) as flat.
        bounds: dict[str, float] = {"low": 0.0, "high": max(100.0, s["max"])} if key == "cpu_percent" else \
            {"min_span": max(1.0, 0.02 * abs(s["max"]))} if key in ("rss_mb", "uss_mb") else {}
        table.add_row(label, compact(s["min"]), compact(s["mean"]), compact(s["p95"]), compact(s["max"]),
                      sparkline(values, SPARK_WIDTH, **bounds))
    console.print(table)
    trend = proc["trend"]
    if trend["slope_mb_per_min"] is not None:
        flag = "SUSPECTED LEAK: " if trend["leak_suspected"] else ""
        console.print(f"  memory trend: {trend['slope_mb_per_min']:+.2f} MB/min, r² {trend['r2'] or 0:.2f} — "
                      f"{flag}{trend['why']}", markup=False)
    if proc.get("gone"):
        console.print(f"  process {proc['gone']}", markup=False)
    stacks = proc.get("stacks")
    if stacks and stacks["available"]:
        console.print(f"  stacks: {stacks['samples']} samples, {stacks['active_samples']} active", markup=False)
        for f in stacks["hot_frames"][:5]:
            console.print(f"    {100 * f['share']:5.1f}%  {f['frame']}", markup=False)
        for loop in stacks["loops"][:1]:
            console.print(f"  event loop {loop['thread']}: busy {100 * loop['busy_share']:.0f}% of "
                          f"{loop['samples']} samples", markup=False)
    console.print()


def render_metrics(windows: list[dict[str, Any]], console: Console) -> None:
    # Types with no traffic in the window have nothing to say (their rows stay in the JSON).
    rows = [(w["label"], t) for w in windows for t in w["types"] if t["messages"] or t["errors"]]
    if not rows:
        return
    table = Table(title="agent metrics over the window", title_justify="left")
    for col in ("ENDPOINT", "AGENT TYPE", "MSG/S", "P50 S", "P95 S", "P99 S", "ERRORS %", "ERRORS BY KIND"):
        table.add_column(col, no_wrap=col != "ERRORS BY KIND", overflow="fold")
    for label, t in rows:
        kinds = ", ".join(f"{k} {v:.0f}" for k, v in t["errors_by_kind"].items())
        table.add_row(label, t["agent_type"], compact(t["throughput_per_s"]), compact(t["p50_s"]), compact(t["p95_s"]),
                      compact(t["p99_s"]), compact(t["error_rate_percent"]), kinds)
    console.print(table)
    for w in windows:
        if w["queue_size"]:
            console.print(f"  {w['label']} queue size: max {compact(w['queue_max'])}  "
                          f"{sparkline(w['queue_size'], SPARK_WIDTH, low=0)}", markup=False)
    console.print()


def render_machine(machine: dict[str, Any], console: Console) -> None:
    cpu = machine.get("cpu_percent") or []
    if cpu:
        console.print(f"machine CPU ({machine['cpu_count']} cores): mean {compact(machine['cpu_percent_mean'])}%, "
                      f"p95 {compact(machine['cpu_percent_p95'])}%  {sparkline(cpu, SPARK_WIDTH, low=0, high=100)}",
                      markup=False)
        console.print()


def render_profile_data(data: dict[str, Any], console: Console) -> None:
    for proc in data.get("processes", []):
        render_process(proc, console)
    render_metrics(data.get("metrics", []), console)
    if data.get("machine"):
        render_machine(data["machine"], console)


@presenter("profile")
def render_profile(doc: dict[str, Any], console: Console) -> None:
    render_profile_data(doc["data"], console)
    render_results(doc, console, title="checks")
    render_findings(doc, console)
    console.print()
    render_summary(doc, console)


@presenter("diagnose.performance")
def render_performance(doc: dict[str, Any], console: Console) -> None:
    """`diagnose performance`: the verdict first (what an operator reads), then the numbers behind it."""
    render_findings(doc, console)
    console.print()
    render_profile_data(doc["data"], console)
    load = doc["data"].get("load")
    if load and "latency" in load:
        lat = load["latency"]
        console.print(f"load: {load['to']}, {load['requests']} requests, {load['ok']} ok, "
                      f"{load['throughput_per_s']:.1f} replies/s, p95 {compact(lat.get('p95_s'))}s, "
                      f"p99 {compact(lat.get('p99_s'))}s", markup=False)
        console.print()
    render_results(doc, console, title="checks")
    console.print()
    render_summary(doc, console)
