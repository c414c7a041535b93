"""`agentops logs`: analyze agent logs, count errors, trace one message (the library: agentops.logs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from agentops.cli.common import (
    FailOn,
    FailOnOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    config_option,
    fail,
    seconds_arg,
    split_csv,
)

HELP = """Analyze agent logs, count errors for a gate, trace one message across components.

Reads JSON-lines logs (the lab's structured format and common aliases), journald's JSON export, and AutoGen's
plain-text lines (host "Agent X not found", worker "Exception in callback …" tracebacks); files, directories,
globs, gzip-rotated files, - for stdin, or --journal UNIT. Bad lines are counted and reported, never fatal.

Examples:

  agentops logs analyze /var/log/agents/ --since 1h

  agentops logs analyze 'lab-state/logs/*.log' --max-errors 10,100 -o json

  agentops logs count /var/log/agents/host.log* --level ERROR --since 15m --max-errors 50

  agentops logs trace 4bf92f3577b34da6a3ce929d0e0e4736 lab-state/logs/

  journalctl -o json -u agents-host | agentops logs analyze -
"""

ANALYZE_HELP = """Error patterns (grouped by error type and normalized message) with counts, first and last seen,
per-minute distribution, affected agents and components, correlated patterns and a recommended action;
security events (authentication and permission failures) and slow operations (duration fields) apart.

--max-errors and --max-error-rate turn the result into WARNING/CRITICAL for cron and CI: a value alone is the
CRITICAL limit, WARN,CRIT sets both (alert when above). Rates are a percentage of records (5%) or per minute
(30/min). Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad flags, nothing readable, no journald).
"""

TRACE_HELP = """Every record of one message — a trace_id, message_id or AutoGen request id — across files and
components, in time order, with the time between hops and where the trail stops.

