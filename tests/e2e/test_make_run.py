"""`make run`, the first command a newcomer runs: a check that warns is a result, explained, not make's
`Error 1` that reads like a failed install; a real failure still fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.common import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

# A pack whose one check warns on any machine, judged for real: load per core is never below 0.
WARNS = """pack: always-warns
checks:
  - id: load.always
    probe: host.load
    warning: {load1_per_core: ">= 0"}
"""


def make_run(args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "run", f"ARGS={args}"], cwd=REPO, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin",
                                                                                  "NO_COLOR": "1", "COLUMNS": "120"})


def test_a_warning_is_explained_and_make_does_not_fail(tmp_path: Path) -> None:
    pack = tmp_path / "warns.yaml"
    pack.write_text(WARNS)
    r = make_run(f"--pack {pack}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "load.always" in r.stdout and "WARNING" in r.stdout  # the result itself
    assert "Error" not in r.stderr and "***" not in r.stderr  # no make failure
    assert "agentops health exited 1 (WARNING)" in r.stderr and "not a failed install" in r.stderr


def test_a_usage_error_still_fails_make() -> None:
    r = make_run("--only no-such-check")
    assert r.returncode != 0 and "no-such-check" in r.stderr and "exited 3" in r.stderr
