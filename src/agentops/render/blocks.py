"""The pieces every table view is built from: the status colours, the results table, the findings and the
one summary line (counts, run time, and what set the status). Presenters (render/presenters/) and the generic
view (render.table) compose them; this module imports no presenter, so a presenter can import it.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentops.core.format import duration
from agentops.render.document import status_set_by_text

STYLE = {"OK": "green", "WARNING": "yellow", "CRITICAL": "bold red", "UNKNOWN": "magenta"}

def status_text(status: str) -> Text:
    return Text(status, style=STYLE.get(status, ""))


def render_results(doc: dict[str, Any], console: Console, *, title: str | None = None,
                   sort: bool = True) -> None:
    """The results table, worst first (or, with sort=False, in the order they ran)."""
    if doc["results"]:
        table = Table(title=title, show_lines=False, expand=False, title_justify="left")
        table.add_column("STATUS", no_wrap=True)
        table.add_column("CHECK", no_wrap=True)
        table.add_column("TARGET", no_wrap=True)
        table.add_column("REASON", no_wrap=True)
        table.add_column("MESSAGE", overflow="fold")
        table.add_column("TIME", justify="right", no_wrap=True)
        order = {"CRITICAL": 0, "UNKNOWN": 1, "WARNING": 2, "OK": 3}
        rows = sorted(doc["results"], key=lambda r: order.get(r["status"], 4)) if sort else doc["results"]
        for r in rows:
            table.add_row(status_text(r["status"]), r["id"], r["target"], r["reason"] or "", r["message"],
                          duration(r["duration_s"]))
        console.print(table)


def render_findings(doc: dict[str, Any], console: Console) -> None:
    for f in doc.get("findings", []):
        console.print()
        head = Text.assemble(status_text(f["status"]), " ", Text(f["title"], style="bold"))
        console.print(head)
        if f["cause"]:
            console.print(f"  cause: {f['cause']}", markup=False)
        for line in f["evidence"]:
            console.print(f"  - {line}", markup=False)
        if f["fix"]:
            console.print(f"  fix: {f['fix']}", markup=False)


def render_summary(doc: dict[str, Any], console: Console) -> None:
    s = doc["summary"]
    line = Text.assemble(status_text(doc["status"]),
                         f"  {s['ok']} ok, {s['warning']} warning, {s['critical']} critical, "
                         f"{s['unknown']} unknown in {duration(doc['duration_s'])}")
    set_by = status_set_by_text(doc)
    if set_by:
        line.append(f"; {set_by}")
    console.print(line)
    for note in doc.get("notes", []):
        console.print(f"note: {note}", markup=False)
