"""The one registry of table presenters: `@presenter("kind")` registers a function that shows a document of
that kind (a report document from render.document, or a listing document from render.listing) on a console.

A kind is looked up whole, then by its prefix before the first "." (`logs` serves `logs.analyze`,
`logs.count`, `logs.trace`); a kind nobody registered is shown by the generic results view. Presenters live in
render/presenters/, whose package offers the lookup (presenter_for, kinds) and imports the modules a kind's
family needs first: this module imports no presenter, so presenters can import it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only a type here: the registry itself needs no rich
    from rich.console import Console

Document = dict[str, Any]
Presenter = Callable[[Document, "Console"], None]

_PRESENTERS: dict[str, Presenter] = {}


def presenter(*kinds: str) -> Callable[[Presenter], Presenter]:
    """Register the decorated function as the table view of these document kinds (one owner per kind)."""

    def register(fn: Presenter) -> Presenter:
        for kind in kinds:
            owner = _PRESENTERS.get(kind)
            if owner is not None and owner is not fn:
                raise RuntimeError(f"two presenters for kind {kind!r}: {owner.__qualname__}, {fn.__qualname__}")
            _PRESENTERS[kind] = fn
        return fn

    return register


def registered(kind: str) -> Presenter | None:
    """The presenter registered so far for `kind` (whole, then its prefix). Callers look presenters up through
    render.presenters.presenter_for, which imports (registers) the ones of the kind's family first."""
    return _PRESENTERS.get(kind) or _PRESENTERS.get(kind.split(".")[0])


def registered_kinds() -> list[str]:
    return sorted(_PRESENTERS)
