from __future__ import annotations

import json
from typing import Any


def render_json(doc: dict[str, Any]) -> str:
    # allow_nan=False: a NaN would make the document unparseable for strict JSON readers; model.py already
    # turns non-finite metrics into null, so this only fires on a bug.
    return json.dumps(doc, indent=2, sort_keys=False, default=str, allow_nan=False) + "\n"
