"""Nagios plugin output: one status line, then `|` perfdata (`'label'=value;;;;`), then long text lines.
https://nagios-plugins.org/doc/guidelines.html#AEN200"""

from __future__ import annotations

from typing import Any

from agentops.core.thresholds import Threshold, plain_number
from agentops.render.document import status_set_by_text
from agentops.render.escape import one_line


def _range(text: str | None) -> str:
    return Threshold.parse(text).nagios_range() if text else ""


def _label(text: str) -> str:
    return "'" + one_line(text).replace("'", "''").replace("=", "_") + "'"


def _counts(s: dict[str, int]) -> str:
    return f"{s['critical']} critical, {s['warning']} warning, {s['unknown']} unknown, {s['ok']} ok"


def render_nagios(doc: dict[str, Any]) -> str:
    """The status line leads with the verdict when the report has one (a diagnosis), and names what set the
    status when that is not the verdict; otherwise with the counts and the worst problem. The counts are of
    results and findings, so they agree with the status."""
    results = doc["results"]
    order = {"CRITICAL": 0, "UNKNOWN": 1, "WARNING": 2}
    bad = sorted([r for r in results if r["status"] != "OK"], key=lambda r: order.get(r["status"], 3))
    bad_findings = sorted([f for f in doc.get("findings", []) if f["status"] != "OK"],
                          key=lambda f: order.get(f["status"], 3))
    verdict = doc.get("verdict")
    set_by = doc.get("status_set_by") or []
    if verdict is not None:
        head = f"AGENTOPS {doc['status']} - {verdict['title']}"
        if set_by and set_by != [verdict["id"]]:
            head += f" ({status_set_by_text(doc)})"
    else:
        head = f"AGENTOPS {doc['status']} - {_counts(doc['summary'])}"
        if bad:
            head += f": {bad[0]['id']}@{bad[0]['target']} {bad[0]['message']}"
        elif bad_findings:
            head += f": {bad_findings[0]['id']} {bad_findings[0]['title']}"
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
    if verdict is not None:
        lines.append(f"{_counts(doc['summary'])} (results and findings)")
    lines += [one_line(f"{r['status']}: {r['id']}@{r['target']}: {r['message']}").replace("|", "/") for r in bad]
    lines += [one_line(f"{f['status']}: finding {f['id']}: {f['title']}").replace("|", "/") for f in bad_findings]
    return "\n".join(lines) + "\n"
