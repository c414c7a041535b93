"""Prometheus text exposition for node_exporter's textfile collector: one gauge per check status, duration
and measured metric, one per finding's status, the verdict, what set the status, plus the run's own status and
timestamp."""

from __future__ import annotations

import re
import time
from typing import Any

_STATUS = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items()) + "}"


def metric_name(text: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_]", "_", text)
    return name if re.match(r"[a-zA-Z_]", name) else "_" + name


def render_prometheus(doc: dict[str, Any]) -> str:
    kind = doc["kind"]
    out = [
        "# HELP agentops_check_status Check status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        "# TYPE agentops_check_status gauge",
    ]
    for r in doc["results"]:
        out.append(f"agentops_check_status{_labels(kind=kind, check=r['id'], target=r['target'], probe=r['probe'], reason=r['reason'] or '')} {_STATUS[r['status']]}")  # noqa: E501
    out += ["# HELP agentops_check_duration_seconds How long the check took, retries included.",
            "# TYPE agentops_check_duration_seconds gauge"]
    for r in doc["results"]:
        out.append(f"agentops_check_duration_seconds{_labels(kind=kind, check=r['id'], target=r['target'])} "
                   f"{r['duration_s']:.6f}")
    out += ["# HELP agentops_check_metric A value measured by a check (metric label names it).",
            "# TYPE agentops_check_metric gauge"]
    for r in doc["results"]:
        for name, value in r["metrics"].items():
            if value is not None:
                out.append(f"agentops_check_metric{_labels(kind=kind, check=r['id'], target=r['target'], metric=name)} "
                           f"{value:g}")
    # Findings and the verdict by id and status only: their titles carry measured values, and a label that
    # changes every run would make a new series every run.
    out += ["# HELP agentops_finding_status A diagnosis finding's status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            "# TYPE agentops_finding_status gauge"]
    for f in doc.get("findings", []):
        out.append(f"agentops_finding_status{_labels(kind=kind, finding=f['id'])} {_STATUS[f['status']]}")
    verdict = doc.get("verdict")
    if verdict is not None:
        out += ["# HELP agentops_verdict_status The verdict (headline finding) of a diagnosis and its status.",
                "# TYPE agentops_verdict_status gauge",
                f"agentops_verdict_status{_labels(kind=kind, finding=verdict['id'])} {_STATUS[verdict['status']]}"]
    out += ["# HELP agentops_status_set_by What set the run's status (and so the exit code): a finding id or "
            "check@target.",
            "# TYPE agentops_status_set_by gauge"]
    for ref in doc.get("status_set_by", []):
        out.append(f"agentops_status_set_by{_labels(kind=kind, ref=ref)} {_STATUS[doc['status']]}")
    out += ["# HELP agentops_run_status Worst status of the run.", "# TYPE agentops_run_status gauge",
            f"agentops_run_status{_labels(kind=kind)} {_STATUS[doc['status']]}",
            "# HELP agentops_run_timestamp_seconds When the run finished (Unix time).",
            "# TYPE agentops_run_timestamp_seconds gauge",
            f"agentops_run_timestamp_seconds{_labels(kind=kind)} {time.time():.3f}"]
    return "\n".join(out) + "\n"
