"""Option values that need no pydantic: typer's own coercion, without the TypeAdapter it would build first.

typer 0.29 coerces every parameter through a pydantic TypeAdapter built on its first use, for every option of
the invoked command, also one left at its default: `agentops health` imported pydantic (and through its
plugin loader importlib.metadata) and built 16 adapters before measuring anything, 45-60 % of its start-up
beyond a do-nothing Typer app (bench/bench_startup.py). For most values the adapter adds nothing:

- None: typer's `RuntimeParam.coerce` returns None (or `()` for a repeatable option) before it looks at the
  adapter at all;
- a choice (an Enum or Literal option such as `-o json`): the adapter only wraps typer's own
  `coerce_cli_choice`, called here directly; a value it refuses goes the usual way, for typer's own error;
- a `str` option given a str: the adapter returns it unchanged; a `list[str]` one given strs, as a list;
- an int or float option at its declared default, already of that type: the command's own default; a
  plain decimal number typed for one, within its min and max (typer's own error for one outside).

Every other value (paths, numbers typed on the command line with their ranges, lists) goes through typer's
coercion unchanged. tests/unit/test_cli_coercion.py holds the fast path to typer's result for every option of
every command.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_NOT_HANDLED = object()


def install() -> None:
    """Route typer's parameter processing through `fast_value` first. Without the typer internals it relies
    on (another typer version), nothing is changed."""
    try:
        from typer._click.core import ParameterSource  # type: ignore[import-not-found]
        from typer._param_types import coerce_cli_choice  # type: ignore[import-not-found]
        from typer.core import _TyperParameter  # type: ignore[attr-defined]
    except ImportError:
        return
    if getattr(_TyperParameter, "_agentops_fast", False) or not hasattr(_TyperParameter, "get_runtime_param"):
        return
    original: Callable[..., Any] = _TyperParameter.process_value

    def process_value(self: Any, ctx: Any, value: Any) -> Any:
        fast = fast_value(self, ctx, value, coerce_cli_choice, ParameterSource.DEFAULT)
        if fast is _NOT_HANDLED:
            return original(self, ctx, value)
        if self.required and self.value_is_missing(fast):
            from typer._click.exceptions import MissingParameter  # type: ignore[import-not-found]

            raise MissingParameter(ctx=ctx, param=self)
        return self.callback(ctx, self, fast) if self.callback is not None else fast

    _TyperParameter.process_value = process_value
    _TyperParameter._agentops_fast = True


def fast_value(param: Any, ctx: Any, value: Any, coerce_choice: Callable[..., Any], default_source: Any) -> Any:
    """The coerced value where typer's coercion needs no adapter, else _NOT_HANDLED."""
    desc = param.type_descriptor
    annotation = desc.annotation
    multi = param.multiple or param.nargs == -1
    if value is None:
        return () if multi else None
    if desc.file_annotation is not None:
        return _NOT_HANDLED
    if multi:
        # list[str] (`logs count FILE...`, `--only a --only b`): typer makes a list, each item a str unchanged
        if annotation == list[str] and isinstance(value, tuple | list) and all(type(v) is str for v in value):
            return list(value)
        return _NOT_HANDLED
    if annotation is bool and isinstance(value, bool):
        return value  # typer skips coercion for these itself
    if desc.is_choice and desc.choices is not None:
        try:
            return coerce_choice(value, choices=desc.choices, case_sensitive=desc.case_sensitive, ctx=ctx)
        except ValueError:
            return _NOT_HANDLED  # typer words the refusal
    if annotation is str and type(value) is str:
        return value
    if annotation in (int, float) and type(value) is annotation and \
            ctx.get_parameter_source(param.name) is default_source:
        return value
    if annotation in (int, float) and type(value) is str and _NUMBER[annotation].fullmatch(value):
        number = annotation(value)
        info = desc.parameter_info
        if not info.clamp and (info.min is None or number >= info.min) and (info.max is None or number <= info.max):
            return number
    return _NOT_HANDLED


# Plain decimal numbers only, which int()/float() and pydantic read alike; anything else is typer's to judge.
_NUMBER = {int: re.compile(r"-?[0-9]{1,18}"), float: re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")}
