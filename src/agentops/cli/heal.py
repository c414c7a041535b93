"""`agentops heal`: plan (default) or apply the runbook of each unhealthy worker's verdict; `heal history`;
`heal pause` / `heal resume` (the library: agentops.heal, docs/heal.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

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
    render_document,
)

HELP = """Act on a diagnosis: each worker is diagnosed (as `diagnose agent` does) and the runbook of its verdict
(runbooks/*.yaml: worker-frozen → resume, then restart; worker-dead → restart; …) is planned, or with --apply
carried out step by step, each step verified by the diagnosis again and escalated when it does not hold.

Safety: a plan by default; --apply needs --yes, a yes at a TTY, or `heal: {unattended: true}` in the config; at
most 3 attempts per worker per hour (checks/heal.yaml heal.attempts; then "needs a human"); no action when more
than half of the workers are unhealthy (heal.breaker) or while the pause file exists (`heal pause`); one heal
per worker at a time; Kubernetes objects managed by Argo CD or Flux only with --force.

Examples:

  agentops heal -c agentops.yaml                      # the plan: what would be done, why, to what

  agentops heal -c agentops.yaml --apply --yes        # do it

  agentops heal -c agentops.yaml --apply --watch --interval 60   # continuously (unattended: true or --yes)

  agentops heal history -c agentops.yaml --target w1
"""

app = typer.Typer(help=HELP, invoke_without_command=True)

StateDirOpt = typer.Option(None, "--state-dir", help="Where the heal history and locks are kept (<dir>/heal/); "
                           "default: as `maintain` (the config's state_dir, /var/lib/agentops as root, else "
                           "$XDG_STATE_HOME/agentops).")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="heal")


def _state(cfg: object, state_dir: str | None) -> Path:
    from agentops.maintain.state import ensure_state_dir, state_dir_for

    return ensure_state_dir(state_dir_for(cfg, state_dir))  # type: ignore[arg-type]


def _confirm(what: list[str]) -> bool:
    sys.stderr.write("heal will act on: " + ", ".join(what) + "\n")
    return typer.confirm("Go ahead?", default=False, err=True)


@app.callback()
def heal(
    ctx: typer.Context,
    apply: bool = typer.Option(False, "--apply", help="Carry the plan out (needs consent: --yes, a TTY, or "
                               "`heal: {unattended: true}`)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Consent to act without a prompt."),
    force: bool = typer.Option(False, "--force", help="Also act on Kubernetes objects a GitOps controller "
                               "(Argo CD, Flux) manages."),
    workers: list[str] = typer.Option(None, "--worker", "-w", help="Act on this worker only (repeatable); all "
                                      "workers are still diagnosed, for the breaker."),
    watch: bool = typer.Option(False, "--watch", help="Run continuously: a heal round every --interval."),
    interval: float = typer.Option(None, "--interval", min=1, max=86400, help="Seconds between --watch rounds "
                                   "(default: the config's heal.interval, 60)."),
    count: int = typer.Option(None, "--count", min=1, help="With --watch: stop after this many rounds."),
    state_dir: str = StateDirOpt,
    config: str = ConfigOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    from agentops.core.config import load_config
    from agentops.heal.engine import BUSY, HEALED, HealOptions
    from agentops.heal.engine import heal as run_heal
    from agentops.heal.policy import heal_policy
    from agentops.maintain.engine import ConsentRequired

    cfg = load_config(config)
    policy = heal_policy(cfg)
    state = _state(cfg, state_dir)
    interactive = sys.stdin.isatty() and not watch
    opts = HealOptions(state_dir=state, apply=apply, assume_yes=yes, interactive=interactive, confirm=_confirm,
                       force=force, only=list(workers) if workers else None)
    out = Output(output, output_file, fail_on)
    try:
        if watch:
            from agentops.heal.watch import watch_heal

            def frame(report: object) -> None:
                from agentops.render.document import report_document

                text = render_document(report_document(report), output)  # type: ignore[arg-type]
                if text is not None:
                    sys.stdout.write(text if output is not OutputFormat.json else text.replace("\n", " ") + "\n")
                sys.stdout.flush()

            last, _ = asyncio.run(watch_heal(cfg, opts, interval=interval or policy.interval_s, count=count,
                                             on_round=frame))
            from agentops.cli.common import exit_code

            raise typer.Exit(0 if last is None else exit_code(last.status, fail_on))
        report = asyncio.run(run_heal(cfg, opts))
    except ConsentRequired as exc:
        fail(str(exc))
    targets = report.data.get("targets", [])
    if any(t["outcome"] == BUSY for t in targets) and not any(t["outcome"] == HEALED for t in targets):
        note("another heal holds the lock of " + ", ".join(t["target"] for t in targets if t["outcome"] == BUSY))
        out.report(report, code=EXIT_LOCKED)
    out.report(report)


@app.command("history", help="The heal history (JSON lines in <state_dir>/heal/audit.jsonl): one row per attempt "
             "— when, which worker, the verdict, the steps, the outcome.")
def history(
    target: str = typer.Option(None, "--target", "-t", help="Only this worker."),
    limit: int = typer.Option(50, "--limit", min=1, max=100000, help="The newest N attempts."),
    state_dir: str = StateDirOpt,
    config: str = ConfigOpt,
    output: ListFormat = ListOutputOpt,
    output_file: Path = OutputFileOpt,
) -> None:
    from agentops.core.config import load_config
    from agentops.heal.history import history_file, history_rows, read_history

    cfg = load_config(config)
    state = _state(cfg, state_dir)
    rows = history_rows(read_history(state), target=target)[-limit:]
    Output.of(output, output_file).listing("heal.history", {"history": str(history_file(state)), "items": rows})


@app.command("pause", help="Create the pause file: heal keeps planning but acts on nothing until `heal resume`.")
def pause(state_dir: str = StateDirOpt, config: str = ConfigOpt, output: ListFormat = ListOutputOpt,
          output_file: Path = OutputFileOpt) -> None:
    _set_pause(True, state_dir, config, Output.of(output, output_file))


@app.command("resume", help="Remove the pause file: heal --apply acts again.")
def resume(state_dir: str = StateDirOpt, config: str = ConfigOpt, output: ListFormat = ListOutputOpt,
           output_file: Path = OutputFileOpt) -> None:
    _set_pause(False, state_dir, config, Output.of(output, output_file))


def _set_pause(paused: bool, state_dir: str | None, config: str | None, out: Output) -> None:
    from agentops.core.config import load_config
    from agentops.heal.history import heal_dir
    from agentops.heal.policy import heal_policy

    cfg = load_config(config)
    path = heal_policy(cfg).pause_path(heal_dir(_state(cfg, state_dir)))
    try:
        if paused:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.touch()
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        fail(f"cannot {'create' if paused else 'remove'} {path}: {exc.strerror or exc}")
    out.listing("heal.pause", {"paused": paused, "pause_file": str(path)})
