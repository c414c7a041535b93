"""Debian's Prometheus scrapes a running `agentops serve` pointed at the real AutoGen lab (host + two workers);
a worker killed for real shows in the series Prometheus stored: its types lose their owner, the worker reads
disconnected, its check goes CRITICAL and the shipped alert rules raise their alerts, while the other worker stays
connected."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.common import REPO
from tests.fixtures.lab import LabHandle
from tests.fixtures.serve import PrometheusServer, ServeProcess
from tests.fixtures.services import require_binary

pytestmark = [pytest.mark.lab, pytest.mark.slow]

RULES = REPO / "deploy" / "prometheus" / "agentops-rules.yml"  # the shipped rules, evaluated for real


def test_prometheus_sees_a_killed_worker(fresh_lab: LabHandle, tmp_path: Path) -> None:
    with ServeProcess(fresh_lab.config, "--interval", "1", "--cluster-interval", "0.5", "--cluster-timeout", "3",
                      "--only", "autogen.*") as serve, \
            PrometheusServer(tmp_path / "prom", scrape=[serve.address], rules=[RULES]) as prom:
        serve.wait_event("listening")
        w1_owns = fresh_lab.owner("echo")
        assert w1_owns == "w1"
        # Healthy first, as Prometheus stored it: every series the issue names.
        prom.wait_query('agentops_autogen_worker_connected{worker="w1"} == 1')
        prom.wait_query('agentops_autogen_worker_connected{worker="w2"} == 1')
        prom.wait_query('agentops_autogen_agent_type_owned{agent_type="echo",worker="w1"} == 1')
        prom.wait_query('agentops_autogen_agent_type_info{agent_type="echo",worker="w1"} == 1')
        prom.wait_query("agentops_autogen_agent_types > 0")
        prom.wait_query("agentops_autogen_topics_without_subscriber == 0")
        prom.wait_query('agentops_autogen_ping_rtt_seconds_count{agent_type="echo"} > 0')
        prom.wait_query('agentops_check_status{check="autogen.worker",target="w1"} == 0')
        prom.wait_query('agentops_check_status{check="autogen.host",target="lab-host"} == 0')
        assert not prom.query('ALERTS{alertname=~"AutoGen(WorkerDisconnected|AgentTypeWithoutOwner)"}')
        status, text = serve.get("/metrics")
        lint = subprocess.run([require_binary("promtool", "prometheus"), "check", "metrics"], input=text,
                              capture_output=True, text=True, timeout=60)
        assert status == 200 and lint.returncode == 0, lint.stdout + lint.stderr

        os.kill(fresh_lab.pid("w1"), signal.SIGKILL)

        prom.wait_query('agentops_autogen_worker_connected{worker="w1"} == 0')
        prom.wait_query('agentops_autogen_agent_type_owned{agent_type="echo"} == 0')
        prom.wait_query('agentops_check_status{check="autogen.worker",target="w1"} == 2')
        prom.wait_query('increase(agentops_autogen_ping_failures_total{agent_type="echo"}[1m]) > 0')
        assert prom.query('agentops_autogen_worker_connected{worker="w2"} == 1'), "w2 must stay connected"
        # The shipped rules see it: the alerts are raised (pending for their `for:`, then firing), for w1 only.
        prom.wait_query('ALERTS{alertname="AutoGenWorkerDisconnected",worker="w1",severity="critical"}')
        prom.wait_query('ALERTS{alertname="AutoGenAgentTypeWithoutOwner",agent_type="echo",worker="w1"}')
        assert not prom.query('ALERTS{alertname="AutoGenWorkerDisconnected",worker="w2"}')
        serve.wait_event("worker_disconnected", lambda e: e.get("worker") == "w1")
