"""The document of a listing command (`checks list`, `maintain list`, `lab down`, …): what it lists, under a
schema and a kind, redacted like a report document. `-o json` prints it as it is; the table view is the
presenter registered for its kind (render.registry). Its JSON is a contract like the report's:
schemas/report.schema.json, section "listings"."""

from __future__ import annotations

from typing import Any

from agentops.core.redact import redact_obj

LISTING_SCHEMA = "agentops.listing/v1"


def listing_document(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = redact_obj({"schema": LISTING_SCHEMA, "kind": kind, **fields})
    return doc
