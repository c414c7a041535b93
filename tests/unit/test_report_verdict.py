"""The report's headline and what set its status (issue 11: "a healthy diagnosis exits 1 on a busy machine":
the verdict box said OK while `machine.cpu` WARNING set the exit code unmentioned)."""

from __future__ import annotations

import io

from agentops.core.model import Finding, Reason, Report, Result, Status
from agentops.render.document import report_document
from agentops.render.nagios import render_nagios
from agentops.render.table import make_console, render_table


def busy_but_healthy() -> Report:
    healthy = Finding(id="healthy", status=Status.OK, title="messages to echo/default arrive",
                      cause="every layer answered", fix="nothing to fix")
    other = Finding(id="request-id-collision", status=Status.OK, title="no collision")
    return Report(kind="diagnose.message", started_at="2026-12-03T10:00:00Z", duration_s=0.2, findings=[other],
                  verdict=healthy, results=[
                      Result(id="agent.ping", target="echo", probe="agentrpc", status=Status.OK),
                      Result(id="machine.cpu", target="local", probe="host", status=Status.WARNING,
                             reason=Reason.THRESHOLD, message="CPU 97% > 90%")])


def test_the_verdict_is_the_first_finding_and_what_set_the_status_is_named() -> None:
    report = busy_but_healthy()
    assert [f.id for f in report.findings] == ["healthy", "request-id-collision"]
    doc = report_document(report)
    assert doc["verdict"]["id"] == "healthy" and doc["status"] == "WARNING"
    assert doc["status_set_by"] == ["machine.cpu@local"]
    assert doc["summary"] == {"ok": 3, "warning": 1, "critical": 0, "unknown": 0,
                              "results": {"ok": 1, "warning": 1, "critical": 0, "unknown": 0},
                              "findings": {"ok": 2, "warning": 0, "critical": 0, "unknown": 0}}


def test_an_ok_verdict_beside_a_warning_says_which_check_set_the_exit_code() -> None:
    doc = report_document(busy_but_healthy())
    head = render_nagios(doc).splitlines()[0]
    assert head == ("AGENTOPS WARNING - messages to echo/default arrive (status WARNING set by: machine.cpu@local)")
    out = io.StringIO()
    render_table(doc, make_console(out))
    box = out.getvalue().split("checks, in the order they ran")[0]
    assert "VERDICT OK" in box and "status WARNING set by: machine.cpu@local" in box


def test_an_ok_report_is_set_by_nothing() -> None:
    report = Report(kind="health", started_at="2026-12-03T10:00:00Z", duration_s=0.1,
                    results=[Result(id="host.load", target="local", probe="host", status=Status.OK)])
    doc = report_document(report)
    assert doc["status_set_by"] == [] and doc["verdict"] is None
    assert render_nagios(doc).startswith("AGENTOPS OK - 0 critical, 0 warning, 0 unknown, 1 ok\n")
