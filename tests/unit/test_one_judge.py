"""One judge: every status comes from `core.evaluate` judging an Observation against a spec; thresholds are data.

An AST scan of src/agentops fails on a status set by hand (a `Status.OK/WARNING/CRITICAL/UNKNOWN` assigned,
returned, passed as a result's or finding's status, or picked by a conditional) outside the judge's own modules,
and on a numeric threshold literal compared with a measured value in profile/, diagnose/ and load/. The
allowlists below are small and each entry says why it is not a status decision. Behaviour tests: a user pack
overriding a command pack's checks (performance, logs, drill, maintain, load, diagnose) changes how they are
judged; the command packs never enter a health plan.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from agentops.core.config import Config
from agentops.core.evaluate import evaluate
from agentops.core.model import Observation, Reason, Status
from agentops.core.packs import COMMAND_PACKS, command_specs, default_packs, load_specs, make_spec
from agentops.core.yamlsrc import ConfigError
from agentops.profile.limits import Limits

SRC = Path(__file__).resolve().parents[2] / "src" / "agentops"
JUDGE = {"core/evaluate.py", "core/model.py", "core/thresholds.py"}
STATUSES = {"OK", "WARNING", "CRITICAL", "UNKNOWN"}

# Files where a Status constant is not a status decision: module -> why.
READS = {
    "core/packs.py": "the spec defaults (on_failure/on_timeout CRITICAL) and the rule that a failure is never OK",
    "core/runner.py": "UNKNOWN for a check the runner could not run at all (no observation exists to judge)",
    "cli/common.py": "exit-code policy: --fail-on critical maps WARNING to exit 0; EXIT_USAGE is UNKNOWN's code",
    "diagnose/knowledge.py": "a finding's severity is data in the knowledge table",
    "diagnose/engine.py": "UNKNOWN for a layer the deadline left no time for (nothing measured)",
}


def _status_const(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in STATUSES and isinstance(node.value, ast.Name)
            and node.value.id == "Status")


def hand_set_statuses(tree: ast.AST) -> list[tuple[int, str]]:
    """Status constants used as a value (assigned, returned, an argument, a branch of a conditional); a
    comparison `x.status is Status.OK` reads a judged status and is allowed."""
    compared: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                compared.add(id(side))
                if isinstance(side, ast.Tuple | ast.Set | ast.List):  # `status in (Status.WARNING, ...)`
                    compared.update(id(elt) for elt in side.elts)
    return [(n.lineno, ast.unparse(n)) for n in ast.walk(tree) if _status_const(n) and id(n) not in compared]


def _rel(path: Path) -> str:
    return str(path.relative_to(SRC))


def test_no_status_is_set_by_hand():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = _rel(path)
        if rel in JUDGE or rel in READS:
            continue
        offenders += [f"{rel}:{line}: {text}" for line, text in hand_set_statuses(ast.parse(path.read_text()))]
    assert not offenders, "statuses set by hand (judge an Observation instead):\n" + "\n".join(offenders)


# Comparisons with a number that are not a threshold judged against a measurement: (file, expression) -> why.
NUMERIC_OK = {
    ("load/engine.py", "len(s.handler_errors) < 20"): "keeps at most 20 error samples for the report",
    ("load/histogram.py", "0 < self.precision < 0.5"): "validates the histogram's precision argument",
    ("profile/stats.py", "n < 2"): "a trend needs two points",
    ("profile/stats.py", "0 <= q <= 100"): "validates a percentile argument",
    ("profile/stats.py", "half >= 2"): "a half window needs two points",
    ("profile/stats.py", "whole.n - half >= 2"): "a half window needs two points",
}


def numeric_comparisons(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if (isinstance(side, ast.Constant) and isinstance(side.value, int | float)
                        and not isinstance(side.value, bool) and side.value not in (0, 1, -1)):
                    found.append(ast.unparse(node))
                    break
    return found


def test_no_threshold_literal_is_compared_with_a_metric():
    offenders = []
    for package in ("profile", "diagnose", "load"):
        for path in sorted((SRC / package).rglob("*.py")):
            rel = _rel(path)
            offenders += [f"{rel}: {expr}" for expr in numeric_comparisons(ast.parse(path.read_text()))
                          if (rel, expr) not in NUMERIC_OK]
    assert not offenders, "thresholds compared in code (put them in a pack):\n" + "\n".join(offenders)


def test_the_scan_catches_what_it_forbids():
    tree = ast.parse("def f(r):\n    r.status = Status.WARNING\n    if r.status in (Status.OK, Status.UNKNOWN):\n"
                     "        return Status.UNKNOWN, None\n"
                     "    return Status.CRITICAL if r.x > 90 else Status.OK\n")
    assert sorted(text for _, text in hand_set_statuses(tree)) == sorted(
        ["Status.WARNING", "Status.UNKNOWN", "Status.CRITICAL", "Status.OK"])
    assert numeric_comparisons(tree) == ["r.x > 90"]


# ------------------------------------------------------------------------------------------- behaviour

PROFILE_CPU_OVERRIDE = """\
pack: performance
checks:
  - id: profile.cpu
    probe: profile
    warning: {cpu_percent_mean: "> 20"}
    critical: {cpu_percent_p95: "> 40"}
