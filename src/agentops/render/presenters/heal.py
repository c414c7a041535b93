"""Presenting heal: the table view of a `heal` report (per worker: its verdict, what was or would be done, the
outcome; per step: the plan and whether the diagnosis verified it) and of `heal history`. Statuses and outcomes
come from the document; nothing is judged here."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentops.core.format import duration
from agentops.render.blocks import render_summary, status_text
from agentops.render.registry import presenter

OUTCOME_STYLE = {"healthy": "green", "healed": "green", "planned": "yellow", "refused": "yellow", "busy": "cyan",
                 "failed": "bold red", "needs-human": "bold red", "interrupted": "bold red"}


def _verified(value: Any) -> str:
    return {True: "verified", False: "not verified", None: ""}[value]


@presenter("heal")
def render_heal(doc: dict[str, Any], console: Console) -> None:
    data = doc.get("data", {})
    mode = "apply" if data.get("apply") else "plan (nothing changed; --apply to act)"
    breaker = data.get("breaker", {})
    console.print(Text.assemble(("heal ", "bold"), mode, "   breaker: ", status_text(breaker.get("status", "?")),
                                f" ({breaker.get('unhealthy', 0):g} of {breaker.get('workers', 0):g} workers "
                                f"unhealthy)"))
    by_target = {r["target"]: r for r in doc["results"] if r["id"] == "heal.target"}
    table = Table(title_justify="left")
    for col in ("WORKER", "VERDICT", "OUTCOME", "STATUS", "ATTEMPTS", "MESSAGE"):
        table.add_column(col, overflow="fold", no_wrap=col not in ("MESSAGE", "VERDICT"))
    for t in data.get("targets", []):
        r = by_target.get(t["target"], {})
        verdict = (t.get("verdict") or {}).get("mode", "")
        table.add_row(t["target"], verdict, Text(t["outcome"], style=OUTCOME_STYLE.get(t["outcome"], "")),
                      status_text(r.get("status", "?")), str(t.get("attempts_in_window", 0)), t.get("message", ""))
    console.print(table)
    for t in data.get("targets", []):
        if not t.get("steps"):
            continue
        rb = t.get("runbook") or {}
        console.print(Text(f"{t['target']}: runbook {rb.get('name', '?')} ({rb.get('mode', '?')})", style="bold"))
        for i, s in enumerate(t["steps"], 1):
            plan = s.get("plan") or {}
            what = f"{plan.get('action', '')} → {plan.get('to', '')}" if plan else s.get("message", "")
            tail = ", ".join(x for x in (s["outcome"], _verified(s.get("verified")),
                                         duration(s["duration_s"]) if s.get("duration_s") else "") if x)
            console.print(Text(f"  {i}. {s['id']} ({s['step']}): {what}  [{tail}]"))
            if plan.get("why"):
                console.print(Text(f"     why: {plan['why']}", style="dim"))
            for line in s.get("changes", [])[:10]:
                console.print(Text(f"     {line}"))
        evidence = (t.get("verdict") or {}).get("evidence", [])
        if t["outcome"] in ("needs-human", "failed") and evidence:
            console.print(Text("  evidence:", style="bold"))
            for line in evidence[:10]:
                console.print(Text(f"    {line}"))
    render_summary(doc, console)


@presenter("heal.history")
def render_history(doc: dict[str, Any], console: Console) -> None:
    table = Table(title=doc.get("history", ""), title_justify="left")
    for col in ("WHEN", "WORKER", "VERDICT", "STEPS", "OUTCOME", "RUN"):
        table.add_column(col, overflow="fold")
    for row in doc["items"]:
        steps = ", ".join(f"{s['step']} {s['outcome']}" + (f" {_verified(s['verified'])}" if s.get("verified")
                                                           is not None else "") for s in row["steps"])
        outcome = row["outcome"] or "open (killed?)"
        if row.get("recovered_by"):
            outcome += f" (closed by {row['recovered_by']})"
        table.add_row(str(row["ts"]), row["target"], str(row["mode"]), steps,
                      Text(outcome, style=OUTCOME_STYLE.get(row["outcome"] or "interrupted", "")), row["run_id"])
    console.print(table)


@presenter("heal.pause")
def render_pause(doc: dict[str, Any], console: Console) -> None:
    state = "paused: heal plans but does not act" if doc["paused"] else "resumed: heal --apply acts"
    console.print(Text(f"{state} ({doc['pause_file']})"))
