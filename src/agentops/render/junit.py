"""JUnit XML for CI dashboards: one testcase per result. CRITICAL and WARNING are <failure> (type says which),
UNKNOWN is <error> (the check could not run), OK passes."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from agentops.render.escape import xml_text as _x  # every string from the document goes through it


def render_junit(doc: dict[str, Any]) -> str:
    results = doc["results"]
    suites = ET.Element("testsuites", name="agentops")
    suite = ET.SubElement(
        suites, "testsuite", name=_x(f"agentops.{doc['kind']}"), tests=str(len(results)),
        failures=str(sum(r["status"] in ("WARNING", "CRITICAL") for r in results)),
        errors=str(sum(r["status"] == "UNKNOWN" for r in results)), skipped="0",
        time=f"{doc['duration_s']:.3f}", timestamp=_x(doc["started_at"]), hostname=_x(doc["tool"]["host"]),
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=_x(f"{r['probe']}.{r['target']}"), name=_x(r["id"]),
                             time=f"{r['duration_s']:.3f}")
        text = _x(f"{r['status']} ({r['reason']}): {r['message']}" if r["reason"] else r["message"])
        if r["status"] in ("WARNING", "CRITICAL"):
            ET.SubElement(case, "failure", type=r["status"], message=_x(r["message"])).text = text
        elif r["status"] == "UNKNOWN":
            ET.SubElement(case, "error", type="UNKNOWN", message=_x(r["message"])).text = text
        if r["metrics"]:
            props = ET.SubElement(case, "properties")
            for k, v in r["metrics"].items():
                ET.SubElement(props, "property", name=_x(k), value="" if v is None else f"{v:g}")
    for f in doc.get("findings", []):
        case = ET.SubElement(suite, "testcase", classname="finding", name=_x(f["id"]), time="0")
        if f["status"] != "OK":
            ET.SubElement(case, "failure", type=f["status"], message=_x(f["title"])).text = _x("\n".join(
                [f["cause"], *f["evidence"], f"fix: {f['fix']}"]))
    suite.set("tests", str(len(results) + len(doc.get("findings", []))))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
