"""Table presenters, one module per family of document kinds; each registers its functions in render.registry
(`@presenter`) when it is imported. Look a presenter up here: the lookup imports only the modules that can
serve the kind's family (MODULES), so a health table, which has no presenter, imports none of them (they
were 3-9 ms of every table's start-up, imported all at once whatever the kind).

MODULES is an index of where the registrations are, not a second registry: tests/unit/test_presentation.py
checks that it names, for every kind, exactly the modules that register it.
"""

from __future__ import annotations

import importlib

from agentops.render.registry import Presenter, registered, registered_kinds

# The family of a kind (its prefix before the first ".") -> the presenter modules that register kinds of it.
MODULES: dict[str, tuple[str, ...]] = {
    "checks": ("listings",),
    "cluster": ("inventory",),
    "config": ("listings",),
    "diagnose": ("diagnosis", "profile"),
    "heal": ("heal",),
    "lab": ("listings",),
    "load": ("load",),
    "logs": ("logs",),
    "maintain": ("maintain",),
    "profile": ("profile",),
    "watch": ("watch",),
}


def _load(family: str) -> None:
    for module in MODULES.get(family, ()):
        importlib.import_module(f"{__name__}.{module}")


def presenter_for(kind: str) -> Presenter | None:
    """The table view of a document kind (whole, then by its prefix before the first "."); None: the generic
    results view."""
    _load(kind.split(".")[0])
    return registered(kind)


def kinds() -> list[str]:
    """Every registered kind (imports every presenter module)."""
    for family in MODULES:
        _load(family)
    return registered_kinds()
