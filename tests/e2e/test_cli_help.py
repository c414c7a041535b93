"""Help that tells the truth and fits a terminal, and shell completion, through the real CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fixtures.common import assert_no_traceback, run_cli


def _commands() -> Iterator[tuple[tuple[str, ...], object]]:
    """Every leaf command of the tree, as (path, click command), from the same mounting the CLI does."""
    import typer

    from agentops.cli.main import app, mount

    mount([])
    stack: list[tuple[tuple[str, ...], object]] = [((), typer.main.get_command(app))]
    while stack:
        path, cmd = stack.pop()
        subs = getattr(cmd, "commands", None)
        if subs:
            stack.extend(((*path, name), sub) for name, sub in subs.items())
        else:
            yield path, cmd


LEAVES = sorted(_commands(), key=lambda pc: pc[0])


def _ellipses(cmd: object) -> int:
    """How many '…' the help texts themselves hold: any more in the rendered help are cuts."""
    texts = [getattr(cmd, "help", None) or ""] + [getattr(p, "help", None) or "" for p in cmd.params]  # type: ignore[attr-defined]
    return sum(t.count("…") for t in texts)


@pytest.mark.parametrize("path,cmd", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_no_option_help_is_cut_at_80_columns(path: tuple[str, ...], cmd: object) -> None:
    r = run_cli(*path, "--help", env={"COLUMNS": "80"})
    assert r.code == 0 and r.stdout, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    assert r.stdout.count("…") == _ellipses(cmd), r.stdout  # rich marks a cut word with '…'
    assert r.stdout.lstrip().startswith("Usage: agentops ")


def test_maintain_run_help_says_a_busy_lock_exits_4() -> None:
    out = " ".join(run_cli("maintain", "run", "--help").stdout.split())
    assert "exit at once with code 4" in out and "code 3)" not in out


@pytest.mark.parametrize("command", [("diagnose", "message"), ("diagnose", "agent"), ("load",), ("profile",),
                                     ("diagnose", "performance"), ("cluster", "inventory")])
def test_config_help_says_what_this_command_does_without_one(command: tuple[str, ...]) -> None:
    out = " ".join(run_cli(*command, "--help").stdout.replace("│", " ").split())
    assert "--config" in out and "check this machine only" not in out


def test_health_config_help_still_says_it_checks_this_machine() -> None:
    out = " ".join(run_cli("health", "--help").stdout.replace("│", " ").split())
    assert "check this machine only" in out


def test_shell_completion_is_offered_and_completes_commands_and_options() -> None:
    assert "--install-completion" in run_cli("--help").stdout
    # Typer guesses the shell from the parent processes unless told not to, and then `bash` is no value but a
    # stray word: a test run whose parents are no shell (a detached job, some CI runners) read "Shell  not
    # supported". With detection off, `--show-completion bash` names the shell, as a user would.
    script = run_cli("--show-completion", "bash", env={"SHELL": "/bin/bash",
                                                       "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert script.code == 0 and "_AGENTOPS_COMPLETE" in script.stdout, script.stderr

    def complete(words: str) -> list[str]:
        r = run_cli(env={"_AGENTOPS_COMPLETE": "complete_bash", "COMP_WORDS": words,
                         "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))})
        assert_no_traceback(r)
        return r.stdout.split()

    assert "health" in complete("agentops hea") and "maintain" in complete("agentops ma")
    assert "--only" in complete("agentops health --on")
    assert {"run", "list"} <= set(complete("agentops maintain "))
    assert "--check" in complete("agentops maintain run --ch")


def _mounted(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    import json
    import subprocess
    import sys

    code = ("import json, sys; from agentops.cli.main import mount; mount(sys.argv[1:]); "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('agentops.cli.'))))")
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr
    # main's own machinery, loaded for every command (coercion: typer's option values without pydantic)
    return set(json.loads(r.stdout)) - {"agentops.cli.main", "agentops.cli.common", "agentops.cli.helpfmt",
                                        "agentops.cli.coercion"}


def test_start_up_still_mounts_only_the_invoked_command_module() -> None:
    assert _mounted(["health", "--only", "host.load"]) == {"agentops.cli.health"}
    # completing a word of `agentops health …` is a start-up too: it needs health alone
    assert _mounted([], {"_AGENTOPS_COMPLETE": "complete_bash", "COMP_WORDS": "agentops health --on",
                         "COMP_CWORD": "2"}) == {"agentops.cli.health"}
