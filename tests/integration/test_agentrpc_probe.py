"""The agentrpc and worker probes against the real lab cluster, healthy and with real faults (SIGKILL, SIGSTOP,
a restarted host), and against servers that are not an AgentRpc host."""

import signal

import pytest

from agentops.core.config import Target, load_config
from agentops.core.model import Reason
from tests.fixtures.common import free_port, wait_for
from tests.fixtures.servers import run_probe

pytestmark = pytest.mark.lab


def host_target(address, **options):
    return Target(name="hub", kind="agentrpc", address=address, options=options, where="test:1")


def lab_targets(lab):
    return load_config(str(lab.config)).targets


def test_alive_host_reports_counts_types_and_topics(lab):
    obs = run_probe("agentrpc", host_target(lab.address))
    assert not obs.failed, obs.message
    assert obs.metrics["agent_types"] == 6 and obs.metrics["subscriptions"] == 12
    assert obs.metrics["latency_ms"] > 0 and obs.metrics["connect_ms"] > 0
    assert obs.facts["agent_types"] == ["echo", "echo2", "failing", "leak", "none", "slow"]
    assert obs.facts["topics"] == ["lab.events"]


def test_a_missing_expected_type_is_named(lab):
    obs = run_probe("agentrpc", host_target(lab.address), {"expect_types": ["echo", "planner", "critic"]})
    assert obs.reason is Reason.ASSERTION
    assert obs.message == "agent types not registered: planner, critic"
    assert obs.metrics["missing_types"] == 2


def test_ping_param_measures_a_round_trip(lab):
    obs = run_probe("agentrpc", host_target(lab.address),
                    {"ping": {"type": "echo", "payload_type": "Ping", "payload": {"text": "x"}}})
    assert not obs.failed and obs.metrics["ping_ms"] > 0
    assert obs.facts["ping"]["outcome"] == "reply" and obs.facts["ping"]["reply_type"] == "Pong"


def test_ping_of_a_failing_handler_is_an_assertion_with_its_error(lab):
    obs = run_probe("agentrpc", host_target(lab.address),
                    {"ping": {"type": "failing", "payload_type": "Ping", "payload": {}}})
    assert obs.reason is Reason.ASSERTION and "deliberate failure" in obs.message


def test_ping_with_no_reply_is_an_assertion_naming_the_request(lab):
    obs = run_probe("agentrpc", host_target(lab.address),
                    {"ping": {"type": "none", "payload_type": "Ping", "payload": {}}}, timeout=1.0)
    assert obs.reason is Reason.ASSERTION and "no reply within" in obs.message
    assert obs.facts["ping"]["request_id"] in obs.message


def test_generated_config_drives_the_probe(lab):
    """The lab's agentops.yaml sets expect_types and a ping on the host target: the probe uses them."""
    obs = run_probe("agentrpc", lab_targets(lab)["lab-host"])
    assert not obs.failed, obs.message
    assert obs.metrics["missing_types"] == 0 and obs.metrics["ping_ms"] > 0


def test_not_an_agentrpc_host(http_server, grpc_bare_server, silent_listener):
    assert run_probe("agentrpc", host_target(f"127.0.0.1:{http_server.port}")).reason is Reason.PROTOCOL
    bare = run_probe("agentrpc", host_target(grpc_bare_server.address))
    assert bare.reason is Reason.PROTOCOL and "UNIMPLEMENTED" in bare.message
    assert run_probe("agentrpc", host_target(f"127.0.0.1:{free_port()}")).reason is Reason.CONNECT
    silent = run_probe("agentrpc", host_target(f"127.0.0.1:{silent_listener.port}"), timeout=0.5)
    assert silent.reason is Reason.TIMEOUT


@pytest.mark.parametrize("params", [{"expect_types": "echo"}, {"ping": {"type": "echo"}}, {"pings": {}},
                                    {"ping": {"type": "echo", "payload_type": "Ping", "extra": 1}}])
def test_bad_params_are_refused(params):
    from agentops.core import registry

    with pytest.raises(ValueError):
        registry.probe("agentrpc").validate_params(params)


def test_healthy_workers(lab):
    targets = lab_targets(lab)
    for name in ("w1", "w2"):
        obs = run_probe("worker", targets[name])
        assert not obs.failed, obs.message
        assert obs.metrics["processes"] == 1 and obs.metrics["stopped"] == 0
        assert obs.metrics["host_connections"] >= 1 and obs.metrics["missing_types"] == 0
        assert obs.metrics["rss_bytes"] > 10 * 2**20
        assert obs.facts["pids"] == [lab.pid(name)]


def test_killed_host_is_critical_connect_and_workers_notice(fresh_lab):
    fresh_lab.signal("host", signal.SIGKILL)
    wait_for(lambda: run_probe("agentrpc", host_target(fresh_lab.address)).reason is Reason.CONNECT,
             what="the probe to see the host gone")
    targets = lab_targets(fresh_lab)
    obs = run_probe("worker", targets["w1"])
    assert obs.reason is Reason.CONNECT and "cannot ask its host" in obs.message
    assert obs.metrics["processes"] == 1


def test_frozen_host_is_a_timeout(fresh_lab):
    fresh_lab.signal("host", signal.SIGSTOP)
    try:
        obs = run_probe("agentrpc", host_target(fresh_lab.address), timeout=0.5)
        assert obs.reason is Reason.TIMEOUT
    finally:
        fresh_lab.signal("host", signal.SIGCONT)
    assert not run_probe("agentrpc", host_target(fresh_lab.address)).failed


def test_worker_faults_kill_freeze_and_orphaned_by_a_host_restart(fresh_lab):
    targets = lab_targets(fresh_lab)
    # Frozen: the process is there, connected, registered — only the stopped metric tells.
    fresh_lab.signal("w2", signal.SIGSTOP)
    obs = run_probe("worker", targets["w2"])
    assert not obs.failed and obs.metrics["stopped"] == 1
    fresh_lab.signal("w2", signal.SIGCONT)

    # Host restarted: workers alive, but they never register again (the protocol doc's claim, verified).
    fresh_lab.restart("host")
    obs = run_probe("worker", targets["w2"])
    assert obs.reason is Reason.ASSERTION
    assert "failing, none, echo2 not registered" in obs.message and "host restarted" in obs.message
    assert obs.metrics["processes"] == 1 and obs.metrics["missing_types"] == 3

    # Killed: no process.
    fresh_lab.signal("w1", signal.SIGKILL)
    obs = wait_for(lambda: (o := run_probe("worker", targets["w1"])).failed and "no live process" in o.message
                   and o, what="w1 gone")
    assert obs.reason is Reason.ASSERTION and obs.metrics["processes"] == 0