"""


def _cpu_obs(mean: float, p95: float) -> Observation:
    return Observation(metrics={"cpu_percent_mean": mean, "cpu_percent_p95": p95})


def test_a_user_pack_overrides_the_shipped_performance_limits(tmp_path):
    (tmp_path / "performance.yaml").write_text(PROFILE_CPU_OVERRIDE)
    cfg = Config(path=str(tmp_path / "agentops.yaml"), pack_dirs=[tmp_path])
    shipped, mine = Limits.load(None), Limits.load(cfg)
    assert evaluate(shipped.cpu, _cpu_obs(30, 50))[0] is Status.OK
    status, reason, message = evaluate(mine.cpu, _cpu_obs(30, 50))
    assert status is Status.CRITICAL and reason is Reason.THRESHOLD and "cpu_percent_p95=50" in message
    assert mine.memory.rules == shipped.memory.rules  # what the user did not override stays as shipped


def test_a_profile_finding_follows_the_overridden_verdict(tmp_path):
    """The CPU-bound finding reads the judged profile.cpu result: a stricter user pack makes 30 % CPU-bound."""
    from agentops.profile.analyze import process_findings, profile_process
    from agentops.profile.sampler import MachineSeries, SamplingRun
    from agentops.profile.stats import LeakRule
    from tests.unit.test_profile_rules import series  # the unit tests' own synthetic series

    (tmp_path / "performance.yaml").write_text(PROFILE_CPU_OVERRIDE)
    cfg = Config(path=str(tmp_path / "agentops.yaml"), pack_dirs=[tmp_path])
    s = series(30.0, 60.0, iowait=math.nan)
    run = SamplingRun([s], MachineSeries(), 0.5, 10.0, 10.0, 20)
    shipped = profile_process(s, run, LeakRule())
    mine = profile_process(s, run, LeakRule(), limits=Limits.load(cfg))
    assert not [f for f in process_findings(shipped) if f.id == "profile.cpu_bound"]
    (found,) = [f for f in process_findings(mine) if f.id == "profile.cpu_bound"]
    assert found.status is Status.WARNING and found.checks == ["profile.cpu"]


def test_a_bad_override_is_a_config_error_naming_its_file(tmp_path):
    (tmp_path / "performance.yaml").write_text("pack: performance\nchecks:\n  - id: profile.cpu\n    probe: profile\n"
                                               "    warning: {cpu_percent_mean: 'eighty'}\n")
    with pytest.raises(ConfigError, match=r"performance\.yaml"):
        Limits.load(Config(pack_dirs=[tmp_path]))


def test_command_packs_never_enter_a_health_plan():
    assert not set(default_packs()) & set(COMMAND_PACKS)
    with pytest.raises(ConfigError, match="command pack"):
        load_specs(Config(), ["performance"])
    for pack in COMMAND_PACKS:
        if (SRC / "packs" / "checks" / f"{pack}.yaml").exists():
            assert command_specs(pack)


def test_on_reason_decides_a_failed_measurement_before_on_failure():
    spec = make_spec("w", "host.process", on_reason={Reason.CONNECT: Status.WARNING})
    assert evaluate(spec, Observation.failure(Reason.CONNECT, "not connected"))[0] is Status.WARNING
    assert evaluate(spec, Observation.failure(Reason.ASSERTION, "gone"))[0] is Status.CRITICAL


LOGS_OVERRIDE = """\
pack: logs
checks:
  - id: logs.errors
    probe: logs
    warning: {errors: "> 0"}
  - id: logs.input
    probe: logs
    on_failure: critical
