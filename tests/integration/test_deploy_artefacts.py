"""The shipped deploy artefacts are checked by the real tools: `promtool check rules` and `promtool test rules`
on deploy/prometheus, every Grafana panel's query parsed by a running Debian Prometheus (/api/v1/query), the
KPI alerts' thresholds equal to the kpi pack's, every alert with a severity and a runbook that exists, and the
Kubernetes manifests and systemd unit well-formed and pointing at commands that exist."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.common import REPO
from tests.fixtures.serve import PrometheusServer
from tests.fixtures.services import require_binary

DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "agentops-rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests" / "agentops-rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "agentops-dashboard.json"
RUNBOOKS = REPO / "docs" / "runbooks.md"
# Grafana's own variables, given the values Grafana would put there, so Prometheus parses the rest.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "1h"}


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool", "prometheus"), *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def _alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_checks_and_tests_the_rules() -> None:
    check = _promtool("check", "rules", str(RULES))
    assert check.returncode == 0, check.stdout + check.stderr
    tested = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_alert_has_a_severity_and_a_runbook_that_exists() -> None:
    anchors = {line[3:].strip() for line in RUNBOOKS.read_text().splitlines() if line.startswith("## ")}
    alerts = _alerts()
    assert len(alerts) >= 15
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning", "info"), alert["alert"]
        url = alert["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert (REPO / page).is_file() and anchor in anchors, (alert["alert"], url)
        assert alert["alert"] in RUNBOOKS.read_text(), f"{alert['alert']} is not named in its runbook"


def test_kpi_alerts_use_the_kpi_packs_thresholds() -> None:
    from agentops.core.packs import builtin_pack_dir, load_pack

    specs = {s.id: s for s in load_pack(builtin_pack_dir() / "kpi.yaml")}
    kpi_alerts = [a for a in _alerts() if "kpi_check" in a["labels"]]
    assert {a["labels"]["kpi_check"] for a in kpi_alerts} == set(specs)
    for alert in kpi_alerts:
        [rule] = specs[alert["labels"]["kpi_check"]].rules
        threshold = rule.critical or rule.warning
        assert threshold is not None
        m = re.search(r"([<>]=?)\s*([0-9.]+)\s*$", alert["expr"])
        assert m, alert["expr"]
        assert f"{m.group(1)} {m.group(2)}" == " ".join(threshold.text.split()), (alert["alert"], threshold.text)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with PrometheusServer(tmp_path_factory.mktemp("prom"), scrape=[], rules=[RULES]) as prom:
        yield prom


def test_every_dashboard_query_parses(prometheus: PrometheusServer) -> None:
    from tests.fixtures.serve import http_get

    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 15
    for expr in exprs:
        for name, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(name, value)
        assert "$" not in expr, f"an unknown Grafana variable in {expr!r}"
        import urllib.parse

        status, text = http_get(f"{prometheus.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        assert status == 200 and json.loads(text)["status"] == "success", (expr, text)
    # The parser does refuse a bad query (so the loop above can fail).
    status, text = http_get(f"{prometheus.url}/api/v1/query?query=sum(rate(x[5m])")
    assert status == 400 and json.loads(text)["errorType"] == "bad_data"
    # The rules Prometheus loaded are the shipped ones, all healthy.
    groups = prometheus.api("rules")["groups"]
    assert {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"} == \
        {a["alert"] for a in _alerts()}


def test_kubernetes_manifests_and_systemd_unit() -> None:
    docs = [d for p in sorted((DEPLOY / "kubernetes").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "CronJob", "ServiceMonitor", "ClusterRole", "ClusterRoleBinding", "ServiceAccount",
            "Service"} <= kinds
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in role["rules"]), "RBAC must be read-only"
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] == "Deployment"}
    container = deployments["serve"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "serve" and container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    # heal keeps its attempt budget on a volume: a restarted pod must not get a fresh budget.
    heal_pod = deployments["heal"]["spec"]["template"]["spec"]
    heal_args = heal_pod["containers"][0]["args"]
    assert heal_args[0] == "heal" and "--watch" in heal_args and "--state-dir" in heal_args
    state = next(v for v in heal_pod["volumes"] if v["name"] == "state")
    assert "persistentVolumeClaim" in state
    cron = next(d for d in docs if d["kind"] == "CronJob")
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][:3] == \
        ["maintain", "run", "daily"]
    unit = (DEPLOY / "systemd" / "agentops-serve.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert " serve " in exec_start and "ExecReload=/bin/kill -HUP $MAINPID" in unit
    # The commands the artefacts run take the flags they pass.
    from tests.fixtures.common import run_cli

    node_unit = (DEPLOY / "systemd" / "agentops-node.service").read_text()
    node_start = next(line for line in node_unit.splitlines() if line.startswith("ExecStart="))
    assert " serve " in node_start and " --node " in node_start and "--tls-cert" in node_start
    heal_unit = (DEPLOY / "systemd" / "agentops-heal.service").read_text()
    heal_start = next(line for line in heal_unit.splitlines() if line.startswith("ExecStart="))
    assert " heal " in heal_start and " --watch" in heal_start and " --apply" in heal_start
    cron_args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    for args in (container["args"], cron_args, exec_start.removeprefix("ExecStart=").split()[1:],
                 node_start.removeprefix("ExecStart=").split()[1:], heal_start.removeprefix("ExecStart=").split()[1:],
                 heal_args):
        r = run_cli(*args, "--help")
        assert r.code == 0, (args, r.stderr)
