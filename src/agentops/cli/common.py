"""What every command shares: output formats, --fail-on, exit codes, one-line errors, progress on stderr.

Exit codes (Nagios plugin convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN — and 3 for usage and config
errors. stdout carries only the result; progress, notes and errors go to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import typer

from agentops.core.model import Report, Status
from agentops.core.redact import redact

EXIT_USAGE = int(Status.UNKNOWN)
# The one code outside 0-3, used only by `maintain run`: it did not run because another run of the same
# playbook holds the lock, so cron wrappers and systemd can tell "already running" from "broken" (3).
EXIT_LOCKED = 4
# `--payload @/dev/stdin` from a pipe: long enough for a slow producer, never forever.
READ_ARG_DEADLINE_S = 60.0


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"
    nagios = "nagios"
    prometheus = "prometheus"


class ListFormat(StrEnum):
    """A listing (checks, playbooks, lab processes) has no statuses to export: a table or its JSON document."""

    table = "table"
    json = "json"


class FailOn(StrEnum):
    warning = "warning"
    critical = "critical"
    never = "never"


# The output options, declared once: every command takes them from here.
OUTPUT_HELP = "Output format: table (for people), json (the versioned CI contract), junit, nagios, prometheus."
LIST_OUTPUT_HELP = ("Output format: table (for people) or json (one document: schema agentops.listing/v1 and "
                    "this listing's kind).")
FAIL_ON_HELP = ("Lowest status that makes the exit code non-zero: warning (default: 1/2/3 for WARNING/CRITICAL/"
                "UNKNOWN), critical (WARNING exits 0), never (always 0 once the run happened).")

OutputOpt = typer.Option(OutputFormat.table, "--output", "-o", help=OUTPUT_HELP, case_sensitive=False)
ListOutputOpt = typer.Option(ListFormat.table, "--output", "-o", help=LIST_OUTPUT_HELP, case_sensitive=False)
OutputFileOpt = typer.Option(None, "--output-file", help="Write the result to this file instead of stdout: a "
                             "regular file is replaced atomically (keeping its mode), a FIFO or device written to.",
                             dir_okay=False)
FailOnOpt = typer.Option(FailOn.warning, "--fail-on", help=FAIL_ON_HELP, case_sensitive=False)
JsonOpt = typer.Option(False, "--json", help="Same as -o json.")


def config_option(without: str) -> Any:
    """The --config option, whose help says what this command does when no file is found (each differs)."""
    return typer.Option(None, "--config", "-c", help="Cluster file. Default: $AGENTOPS_CONFIG, ./agentops.yaml, "
                        f"/etc/agentops/agentops.yaml; none found = {without}. Start one with `agentops config "
                        "init`.")


ConfigOpt = config_option("check this machine only")
# Commands that talk to an AgentRpc host: without a file, the flags must name it.
HostConfigOpt = config_option("give --host HOST:PORT")


def exit_code(status: Status, fail_on: FailOn) -> int:
    if fail_on is FailOn.never:
        return 0
    if fail_on is FailOn.critical and status is Status.WARNING:
        return 0
    return int(status)


@dataclass(frozen=True)
class Output:
    """Where and how a command's result goes, as -o/--json, --output-file and --fail-on said: the one way every
    command emits its report (`report`) or its listing (`listing`)."""

    format: OutputFormat | ListFormat = OutputFormat.table
    file: Path | None = None
    fail_on: FailOn = FailOn.warning

    @classmethod
    def of(cls, output: OutputFormat | ListFormat, output_file: Path | None = None,
           fail_on: FailOn = FailOn.warning, *, as_json: bool = False) -> Output:
        return cls(OutputFormat.json if as_json else output, output_file, fail_on)

    def report(self, report: Report, *, code: int | None = None) -> NoReturn:
        """Render the report document and exit with the contract's code (or `code`)."""
        from agentops.render.document import report_document

        self.write(report_document(report))
        raise typer.Exit(exit_code(report.status, self.fail_on) if code is None else code)

    def listing(self, kind: str, fields: dict[str, Any]) -> None:
        """Print a listing document (schema agentops.listing/v1, `kind`) as a table or as JSON."""
        from agentops.render.listing import listing_document

        self.write(listing_document(kind, fields))

    def write(self, doc: dict[str, Any]) -> None:
        if self.file is not None:
            import io

            buf = io.StringIO()
            text = render_document(doc, self.format, buf)
            write_atomic(self.file, text if text is not None else buf.getvalue())
            return
        try:
            text = render_document(doc, self.format)
            if text is not None:
                sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            # `agentops … | head -1`: the reader has what it wanted; the exit code still tells the status.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def render_document(doc: dict[str, Any], output: OutputFormat | ListFormat, file: Any = None) -> str | None:
    """Render to a string (or, for the table, print to `file`/stdout and return None)."""
    if output == OutputFormat.json:
        from agentops.render.json import render_json

        return render_json(doc)
    if output is OutputFormat.junit:
        from agentops.render.junit import render_junit

        return render_junit(doc)
    if output is OutputFormat.nagios:
        from agentops.render.nagios import render_nagios

        return render_nagios(doc)
    if output is OutputFormat.prometheus:
        from agentops.render.prometheus import render_prometheus

        return render_prometheus(doc)
    from agentops.render.table import make_console, render_table

    render_table(doc, make_console(file))
    return None