"""


def test_a_user_pack_overrides_the_shipped_logs_gates(tmp_path):
    """The logs gates are specs from checks/logs.yaml: a user's logs.yaml makes any error a warning without a
    flag, and a flag's limit still replaces that rule; nothing readable follows the user's on_failure."""
    from agentops.logs import analyze
    from agentops.logs.stats import InputStats, SourceInfo

    (tmp_path / "logs.yaml").write_text(LOGS_OVERRIDE)
    cfg = Config(path=str(tmp_path / "agentops.yaml"), pack_dirs=[tmp_path])
    none = analyze.Thresholds.parse(None, None)
    metrics = {"errors": 3.0, "records": 10.0}
    assert analyze.threshold_results(none, metrics)[0].status is Status.OK
    (errors,) = analyze.threshold_results(none, metrics, cfg=cfg)
    assert errors.status is Status.WARNING and errors.reason is Reason.THRESHOLD
    flagged = analyze.threshold_results(analyze.Thresholds.parse("5", None), metrics, cfg=cfg)
    assert flagged[0].status is Status.OK  # --max-errors 5 replaced the pack's rule for errors
    stats = InputStats()
    stats.sources.append(SourceInfo(name="x", component="x", status="skipped", reason="binary file"))
    assert analyze.input_result(stats).status is Status.UNKNOWN
    assert analyze.input_result(stats, cfg).status is Status.CRITICAL


DRILL_OVERRIDE = """\
pack: drill
checks:
  - id: drill.detect
    probe: drill
    on_failure: warning
"""


def test_a_user_pack_overrides_how_a_drill_step_is_judged(tmp_path):
    """A diagnosis that names another fault than expected is an assertion failure the drill pack judges:
    CRITICAL as shipped, WARNING from a user's drill.yaml; the undo is judged OK either way."""
    import asyncio

    from agentops.core.model import Finding, Report
    from agentops.drill.faults import DrillTarget, Fault
    from agentops.drill.runner import run_drill

    class Misnamed(Fault):  # a fault whose diagnosis names something else; nothing real is broken
        name, summary, expects = "misnamed", "a drill whose diagnosis names another fault", ("worker-dead",)

        async def inject(self) -> str:
            return "nothing injected"

        async def detect(self) -> Report:
            return Report(kind="diagnose.message", started_at="", duration_s=0.1,
                          findings=[Finding(id="overload", status=Status.WARNING, title="too slow")])

        async def verify(self) -> Report | None:
            return None

        async def baseline(self) -> tuple[bool, str] | None:
            return None

    (tmp_path / "drill.yaml").write_text(DRILL_OVERRIDE)
    cfg = Config(path=str(tmp_path / "agentops.yaml"), pack_dirs=[tmp_path])
    for config, expected in ((None, Status.CRITICAL), (cfg, Status.WARNING)):
        report = asyncio.run(run_drill(Misnamed(DrillTarget()), config))
        steps = {r.id: r for r in report.results}
        detect = steps["drill.detect"]
        assert detect.status is expected and detect.reason is Reason.ASSERTION, detect
        assert detect.facts == {"expected": ["worker-dead"], "observed": "overload: too slow"}
        assert steps["drill.undo"].status is Status.OK and report.findings[0].status is expected


MAINTAIN_OVERRIDE = """\
pack: maintain
checks:
  - id: maintain.step
    probe: maintain
    warning: {warnings: "> 5"}
    on_failure: warning
  - id: maintain.lock
    probe: maintain.lock
    on_timeout: critical
"""


