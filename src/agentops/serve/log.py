"""Structured logs: one JSON object per line on stderr (`ts`, `level`, `event`, then the event's fields),
redacted like every other output. stdout stays empty: serve has no result to print."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from agentops.core.format import utc_stamp
from agentops.core.redact import redact_obj


def log(event: str, level: str = "info", *, stream: TextIO | None = None, **fields: Any) -> None:
    record = {"ts": utc_stamp(), "level": level, "event": event, **fields}
    out = stream or sys.stderr
    try:
        out.write(json.dumps(redact_obj(record), default=str, separators=(",", ":")) + "\n")
        out.flush()
    except (OSError, ValueError):
        pass  # a closed or full stderr must not take the service down
