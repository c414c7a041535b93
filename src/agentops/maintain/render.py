"""Presenting maintenance: the table view of a `maintain.run` report (registered for the report kind in
render.table.KIND_RENDERERS), and the listings of `maintain list` / `maintain show`. No status is computed
here: outcomes and statuses come from the report document."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from agentops.core.config import Config
    from agentops.maintain.engine import PlannedStep
    from agentops.maintain.playbook import Playbook

OUTCOME_STYLE = {"ok": "green", "changed": "yellow", "skipped": "cyan", "failed": "bold red"}
CHANGES_SHOWN = 10


def render_maintain(doc: dict[str, Any], console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    from agentops.render.table import render_summary, status_text

    data = doc.get("data", {})
    check = " (check mode)" if data.get("check") else ""
    table = Table(title=f"playbook {data.get('playbook', '?')}{check}", title_justify="left")
    for col in ("STEP", "TARGET", "OUTCOME", "STATUS", "MESSAGE", "TIME"):
        table.add_column(col, no_wrap=col != "MESSAGE", overflow="fold", justify="right" if col == "TIME" else "left")
    for r in doc["results"]:
        outcome = r["facts"].get("outcome", "")
        table.add_row(r["id"], r["target"], Text(outcome, style=OUTCOME_STYLE.get(outcome, "")),
                      status_text(r["status"]), r["message"], f"{r['duration_s']:.2f}s")
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


def playbook_rows(cfg: Config) -> list[dict[str, Any]]:
    from agentops.core.yamlsrc import ConfigError
    from agentops.maintain.playbook import list_playbooks, load_playbook

    rows = []
    for path in list_playbooks(cfg):
        try:
            pb = load_playbook(path, builtins={"state_dir": ""})
            rows.append({"name": path.stem, "steps": len(pb.steps), "description": pb.description,
                         "path": str(path)})
        except ConfigError as exc:  # one broken playbook must not hide the others
            rows.append({"name": path.stem, "steps": None, "description": f"INVALID: {exc}", "path": str(path)})
    return rows


def step_rows() -> list[dict[str, Any]]:
    from agentops.core import registry

    rows = []
    for kind in registry.step_kinds():
        step = registry.step(kind)
        rows.append({"name": kind, "targets": ", ".join(step.target_kinds) or "this machine",
                     "destructive": step.destructive, "description": step.description,
                     "params": dict(step.params_doc)})
    return rows


def print_rows(rows: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from rich.table import Table

    from agentops.render.table import make_console

    table = Table(show_lines=False)
    columns = [k for k in (rows[0] if rows else {"name": ""}) if k != "params"]
    for col in columns:
        table.add_column(col.upper(), overflow="fold")
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    make_console().print(table)


def plan_rows(plan: list[PlannedStep]) -> list[dict[str, Any]]:
    return [{
        "id": p.spec.id, "step": p.spec.kind,
        "targets": [t.name if t else "local" for t in p.targets] if p.targets else [],
        "when": [c.text for c in p.spec.when], "timeout_s": p.timeout,
        "continue_on_error": p.spec.continue_on_error, "destructive": p.step.destructive,
        "params": p.spec.params, "source": p.spec.source,
    } for p in plan]


def print_plan(pb: Playbook, rows: list[dict[str, Any]], output: str) -> None:
    from agentops.core.redact import redact_obj

    doc = {"playbook": pb.name, "path": str(pb.path), "description": pb.description,
           "unattended": pb.unattended, "vars": pb.vars, "steps": rows}
    if output == "json":
        sys.stdout.write(json.dumps(redact_obj(doc), indent=2, default=str) + "\n")
        return
    from rich.table import Table

    from agentops.render.table import make_console

    console = make_console()
    console.print(f"playbook {pb.name} ({pb.path})" + (f": {pb.description}" if pb.description else ""),
                  markup=False)
    if pb.unattended:
        console.print("unattended: true (destructive steps run without --yes)", markup=False)
    table = Table()
    for col in ("STEP", "TYPE", "TARGETS", "WHEN", "TIMEOUT", "NOTES"):
        table.add_column(col, overflow="fold")
    for r in rows:
        notes = [n for n, on in (("destructive", r["destructive"]), ("continue_on_error", r["continue_on_error"]))
                 if on]
        table.add_row(r["id"], r["step"], ", ".join(r["targets"]) or "(no target: skipped)",
                      " and ".join(r["when"]), f"{r['timeout_s']:g}s", ", ".join(notes))
    console.print(table)
