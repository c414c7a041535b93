"""The `agentops` command tree. Each command group lives in its own module exposing `register(root)`; this
module only mounts them and turns every failure into one line and the documented exit code."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from agentops.cli import coercion
from agentops.cli.common import EXIT_USAGE

app = typer.Typer(
    name="agentops",
    help="Operations CLI for AutoGen distributed agent clusters: health checks, diagnosis, logs, maintenance "
         "and profiling.\n\nExit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also bad flags or config).",
    no_args_is_help=True,
    # --install-completion / --show-completion. A shell asking for completions runs `agentops` with the words
    # typed so far in the environment, not in argv: mount() reads them there, so that too mounts one module.
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# One line per command module: the top-level names it adds (`profile` also adds `diagnose performance`).
# Order is the order of `agentops --help`.
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("agentops.cli.health", ("health",)),
    ("agentops.cli.serve", ("serve",)),
    ("agentops.cli.watch", ("watch",)),
    ("agentops.cli.diagnose", ("diagnose",)),
    ("agentops.cli.logs", ("logs",)),
    ("agentops.cli.maintain", ("maintain",)),
    ("agentops.cli.heal", ("heal",)),
    ("agentops.cli.profile", ("profile", "diagnose")),
    ("agentops.cli.load", ("load",)),
    ("agentops.cli.cluster", ("cluster",)),
    ("agentops.cli.k8s", ("k8s",)),
    ("agentops.cli.lab", ("lab",)),
    ("agentops.cli.drill", ("drill",)),
    ("agentops.cli.bundle", ("bundle",)),
    ("agentops.cli.emergency", ("emergency",)),
    ("agentops.cli.checks", ("checks",)),
    ("agentops.cli.config_cmd", ("config",)),
]


PROG = "agentops"  # also names the completion variable, _AGENTOPS_COMPLETE, however the program was started
COMPLETE_VAR = f"_{PROG.upper()}_COMPLETE"


def mount(argv: list[str]) -> None:
    """Mount the modules the invoked command needs, or all of them for the top-level help and for an unknown
    command (so click can list the real ones). `agentops health` on cron pays for one module, not eleven."""
    if not argv and os.environ.get(COMPLETE_VAR):
        argv = _completion_words()
    first = next((a for a in argv if not a.startswith("-")), None)
    wanted = [m for m, names in GROUPS if first in names] or [m for m, _ in GROUPS]
    for module in wanted:
        importlib.import_module(module).register(app)
    from agentops.cli import helpfmt

    helpfmt.install()


def _completion_words() -> list[str]:
    """The words before the cursor of a completion request (bash: COMP_WORDS; zsh, fish, PowerShell:
    _TYPER_COMPLETE_ARGS), without the program name, and without the word being completed: a partial command
    name (`agentops hea`) must still mount every module so that all names can be offered."""
    import shlex

    words = os.environ.get("COMP_WORDS") or os.environ.get("_TYPER_COMPLETE_ARGS", "")
    try:
        parts = shlex.split(words)
    except ValueError:  # an open quote while typing
        return []
    if "COMP_CWORD" in os.environ and os.environ["COMP_CWORD"].isdigit():
        return parts[1:int(os.environ["COMP_CWORD"])]
    return parts[1:] if words.endswith(" ") else parts[1:-1]


def _print_version(value: bool) -> None:
    if value:
        from agentops import __version__

        typer.echo(f"agentops {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    pass


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: never a traceback (unless AGENTOPS_DEBUG=1), never click's exit code 2."""
    import logging

    from agentops.core.redact import RedactingFilter, redact
    from agentops.core.yamlsrc import ConfigError

    logging.getLogger().addFilter(RedactingFilter())
    usage_error, click_exception = _click_errors()
    args = sys.argv[1:] if argv is None else argv
    try:
        coercion.install()
        mount(args)
        rv = app(args=args, prog_name=PROG, standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except usage_error as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        message = exc.format_message()
        if message:  # empty when a group was called bare and its help was printed instead
            sys.stderr.write(f"agentops: error: {redact(message)}{hint}\n")
        code = EXIT_USAGE
    except click_exception as exc:
        sys.stderr.write(f"agentops: error: {redact(exc.format_message())}\n")
        code = EXIT_USAGE
    except typer.Abort:
        sys.stderr.write("agentops: aborted\n")
        code = EXIT_USAGE
    except ConfigError as exc:
        sys.stderr.write(f"agentops: error: {redact(str(exc))}\n")
        code = EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("agentops: interrupted\n")
        code = EXIT_USAGE
    except BrokenPipeError:
        # `agentops … | head`: the reader went away; nothing more to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except Exception as exc:
        if os.environ.get("AGENTOPS_DEBUG"):
            raise
        message = redact(f"{type(exc).__name__}: {exc}").splitlines()[0]
        sys.stderr.write(f"agentops: internal error: {message} (AGENTOPS_DEBUG=1 shows the traceback)\n")
        code = EXIT_USAGE
    sys.exit(code)


def _click_errors() -> tuple[type[Exception], type[Exception]]:
    """UsageError and ClickException from the click typer is built on (recent typer vendors its own)."""
    try:
        from typer._click.exceptions import ClickException, UsageError  # type: ignore[import-not-found]
    except ImportError:
        from click.exceptions import ClickException, UsageError
    return UsageError, ClickException
