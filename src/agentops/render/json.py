from __future__ import annotations

import json
from typing import Any


def render_json(doc: dict[str, Any], *, indent: int | None = 2) -> str:
    """The document as JSON; `indent=None` puts it on one line (a JSON Lines stream: `agentops watch -o json`)."""
    # allow_nan=False: a NaN would make the document unparseable for strict JSON readers; model.py already
    # turns non-finite metrics into null, so this only fires on a bug.
    return json.dumps(doc, indent=indent, sort_keys=False, default=str, allow_nan=False) + "\n"
