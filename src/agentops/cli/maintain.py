"""`agentops maintain`: run, list, show and schedule maintenance playbooks (the library: agentops.maintain)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from agentops.core.config import Config
    from agentops.maintain.playbook import Playbook

from agentops.cli.common import (
    EXIT_LOCKED,
    ConfigOpt,
    FailOn,
    FailOnOpt,
    ListFormat,
    ListOutputOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    fail,
    note,
)

HELP = """Preventive-maintenance playbooks, safe to run from cron.

A playbook (YAML, shipped in playbooks/ or beside your config in playbooks/) is a list of steps: prune old
files, VACUUM/REINDEX PostgreSQL, reap expired Redis keys, purge Redis memory, check disk space, refresh
the health baseline, gate on health checks, run a command.

Examples:

  agentops maintain list

  agentops maintain run daily --check

  agentops maintain run daily -c /etc/agentops/agentops.yaml --yes -o json

  agentops maintain schedule daily --cron "0 3 * * *" --format systemd
"""

RUN_HELP = """Run a playbook: steps in order, each ending ok / changed / skipped / failed, then a recap.

Exit codes: 0 OK, 1 WARNING (a step stepped over a problem), 2 CRITICAL (a step failed), 3 UNKNOWN (bad
playbook or config, consent missing, or the run was interrupted by SIGTERM/SIGINT/SIGHUP: the report says
which step and what it had done), 4 another run of the same playbook holds the lock (nothing was done).

Destructive steps (files.prune, command) need --yes or `unattended: true` in the playbook when no TTY is
attached; at a TTY you are asked. --check never needs consent: it changes nothing.
"""

app = typer.Typer(help=HELP, no_args_is_help=True)
# A run stopped by a signal: its report says so; UNKNOWN, because what it left half done is not judged.
EXIT_INTERRUPTED = 3

StateDirOpt = typer.Option(None, "--state-dir", help="Locks, audit log and baselines. Default: $AGENTOPS_STATE_DIR, "
                           "the config's state_dir, /var/lib/agentops as root, else $XDG_STATE_HOME/agentops.")
VarOpt = typer.Option(None, "--var", "-e", help="Override a playbook var: NAME=VALUE (repeatable).")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="maintain", help=HELP)


def _vars(values: list[str] | None) -> dict[str, str]:
    out = {}
    for item in values or []:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            fail(f"--var {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def _current_user() -> str:
    import getpass

    return getpass.getuser()


def _load(playbook: str, config: str | None, state_dir: str | None,
          variables: list[str] | None) -> tuple[Config, Path, Playbook]:
    from agentops.core.config import load_config
    from agentops.maintain.playbook import find_playbook, load_playbook
    from agentops.maintain.state import state_dir_for

    cfg = load_config(config)
    state = state_dir_for(cfg, state_dir)
    path = find_playbook(playbook, cfg)
    pb = load_playbook(path, overrides=_vars(variables), builtins={"state_dir": str(state)})
    return cfg, state, pb


@app.command("run", help=RUN_HELP)
def run(
    playbook: str = typer.Argument(..., help="Playbook name (see `maintain list`) or path to a YAML file."),
    check: bool = typer.Option(False, "--check", help="Dry run: report exactly what would change, change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Consent to destructive steps (needed without a TTY "
                             "unless the playbook says `unattended: true`)."),
    wait: float = typer.Option(0.0, "--wait", min=0, max=86400, metavar="SECONDS",
                               help="If another run of this playbook holds the lock, wait up to SECONDS for it "
                               "(default 0: exit at once with code 4)."),
    variables: list[str] = VarOpt,
    state_dir: str = StateDirOpt,
    config: str = ConfigOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    from agentops.maintain.engine import ConsentRequired, RunOptions, busy_report, run_playbook
    from agentops.maintain.lock import LockBusy
    from agentops.maintain.state import ensure_state_dir

    cfg, state, pb = _load(playbook, config, state_dir, variables)
    opts = RunOptions(state_dir=state, check=check, assume_yes=yes, interactive=sys.stdin.isatty(), wait=wait,
                      confirm=_confirm)
    ensure_state_dir(state)  # check mode too: it takes the lock and is audited (marked check: true)
    _interrupt_on_sigterm()
    try:
        report = run_playbook(pb, cfg, opts)
    except ConsentRequired as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # before the lock was held (waiting for it): nothing was done
        fail(f"interrupted: {pb.name} did not start (nothing was done)")
    except LockBusy as exc:
        note(str(exc))
        Output(output, output_file).report(busy_report(pb, exc, opts, cfg), code=EXIT_LOCKED)
    interrupted = report.data.get("interrupted")
    if interrupted:
        note(f"interrupted by {interrupted['signal']} during step {interrupted['step']}: later steps were not run; "
             f"every change made is in {report.data['audit_log']}")
        # Whatever --fail-on says: a run that did not finish must not look like one that passed.
        Output(output, output_file, fail_on).report(report, code=EXIT_INTERRUPTED)
    Output(output, output_file, fail_on).report(report)


def _interrupt_on_sigterm() -> None:
    """systemd stops a unit with SIGTERM, a closed terminal sends SIGHUP: before the run holds its lock, end
    like Ctrl-C. Once it holds the lock the engine handles them itself (agentops.maintain.interrupt)."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def _confirm(steps: list[str]) -> bool:
    sys.stderr.write("Destructive steps will run: " + ", ".join(steps) + "\n")
    return typer.confirm("Go ahead?", default=False, err=True)


