"""Prometheus text exposition for node_exporter's textfile collector: one gauge per check status, duration
and measured metric, plus the run's own status and timestamp."""

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
    out += ["# HELP agentops_run_status Worst status of the run.", "# TYPE agentops_run_status gauge",
            f"agentops_run_status{_labels(kind=kind)} {_STATUS[doc['status']]}",
            "# HELP agentops_run_timestamp_seconds When the run finished (Unix time).",
            "# TYPE agentops_run_timestamp_seconds gauge",
            f"agentops_run_timestamp_seconds{_labels(kind=kind)} {time.time():.3f}"]
    return "\n".join(out) + "\n"
