"""The human view of a `load` report: what was offered, what came back (throughput, the latency histogram's
quantiles, errors by kind, replies per second over the run as a sparkline), then the KPI checks, findings and
summary every report has. Reads only the report document."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from agentops.core.format import QUANTILES, duration, sparkline
from agentops.render.blocks import render_findings, render_results, render_summary
from agentops.render.registry import presenter

# Where each model's latency counts from (load/engine.py): the open model has a schedule, the closed one does not.
LATENCY_BASIS = {"open": "open model: from the intended send time, so a stall is not hidden",
                 "closed": "closed model: from the actual send time of each request"}


@presenter("load")
def render_load(doc: dict[str, Any], console: Console) -> None:
    d = doc["data"]
    offered = f"{d['rate']:g}/s open model" if d["model"] == "open" else f"{d['concurrency']} in flight (closed model)"
    stop = " and ".join(x for x in (f"{d['duration_s']:g}s" if d.get("duration_s") else "",
                                    f"{d['count']} requests" if d.get("count") else "") if x)
    console.print(f"load: {d['to']} via {d['host']}, payload {d['payload_type']}, {offered} for {stop}, "
                  f"reply deadline {d['timeout_s']:g}s", markup=False)
    if "requests" in d:
        errors = ", ".join(f"{k} {n}" for k, n in d["errors"].items()) or "none"
        console.print(f"  {d['requests']} requests, {d['ok']} ok, errors: {errors}; "
                      f"{d['throughput_per_s']:.1f} replies/s over {duration(d['elapsed_s'])}", markup=False)
        # Printed as a line, not as the table's title: a title wraps at the width of this narrow table.
        console.print(f"latency (successful replies; {LATENCY_BASIS[d['model']]})", markup=False)
        table = Table()
        for label, _ in QUANTILES:
            table.add_column(label, justify="right", no_wrap=True)
        table.add_row(*(duration(d["latency"].get(key)) for _, key in QUANTILES))
        console.print(table)
        timeline = d.get("timeline") or []
        if len(timeline) > 1:
            ok = [row["ok"] for row in timeline]
            failed = [row["failed"] for row in timeline]
            console.print(f"  replies/s  {sparkline(ok, 60, low=0)}  (max {max(ok)})", markup=False)
            if any(failed):
                console.print(f"  failures/s {sparkline(failed, 60, low=0)}  (max {max(failed)})", markup=False)
        if d.get("send_lag") and d["send_lag"]["p99_s"] is not None:
            console.print(f"  send lag p99 {duration(d['send_lag']['p99_s'])}, max {duration(d['send_lag']['max_s'])}",
                          markup=False)
        for item in d.get("handler_errors", [])[:3]:
            console.print(f"  handler error x{item['count']}: {item['error']}", markup=False)
        console.print()
    render_results(doc, console, title="run and KPIs")
    render_findings(doc, console)
    console.print()
    render_summary(doc, console)
