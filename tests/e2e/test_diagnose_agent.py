"""`agentops diagnose agent`: the cluster view of one type (real lab), imports in a child process (real modules
written by the test: missing dependency, hanging import, interpreter exit, a real AutoGen agent class), and
pasted tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_diagnose_message import within_budget
from tests.fixtures.common import assert_no_traceback, run_cli

pytestmark = pytest.mark.lab


def agent(*args: str, cwd: Path | None = None) -> tuple[int, dict]:
    out = run_cli("diagnose", "agent", *args, "-o", "json", timeout=60, cwd=cwd)
    assert_no_traceback(out)
    return out.code, out.json()


def test_a_registered_type_on_the_lab_is_healthy(lab) -> None:
    _, doc = agent("echo2", "-c", str(lab.config))
    assert doc["findings"][0]["id"] == "healthy", doc["findings"][0]
    assert doc["kind"] == "diagnose.agent"
    ping = next(r for r in doc["results"] if r["id"] == "agent.ping")
    assert ping["facts"]["outcome"] == "reply"
    # The deadline is a promise (the report is done by it, plus a margin); speed itself is bench/'s business.
    within_budget(doc, doc["data"]["deadline_s"])


def test_an_unregistered_type_on_the_lab(lab) -> None:
    code, doc = agent("planner", "-c", str(lab.config))
    assert (code, doc["findings"][0]["id"]) == (2, "type-not-registered")


def test_importing_a_real_agent_class(lab) -> None:
    _, doc = agent("echo", "--import", "agentops.lab.agents:EchoAgent", "-c", str(lab.config))
    imp = next(r for r in doc["results"] if r["id"] == "agent.import")
    assert imp["status"] == "OK" and imp["facts"]["is_agent"] is True, imp
    assert "an AutoGen agent class" in imp["message"]


@pytest.fixture
def agent_modules(tmp_path: Path) -> Path:
    (tmp_path / "needs_dep.py").write_text("import yaml_nonexistent_dep_for_agentops\nclass Planner: pass\n")
    (tmp_path / "needs_cv.py").write_text("import cv2\nclass Vision: pass\n")
    (tmp_path / "hangs.py").write_text("import time\ntime.sleep(60)\nclass Slow: pass\n")
    (tmp_path / "exits.py").write_text("import os\nos._exit(7)\n")
    (tmp_path / "plain.py").write_text("class NotAnAgent:\n    pass\n")
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    return tmp_path


def test_a_missing_dependency_names_the_package(agent_modules: Path) -> None:
    code, doc = agent("vision", "--import", "needs_cv:Vision", cwd=agent_modules)
    f = doc["findings"][0]
    assert (code, f["id"]) == (2, "agent-import-failed"), f
    assert "pip install 'opencv-python'" in f["fix"]  # import name cv2, package opencv-python
    assert any("no AgentRpc host" in n for n in doc["notes"])  # offline: said, not silently skipped
    # A module not in the map installs under its own top-level name.
    code, doc = agent("planner", "--import", "needs_dep:Planner", cwd=agent_modules)
    assert "pip install 'yaml-nonexistent-dep-for-agentops'" in doc["findings"][0]["fix"]


def test_the_workers_interpreter_decides(agent_modules: Path) -> None:
    """The same module imports with agentops' interpreter and fails with another one that lacks a dependency."""
    import shutil
    import subprocess

    other = shutil.which("python3", path="/usr/bin")
    if other is None or subprocess.run([other, "-c", "import psutil"], capture_output=True).returncode == 0:
        pytest.skip("needs a second interpreter without psutil (/usr/bin/python3)")
    (agent_modules / "uses_psutil.py").write_text("import psutil\nfrom autogen_core import RoutedAgent\n\n\n"
                                                  "class Watcher(RoutedAgent):\n    pass\n")
    code, doc = agent("watcher", "--import", "uses_psutil:Watcher", cwd=agent_modules)
    assert doc["results"][0]["status"] == "OK"
    code, doc = agent("watcher", "--import", "uses_psutil:Watcher", "--python", other, cwd=agent_modules)
    assert (code, doc["findings"][0]["id"]) == (2, "agent-import-failed")
    assert "pip install 'psutil'" in doc["findings"][0]["fix"]
    assert doc["results"][0]["facts"]["python"] == other


def test_a_module_whose_import_hangs_is_stopped_at_the_deadline(agent_modules: Path) -> None:
    code, doc = agent("slow", "--import", "hangs:Slow", "--deadline", "2", cwd=agent_modules)
    imp = next(r for r in doc["results"] if r["id"] == "agent.import")
    assert (code, imp["reason"]) == (2, "timeout"), imp
    # only the deadline can end a 60 s import: the report is done by it (plus a margin), not by the hang
    assert doc["data"]["deadline_s"] == 2
    within_budget(doc, doc["data"]["deadline_s"])


def test_an_import_that_kills_the_interpreter(agent_modules: Path) -> None:
    code, doc = agent("x", "--import", "exits:Anything", cwd=agent_modules)
    imp = next(r for r in doc["results"] if r["id"] == "agent.import")
    assert code == 2 and "exited with status 7" in imp["message"], imp


def test_a_class_that_is_not_an_agent_and_a_syntax_error(agent_modules: Path) -> None:
    code, doc = agent("x", "--import", "plain:NotAnAgent", cwd=agent_modules)
    assert code == 2 and "NOT an AutoGen agent" in doc["results"][0]["message"]
    code, doc = agent("x", "--import", "broken:F", cwd=agent_modules)
    assert doc["findings"][0]["id"] == "agent-import-failed"
    assert "does not compile" in doc["findings"][0]["cause"]


def test_a_pasted_traceback_from_a_file(tmp_path: Path) -> None:
    crash = tmp_path / "crash.txt"
    crash.write_text("Traceback (most recent call last):\n  File \"/srv/w.py\", line 3, in <module>\n"
                     "    r = redis.Redis(port=6390).ping()\n"
                     "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6390. Connection refused.\n")
    code, doc = agent("planner", "--error", f"@{crash}")
    f = doc["findings"][0]
    assert (code, f["id"]) == (2, "agent-error"), f
    assert "localhost:6390" in f["title"]
    assert f["checks"] == ["agent.error"]


@pytest.mark.parametrize(("args", "needle"), [
    (["planner", "--import", "not a module"], "is not module:Class"),
    (["planner"], "no AgentRpc host"),
    (["planner", "--error", "@/nonexistent/crash.txt"], "cannot read"),
    (["planner", "--import", "m:C", "--python", "/nonexistent/python3"], "not an executable interpreter"),
], ids=["bad-import", "nothing-to-do", "missing-error-file", "bad-python"])
def test_bad_input(tmp_path: Path, args: list[str], needle: str) -> None:
    out = run_cli("diagnose", "agent", *args, cwd=tmp_path)
    assert_no_traceback(out)
    assert out.code == 3 and needle in out.stderr, (out.code, out.stderr)
