"""The human view: a rich table of results, the findings below it, one summary line.

Commands whose report carries more than checks (a log analysis, a maintenance recap) register a renderer for
their report kind in KIND_RENDERERS ("module:function", imported only when used); it receives the same
redacted document and the console, and may call `render_results` for the generic part.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import IO, Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from agentops.render.document import status_set_by_text
from agentops.render.escape import visible

STYLE = {"OK": "green", "WARNING": "yellow", "CRITICAL": "bold red", "UNKNOWN": "magenta"}

# report kind (or kind prefix before ".") -> "module:function(doc, console)"
KIND_RENDERERS: dict[str, str] = {
    "logs": "agentops.logs.view:render_logs",
    "maintain": "agentops.maintain.render:render_maintain",
    "diagnose.message": "agentops.diagnose.render:render_diagnosis",
    "diagnose.agent": "agentops.diagnose.render:render_diagnosis",
    "diagnose.publish": "agentops.diagnose.render:render_diagnosis",
    "cluster.inventory": "agentops.cli.cluster:render_inventory",
    "profile": "agentops.profile.render:render_profile",
    "load": "agentops.load.render:render_load",
    "diagnose.performance": "agentops.profile.render:render_performance",
}


class DataConsole(Console):
    """A console for showing data: every string it is handed is text, never Rich markup (markup is off, so a
    log line's `[/etc/x]` cannot crash the table nor `[bold]` vanish), and every control character in it, in a
    plain string or a Text, is made visible (render.escape.visible) rather than sent to the terminal. Styling
    is done with Text and styles, never with markup in strings."""

    def render_str(self, text: str, **kwargs: object) -> Text:
        return super().render_str(visible(text), **kwargs)  # type: ignore[arg-type]

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> RenderResult:
        if isinstance(renderable, Text):
            shown = visible(renderable.plain)
            if shown != renderable.plain:  # one character for one: the spans (styles) stay where they were
                renderable = renderable.copy()
                renderable.plain = shown
        return super().render(renderable, options)


def make_console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """No colour when NO_COLOR is set or the stream is not a terminal (rich honours NO_COLOR itself); a fixed
    generous width when not a terminal so piped tables do not wrap at 80 columns."""
    stream = file or (sys.stderr if stderr else sys.stdout)
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if is_tty else int(os.environ.get("COLUMNS", "160") or 160)
    return DataConsole(file=stream, width=width, no_color=bool(os.environ.get("NO_COLOR")) or not is_tty,
                       highlight=False, soft_wrap=False, emoji=False, markup=False)


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
                          f"{r['duration_s'] * 1000:.0f}ms")
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
                         f"{s['unknown']} unknown in {doc['duration_s']:.2f}s")
    set_by = status_set_by_text(doc)
    if set_by:
        line.append(f"; {set_by}")
    console.print(line)
    for note in doc.get("notes", []):
        console.print(f"note: {note}", markup=False)


def render_table(doc: dict[str, Any], console: Console) -> None:
    kind = doc["kind"]
    ref = KIND_RENDERERS.get(kind) or KIND_RENDERERS.get(kind.split(".")[0])
    if ref:
        module, _, func = ref.partition(":")
        getattr(importlib.import_module(module), func)(doc, console)
        return
    render_results(doc, console)
    render_findings(doc, console)
    if doc["results"] or doc["findings"]:
        console.print()
    render_summary(doc, console)
