"""Presenting maintenance: the table view of a `maintain.run` report, and of the listings of `maintain list`,
`maintain show` and `maintain schedule`. No status is computed here: outcomes and statuses come from the
report document."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentops.core.format import duration
from agentops.render.blocks import render_summary, status_text
from agentops.render.registry import presenter

OUTCOME_STYLE = {"ok": "green", "changed": "yellow", "skipped": "cyan", "failed": "bold red"}
CHANGES_SHOWN = 10


@presenter("maintain")
def render_maintain(doc: dict[str, Any], console: Console) -> None:
    data = doc.get("data", {})
    check = " (check mode)" if data.get("check") else ""
    table = Table(title=f"playbook {data.get('playbook', '?')}{check}", title_justify="left")
    for col in ("STEP", "TARGET", "OUTCOME", "STATUS", "MESSAGE", "TIME"):
        table.add_column(col, no_wrap=col != "MESSAGE", overflow="fold", justify="right" if col == "TIME" else "left")
    for r in doc["results"]:
        outcome = r["facts"].get("outcome", "")
        table.add_row(r["id"], r["target"], Text(outcome, style=OUTCOME_STYLE.get(outcome, "")),
                      status_text(r["status"]), r["message"], duration(r["duration_s"]))
    console.print(table)
    for r in doc["results"]:
        facts = r["facts"]
        changes, warnings = facts.get("changes", []), facts.get("warnings", [])
        if not changes and not warnings:
            continue
        console.print(Text(f"{r['id']} @ {r['target']}:", style="bold"))
        for line in changes[:CHANGES_SHOWN]:
            console.print(f"  {line}", markup=False)
        more = facts.get("changes_total", len(changes)) - min(len(changes), CHANGES_SHOWN)
        if more > 0:
            console.print(f"  … and {more} more (see -o json or the audit log)", markup=False)
        for line in warnings[:CHANGES_SHOWN]:
            console.print(Text(f"  ! {line}", style="yellow"))
    recap = data.get("recap", {})
    console.print()
    console.print(Text.assemble(
        ("RECAP ", "bold"), f"{data.get('playbook', '?')}: ",
        *[(f"{k}={recap.get(k, 0)} ", OUTCOME_STYLE[k]) for k in ("ok", "changed", "skipped", "failed")]))
    render_summary(doc, console)


@presenter("maintain.playbooks", "maintain.steps")
def render_rows(doc: dict[str, Any], console: Console) -> None:
    rows = doc["items"]
    table = Table(show_lines=False)
    columns = [k for k in (rows[0] if rows else {"name": ""}) if k != "params"]
    for col in columns:
        table.add_column(col.upper(), overflow="fold")
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    console.print(table)


@presenter("maintain.show")
def render_plan(doc: dict[str, Any], console: Console) -> None:
    console.print(f"playbook {doc['playbook']} ({doc['path']})"
                  + (f": {doc['description']}" if doc["description"] else ""), markup=False)
    if doc["unattended"]:
        console.print("unattended: true (destructive steps run without --yes)", markup=False)
    table = Table()
    for col in ("STEP", "TYPE", "TARGETS", "WHEN", "TIMEOUT", "NOTES"):
        table.add_column(col, overflow="fold")
    for r in doc["steps"]:
        notes = [n for n, on in (("destructive", r["destructive"]), ("continue_on_error", r["continue_on_error"]))
                 if on]
        table.add_row(r["id"], r["step"], ", ".join(r["targets"]) or "(no target: skipped)",
                      " and ".join(r["when"]), f"{r['timeout_s']:g}s", ", ".join(notes))
    console.print(table)


@presenter("maintain.schedule")
def render_schedule(doc: dict[str, Any], console: Console) -> None:
    """The files as they would be installed: a crontab line alone, systemd units each under a `# name` line."""
    for f in doc["files"]:
        text = f["text"] if doc["format"] != "systemd" else f"# {f['name']}\n{f['text']}\n"
        console.file.write(text)
