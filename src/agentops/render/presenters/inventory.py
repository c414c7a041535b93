"""The table view of a `cluster inventory` report: per host its agent types with their subscriptions (and
owners, named as the configured worker when the config knows it), its topics with the types behind each,
then what failed and the summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentops.render.blocks import render_results, render_summary
from agentops.render.registry import presenter


@presenter("cluster.inventory")
def render_inventory(doc: dict[str, Any], console: Console) -> None:
    for host in doc["data"].get("hosts", []):
        inv = host.get("inventory")
        if not inv:
            continue
        owners = host.get("owners") or {}
        named = host.get("owner_workers") or {}
        by_type: dict[str, list[str]] = {}
        for sub in inv["subscriptions"]:
            shown = sub["topic"] + ("*" if sub["kind"] == "prefix" else "")
            by_type.setdefault(sub["agent_type"], []).append(shown)
        where = host["address"] if host["target"] == host["address"] else f"{host['target']} ({host['address']})"
        table = Table(title=f"{where}: agent types", title_justify="left")
        table.add_column("AGENT TYPE", no_wrap=True)
        table.add_column("SUBSCRIPTIONS (topic, prefix*)", overflow="fold")
        if owners:
            table.add_column("OWNER (worker, else client id)", no_wrap=True)
        for agent_type in sorted(by_type):
            row = [agent_type, ", ".join(sorted(by_type[agent_type]))]
            if owners:
                row.append((named.get(agent_type) or {}).get("worker") or owners.get(agent_type) or "")
            table.add_row(*row)
        console.print(table)
        topics = Table(title=f"{where}: topics", title_justify="left")
        topics.add_column("TOPIC (prefix*)", no_wrap=True)
        topics.add_column("AGENT TYPES", overflow="fold")
        for row in inv.get("topic_types", []):
            topics.add_row(Text(row["topic"] + ("*" if row["kind"] == "prefix" else "")),
                           Text(", ".join(row["agent_types"])))
        if not inv.get("topic_types"):
            topics.add_row(Text("(none)"), Text(""))
        console.print(topics)
        console.print()
    failed = {**doc, "results": [r for r in doc["results"] if r["status"] != "OK"]}
    render_results(failed, console)
    render_summary(doc, console)
