"""The screen of `agentops watch`: every check's status with a sparkline of each shown metric's recent values,
then what changed and when. It reads the watch document (a report with `data.history` and `data.changes`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentops.core.format import clock_time, metric_value, sparkline
from agentops.render.blocks import render_summary, status_text
from agentops.render.registry import presenter

SPARK_WIDTH = 24


@presenter("watch")
def render_watch(doc: dict[str, Any], console: Console) -> None:
    history: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for h in doc["data"].get("history", []):
        history.setdefault((h["check"], h["target"]), []).append(h)
    table = Table(title=f"agentops watch  {clock_time(doc['started_at'])}", title_justify="left", expand=False)
    for name in ("STATUS", "CHECK", "TARGET", "METRICS", "MESSAGE"):
        table.add_column(name, no_wrap=name != "MESSAGE", overflow="fold")
    for r in doc["results"]:
        lines = Text()
        for h in history.get((r["id"], r["target"]), []):
            if lines:
                lines.append("\n")
            values = [float("nan") if v is None else v for v in h["values"]]  # null: not measured, a gap
            last = metric_value(h["metric"], h["values"][-1])
            lines.append(f"{h['metric']} {sparkline(values, SPARK_WIDTH)} {last}")
        table.add_row(status_text(r["status"]), r["id"], r["target"], lines, r["message"])
    console.print(table)
    changes = doc["data"].get("changes", [])
    if changes:
        console.print("changes (latest first):")
        for c in changes:
            console.print(Text.assemble(f"  {clock_time(c['at'])}  {c['check']}@{c['target']}  ",
                                        status_text(c["before"]), " -> ", status_text(c["after"]),
                                        f"  {c['message']}"))
    render_summary(doc, console)
