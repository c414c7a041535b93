"""`agentops diagnose performance` against the real lab cluster: under load the slow agent is named as the
bottleneck (its worker idle while it waits), the failing agent's error rate is named, a healthy type raises
nothing, a leak driven during the DEFAULT window is flagged (and a quiet worker is not), and a type no worker
owns is a one-line exit 3."""

import json

import jsonschema
import pytest

from tests.e2e.test_profile_lab import LeakDriver
from tests.fixtures.common import REPO, assert_no_traceback, run_cli

pytestmark = pytest.mark.lab

SCHEMA = json.loads((REPO / "src/agentops/schemas/report.schema.json").read_text())


def diagnose(lab, *args: str):
    r = run_cli("diagnose", "performance", "-c", str(lab.config), *args, "-o", "json")
    assert_no_traceback(r)
    doc = json.loads(r.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["kind"] == "diagnose.performance"
    return r.code, doc


def test_the_slow_agent_is_named_as_the_bottleneck(lab):
    code, doc = diagnose(lab, "slow", "--load", "--concurrency", "4", "--duration", "6", "--interval", "0.5",
                         "--queue-limit", "4")
    assert code == 1, doc["findings"]
    top = doc["findings"][0]
    assert top["id"].startswith("performance.slow_handler") and doc["data"]["bottleneck"] == top["id"]
    assert "Agent type slow on w1 is the bottleneck" in top["title"]
    # the worker did nothing meanwhile: the handler waits, it does not compute or block the loop
    assert top["id"] == "performance.slow_handler.slow_external_call"
    assert any("CPU mean" in e for e in top["evidence"])
    slow = next(r for r in doc["results"] if r["id"] == "performance.agent_type" and r["target"] == "slow")
    assert slow["status"] == "WARNING" and slow["metrics"]["p95_s"] > 2
    assert doc["data"]["load"]["ok"] > 0 and doc["data"]["load"]["latency"]["p50_s"] >= 2.0
    # 4 slow messages in flight on w1 against a limit of 4: the worker is out of concurrency too
    conc = next(f for f in doc["findings"] if f["id"] == "performance.concurrency")
    assert "w1 holds 4 messages in flight" in conc["title"]


def test_the_failing_agent_is_named(lab):
    code, doc = diagnose(lab, "failing", "--load", "--rate", "20", "--duration", "3", "--interval", "0.5")
    assert code == 2  # the load run's handler errors are CRITICAL
    failing = next(f for f in doc["findings"] if f["id"] == "performance.failing_handler")
    assert "failing fails 100" in failing["title"]
    assert any("RuntimeError" in e for e in failing["evidence"])


def test_a_healthy_type_raises_nothing(lab):
    code, doc = diagnose(lab, "echo", "--load", "--rate", "20", "--duration", "3", "--interval", "0.5")
    assert code == 0, doc["findings"]
    assert [f["id"] for f in doc["findings"]] == ["performance.healthy"]
    assert all(r["status"] == "OK" for r in doc["results"])
    assert doc["data"]["processes"][0]["label"] == "w1"


def test_the_whole_cluster_without_a_type(lab):
    code, doc = diagnose(lab, "--duration", "2", "--interval", "0.5")
    assert code == 0, doc["findings"]
    assert {p["label"] for p in doc["data"]["processes"]} == {"w1", "w2"}


@pytest.mark.parametrize("args,expect", [
    (["nosuchtype"], "no worker target lists agent type 'nosuchtype'"),
    (["--load"], "--load needs the agent TYPE"),
    (["echo", "--rate", "5"], "add --load"),
    (["echo", "--load", "--payload-type", "Ping", "--payload", "nope"], "the Ping payload is not valid JSON"),
    (["echo", "--load", "--payload-type", "Ping", "--payload", "[]"], "is a JSON array, not an object"),
])
def test_bad_input_is_one_line_and_exit_3(lab, args, expect):
    r = run_cli("diagnose", "performance", "-c", str(lab.config), *args)
    assert_no_traceback(r)
    assert r.code == 3 and expect in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_the_default_window_flags_a_leak_while_it_is_driven(lab):
    # No --duration: the default window must be long enough for the leak rule to reach a verdict.
    with LeakDriver(lab.address):
        code, doc = diagnose(lab, "leak")
    assert code == 1, doc["findings"]
    leak = next(f for f in doc["findings"] if f["id"] == "profile.leak")
    assert "w1" in leak["title"] and "climbs" in leak["evidence"][0]
    (w1,) = doc["data"]["processes"]
    assert w1["trend"]["leak_suspected"] and w1["trend"]["slope_mb_per_min"] > 10


def test_the_default_window_raises_nothing_for_a_quiet_worker(lab):
    code, doc = diagnose(lab, "echo2")
    assert code == 0, doc["findings"]
    assert [f["id"] for f in doc["findings"]] == ["performance.healthy"]
    (w2,) = doc["data"]["processes"]
    # a verdict on the trend, not "not enough data": the default window is enough to judge a leak
    assert not w2["trend"]["leak_suspected"] and "not enough data" not in w2["trend"]["why"], w2["trend"]["why"]