def test_a_user_pack_overrides_how_maintenance_steps_are_judged(tmp_path):
    """A step's outcome is judged by the maintain pack: a user's maintain.yaml makes a failed step a warning,
    tolerates a few problems stepped over, and makes a busy lock critical."""
    from agentops.core.packs import command_specs
    from agentops.maintain.engine import RunOptions, StepRecord, busy_report, step_result
    from agentops.maintain.lock import LockBusy
    from agentops.maintain.playbook import Playbook, StepSpec
    from agentops.maintain.step import Outcome, StepOutcome

    (tmp_path / "maintain.yaml").write_text(MAINTAIN_OVERRIDE)
    cfg = Config(path=str(tmp_path / "agentops.yaml"), pack_dirs=[tmp_path])
    spec = StepSpec(id="vacuum", kind="postgres.vacuum")
    failed = StepRecord(spec, None, StepOutcome.failure(Reason.CONNECT, "connection refused"), 0.1, "db")
    warned = StepRecord(spec, None, StepOutcome(Outcome.CHANGED, "pruned 3 files", warnings=["x: busy"]), 0.1, "-")
    cut = StepRecord(spec, None, StepOutcome(Outcome.INTERRUPTED, "interrupted by SIGTERM"), 0.1, "-")
    shipped, mine = command_specs("maintain"), command_specs("maintain", cfg)
    assert step_result(failed, shipped).status is Status.CRITICAL
    result = step_result(failed, mine)
    assert result.status is Status.WARNING and result.reason is Reason.CONNECT
    assert result.message == "connection refused" and result.facts["outcome"] == "failed"
    assert step_result(warned, shipped).status is Status.WARNING
    assert step_result(warned, mine).status is Status.OK
    assert step_result(cut, mine).status is Status.UNKNOWN and step_result(cut, mine).reason is Reason.TIMEOUT
    pb = Playbook(name="p", path=tmp_path / "p.yaml", steps=[])
    busy = LockBusy("p", {"pid": 1, "since": "now"}, 0.0)
    opts = RunOptions(state_dir=tmp_path)
    assert busy_report(pb, busy, opts).results[0].status is Status.UNKNOWN
    assert busy_report(pb, busy, opts, cfg).results[0].status is Status.CRITICAL


LOAD_OVERRIDE = """\
pack: load
checks:
  - id: kpi.p95_s
    probe: load
    critical: {p95_s: ">= 0.5"}
  - id: load.missing_replies
    probe: load
    warning: {missing: "> 0"}
    critical: {missing: "> 10"}
"""


def test_a_user_pack_overrides_the_load_kpis_and_findings(tmp_path):
    """The KPI goals and the findings' statuses come from the load pack: a user's load.yaml makes p95 < 0.5 s
    the goal (a --kpi flag still wins) and a few missing replies a warning instead of critical."""
    from agentops.load import kpi as kpi_mod
    from agentops.load.engine import NO_REPLY, LoadSpec, LoadStats
    from agentops.load.run import LoadOutcome, findings

    (tmp_path / "load.yaml").write_text(LOAD_OVERRIDE)
    cfg = Config(path=str(tmp_path / "agentops.yaml"), pack_dirs=[tmp_path])
    metrics = {"p95_s": 0.8, "p99_s": 1.0, "throughput_per_s": 1500.0, "error_rate_percent": 0.0}
    shipped = {r.id: r.status for r in kpi_mod.judge(kpi_mod.kpis(), metrics, "echo/k")}
    mine = {r.id: r.status for r in kpi_mod.judge(kpi_mod.kpis(None, cfg), metrics, "echo/k", cfg)}
    assert shipped["kpi.p95_s"] is Status.OK and mine["kpi.p95_s"] is Status.CRITICAL
    assert kpi_mod.default_goals(cfg)["p95_s"] == "< 0.5"
    flagged = kpi_mod.kpis({"p95_s": "< 1"}, cfg)
    assert {r.id: r.status for r in kpi_mod.judge(flagged, metrics, "echo/k", cfg)}["kpi.p95_s"] is Status.OK
    stats = LoadStats(LoadSpec(concurrency=1, count=10))
    stats.sent, stats.errors[NO_REPLY] = 10, 3
    outcome = LoadOutcome(stats, None)
    (as_shipped,) = findings(outcome, "echo/k")
    assert as_shipped.id == "load.missing_replies" and as_shipped.status is Status.CRITICAL
    (overridden,) = findings(outcome, "echo/k", command_specs("load", cfg))
    assert overridden.status is Status.WARNING


