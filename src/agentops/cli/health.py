"""`agentops health`: run check packs against the configured targets (or, with no config, this machine)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from agentops.cli.common import (
    EXIT_USAGE,
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
    from agentops.core.packs import PlannedCheck

# The deploy gate's defaults (--until-healthy): the reference's wait_for_ready(timeout=300), a run every 2 s.
UNTIL_HEALTHY_WAIT_S = 300.0
UNTIL_HEALTHY_EVERY_S = 2.0

HELP = """Run health checks and report what is wrong, where, and what to do.

With no config file, checks this machine with the shipped host pack (CPU, memory, swap, disks, inodes, load,
file descriptors). With a config, runs every shipped pack whose checks match its targets (host, autogen, redis,
postgres, http, grpc, kpi) plus the config's own checks.

Examples:

  agentops health

  agentops health -c agentops.yaml -o json --fail-on critical

  agentops health --only 'redis.*' --skip redis.memory -o nagios

  agentops health --until-healthy --wait 300 --fail-on critical     (a deploy gate)
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
    push: str = typer.Option(None, "--push", metavar="URL", help="Also push the run's Prometheus series to this "
                             "Pushgateway, grouped by job=agentops, instance=<this host>, pack=<--pack or default>; "
                             "a failed push exits 3 after the report."),
    push_delete: bool = typer.Option(False, "--push-delete", help="With --push: delete this host's and pack's "
                                     "group instead of running the checks (when the job that pushed it is gone)."),
    until_healthy: bool = typer.Option(False, "--until-healthy", help="Deploy gate: run again until the status "
                                       "passes --fail-on or --wait is over; progress on stderr, the last run's "
                                       "report and exit code."),
    wait: float = typer.Option(UNTIL_HEALTHY_WAIT_S, "--wait", min=0.1, max=86400,
                               help="With --until-healthy: give up after this many seconds."),
    every: float = typer.Option(UNTIL_HEALTHY_EVERY_S, "--every", min=0.05, max=3600,
                                help="With --until-healthy: pause between runs, in seconds."),
) -> None:
    import asyncio
    import time

    from agentops import STARTED_MONOTONIC, STARTED_WALL
    from agentops.core.model import Report
    from agentops.core.packs import Selection, load_specs, plan
    from agentops.core.runner import run_plan, runner_deadline

    if push_delete:
        _push_delete(push, split_csv(pack))
    if push is not None:
        from agentops.serve.push import PushError, group_url, grouping_key

        try:
            group_url(push, grouping_key(split_csv(pack)))  # a bad URL is a usage error, found before any check
        except PushError as exc:
            fail(str(exc))
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
    if until_healthy:
        report = _until_healthy(checks, concurrency or cfg.defaults.concurrency, fail_on, wait, every)
        deadline_at = None  # --timeout bounded each round; the gate's own deadline is --wait
    else:
        with progress("checking", total=len(checks)) as bar:
            results = asyncio.run(run_plan(checks, concurrency=concurrency or cfg.defaults.concurrency,
                                           deadline_at=deadline_at, on_done=lambda _r: bar.advance()))
        report = Report(kind="health", started_at=started_at, duration_s=time.monotonic() - STARTED_MONOTONIC,
                        results=results)
    if baseline or baseline_file:
        _compare_with_baseline(report, cfg, baseline_file, baseline_tolerance)
    code = None if push is None or _pushed(push, split_csv(pack), report) else EXIT_USAGE
    if deadline_at is None:
        Output(output, output_file, fail_on).report(report, code=code)
    try:
        Output(output, output_file, fail_on).report(report, code=code)
    except typer.Exit as done:
        _exit_now(done.exit_code)


def _until_healthy(checks: list[PlannedCheck], concurrency: int, fail_on: FailOn, wait: float,
                   every: float) -> Report:
    import asyncio
    import time

    from agentops.cli.common import exit_code
    from agentops.core.model import Report
    from agentops.core.runner import run_plan
    from agentops.serve.gate import until_healthy

    async def run_round(deadline_at: float) -> Report:
        started, t0 = utc_stamp(), time.monotonic()
        results = await run_plan(checks, concurrency=concurrency, deadline_at=deadline_at)
        return Report(kind="health", started_at=started, duration_s=time.monotonic() - t0, results=results)

    def progress_line(n: int, report: Report, left: float) -> None:
        set_by = ", ".join(report.status_set_by()[:5])
        note(f"not healthy yet (run {n}): {report.status.label} set by {set_by}; again in {min(every, left):.3g}s, "
             f"{left:.0f}s left")

    report = asyncio.run(until_healthy(run_round, lambda r: exit_code(r.status, fail_on) == 0, wait_s=wait,
                                       every_s=every, on_round=progress_line))
    note("healthy" if exit_code(report.status, fail_on) == 0 else f"gave up after {wait:g}s: still "
         f"{report.status.label}")
    return report


def _pushed(url: str, packs: list[str], report: Report) -> bool:
    """Push the report's series (the same exposition as -o prometheus); False (and a note) when it failed."""
    from agentops.render.document import report_document
    from agentops.render.prometheus import render_prometheus
    from agentops.serve.push import PushError, grouping_key
    from agentops.serve.push import push as push_to

    try:
        push_to(url, grouping_key(packs), render_prometheus(report_document(report)))
    except PushError as exc:
        note(f"push failed: {exc}")
        return False
    return True


def _push_delete(url: str | None, packs: list[str]) -> NoReturn:
    from agentops.serve.push import PushError, delete, grouping_key

    if not url:
        fail("--push-delete needs --push URL (the Pushgateway to delete the group from)")
    try:
        where = delete(url, grouping_key(packs))
    except PushError as exc:
        fail(str(exc))
    note(f"deleted {where}")
    raise typer.Exit(0)


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
