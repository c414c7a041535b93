"""The table view of a diagnosis: the verdict first and prominent, then the other findings, then every check
in the order it ran (the path of the message), then notes on what was not checked.

Registered for the diagnose.message and diagnose.agent report kinds; it receives the same redacted document as
every renderer and computes no status.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from agentops.render.blocks import STYLE, render_findings, render_results, render_summary, status_text
from agentops.render.document import status_set_by_text
from agentops.render.registry import presenter


@presenter("diagnose.message", "diagnose.agent", "diagnose.publish")
def render_diagnosis(doc: dict[str, Any], console: Console) -> None:
    findings = doc.get("findings", [])
    if findings:
        verdict = findings[0]
        body = Text()
        body.append(verdict["title"] + "\n", style="bold")
        if verdict["cause"]:
            body.append(f"cause: {verdict['cause']}\n")
        for line in verdict["evidence"]:
            body.append(f"  - {line}\n")
        if verdict["fix"]:
            body.append(f"fix: {verdict['fix']}", style="bold")
        set_by = doc.get("status_set_by") or []
        if set_by and set_by != [verdict["id"]]:  # the verdict is not the whole story of the exit code
            body.append(f"\n{status_set_by_text(doc)}", style=STYLE.get(doc["status"], ""))
        title = Text.assemble("VERDICT ", status_text(verdict["status"]), f"  [{verdict['id']}]")
        console.print(Panel(body, title=title, title_align="left", border_style=STYLE.get(verdict["status"], ""),
                            expand=False))
        if findings[1:]:
            console.print("also:")
            render_findings({"findings": findings[1:]}, console)
        console.print()
    if doc["results"]:
        render_results(doc, console, title="checks, in the order they ran", sort=False)
        console.print()
    render_summary(doc, console)
