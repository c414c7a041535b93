"""Table presenters, one module per family of document kinds. Importing this package registers them all in
render.registry; look a presenter up here, so that every one is registered before the lookup."""

from __future__ import annotations

from agentops.render.presenters import (  # noqa: F401  (imported to register)
    diagnosis,
    inventory,
    listings,
    load,
    logs,
    maintain,
    profile,
    watch,
)
from agentops.render.registry import Presenter, registered, registered_kinds


def presenter_for(kind: str) -> Presenter | None:
    """The table view of a document kind (whole, then by its prefix before the first "."); None: the generic
    results view."""
    return registered(kind)


def kinds() -> list[str]:
    return registered_kinds()
