"""Nagios plugin output: one status line, then `|` perfdata (`'label'=value;;;;`), then long text lines.
https://nagios-plugins.org/doc/guidelines.html#AEN200"""

from __future__ import annotations

from typing import Any

from agentops.core.thresholds import Threshold, plain_number
from agentops.render.escape import one_line


def _range(text: str | None) -> str:
    return Threshold.parse(text).nagios_range() if text else ""


def _label(text: str) -> str:
    return "'" + one_line(text).replace("'", "''").replace("=", "_") + "'"


def render_nagios(doc: dict[str, Any]) -> str:
    results = doc["results"]
    bad = [r for r in results if r["status"] != "OK"]
    bad.sort(key=lambda r: {"CRITICAL": 0, "UNKNOWN": 1, "WARNING": 2}.get(r["status"], 3))
    s = doc["summary"]
    head = f"AGENTOPS {doc['status']} - {s['critical']} critical, {s['warning']} warning, {s['unknown']} unknown, " \
           f"{s['ok']} ok"
    if bad:
        first = bad[0]
        head += f": {first['id']}@{first['target']} {first['message']}"
    head = one_line(head).replace("|", "/")
    perf = []
    for r in results:
        judged = r.get("thresholds", {})
        for name, value in r["metrics"].items():
            if value is None:
                continue
            levels = judged.get(name, {})
            warn, crit = (_range(levels.get(k)) for k in ("warning", "critical"))
            perf.append(f"{_label(r['id'] + '@' + r['target'] + '.' + name)}={plain_number(value)};{warn};{crit};;")
    lines = [head + (" | " + " ".join(perf) if perf else "")]
    lines += [one_line(f"{r['status']}: {r['id']}@{r['target']}: {r['message']}").replace("|", "/") for r in bad]
    return "\n".join(lines) + "\n"
