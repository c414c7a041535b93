"""The human view: a rich table of results, the findings below it, one summary line; and the console every
table is printed on.

Documents whose kind carries more than checks (a log analysis, a maintenance recap, a listing) are shown by
the presenter registered for their kind (render.registry, render/presenters/); it receives the same redacted
document and the console, and builds on render.blocks (the results table, findings, summary line).
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.text import Text

from agentops.render.blocks import render_findings, render_results, render_summary
from agentops.render.escape import visible


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


def render_table(doc: dict[str, Any], console: Console) -> None:
    from agentops.render.presenters import presenter_for

    shown = presenter_for(doc["kind"])
    if shown is not None:
        shown(doc, console)
        return
    render_results(doc, console)
    render_findings(doc, console)
    if doc["results"] or doc["findings"]:
        console.print()
    render_summary(doc, console)