DIAGNOSE_OVERRIDE = """\
pack: diagnose
checks:
  - id: message.payload
    probe: agentrpc.payload
    on_reason: {protocol: critical}
  - id: logs.host
    probe: logs.scan
    on_failure: critical
"""


def test_a_user_pack_overrides_how_a_diagnose_layer_is_judged(tmp_path):
    """The diagnosis layers are judged by checks/diagnose.yaml: a payload that is not JSON is a warning as
    shipped (the host forwards it) and critical from a user's diagnose.yaml; what the user did not override
    (a payload over 4 MiB, critical) stays as shipped. No host is contacted: these layers measure locally."""
    from agentops.core.cluster import load_cluster
    from agentops.diagnose.engine import Deadline, Evidence
    from agentops.diagnose.layers import Layers

    (tmp_path / "diagnose.yaml").write_text(DIAGNOSE_OVERRIDE)
    shipped_cfg = Config(path=str(tmp_path / "shipped.yaml"))
    mine_cfg = Config(path=str(tmp_path / "agentops.yaml"), pack_dirs=[tmp_path])

    def payload_status(cfg: Config, payload: object) -> tuple[Status, Reason | None]:
        layers = Layers(load_cluster(cfg, "127.0.0.1:9"), Evidence(Deadline(1.0)))
        result = layers.payload("echo", "k", "Ping", payload)
        return result.status, result.reason

    assert payload_status(shipped_cfg, "{not json") == (Status.WARNING, Reason.PROTOCOL)
    assert payload_status(mine_cfg, "{not json") == (Status.CRITICAL, Reason.PROTOCOL)
    huge = {"text": "x" * (5 * 1024 * 1024)}
    assert payload_status(shipped_cfg, huge)[0] is payload_status(mine_cfg, huge)[0] is Status.CRITICAL
    specs = Layers(load_cluster(mine_cfg, "127.0.0.1:9"), Evidence(Deadline(1.0))).checks
    assert specs["logs.host"].on_failure is Status.CRITICAL and specs["logs.worker"].on_failure is Status.WARNING


def test_a_failure_modes_severity_by_case_is_data():
    """The overload verdict is a warning when the reply came late and critical when it never came; a request-id
    collision only seen in the log window is a warning: the knowledge table says so, not the rule."""
    from agentops.diagnose.knowledge import MODES
    from agentops.diagnose.verdict import make_finding

    assert make_finding("overload", {}, [], [], "late_reply").status is Status.WARNING
    assert make_finding("overload", {}, [], [], "no_reply").status is Status.CRITICAL
    assert make_finding("request-id-collision", {}, [], []).status is Status.CRITICAL
    assert make_finding("request-id-collision", {}, [], [], "in_window").status is MODES[
        "request-id-collision"].cases["in_window"] is Status.WARNING


def test_an_offline_diagnosis_honours_the_configs_diagnose_pack(tmp_path):
    """`diagnose agent --error` needs no cluster, yet the config given with -c still decides how its layers
    are judged: its pack_dirs' diagnose.yaml makes a known error CRITICAL instead of the shipped WARNING."""
    from tests.fixtures.common import run_cli

    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "diagnose.yaml").write_text(
        "checks:\n  - id: agent.error\n    probe: classify\n    on_failure: critical\n")
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text("version: 1\npack_dirs: [packs]\ntargets: []\n")
    error = "ModuleNotFoundError: No module named 'zz_nope'"

    (tmp_path / "elsewhere").mkdir()

    def status(*config: str) -> str:
        r = run_cli("diagnose", "agent", "planner", *config, "--error", error, "-o", "json",
                    cwd=tmp_path / "elsewhere")
        assert "Traceback" not in r.stderr, r.stderr
        return next(x["status"] for x in r.json()["results"] if x["id"] == "agent.error")

    assert status() == "WARNING"  # no config anywhere: the shipped pack
    assert status("-c", str(cfg)) == "CRITICAL"
