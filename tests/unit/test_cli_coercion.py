"""cli/coercion.py's fast path gives what typer's own coercion gives, for every option of every command: the
same value where it handles one, typer's way (and typer's error) where it does not. And `agentops health`
at its defaults or with `-o json` imports no pydantic."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import typer

from agentops.cli import coercion, main


def every_parameter() -> list[tuple[str, Any, Any]]:
    main.mount([])
    root = typer.main.get_command(main.app)
    out: list[tuple[str, Any, Any]] = []

    def walk(cmd: Any, path: str) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}".strip())
        for param in cmd.params:
            if hasattr(param, "type_descriptor"):
                out.append((f"{path} {param.name}", cmd, param))

    walk(root, "")
    return out


PARAMS = every_parameter()


def candidates(param: Any) -> list[Any]:
    desc = param.type_descriptor
    values: list[Any] = [None, param.default, "x", "1", "2.5", "nope", "", ("a", "b"), ["c"], (), ("a", 1),
                         "-3", "0", "99999", "1.5e3", "0x10", " 7", "1_0"]
    for choice in desc.choices or ():
        text = str(getattr(choice, "value", choice))
        values += [choice, text, text.upper(), text.title()]
    return values


def typer_result(param: Any, ctx: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", param.get_runtime_param().coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # the refusal itself is compared
        return "error", type(exc).__name__


@pytest.mark.parametrize(("where", "cmd", "param"), PARAMS, ids=[p[0] for p in PARAMS])
def test_fast_path_agrees_with_typer(where: str, cmd: Any, param: Any) -> None:
    from typer._click.core import Context, ParameterSource
    from typer._param_types import coerce_cli_choice

    for source in (ParameterSource.DEFAULT, ParameterSource.COMMANDLINE):
        ctx = Context(cmd)
        ctx.set_parameter_source(param.name, source)
        for value in candidates(param):
            fast = coercion.fast_value(param, ctx, value, coerce_cli_choice, ParameterSource.DEFAULT)
            if fast is coercion._NOT_HANDLED:
                continue
            expected = typer_result(param, ctx, value)
            assert expected == ("ok", fast), (where, source, value)
            assert type(expected[1]) is type(fast)


def test_the_fast_path_covers_the_options_of_a_default_health_run() -> None:
    from typer._click.core import Context, ParameterSource
    from typer._param_types import coerce_cli_choice

    health = [(cmd, p) for where, cmd, p in PARAMS if where.startswith("health ")]
    assert len(health) >= 16
    for cmd, param in health:
        ctx = Context(cmd)
        ctx.set_parameter_source(param.name, ParameterSource.DEFAULT)
        fast = coercion.fast_value(param, ctx, param.default, coerce_cli_choice, ParameterSource.DEFAULT)
        assert fast is not coercion._NOT_HANDLED, param.name


@pytest.mark.parametrize("args", [["health"], ["health", "-o", "json"]])
def test_health_imports_no_pydantic(args: list[str], tmp_path: Any) -> None:
    code = ("import sys\nfrom agentops.cli.main import run\ntry:\n    run(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('pydantic' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, *args, "--fail-on", "never"], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert out.stderr.strip().splitlines()[-1] == "False", out.stderr


def test_a_refused_value_still_gets_typers_error(tmp_path: Any) -> None:
    out = subprocess.run([sys.executable, "-m", "agentops", "health", "-o", "nope"], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert out.returncode == 3
    assert "'nope' is not one of 'table', 'json'" in out.stderr
