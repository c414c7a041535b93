"""`agentops health` as users meet it: the real entry point in a child process, every output format parsed
back, every exit code, stdout carrying only the result."""

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from tests.fixtures.common import REPO, assert_no_traceback, free_port, run_cli

SCHEMA = json.loads((REPO / "src/agentops/schemas/report.schema.json").read_text())


def validate(doc: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def write_config(tmp_path: Path, checks: str, targets: str = "") -> str:
    p = tmp_path / "agentops.yaml"
    p.write_text(f"version: 1\npacks: []\ntargets:\n{targets or '  []'}\nchecks:\n{checks}")
    return str(p)


WARN = """  - id: mem.warn
    probe: host.memory
    warning: {memory_used_percent: ">= 0"}
"""
CRIT = """  - id: mem.crit
    probe: host.memory
    critical: {memory_used_percent: ">= 0"}
"""
OKC = """  - id: mem.ok
    probe: host.memory
    critical: {memory_used_percent: "> 100"}
"""


def unknown_check(port: int) -> tuple[str, str]:
    return (f"  - name: closed\n    kind: tcp\n    address: 127.0.0.1:{port}\n",
            "  - id: tcp.unknown\n    probe: net.tcp\n    target: closed\n    on_failure: unknown\n    timeout: 2\n")


def test_default_run_checks_this_machine(tmp_path):
    r = run_cli("health", "-o", "json", cwd=tmp_path)  # cwd without agentops.yaml: the no-config default
    assert_no_traceback(r)
    doc = r.json()
    validate(doc)
    assert {x["id"] for x in doc["results"]} >= {"host.cpu", "host.memory", "host.disk", "host.load", "host.fds"}
    assert all(x["target"] == "local" for x in doc["results"])
    assert r.code == doc["status_code"]


@pytest.mark.parametrize(("checks", "code"), [(OKC, 0), (WARN, 1), (CRIT, 2)])
def test_exit_codes_follow_status(tmp_path, checks, code):
    r = run_cli("health", "-c", write_config(tmp_path, checks), "-o", "json")
    assert r.code == code, r
    assert r.json()["status_code"] == code


def test_unknown_is_exit_3(tmp_path):
    targets, checks = unknown_check(free_port())
    r = run_cli("health", "-c", write_config(tmp_path, checks, targets), "-o", "json")
    assert r.code == 3
    res = r.json()["results"][0]
    assert res["status"] == "UNKNOWN" and res["reason"] == "connect"


def test_fail_on(tmp_path):
    cfg = write_config(tmp_path, WARN)
    assert run_cli("health", "-c", cfg, "--fail-on", "critical").code == 0
    assert run_cli("health", "-c", cfg, "--fail-on", "warning").code == 1
    assert run_cli("health", "-c", write_config(tmp_path, CRIT), "--fail-on", "never").code == 0
    assert run_cli("health", "-c", write_config(tmp_path, CRIT), "--fail-on", "critical").code == 2


def test_only_skip_tags(tmp_path):
    cfg = write_config(tmp_path, OKC + WARN + CRIT.replace("probe:", "tags: [x]\n    probe:"))
    ids = lambda *a: [x["id"] for x in run_cli("health", "-c", cfg, "-o", "json", *a).json()["results"]]
    assert ids("--only", "mem.ok") == ["mem.ok"]
    assert ids("--only", "mem.*", "--skip", "mem.crit,mem.warn") == ["mem.ok"]
    assert ids("--tags", "x") == ["mem.crit"]
    r = run_cli("health", "-c", cfg, "-o", "json", "--only", "nothing")  # a gate with a typo must not pass
    assert r.code == 3 and r.stdout == "" and "no check to run: nothing matched --only nothing" in r.stderr
    assert run_cli("health", "-c", cfg, "--tags", "nosuchtag").code == 3


def test_every_output_format_parses_back(tmp_path):
    cfg = write_config(tmp_path, OKC + WARN + CRIT)
    doc = run_cli("health", "-c", cfg, "-o", "json").json()
    validate(doc)
    none = {"ok": 0, "warning": 0, "critical": 0, "unknown": 0}
    assert doc["summary"] == {"ok": 1, "warning": 1, "critical": 1, "unknown": 0,  # v2: results and findings
                              "results": {"ok": 1, "warning": 1, "critical": 1, "unknown": 0}, "findings": none}
    assert doc["verdict"] is None and doc["status_set_by"] == ["mem.crit@local"]

    junit = run_cli("health", "-c", cfg, "-o", "junit")
    root = ET.fromstring(junit.stdout)
    cases = root.findall(".//testcase")
    assert {c.get("name") for c in cases} == {"mem.ok", "mem.warn", "mem.crit"}
    failures = {c.get("name"): c.find("failure").get("type") for c in cases if c.find("failure") is not None}
    assert failures == {"mem.warn": "WARNING", "mem.crit": "CRITICAL"}

    nagios = run_cli("health", "-c", cfg, "-o", "nagios")
    assert nagios.code == 2
    head = nagios.stdout.splitlines()[0]
    m = re.match(r"^AGENTOPS (OK|WARNING|CRITICAL|UNKNOWN) - (.*?) \| (.*)$", head)
    assert m and m.group(1) == "CRITICAL" and "mem.crit@local" in m.group(2)
    perf = {k: (v, w, c) for k, v, w, c in re.findall(r"'([^']+)'=([-0-9.]+);([^;]*);([^;]*);;", m.group(3))}
    assert len(perf) == len(re.findall(r"'=", m.group(3)))  # every value is a plain decimal (no exponent)
    assert perf["mem.ok@local.memory_used_percent"][1:] == ("", "~:100")  # "> 100" as a Nagios range
    assert perf["mem.warn@local.memory_used_percent"][1:] == ("~:0", "")
    assert perf["mem.ok@local.memory_available_bytes"][1:] == ("", "")

    from prometheus_client.parser import text_string_to_metric_families

    prom = run_cli("health", "-c", cfg, "-o", "prometheus")
    fams = {f.name: f for f in text_string_to_metric_families(prom.stdout)}
    status = {s.labels["check"]: s.value for s in fams["agentops_check_status"].samples}
    assert status == {"mem.ok": 0, "mem.warn": 1, "mem.crit": 2}
    assert fams["agentops_run_status"].samples[0].value == 2


def test_a_closed_pipe_keeps_the_status_exit_code(tmp_path):
    """`agentops health | head -c1`: the reader leaves early; the exit code must still be the status."""
    import subprocess
    import sys

    cfg = write_config(tmp_path, CRIT)
    proc = subprocess.run(f"{sys.executable} -m agentops health -c {cfg} -o json | head -c1; "
                          "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and proc.stdout == "{", proc
    assert "Traceback" not in proc.stderr and "Exception" not in proc.stderr


def test_output_file_and_stdout_only_result(tmp_path):
    cfg = write_config(tmp_path, OKC)
    out = tmp_path / "sub" / "report.json"
    r = run_cli("health", "-c", cfg, "-o", "json", "--output-file", str(out))
    assert r.code == 0 and r.stdout == "" and r.stderr == ""
    validate(json.loads(out.read_text()))


def test_table_has_no_colour_when_not_a_tty(tmp_path):
    r = run_cli("health", "-c", write_config(tmp_path, OKC + WARN), env={"NO_COLOR": ""})
    assert "\x1b[" not in r.stdout
    assert "mem.warn" in r.stdout and "WARNING" in r.stdout


def test_table_colour_on_a_tty_unless_no_color(tmp_path):
    """Run under a real pseudo-terminal (script(1)) to see what an interactive user gets."""
    import shutil
    import subprocess
    import sys

    if not shutil.which("script"):
        pytest.skip("script(1) not installed")
    cfg = write_config(tmp_path, WARN)
    cmd = f"{sys.executable} -m agentops health -c {cfg}"
    colour = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "COLUMNS": "200"},
                            stdin=subprocess.DEVNULL)
    plain = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "NO_COLOR": "1",
                                "COLUMNS": "200"}, stdin=subprocess.DEVNULL)
    assert "mem.warn" in colour.stdout and "mem.warn" in plain.stdout
    assert "\x1b[" in colour.stdout
    assert "\x1b[3" not in plain.stdout  # no colour codes (cursor control is allowed)


@pytest.mark.parametrize("args", [["health", "--bogus"], ["health", "-o", "xml"], ["health", "--fail-on", "x"],
                                  ["nosuchcommand"], ["health", "--timeout", "-1"]])
def test_usage_errors_are_exit_3_one_line(args):
    r = run_cli(*args)
    assert r.code == 3
    assert_no_traceback(r)
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1


def test_checks_list_and_config_validate(tmp_path):
    cfg = write_config(tmp_path, OKC + WARN)
    r = run_cli("checks", "list", "-c", cfg, "--json")
    assert r.code == 0
    assert [c["id"] for c in r.json()["checks"]] == ["mem.ok", "mem.warn"]
    r = run_cli("config", "validate", "-c", cfg)
    assert r.code == 0 and "2 planned" in r.stdout