def write_atomic(path: Path, text: str, *, mode: int = 0o666) -> None:
    """Write an output file the way core.files.write_file does (a regular file atomically, keeping an existing
    file's mode, a new one with `mode` less the umask; a FIFO or device written through; a symlink followed),
    or one line and exit 3 (a full disk, a socket, a directory)."""
    from agentops.core.files import FileProblem, write_file

    try:
        write_file(path, text, mode=mode)
    except FileProblem as exc:
        fail(f"cannot write {path}: {exc}")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, the documented exit code, never a traceback."""
    line = redact(str(message)).strip().splitlines()
    sys.stderr.write(f"agentops: error: {line[0] if line else 'unknown error'}\n")
    raise typer.Exit(code)


def note(message: str) -> None:
    sys.stderr.write(f"agentops: {redact(message)}\n")


def read_arg(value: str | None, flag: str, limit: int = 64 * 1024 * 1024) -> str | None:
    """A flag's value, or with `@file` the file's text, bounded by the bytes read (so `@/dev/zero` cannot eat
    the memory) and by a deadline; a pipe (`@/dev/stdin`) is allowed."""
    if value is None or not value.startswith("@"):
        return value
    from agentops.core.files import FileProblem, read_file

    path = Path(value[1:])
    try:
        raw = read_file(path, limit=limit, regular_only=False, deadline_s=READ_ARG_DEADLINE_S)
    except FileProblem as exc:
        fail(f"{flag}: cannot read {path}: {exc}")
    return raw.decode("utf-8", errors="replace")


def seconds_arg(text: str, flag: str) -> float:
    """A duration flag (`30s`, `10m`, `1h`, `1.5`) in seconds, or one line and exit 3."""
    from agentops.core.units import parse_duration

    try:
        return float(parse_duration(text))
    except ValueError as exc:
        fail(f"{flag}: {exc}")


def load_config_with_sources(config: str | None, timeout: float | None = None) -> Any:
    """The config with its `kind: kubernetes` sources expanded into targets (health, checks list): the API is
    asked only when the config has a source, and the client imported only then. `timeout` (health --timeout)
    caps the listing: a quarter of it, so the checks keep the rest."""
    from agentops.core.config import load_config

    cfg = load_config(config)
    if cfg.targets_of("kubernetes"):
        from agentops.k8s.discovery import expand

        cfg = expand(cfg, None if timeout is None else timeout / 4)
    return cfg


def load_cluster_spec(config: str | None, host: str | None = None, *, required: bool = True) -> Any:
    """The AutoGen cluster (hosts, workers) from the config and/or --host HOST:PORT, for the commands that
    talk to it (diagnose, drill, load, profile). Without `required`, no cluster is None instead of an error."""
    return load_config_and_cluster(config, host, required=required)[1]


def load_config_and_cluster(config: str | None, host: str | None = None, *,
                            required: bool = True) -> tuple[Any, Any]:
    """(config, cluster) read once, for a command that may run without a cluster and still honours the config
    (its pack_dirs' overrides): `diagnose agent --error` offline. No cluster is None unless `required`."""
    from agentops.core.cluster import load_cluster
    from agentops.core.config import load_config
    from agentops.core.yamlsrc import ConfigError

    cfg = load_config(config)
    if required and cfg.targets_of("kubernetes"):
        cfg = _with_discovered_workers(cfg, host)
    try:
        return cfg, load_cluster(cfg, host)
    except ConfigError:
        if required:
            raise
        return cfg, None


def _with_discovered_workers(cfg: Any, host: str | None) -> Any:
    """`kind: kubernetes` sources expanded for a diagnosis: the host pods as agentrpc targets, the worker pod
    owning each declared type as a worker target read from its pod (k8s/discovery.py). A source that could
    not be listed says why when it leaves no host to diagnose."""
    from agentops.core.yamlsrc import ConfigError
    from agentops.k8s.discovery import discovered, expand

    expanded = expand(cfg, workers=True)
    if not host and not expanded.targets_of("agentrpc"):
        why = "; ".join(f"source {s.name}: {discovered(s).message or 'no host pod found'}"
                        for s in cfg.targets_of("kubernetes"))
        raise ConfigError(f"no AgentRpc host to diagnose: give --host HOST:PORT or a host pod ({why})",
                          path=cfg.path)
    return expanded


def split_csv(values: list[str] | None) -> list[str]:
    """--only a,b --only c → [a, b, c]."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@contextmanager
def progress(description: str, total: int | None = None, *, enabled: bool = True) -> Iterator[Any]:
    """A progress bar on stderr when stderr is a terminal; otherwise a silent stand-in with the same API."""
    if not enabled or not sys.stderr.isatty():
        yield _NoProgress()
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from agentops.render.table import make_console

    with Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=make_console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield _Bar(bar, task)


class _NoProgress:
    def advance(self, n: float = 1) -> None:
        pass

    def update(self, **kwargs: Any) -> None:
        pass


class _Bar:
    def __init__(self, bar: Any, task: Any) -> None:
        self.bar, self.task = bar, task

    def advance(self, n: float = 1) -> None:
        self.bar.advance(self.task, n)

    def update(self, **kwargs: Any) -> None:
        self.bar.update(self.task, **kwargs)
