"""Table presenters, one module per family of document kinds; importing this package registers them all in
render.registry."""

from agentops.render.presenters import (  # noqa: F401  (imported to register)
    diagnosis,
    inventory,
    listings,
    load,
    logs,
    maintain,
    profile,
)