Short ids (AutoGen request ids are per-process counters like 7) match only whole values; the 32-hex trace id
the lab writes on every record is unique. Exit codes: 0 found, 1 the trail ends in an error, 3 not found.
"""

COUNT_HELP = """How many records at --level or above (default ERROR): the fast path for a cron job or a CI gate,
searching bytes only. --max-errors turns the count into WARNING/CRITICAL (N = CRITICAL above N; W,C both).
"""

PathsArg = typer.Argument(None, help="Log files, directories (read recursively), globs, or - for stdin.",
                          show_default=False)
SinceOpt = typer.Option(None, "--since", help="Only records at or after: a duration back from now (30m, 1h, 2d) "
                        "or an ISO time (2024-05-01T10:00:00Z; without a zone, UTC).")
UntilOpt = typer.Option(None, "--until", help="Only records before: a duration back from now or an ISO time.")
ComponentOpt = typer.Option(None, "--component", help="Only records of this component (the record's component/"
                            "process field, else the file's name without rotation suffixes: logs/w1.log.2.gz → "
                            "w1; the journald unit). Glob; repeat or comma-separate.")
AgentOpt = typer.Option(None, "--agent", help="Only records about this agent type (agent_id type/key, or the type "
                        "a host line names). Glob; repeat or comma-separate.")
JournalOpt = typer.Option(None, "--journal", help="Also read this systemd unit's journal (journalctl -o json -u "
                          "UNIT). Exit 3 when journald is not available.")
JournalDirOpt = typer.Option(None, "--journal-dir", help="Read the journal files in this directory (journalctl "
                             "--directory), e.g. a journal copied from another machine.")
JobsOpt = typer.Option(0, "--jobs", "-j", min=0, max=64, help="Processes to scan a large file with (0: one per "
                       "free CPU — CPUs less the load average — up to 4, for files of 64 MiB or more; N: split any "
                       "file of N MiB or more).")
# The config is read only for its pack_dirs: a logs.yaml there overrides the logs command pack's checks by id.
LogsConfigOpt = config_option("the shipped logs checks")
MaxErrorsOpt = typer.Option(None, "--max-errors", help="Alert above this many error records: N (CRITICAL) or "
                            "WARN,CRIT.")

if TYPE_CHECKING:
    from agentops.core.config import Config
    from agentops.core.model import Report
    from agentops.logs.gates import Thresholds
    from agentops.logs.query import Filters
    from agentops.logs.reader import Source
    from agentops.logs.stats import InputStats

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

app = typer.Typer(help=HELP, no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="logs", help=HELP)


@app.command("analyze", help=ANALYZE_HELP)
def analyze_cmd(
    paths: list[str] = PathsArg,
    since: str = SinceOpt,
    until: str = UntilOpt,
    level: str = typer.Option("ERROR", "--level", "-l", help="Lowest level that counts as an error: "
                              + ", ".join(LEVELS) + "."),
    component: list[str] = ComponentOpt,
    agent: list[str] = AgentOpt,
    min_count: int = typer.Option(3, "--min-count", min=1, help="Show patterns seen at least this often."),
    top: int = typer.Option(20, "--top", min=1, max=10000, help="Show at most this many patterns per section."),
    slow: str = typer.Option("1s", "--slow", help="A duration field at or above this is a slow operation "
                             "(1.5, 1.5s, 500ms)."),
    duration_field: list[str] = typer.Option(None, "--duration-field", help="Names (prefixes) of the fields that "
                                             "hold durations, besides duration (duration_ms, duration_s …): e.g. "
                                             "elapsed, latency. Each name costs one more search over the input."),
    max_errors: str = MaxErrorsOpt,
    max_error_rate: str = typer.Option(None, "--max-error-rate", help="Alert above this error rate: percent of "
                                       "records (5 or 5%) or per minute (30/min); N (CRITICAL) or WARN,CRIT."),
    journal: str = JournalOpt,
    journal_dir: Path = JournalDirOpt,
    jobs: int = JobsOpt,
    config: str = LogsConfigOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    from agentops.logs import analyze

    filters = _filters(since, until, level, component, agent)
    fields = tuple(dict.fromkeys(["duration", *split_csv(duration_field)]))
    if any(not f.replace("_", "").replace("-", "").isalnum() for f in fields):
        fail(f"bad --duration-field {', '.join(split_csv(duration_field))!r} (field names: letters, digits, _)")
    options = analyze.Options(filters=filters, min_count=min_count, top=top, slow_s=seconds_arg(slow, "--slow"),
                              duration_fields=fields, thresholds=_thresholds(max_errors, max_error_rate),
                              cfg=_config(config))
    _run(lambda stats, sources, scan: analyze.run(sources, options, stats, *scan),
         paths, journal, journal_dir, filters, jobs, output, output_file, fail_on)


@app.command("count", help=COUNT_HELP)
def count_cmd(
    paths: list[str] = PathsArg,
    since: str = SinceOpt,
    until: str = UntilOpt,
    level: str = typer.Option("ERROR", "--level", "-l", help="Count records at this level or above: "
                              + ", ".join(LEVELS) + "."),
    component: list[str] = ComponentOpt,
    agent: list[str] = AgentOpt,
    max_errors: str = MaxErrorsOpt,
    journal: str = JournalOpt,
    journal_dir: Path = JournalDirOpt,
    jobs: int = JobsOpt,
    config: str = LogsConfigOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    from agentops.logs import count

    filters = _filters(since, until, level, component, agent)
    thresholds, cfg = _thresholds(max_errors, None), _config(config)
    _run(lambda stats, sources, scan: count.run(sources, filters, thresholds, stats, *scan, cfg=cfg),
         paths, journal, journal_dir, filters, jobs, output, output_file, fail_on)


@app.command("trace", help=TRACE_HELP)
def trace_cmd(
    ident: str = typer.Argument(..., metavar="ID", help="A trace_id, message_id or request id."),
    paths: list[str] = PathsArg,
    since: str = SinceOpt,
    until: str = UntilOpt,
    component: list[str] = ComponentOpt,
    agent: list[str] = AgentOpt,
    journal: str = JournalOpt,
    journal_dir: Path = JournalDirOpt,
    jobs: int = JobsOpt,
    config: str = LogsConfigOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    from agentops.logs import trace

    ident = ident.strip()
    if not ident or any(ch in ident for ch in "\n\r\0"):
        fail("the ID to trace must be a non-empty single-line value")
    filters, cfg = _filters(since, until, "DEBUG", component, agent), _config(config)
    _run(lambda stats, sources, scan: trace.run(ident, sources, filters, stats, *scan, cfg=cfg),
         paths, journal, journal_dir, filters, jobs, output, output_file, fail_on)


# ------------------------------------------------------------------------------------------------ helpers

def _filters(since: str | None, until: str | None, level: str, component: list[str] | None,
             agent: list[str] | None) -> Filters:
    from agentops.logs.query import Filters
    from agentops.logs.scan import Window

    name = level.strip().upper()
    name = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(name, name)
    if name not in LEVELS:
        fail(f"bad --level {level!r} (one of {', '.join(LEVELS)})")
    start, end = _when(since, "--since"), _when(until, "--until")
    if start is not None and end is not None and start >= end:
        fail("--since must be before --until")
    return Filters(level=name, window=Window(start, end), components=tuple(split_csv(component)),
                   agents=tuple(split_csv(agent)))


def _when(text: str | None, flag: str) -> float | None:
    from agentops.logs.clock import parse_when

    if not text:
        return None
    try:
        return parse_when(text)
    except ValueError as exc:
        fail(f"{flag}: {exc}")


def _config(path: str | None) -> Config:
    from agentops.core.config import load_config

    return load_config(path)


def _thresholds(max_errors: str | None, max_error_rate: str | None) -> Thresholds:
    from agentops.logs.gates import Thresholds

    try:
        return Thresholds.parse(max_errors, max_error_rate)
    except ValueError as exc:
        fail(str(exc))


# (stats, sources, (journal_args, jobs, parallel_min)) -> the command's report
Runner = Callable[["InputStats", "list[Source]", "tuple[list[str], int, int]"], "Report"]


def _run(run: Runner, paths: list[str] | None, journal: str | None, journal_dir: Path | None, filters: Filters,
         jobs: int, output: OutputFormat, output_file: Path | None, fail_on: FailOn) -> None:
    """Resolve the inputs (exit 3 when nothing matches or journald is missing), run the command over them and
    emit its report. A problem found while reading (journald refusing) is a usage error, not a traceback."""
    from agentops.logs.reader import InputError, journald_available, resolve
    from agentops.logs.scan import PARALLEL_MIN, default_jobs
    from agentops.logs.stats import InputStats

    if journal_dir and not journal:
        fail("--journal-dir needs --journal UNIT")
    if journal:
        missing = journald_available(str(journal_dir) if journal_dir else None)
        if missing:
            fail(missing)
    stats = InputStats()
    try:
        sources = resolve(list(paths or []), stats, journal=journal,
                          journal_dir=str(journal_dir) if journal_dir else None)
    except InputError as exc:
        fail(str(exc))
    journal_args = []
    if filters.window.since is not None:
        journal_args.append(f"--since=@{int(filters.window.since)}")
    if filters.window.until is not None:
        journal_args.append(f"--until=@{int(filters.window.until) + 1}")
    if jobs == 0:
        scan_args = (journal_args, default_jobs(), PARALLEL_MIN)
    else:
        scan_args = (journal_args, jobs, jobs << 20)
    try:
        report = run(stats, sources, scan_args)
    except InputError as exc:
        fail(str(exc))
    Output(output, output_file, fail_on).report(report)
