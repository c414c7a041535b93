"""A diagnosis compares what it measured with the baseline `maintain`'s baseline.update keeps: metrics far from
their usual value become evidence lines of the verdict (they never choose it)."""

from __future__ import annotations

import pytest

from agentops.maintain.baseline import baseline_path, save_baseline, updated
from tests.fixtures.common import run_cli

pytestmark = pytest.mark.lab


def test_moved_metrics_become_evidence(lab, tmp_path):
    state = tmp_path / "state"
    # A baseline in the real file format, as baseline.update writes it, whose "usual" memory use is absurdly
    # low: today's real reading is then far above it.
    sample = {"host.memory@local": {"check": "host.memory", "target": "local", "probe": "host.memory",
                                    "status": "OK", "metrics": {"memory_used_percent": 0.001}}}
    save_baseline(updated(None, baseline_path(state), "default", sample, keep_days=30, cluster="lab"))
    r = run_cli("diagnose", "message", "--to", "echo", "-c", str(lab.config), "-o", "json",
                env={"AGENTOPS_STATE_DIR": str(state)}, timeout=60)
    doc = r.json()
    verdict = doc["findings"][0]
    assert verdict["id"] == "healthy"  # the baseline informs, it does not make a verdict
    assert any(line.startswith("baseline: machine.memory@local memory_used_percent=") for line in verdict["evidence"])
    memory = next(x for x in doc["results"] if x["id"] == "machine.memory")
    assert memory["facts"]["baseline"]["memory_used_percent"]["baseline"] == 0.001
    assert doc["data"]["baseline"]["path"].endswith("default.json")


def test_no_baseline_changes_nothing(lab, tmp_path):
    r = run_cli("diagnose", "message", "--to", "echo", "-c", str(lab.config), "-o", "json",
                env={"AGENTOPS_STATE_DIR": str(tmp_path / "empty")}, timeout=60)
    doc = r.json()
    assert "baseline" not in doc["data"]
    assert not any(line.startswith("baseline:") for f in doc["findings"] for line in f["evidence"])
