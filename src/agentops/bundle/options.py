"""What a bundle is asked for (flags → BundleOptions), and the two helpers every collector shares: a report
as the document its command prints, and a safe path component."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentops.core.model import Report

# How much of a log file's end is read to find the records since --since (x --max-file): the excerpt's window.
LOG_WINDOW_FACTOR = 2
PROFILE_MARGIN_S = 15.0  # py-spy's attach and write after its window (profile.stacks waits as long)
MAX_POD_LOGS = 50  # pod logs per Kubernetes source: a namespace of thousands must not fill the bundle


@dataclass
class BundleOptions:
    since_s: float = 1800.0
    collector_timeout_s: float = 20.0
    diagnose_deadline_s: float = 5.0
    profile_s: float = 3.0  # 0: no profile
    max_file_bytes: int = 4 * 1024 * 1024
    agent_types: list[str] = field(default_factory=list)  # empty: every configured type


def document(report: Report) -> str:
    from agentops.render.document import report_document
    from agentops.render.json import render_json

    return render_json(report_document(report))


def safe_name(text: str) -> str:
    """A path component from a target, type or file name (no separators, no dot-only names)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip(".") or "_"
    return name[:120]
