"""`agentops health`: run check packs against the configured targets (or, with no config, this machine)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from agentops.cli.common import (
    ConfigOpt,
    FailOn,
    FailOnOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    fail,
    load_config_with_sources,
    note,
    progress,
    split_csv,
)
from agentops.core.format import utc_stamp

if TYPE_CHECKING:
    from agentops.core.config import Config
    from agentops.core.model import Report

HELP = """Run health checks and report what is wrong, where, and what to do.

With no config file, checks this machine with the shipped host pack (CPU, memory, swap, disks, inodes, load,
file descriptors). With a config, runs every shipped pack whose checks match its targets (host, autogen, redis,
postgres, http, grpc, kpi) plus the config's own checks.

Examples:

  agentops health

  agentops health -c agentops.yaml -o json --fail-on critical

  agentops health --only 'redis.*' --skip redis.memory -o nagios
"""


def register(root: typer.Typer) -> None:
    root.command("health", help=HELP)(health)


def health(
    config: str = ConfigOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
    only: list[str] = typer.Option(None, "--only", help="Run only checks whose id, id@target or probe matches "
                                   "(glob; repeat or comma-separate)."),
    skip: list[str] = typer.Option(None, "--skip", help="Skip checks whose id, id@target or probe matches (glob)."),
    tags: list[str] = typer.Option(None, "--tags", help="Run only checks carrying one of these tags."),
    pack: list[str] = typer.Option(None, "--pack", "-p", help="Run these packs (name or path) instead of the "
                                   "config's / default ones."),
    timeout: float = typer.Option(None, "--timeout", min=0.1, max=86400,
                                  help="Global deadline in seconds; checks still running then are UNKNOWN. "
                                  "Also caps each check's own timeout."),
    concurrency: int = typer.Option(None, "--concurrency", min=1, max=10000,
                                    help="Checks run at once (default from config, else 256)."),
    baseline: bool = typer.Option(False, "--baseline", help="Compare metrics with the baseline stored by the "
                                  "maintenance step baseline.update (in the state dir); informs, never judges."),
    baseline_file: Path = typer.Option(None, "--baseline-file", help="Compare with this baseline file (implies "
                                       "--baseline)."),
    baseline_tolerance: float = typer.Option(50.0, "--baseline-tolerance", min=0,
                                             help="Note metrics that moved more than this many percent."),
) -> None:
    import asyncio
    import time

    from agentops import STARTED_MONOTONIC, STARTED_WALL
    from agentops.core.model import Report
    from agentops.core.packs import Selection, load_specs, plan
    from agentops.core.runner import run_plan, runner_deadline

    cfg = load_config_with_sources(config, timeout)
    specs = load_specs(cfg, split_csv(pack) or None)
    selection = Selection(only=split_csv(only), skip=split_csv(skip), tags=split_csv(tags))
    checks = plan(cfg, specs, selection, timeout_override=timeout)
    if not checks:
        # A gate whose filter matches nothing must not pass: a typo in --only would otherwise read as OK.
        fail("no check to run: nothing matched " + (selection.describe() or "the config's packs and targets")
             + " (see `agentops checks list`)")
    # The report covers the whole command (config and packs read, checks run), which is what --timeout bounds.
    started_at = utc_stamp(STARTED_WALL)
    deadline_at = None if timeout is None else runner_deadline(STARTED_MONOTONIC, timeout, len(checks))
    with progress("checking", total=len(checks)) as bar:
        results = asyncio.run(run_plan(checks, concurrency=concurrency or cfg.defaults.concurrency,
                                       deadline_at=deadline_at, on_done=lambda _r: bar.advance()))
    report = Report(kind="health", started_at=started_at, duration_s=time.monotonic() - STARTED_MONOTONIC,
                    results=results)
    if baseline or baseline_file:
        _compare_with_baseline(report, cfg, baseline_file, baseline_tolerance)
    if deadline_at is None:
        Output(output, output_file, fail_on).report(report)
    try:
        Output(output, output_file, fail_on).report(report)
    except typer.Exit as done:
        _exit_now(done.exit_code)


def _exit_now(code: int) -> NoReturn:
    """Exit once the report is out, without the interpreter's teardown: unloading the client libraries a run
    imported (grpc, httpx, redis, psycopg) takes 0.1-0.4 s on a busy machine, which --timeout promises not
    to spend. Nothing is lost: the report is written and flushed, and agentops registers no exit hooks."""
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a reader that went away (`| head`) or a closed stream: the exit code still tells
    os._exit(code)


def _compare_with_baseline(report: Report, cfg: Config, path: Path | None, tolerance: float) -> None:
    from agentops.maintain.baseline import baseline_note, load_baseline, read_baseline

    found = read_baseline(path) if path else load_baseline(cfg=cfg)
    if found is None:
        note(f"no baseline at {path} (nothing compared)" if path else
             "no baseline yet in the state directory (run a playbook with baseline.update); nothing compared")
        return
    report.notes.append(baseline_note(found, found.annotate(report.results, tolerance), tolerance))
