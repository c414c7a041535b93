"""JUnit XML for CI dashboards: one testcase per result and one per finding (the verdict's classname is
"verdict", the others' "finding"). CRITICAL and WARNING are <failure> (type says which), UNKNOWN is <error>
(the check could not run), OK passes. The suite's properties carry the run's status and what set it."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from agentops.render.escape import xml_text as _x  # every string from the document goes through it

_FAILED = ("WARNING", "CRITICAL")


def render_junit(doc: dict[str, Any]) -> str:
    results, findings = doc["results"], doc.get("findings", [])
    statuses = [r["status"] for r in results] + [f["status"] for f in findings]
    suites = ET.Element("testsuites", name="agentops")
    suite = ET.SubElement(
        suites, "testsuite", name=_x(f"agentops.{doc['kind']}"), tests=str(len(statuses)),
        failures=str(sum(s in _FAILED for s in statuses)), errors=str(sum(s == "UNKNOWN" for s in statuses)),
        skipped="0", time=f"{doc['duration_s']:.3f}", timestamp=_x(doc["started_at"]),
        hostname=_x(doc["tool"]["host"]),
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="status", value=_x(doc["status"]))
    ET.SubElement(props, "property", name="status_set_by", value=_x(",".join(doc.get("status_set_by", []))))
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=_x(f"{r['probe']}.{r['target']}"), name=_x(r["id"]),
                             time=f"{r['duration_s']:.3f}")
        text = _x(f"{r['status']} ({r['reason']}): {r['message']}" if r["reason"] else r["message"])
        _outcome(case, r["status"], r["message"], text)
        if r["metrics"]:
            props = ET.SubElement(case, "properties")
            for k, v in r["metrics"].items():
                ET.SubElement(props, "property", name=_x(k), value="" if v is None else f"{v:g}")
    verdict_id = (doc.get("verdict") or {}).get("id")
    for i, f in enumerate(findings):
        # The verdict is the first finding (core.model.Report); a later one with the same id is another finding.
        is_verdict = i == 0 and f["id"] == verdict_id
        case = ET.SubElement(suite, "testcase", classname="verdict" if is_verdict else "finding", name=_x(f["id"]),
                             time="0")
        _outcome(case, f["status"], f["title"], _x("\n".join([f["cause"], *f["evidence"], f"fix: {f['fix']}"])))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _outcome(case: ET.Element, status: str, message: str, text: str) -> None:
    if status in _FAILED:
        ET.SubElement(case, "failure", type=status, message=_x(message)).text = text
    elif status == "UNKNOWN":
        ET.SubElement(case, "error", type="UNKNOWN", message=_x(message)).text = text
