"""The bundle's headline: the diagnosis verdict of each diagnosed type, read from the documents the
diagnosis wrote (never judged again here), and the worst of them first (the same order as a report's
status: OK < WARNING < UNKNOWN < CRITICAL). Without a diagnosis, health's status and what set it."""

from __future__ import annotations

import json
from typing import Any

from agentops.bundle.collect import Member
from agentops.core.model import Status


def _doc(member: Member) -> dict[str, Any] | None:
    try:
        doc = json.loads(member.data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def verdicts(members: list[Member]) -> list[dict[str, Any]]:
    """One row per diagnosis document: the type, its verdict and evidence, the file; worst first."""
    rows = []
    for m in members:
        if not m.path.startswith("diagnose/") or (doc := _doc(m)) is None or not doc.get("verdict"):
            continue
        v = doc["verdict"]
        rows.append({"agent_type": (doc.get("data") or {}).get("agent_type"), "id": v["id"],
                     "status": v["status"], "title": v["title"], "cause": v["cause"], "fix": v["fix"],
                     "evidence": v["evidence"], "file": m.path})
    return sorted(rows, key=lambda r: -Status.parse(r["status"]).severity)


def health_line(members: list[Member]) -> dict[str, Any] | None:
    doc = next((d for m in members if m.path == "health.json" and (d := _doc(m)) is not None), None)
    if doc is None:
        return None
    return {"status": doc["status"], "set_by": doc.get("status_set_by") or [], "summary": doc.get("summary"),
            "file": "health.json"}
