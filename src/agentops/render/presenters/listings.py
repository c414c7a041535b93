"""Table views of the listing documents (render.listing): what `checks list`, `checks probes`,
`config validate`, `lab up` and `lab down` print for people. The rows come from the CLI; nothing here
looks anything up or judges anything."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from agentops.render.registry import presenter


@presenter("checks.list")
def render_checks(doc: dict[str, Any], console: Console) -> None:
    rows = doc["checks"]
    table = Table(title=f"{len(rows)} checks ({doc['config'] or 'no config: this machine'})", title_justify="left")
    for col in ("CHECK", "PROBE", "TARGET", "THRESHOLDS", "TIMEOUT", "TAGS"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["id"], r["probe"], r["target"], "\n".join(r["thresholds"]), f"{r['timeout_s']:g}s"
                      + (f" x{r['retries'] + 1}" if r["retries"] else ""), ",".join(r["tags"]))
    console.print(table)


@presenter("checks.probes")
def render_probes(doc: dict[str, Any], console: Console) -> None:
    table = Table(title="probes", title_justify="left")
    for col in ("PROBE", "TARGET KINDS", "METRICS", "DESCRIPTION"):
        table.add_column(col, overflow="fold")
    for p in doc["probes"]:
        description = p["description"] if p["error"] is None else f"cannot load: {p['error']}"
        table.add_row(p["kind"], ", ".join(p["target_kinds"]), ", ".join(p["metrics"]), description)
    console.print(table)


@presenter("config.validate")
def render_validation(doc: dict[str, Any], console: Console) -> None:
    where = doc["config"] or "no config file (this machine only)"
    console.print(f"OK: {where}: {doc['targets']} targets, {doc['checks_defined']} checks defined, "
                  f"{doc['checks_planned']} planned", markup=False)


@presenter("lab.up")
def render_lab_up(doc: dict[str, Any], console: Console) -> None:
    console.print(f"lab up: AgentRpc host {doc['host_address']}", markup=False)
    for rec in doc["processes"]:
        what = {"host": f"agentrpc :{rec['port']}", "redis": f"redis :{rec['port']}"}.get(
            rec["role"], f"metrics :{rec['port']}  types {', '.join(rec['agent_types'])}")
        console.print(f"  {rec['name']:<5} pid {rec['pid']:<8} {what}", markup=False)
    console.print(f"config: {doc['config']}\ntry:    agentops health -c {doc['config']}", markup=False)


@presenter("lab.down")
def render_lab_down(doc: dict[str, Any], console: Console) -> None:
    for r in doc["processes"]:
        console.print(f"{r['name']:<5} pid {r['pid']:<8} {r['outcome']}", markup=False)
