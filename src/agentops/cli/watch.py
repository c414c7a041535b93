"""`agentops watch`: a live screen of the health plan (agentops.serve.watch keeps the history,
render/presenters/watch.py draws it)."""

from __future__ import annotations

import typer

from agentops.cli.common import (
    ConfigOpt,
    FailOn,
    FailOnOpt,
    ListFormat,
    ListOutputOpt,
    exit_code,
    fail,
    load_config_with_sources,
    split_csv,
)
from agentops.serve.watch import WATCH_INTERVAL_S

HELP = """A live screen: every check's status, a sparkline of each metric's recent values, and what changed
and when, refreshed every --interval seconds. The same config, packs and filters as `agentops health`.

On a terminal the screen is redrawn; otherwise each refresh is printed after the last. With -o json, each
refresh is one report document on one line (JSON Lines). With --count N it stops after N refreshes and exits
with the last one's status (as health does); Ctrl-C ends it with 0.

Examples:

  agentops watch -c agentops.yaml --interval 2

  agentops watch --only 'autogen.*' -o json --count 10 | jq .status
"""


def register(root: typer.Typer) -> None:
    root.command("watch", help=HELP)(watch)


def watch(
    config: str = ConfigOpt,
    output: ListFormat = ListOutputOpt,
    interval: float = typer.Option(WATCH_INTERVAL_S, "--interval", min=0.1, max=86400,
                                   help="Seconds between refreshes."),
    count: int = typer.Option(None, "--count", min=1, help="Stop after this many refreshes."),
    fail_on: FailOn = FailOnOpt,
    pack: list[str] = typer.Option(None, "--pack", "-p", help="Run these packs instead of the config's."),
    only: list[str] = typer.Option(None, "--only", help="Run only checks matching (glob), as health."),
    skip: list[str] = typer.Option(None, "--skip", help="Skip checks matching (glob), as health."),
    tags: list[str] = typer.Option(None, "--tags", help="Run only checks carrying one of these tags."),
) -> None:
    import asyncio
    import sys

    from agentops.core.model import Report
    from agentops.core.packs import Selection, load_specs, plan
    from agentops.render.document import report_document
    from agentops.render.json import render_json
    from agentops.render.table import make_console, render_table
    from agentops.serve.watch import watch as run_watch

    # kind: kubernetes sources expanded as health expands them (once, at start: the pods of that moment)
    cfg = load_config_with_sources(config)
    selection = Selection(only=split_csv(only), skip=split_csv(skip), tags=split_csv(tags))
    checks = plan(cfg, load_specs(cfg, split_csv(pack) or None), selection)
    if not checks:
        fail("no check to run: nothing matched " + (selection.describe() or "the config's packs and targets"))
    console = make_console()

    def frame(report: Report) -> None:
        doc = report_document(report)
        if output is ListFormat.json:
            sys.stdout.write(render_json(doc, indent=None))
            sys.stdout.flush()
            return
        if console.is_terminal:
            console.clear()
        render_table(doc, console)

    last, interrupted = asyncio.run(run_watch(checks, concurrency=cfg.defaults.concurrency, interval=interval,
                                              count=count, on_frame=frame))
    if interrupted or last is None:  # Ctrl-C ends a watch the way the operator asked: not a failure
        raise typer.Exit(0)
    raise typer.Exit(exit_code(last.status, fail_on))
