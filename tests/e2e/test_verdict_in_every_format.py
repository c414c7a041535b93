"""A diagnosis verdict is part of the report, so every format carries it (issue 11, item 2 and its defect):
`diagnose agent planner --error "ModuleNotFoundError: …" -o nagios` once printed
`AGENTOPS CRITICAL - 0 critical, 1 warning, 0 unknown, 0 ok` (the counts of results only, disagreeing with
the status and the exit code) and the verdict reached neither Nagios nor Prometheus output.

Runs offline: a pasted error needs no cluster, so this is the real command as a user types it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.common import assert_no_traceback, run_cli
from tests.fixtures.report_schema import validate_report

ERROR = "ModuleNotFoundError: No module named 'zz_nope'"
CODE = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def diagnose(fmt: str) -> tuple[int, str]:
    out = run_cli("diagnose", "agent", "planner", "--error", ERROR, "-o", fmt, timeout=60)
    assert_no_traceback(out)
    return out.code, out.stdout


def test_the_json_document_carries_the_verdict_and_counts_findings() -> None:
    code, text = diagnose("json")
    doc = json.loads(text)
    validate_report(doc)
    verdict = doc["verdict"]
    assert verdict["id"] == "agent-error" and verdict["status"] == doc["status"] == "CRITICAL" and code == 2
    assert "zz_nope" in verdict["title"] and "pip install 'zz-nope'" in verdict["fix"]
    # The counts agree with the status: the CRITICAL finding is counted.
    assert doc["summary"]["critical"] == 1 and doc["summary"]["findings"]["critical"] == 1
    assert doc["summary"]["results"] == {"ok": 0, "warning": 1, "critical": 0, "unknown": 0}
    assert doc["status_set_by"] == ["agent-error"]


def test_nagios_leads_with_the_verdict_and_agrees_with_the_exit_code() -> None:
    code, text = diagnose("nagios")
    head = text.splitlines()[0]
    m = re.match(r"^AGENTOPS (OK|WARNING|CRITICAL|UNKNOWN) - (.*?)(?: \| (.*))?$", head)
    assert m, head
    assert CODE[m.group(1)] == code == 2
    assert m.group(2).startswith("the error means: Python module 'zz_nope' is not installed"), head
    assert "0 critical" not in head
    assert "1 critical, 1 warning, 0 unknown, 0 ok" in text  # counts of results and findings, below


def test_prometheus_exports_the_verdict_and_the_findings() -> None:
    code, text = diagnose("prometheus")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    (verdict,) = fams["agentops_verdict_status"].samples
    assert verdict.labels["finding"] == "agent-error" and verdict.value == code == 2
    findings = {s.labels["finding"]: s.value for s in fams["agentops_finding_status"].samples}
    assert findings == {"agent-error": 2}
    assert fams["agentops_run_status"].samples[0].value == code


def test_junit_shows_the_verdict_as_a_failing_testcase() -> None:
    _, text = diagnose("junit")
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None
    verdict = [c for c in suite.findall("testcase") if c.get("classname") == "verdict"]
    assert [c.get("name") for c in verdict] == ["agent-error"]
    failure = verdict[0].find("failure")
    assert failure is not None and failure.get("type") == "CRITICAL" and "zz_nope" in failure.get("message", "")
    assert suite.get("failures") == "2"  # the WARNING result and the CRITICAL verdict
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert props["status"] == "CRITICAL" and props["status_set_by"] == "agent-error"


def test_the_table_names_what_set_the_status_beside_the_verdict() -> None:
    code, text = diagnose("table")
    assert code == 2 and "VERDICT CRITICAL" in text
    assert "status CRITICAL set by: agent-error" in text


@pytest.mark.parametrize("kind, args", [
    ("diagnose.agent", ["diagnose", "agent", "planner", "--error", ERROR]),
    ("health", ["health", "-p", "host"]),
    ("cluster.inventory", ["cluster", "inventory", "--host", "127.0.0.1:1", "--timeout", "2"]),
    ("logs.count", ["logs", "count", "{log}"]),
    ("logs.analyze", ["logs", "analyze", "{log}"]),
    ("logs.trace", ["logs", "trace", "abc", "{log}"]),
])
def test_every_kind_that_runs_offline_matches_its_typed_section(tmp_path: Path, kind: str, args: list[str]) -> None:
    """The real commands' documents against report.schema.json (v2): `data` is checked by kind. The kinds that
    need the lab cluster (diagnose.message, profile, load, lab.status, drill, …) are checked in their own tests
    with the same helper."""
    log = tmp_path / "x.log"
    log.write_text("2026-01-01T00:00:00Z ERROR host boom id=abc\n2026-01-01T00:00:01Z INFO worker ok id=abc\n")
    out = run_cli(*[a.replace("{log}", str(log)) for a in args], "-o", "json", timeout=60)
    assert_no_traceback(out)
    doc = out.json()
    assert doc["kind"] == kind and doc["schema"] == "agentops.report/v2"
    validate_report(doc)
    assert out.code == CODE[doc["status"]]


def test_a_document_of_one_kind_with_another_kinds_data_is_rejected() -> None:
    import jsonschema

    doc = json.loads(diagnose("json")[1])
    validate_report(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate_report({**doc, "kind": "load"})
    with pytest.raises(jsonschema.ValidationError):
        validate_report({**doc, "status_set_by": []})  # a CRITICAL status set by nothing
