"""The `worker` target and the agentrpc target's options: parsed from a real agentops.yaml, errors name
file:line:field, and the process locator finds real processes (this test's own children)."""

import subprocess
import sys
import textwrap

import pytest

from agentops.core.cluster import cluster_spec, worker_spec
from agentops.core.config import load_config
from agentops.core.yamlsrc import ConfigError

CONFIG = """
version: 1
targets:
  - name: hub
    kind: agentrpc
    address: 10.0.0.5:50051
    options:
      process: {{pid_file: /run/agents/host.pid}}
      logs: [/var/log/agents/host.log]
      expect_types: [echo, planner]
      ping: {{type: echo, payload_type: Ping, payload: {{text: hi}}}}
  - name: w1
    kind: worker
    options:
      host: 10.0.0.5:50051
      process:
        pid_file: {pid_file}
        cmdline: "{cmdline}"
      logs: ["{logdir}/w1*.log"]
      log_format: json
      metrics_url: http://10.0.0.6:9100/metrics
      agent_types:
        - echo
        - {{type: planner, ping: {{payload_type: Task, payload: {{goal: noop}}}}}}
      ping: {{payload_type: Ping, payload: {{text: agentops}}}}
  - name: w2
    kind: worker
    options: {{host: "localhost:50051", agent_types: [summarizer]}}
"""


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "agentops-test-sleeper"])
    yield proc
    proc.kill()
    proc.wait()


def write(tmp_path, text):
    path = tmp_path / "agentops.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_worker_and_host_options_parse(tmp_path, sleeper):
    (tmp_path / "w1.pid").write_text(f"{sleeper.pid}\n")
    (tmp_path / "w1.log").write_text("{}\n")
    (tmp_path / "w1.1.log").write_text("{}\n")
    cfg = load_config(write(tmp_path, CONFIG.format(pid_file=tmp_path / "w1.pid", cmdline="agentops-test-sleeper",
                                                    logdir=tmp_path)))
    cluster = cluster_spec(cfg)
    w1 = cluster.owner_of("planner")
    assert w1 is not None and w1.name == "w1" and w1.host == "10.0.0.5:50051"
    assert w1.agent_types == ["echo", "planner"] and w1.log_format == "json"
    assert w1.ping_for("planner").payload_type == "Task" and w1.ping_for("echo").payload == {"text": "agentops"}
    assert sorted(p.name for p in w1.log_files()) == ["w1.1.log", "w1.log"]
    assert [p.pid for p in w1.process.find()] == [sleeper.pid]
    hub = cluster.host("10.0.0.5:50051")
    assert hub is not None and hub.expect_types == ["echo", "planner"] and hub.ping.agent_type == "echo"
    assert [w.name for w in cluster.workers_of("10.0.0.5:50051")] == ["w1"]
    assert [w.name for w in cluster.workers_of("127.0.0.1:50051")] == ["w2"]  # loopback spellings agree
    assert cluster.owner_of("nobody") is None


def test_a_recycled_pid_is_not_the_worker(tmp_path, sleeper):
    (tmp_path / "w1.pid").write_text(f"{sleeper.pid}\n")
    cfg = load_config(write(tmp_path, CONFIG.format(pid_file=tmp_path / "w1.pid", cmdline="my_worker\\\\.py",
                                                    logdir=tmp_path)))
    assert worker_spec(cfg.targets["w1"]).process.find() == []


def test_a_dead_pid_finds_nothing(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (tmp_path / "w1.pid").write_text(f"{proc.pid}\n")
    cfg = load_config(write(tmp_path, CONFIG.format(pid_file=tmp_path / "w1.pid", cmdline="x", logdir=tmp_path)))
    assert worker_spec(cfg.targets["w1"]).process.find() == []


@pytest.mark.parametrize(("options", "field", "why"), [
    ("{host: nohost}", "options.host", "no port"),
    ("{process: {cmdline: '(['}}", "options.process.cmdline", "not a valid regular expression"),
    ("{process: {pidfile: /x}}", "options.process.pidfile", "unknown field"),
    ("{log_format: xml}", "options.log_format", "expected one of json, text"),
    ("{metrics_url: '10.0.0.6:9100'}", "options.metrics_url", "http://"),
    ("{agent_types: [echo, echo]}", "options.agent_types", "twice"),
    ("{agent_types: [{name: echo}]}", "agent_types[0]", "missing required field 'type'"),
    ("{ping: {payload: {}}}", "options.ping", "missing required field 'payload_type'"),
    ("{hosts: x}", "options.hosts", "did you mean 'host'"),
])
def test_bad_worker_options_name_file_line_and_field(tmp_path, options, field, why):
    path = write(tmp_path, f"""
        version: 1
        targets:
          - name: w1
            kind: worker
            options: {options}
        """)
    with pytest.raises(ConfigError) as err:  # the config loader validates worker options itself
        load_config(path)
    text = str(err.value)
    assert text.startswith(f"{path}:") and field in text and why in text, text


def test_bad_host_options(tmp_path):
    path = write(tmp_path, """
        version: 1
        targets:
          - name: hub
            kind: agentrpc
            address: 127.0.0.1:1
            options: {ping: {payload_type: Ping}}
        """)
    with pytest.raises(ConfigError, match=r"ping.*missing required field 'type'"):
        load_config(path)
