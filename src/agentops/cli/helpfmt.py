"""Option help that folds instead of being cut.

typer lays an option's help out as rich Columns inside a table cell; a grid column's overflow is "ellipsis",
so a word wider than the help column (a path such as /etc/agentops/agentops.yaml at 80 columns) lost its end
to "…". Text that carries its own overflow wins over the column's: the help's Text items are made to fold.
Installed from format_help, so it costs nothing unless help is printed (rich is not imported otherwise)."""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    from typer import core

    for cls in (core.TyperCommand, core.TyperGroup):
        original = cls.format_help

        def format_help(self: Any, ctx: Any, formatter: Any, _original: Any = original) -> None:
            _fold_parameter_help()
            _original(self, ctx, formatter)

        cls.format_help = format_help  # type: ignore[method-assign]


def _fold_parameter_help() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    from rich.text import Text
    from typer import rich_utils

    original = getattr(rich_utils, "_get_parameter_help", None)
    if original is None:  # another typer: its help is its own; the 80-column test says whether it cuts
        return

    def folded(**kwargs: Any) -> Any:
        columns = original(**kwargs)
        for item in getattr(columns, "renderables", []):
            if isinstance(item, Text):
                item.overflow = "fold"
        return columns

    rich_utils._get_parameter_help = folded
