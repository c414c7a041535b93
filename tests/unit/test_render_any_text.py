"""Any text a server, a log or a config can put in a result renders valid and literal in every format (issue
10, items 13 and 14): control bytes once made the JUnit output unparseable XML and reached the terminal through
the table and Nagios output, and `[/x]` crashed the table as Rich markup.

The rule checked for each format: JSON parses back to the document's text; JUnit parses with xml.etree and its
message is the text with the characters XML cannot carry made visible; the Prometheus exposition parses with
prometheus_client's own parser and its label values are the text; Nagios output keeps one status line; the
table (and the diagnosis panel) does not crash and shows the text with control characters made visible."""

from __future__ import annotations

import io
import json
import unicodedata
from xml.etree import ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from agentops.core.model import Finding, Reason, Report, Result, Status
from agentops.render.document import report_document
from agentops.render.escape import visible, xml_text
from agentops.render.json import render_json
from agentops.render.junit import render_junit
from agentops.render.nagios import render_nagios
from agentops.render.prometheus import render_prometheus
from agentops.render.table import make_console, render_table

HOSTILE = ["[/a]", "[/]", "[bold]", "[link=x]", "\x1b[31m", "\x1b]0;title\x07", "%s", "%(x)s", "{}", "{0}",
           "\x00", "\r", "\x0b", "\x0c", "\x7f", "\x85", "\x9b", "\u2028", "]]>", "&amp;", "<b>", "'", '"', "|",
           "=", "\\", "\\n", "\n", "\t", "\ufffe", "\U0001f600", "é", "\u0301"]
texts = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(HOSTILE)), max_size=6).map("".join)

CONTROL = {chr(c) for c in [*range(0x20), *range(0x7f, 0xa0)]} - {"\n"}


def report(message: str, target: str, name: str, title: str) -> Report:
    r = Result(id=f"http.{name}", target=target or "t", probe="http", status=Status.CRITICAL,
               reason=Reason.CONNECT, message=message, metrics={name or "m": 1.5},
               thresholds={name or "m": {"warning": "> 1", "critical": "> 2"}})
    ok = Result(id="host.load", target=target or "t", probe="host", status=Status.OK, message=message)
    f = Finding(id="f1", status=Status.CRITICAL, title=title, cause=message, evidence=[message, title], fix=message)
    return Report(kind="health", started_at="2026-12-02T10:00:00Z", duration_s=0.5, results=[r, ok], findings=[f],
                  notes=[message])


def words(text: str) -> list[str]:
    # What a table cell shows of a text, word by word: whitespace may wrap or pad, combining marks may join
    # the character before them, so compare words of the visible text in normal form.
    return [w for w in unicodedata.normalize("NFC", visible(text)).split() if w]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, texts, texts, texts)
def test_any_text_renders_valid_and_literal_in_every_format(message: str, target: str, name: str,
                                                            title: str) -> None:
    doc = report_document(report(message, target, name, title))
    shown = doc["results"][0]

    assert json.loads(render_json(doc))["results"][0] == json.loads(json.dumps(shown))

    root = ET.fromstring(render_junit(doc))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == xml_text(shown["message"])
    assert root.find("testsuite/testcase").get("classname") == xml_text(f"http.{shown['target']}")

    families = {f.name: f for f in text_string_to_metric_families(render_prometheus(doc))}
    labels = [s.labels for s in families["agentops_check_status"].samples]
    assert {lab["target"] for lab in labels} == {shown["target"]}
    assert {lab["check"] for lab in labels} == {shown["id"], "host.load"}

    nagios = render_nagios(doc)
    assert nagios.endswith("\n")
    lines = nagios[:-1].split("\n")
    assert lines[0].startswith("AGENTOPS CRITICAL - ")
    # One line per problem (the result, then the finding), none from the data.
    assert len(lines) == 3 and lines[1].startswith("CRITICAL: ") and lines[2].startswith("CRITICAL: finding f1")
    assert not CONTROL & set(nagios) - {"\t"}

    for kind in ("health", "diagnose.message"):
        out = io.StringIO()
        render_table({**doc, "kind": kind}, make_console(out))
        table = unicodedata.normalize("NFC", out.getvalue())
        assert not CONTROL & set(table), repr(table)
        for word in words(shown["message"]):
            assert word in table, (word, table)