@app.command("list", help="List the playbooks found by name (or, with --steps, the step types).")
def list_(
    steps: bool = typer.Option(False, "--steps", help="List the step types and their params instead."),
    config: str = ConfigOpt,
    output: ListFormat = ListOutputOpt,
    output_file: Path = OutputFileOpt,
) -> None:
    from agentops.core.config import load_config
    from agentops.maintain.listing import playbook_rows, step_rows

    out = Output.of(output, output_file)
    if steps:
        out.listing("maintain.steps", {"items": step_rows()})
    else:
        cfg = load_config(config)
        out.listing("maintain.playbooks", {"config": cfg.path, "items": playbook_rows(cfg)})


@app.command("show", help="Show what a playbook would do here: its steps, their targets, conditions, timeouts.")
def show(
    playbook: str = typer.Argument(..., help="Playbook name or path."),
    variables: list[str] = VarOpt,
    state_dir: str = StateDirOpt,
    config: str = ConfigOpt,
    output: ListFormat = ListOutputOpt,
    output_file: Path = OutputFileOpt,
) -> None:
    from agentops.maintain.engine import plan_playbook
    from agentops.maintain.listing import plan_document

    cfg, _state, pb = _load(playbook, config, state_dir, variables)
    Output.of(output, output_file).listing("maintain.show", plan_document(pb, plan_playbook(pb, cfg)))


@app.command("schedule", help="Print the crontab line, or the systemd timer and service units, that run a "
             "playbook on a schedule. Installs nothing unless --install DIR is given.")
def schedule(
    playbook: str = typer.Argument(..., help="Playbook name or path."),
    cron: str = typer.Option(..., "--cron", help="When, as a 5-field cron expression or @daily/@weekly/…"),
    fmt: str = typer.Option("cron", "--format", "-f", help="cron (a crontab line) or systemd (timer + service)."),
    user: str = typer.Option(None, "--user", help="Run as this user (adds the user field for /etc/cron.d, or "
                             "User= in the service)."),
    install: Path = typer.Option(None, "--install", help="Also write the file(s) into this directory "
                                 "(e.g. /etc/cron.d or /etc/systemd/system). Nothing is enabled.",
                                 file_okay=False),
    yes: bool = typer.Option(False, "--yes", "-y", help="Pass --yes to the scheduled run (consent to destructive "
                             "steps of a playbook without `unattended: true`)."),
    variables: list[str] = VarOpt,
    state_dir: str = StateDirOpt,
    config: str = ConfigOpt,
    output: ListFormat = ListOutputOpt,
) -> None:
    from agentops.maintain import schedule as sch
    from agentops.maintain.engine import destructive_steps, plan_playbook

    if fmt not in ("cron", "systemd"):
        fail(f"--format {fmt!r}: expected cron or systemd")
    cfg, _state, pb = _load(playbook, config, state_dir, variables)
    try:
        spec = sch.parse_cron(cron)
        config_path = str(Path(cfg.path).resolve()) if cfg.path else None
        name = str(pb.path.resolve()) if ("/" in playbook or playbook.endswith((".yaml", ".yml"))) else playbook
        argv = sch.run_argv(name, config=config_path, state_dir=str(Path(state_dir).resolve()) if state_dir else None,
                            assume_yes=yes, variables=list(variables or []))
        if fmt == "cron":
            # A file in /etc/cron.d carries a user field; a line for `crontab -e` does not.
            cron_user = user or (_current_user() if install is not None else None)
            files = {sch.unit_name(pb.name): sch.crontab_line(spec, argv, user=cron_user)}
        else:
            files = sch.systemd_units(pb.name, spec, argv, user=user)
    except sch.ScheduleError as exc:
        fail(str(exc))
    risky = destructive_steps(plan_playbook(pb, cfg))
    if risky and not yes and not pb.unattended:
        note(f"the scheduled run will refuse to start: {pb.name} has destructive steps ({', '.join(risky)}) and "
             f"no `unattended: true`; pass --yes to schedule")
    Output.of(output).listing("maintain.schedule", {
        "playbook": pb.name, "format": fmt, "argv": argv,
        "files": [{"name": filename, "text": text} for filename, text in files.items()]})
    if install is not None:
        from agentops.cli.common import write_atomic

        for filename, text in files.items():
            # cron ignores a cron.d file that group or others may write to, whatever the umask allows.
            write_atomic(install / filename, text, mode=0o644)
            note(f"wrote {install / filename}")
