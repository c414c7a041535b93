"""JUnit XML for CI dashboards: one testcase per result. CRITICAL and WARNING are <failure> (type says which),
UNKNOWN is <error> (the check could not run), OK passes."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET


def render_junit(doc: dict[str, Any]) -> str:
    results = doc["results"]
    suites = ET.Element("testsuites", name="agentops")
    suite = ET.SubElement(
        suites, "testsuite", name=f"agentops.{doc['kind']}", tests=str(len(results)),
        failures=str(sum(r["status"] in ("WARNING", "CRITICAL") for r in results)),
        errors=str(sum(r["status"] == "UNKNOWN" for r in results)), skipped="0",
        time=f"{doc['duration_s']:.3f}", timestamp=doc["started_at"], hostname=doc["tool"]["host"],
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"{r['probe']}.{r['target']}", name=r["id"],
                             time=f"{r['duration_s']:.3f}")
        text = f"{r['status']} ({r['reason']}): {r['message']}" if r["reason"] else r["message"]
        if r["status"] in ("WARNING", "CRITICAL"):
            ET.SubElement(case, "failure", type=r["status"], message=r["message"]).text = text
        elif r["status"] == "UNKNOWN":
            ET.SubElement(case, "error", type="UNKNOWN", message=r["message"]).text = text
        if r["metrics"]:
            props = ET.SubElement(case, "properties")
            for k, v in r["metrics"].items():
                ET.SubElement(props, "property", name=k, value="" if v is None else f"{v:g}")
    for f in doc.get("findings", []):
        case = ET.SubElement(suite, "testcase", classname="finding", name=f["id"], time="0")
        if f["status"] != "OK":
            ET.SubElement(case, "failure", type=f["status"], message=f["title"]).text = "\n".join(
                [f["cause"], *f["evidence"], f"fix: {f['fix']}"])
    suite.set("tests", str(len(results) + len(doc.get("findings", []))))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
