"""Process state as the diagnosis reads it, on real child processes: running vs stopped (SIGSTOP) and since
when, and TCP connections to a given port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from agentops.core.osproc import ProcessView, describe_stop, inspect, state_letter
from tests.fixtures.common import wait_for

SLEEPER = "import time\nprint('ready', flush=True)\nwhile True: time.sleep(0.02)\n"
# The scheduler clock is read from /proc at tick granularity (a few ms): the slack for comparing it with ours.
SCHED_SLACK_S = 0.05


def stopped_view() -> tuple[ProcessView, float, float]:
    """A real child SIGSTOPped for a while, viewed; with what the test observed: at the view, the child had been
    stopped at least `low` and at most `high` seconds (it ran last, taking part in the group stop, after the
    signal was sent and before the test saw it stopped)."""
    child = subprocess.Popen([sys.executable, "-c", SLEEPER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        assert state_letter(child.pid) in ("S", "R")
        sent = time.monotonic()
        child.send_signal(signal.SIGSTOP)
        wait_for(lambda: state_letter(child.pid) == "T", what="the child to stop")
        seen = time.monotonic()
        time.sleep(1.2)  # the fact being measured: time passing while it is stopped (not a wait for an event)
        asked = time.monotonic()
        view = inspect(psutil.Process(child.pid))
        answered = time.monotonic()
        assert view is not None and view.stopped and view.state == "T"
        return view, asked - seen - SCHED_SLACK_S, answered - sent + SCHED_SLACK_S
    finally:
        child.send_signal(signal.SIGCONT)
        child.kill()
        child.wait()


def test_a_stopped_process_says_how_long_it_has_been_stopped() -> None:
    view, _, high = stopped_view()
    ago = view.last_ran_s_ago
    if ago is None:  # kernels without /proc/<pid>/sched cannot say, and the view says so
        assert "unknown time" in describe_stop(view) and "stopped_since" not in view.to_dict()
        return
    assert 0 <= ago <= high, (ago, high)
    assert f"stopped {ago:.0f} s ago" in describe_stop(view) and "stopped_since" in view.to_dict()


def test_a_stopped_process_is_not_said_to_have_stopped_later_than_it_did() -> None:
    view, low, _ = stopped_view()
    if view.last_ran_s_ago is None:
        pytest.skip("this kernel does not expose /proc/<pid>/sched")
    assert view.last_ran_s_ago >= low, (view.last_ran_s_ago, low)


def test_connections_to_the_host_port_are_seen() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-c", f"import socket, time\ns = socket.create_connection(('127.0.0.1', "
                                                    f"{port}))\nprint('up', flush=True)\ntime.sleep(30)\n"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "up"
        conn, _ = server.accept()
        view = inspect(psutil.Process(child.pid), host_port=port, host_ips={"127.0.0.1"})
        assert view is not None and view.connected is True
        assert view.host_connections and view.host_connections[0].endswith(f"127.0.0.1:{port} ESTABLISHED")
        other = inspect(psutil.Process(child.pid), host_port=port + 1 if port < 65535 else port - 1)
        assert other is not None and other.connected is False
        conn.close()
    finally:
        child.kill()
        child.wait()
        server.close()
