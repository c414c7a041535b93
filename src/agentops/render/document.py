"""The one JSON document every output format is derived from (schema `agentops.report/v2`).

Renderers present this document; none of them computes a status. Secrets are masked here, at the edge, so
every format inherits the redaction.
"""

from __future__ import annotations

import platform
from typing import Any

from agentops import __version__
from agentops.core.model import Report
from agentops.core.redact import redact_obj

SCHEMA_ID = "agentops.report/v2"


def report_document(report: Report) -> dict[str, Any]:
    status = report.status
    doc = {
        "schema": SCHEMA_ID,
        "kind": report.kind,
        "tool": {"name": "agentops", "version": __version__, "host": platform.node()},
        "started_at": report.started_at,
        "duration_s": round(report.duration_s, 6),
        "status": status.label,
        "status_code": int(status),
        "status_set_by": report.status_set_by(),
        "verdict": report.verdict.to_dict() if report.verdict is not None else None,
        "summary": report.summary(),
        "results": [r.to_dict() for r in report.results],
        "findings": [f.to_dict() for f in report.findings],
        "data": report.data,
        "notes": list(report.notes),
    }
    return redact_obj(doc)


def status_set_by_text(doc: dict[str, Any]) -> str:
    """"status CRITICAL set by: a, b" for a non-OK document, "" for an OK one: the one wording every format
    uses to name what set the exit code beside the verdict."""
    set_by = doc.get("status_set_by") or []
    return f"status {doc['status']} set by: {', '.join(set_by)}" if set_by else ""
