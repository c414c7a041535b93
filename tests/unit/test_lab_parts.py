"""The lab's pieces that need no cluster: the JSON log line format, agent placement specs, and the command-line
check `lab down` makes before it signals a pid."""

import json
import logging
import sys

import pytest

from agentops.lab.jsonlog import FIELDS, JsonFormatter, agent_id_var, message_id_var
from agentops.lab.layout import LabLayout, format_agents, parse_agents
from agentops.lab.manager import EXIT_BIND_FAILED, is_lab_process
from agentops.lab.runtime import trace_id_from


def record(msg, *args, exc_info=None, **extra):
    rec = logging.LogRecord("autogen_core", logging.ERROR, "/x/_worker_runtime_host_servicer.py", 237, msg, args,
                            exc_info, func="_process_request")
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_json_line_has_every_field_and_keeps_autogens_text():
    line = JsonFormatter("host").format(record("Agent %s not found, failed to deliver message.", "echo"))
    doc = json.loads(line)
    assert set(FIELDS) <= set(doc)
    assert doc["message"] == "Agent echo not found, failed to deliver message."
    assert doc["level"] == "ERROR" and doc["logger"] == "autogen_core" and doc["line"] == 237
    assert doc["module"] == "_worker_runtime_host_servicer" and doc["function"] == "_process_request"
    assert doc["timestamp"].endswith("Z") and doc["timestamp"][10] == "T"
    assert doc["agent_id"] is None and doc["exception"] is None and doc["process"] == "host"


def test_context_and_exception_reach_the_line():
    try:
        raise ValueError("Unknown type NoneType")
    except ValueError:
        exc = sys.exc_info()
    tokens = agent_id_var.set("none/k"), message_id_var.set("req-1")
    try:
        doc = json.loads(JsonFormatter("w2").format(record("Exception in callback", exc_info=exc,
                                                           trace_id="ab" * 16)))
    finally:
        agent_id_var.reset(tokens[0])
        message_id_var.reset(tokens[1])
    assert doc["agent_id"] == "none/k" and doc["message_id"] == "req-1" and doc["trace_id"] == "ab" * 16
    assert doc["exception"].splitlines()[-1] == "ValueError: Unknown type NoneType"


def test_traceparent_parsing():
    assert trace_id_from("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == \
        "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_from("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert trace_id_from("") is None and trace_id_from("garbage") is None


def test_agent_placement_specs():
    agents = parse_agents("echo, slow,echo2=echo")
    assert agents == {"echo": "echo", "slow": "slow", "echo2": "echo"}
    assert parse_agents(format_agents(agents)) == agents
    with pytest.raises(ValueError, match="unknown agent behaviour 'teleport'"):
        parse_agents("x=teleport")
    with pytest.raises(ValueError, match="bad agent type name"):
        parse_agents("a:b=echo")


def test_down_signals_only_its_own_processes(tmp_path):
    root = LabLayout(tmp_path).root
    mine = ["/venv/bin/python", "-m", "agentops.lab.worker", "--name", "w1", "--state-dir", str(root), "--host",
            "127.0.0.1:1"]
    assert is_lab_process(mine, "worker", "w1", root)
    assert not is_lab_process(mine, "worker", "w2", root)  # another worker of the same lab
    assert not is_lab_process(mine, "worker", "w1", root / "other")  # the same name in another lab
    assert not is_lab_process(mine, "host", "w1", root)
    assert not is_lab_process(["/usr/sbin/sshd", "-D"], "worker", "w1", root)  # a recycled pid
    host = ["python", "-m", "agentops.lab.host", "--name", "host", "--state-dir", str(root), "--port", "1"]
    assert is_lab_process(host, "host", "host", root)


def test_manager_knows_the_hosts_bind_failure_status():
    from agentops.lab import host

    assert host.EXIT_BIND_FAILED == EXIT_BIND_FAILED


def test_a_lab_process_is_known_by_its_start_ticks_not_the_wall_clock(tmp_path):
    """A process recorded with its start in ticks since boot is found again even when the wall-clock
    create_time recorded beside it is seconds off (the clock was stepped between `lab up` and the check, as
    NTP does), and a different start (a recycled pid) is not ours whatever create_time says."""
    import subprocess
    import sys

    from agentops.core.osproc import start_ticks
    from agentops.lab.manager import lab_process

    root = LabLayout(tmp_path).root
    # A real child whose command line reads as a lab worker's; it runs only `-c` (the rest is its argv) and
    # lives until its stdin closes.
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", "-m", "agentops.lab.worker",
                              "--name", "w1", "--state-dir", str(root)], stdin=subprocess.PIPE)
    try:
        import psutil

        from tests.fixtures.common import wait_for

        # Right after exec the kernel may still show an empty command line for a moment.
        wait_for(lambda: psutil.Process(child.pid).cmdline(), timeout=10, what="the child's command line")
        ticks = start_ticks(child.pid)
        assert ticks is not None and ticks > 0
        wall = psutil.Process(child.pid).create_time()
        # Seconds off on the wall clock, same ticks: still ours.
        assert lab_process(child.pid, "worker", "w1", root, wall - 5.0, ticks) is not None
        # Another start: not ours, though the wall-clock time matches.
        assert lab_process(child.pid, "worker", "w1", root, wall, ticks + 1) is None
        # An old manifest without ticks: the wall-clock comparison still decides.
        assert lab_process(child.pid, "worker", "w1", root, wall, None) is not None
        assert lab_process(child.pid, "worker", "w1", root, wall - 5.0, None) is None
    finally:
        child.kill()
        child.wait()
