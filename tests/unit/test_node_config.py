"""A worker target's `options.node`: parsed into core.cluster.NodeSpec, every mistake a config error with its
file and line, like every other field."""

from __future__ import annotations

import pytest

from agentops.core.cluster import cluster_spec
from agentops.core.config import parse_config
from agentops.core.yamlsrc import ConfigError, load_yaml_text

HEAD = "targets:\n  - name: w1\n    kind: worker\n    options:\n      node:\n"


def load(node_lines: str):  # type: ignore[no-untyped-def]
    return parse_config(load_yaml_text(HEAD + node_lines, "agentops.yaml"), "agentops.yaml")


def test_a_node_is_parsed_and_the_worker_runs_there() -> None:
    cfg = load("        url: https://10.0.0.6:9318/\n        token_file: /etc/agentops/node.token\n"
               "        tls: {ca: /etc/agentops/ca.pem}\n        timeout: 2\n")
    worker = cluster_spec(cfg).workers[0]
    assert worker.node is not None
    assert (worker.node.url, worker.node.worker, worker.node.ca, worker.node.timeout_s) == (
        "https://10.0.0.6:9318", "w1", "/etc/agentops/ca.pem", 2.0)
    assert worker.node.label == "10.0.0.6:9318"
    # Its process is on the node: this machine never calls it dead for not seeing it.
    assert worker.runs_here("127.0.0.1:50051") is False and worker.seen_dead("127.0.0.1:50051") is False


@pytest.mark.parametrize(("lines", "expected"), [
    ("        token_file: /t\n", "agentops.yaml:6: targets[w1].options.node: missing required field 'url'"),
    ("        url: http://10.0.0.6:9318\n        token_file: /t\n",
     "agentops.yaml:6: targets[w1].options.node.url: a node off this machine needs https://"),
    ("        url: ftp://x:1\n        token_file: /t\n", "agentops.yaml:6: targets[w1].options.node.url: expected https"),
    ("        url: https://x:port\n        token_file: /t\n", "options.node.url: port 'port' is not a number"),
    ("        url: https://x:1\n", "agentops.yaml:6: targets[w1].options.node: missing required field 'token_file'"),
    ("        url: https://x:1\n        token_file: /t\n        token: abc\n",
     "agentops.yaml:8: targets[w1].options.node.token: unknown field"),
    ("        url: https://x:1\n        token_file: /t\n        tls: {cert: /c}\n",
     "options.node.tls.cert: cert and key go together"),
    ("        url: https://x:1\n        token_file: /t\n        timeout: 0\n", "options.node.timeout: must be >= 0.1"),
])
def test_node_mistakes_name_file_line_and_field(lines: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(lines)
    assert expected in str(info.value)


def test_plain_http_is_accepted_on_loopback_only() -> None:
    cfg = load("        url: http://127.0.0.1:9318\n        token_file: /t\n        worker: w-on-node\n")
    node = cluster_spec(cfg).workers[0].node
    assert node is not None and node.worker == "w-on-node"


def test_profile_of_a_remote_worker_is_its_nodes() -> None:
    """A remote worker is profiled through its node (profile/remote.py), not looked for on this machine."""
    from agentops.profile.targets import by_worker_target, resolve

    cfg = load("        url: https://10.0.0.6:9318\n        token_file: /t\n")
    (target,) = by_worker_target(cfg, "w1")
    assert target.process is None and target.node is not None and target.node.label == "10.0.0.6:9318"
    assert [t.label for t in resolve(cfg, pids=[], patterns=[], lab=[], targets=["w1", "w1"])] == ["w1"]


HOST_HEAD = "targets:\n  - name: hub\n    kind: agentrpc\n    address: 10.0.0.5:50051\n    options:\n      node:\n"


def test_an_agentrpc_target_names_its_node_by_host() -> None:
    cfg = parse_config(load_yaml_text(HOST_HEAD + "        url: https://10.0.0.5:9318\n        token_file: /t\n"
                                      "        host: hub-on-node\n", "agentops.yaml"), "agentops.yaml")
    host = cluster_spec(cfg).hosts[0]
    assert host.node is not None and (host.node.subject, host.node.worker) == ("host", "hub-on-node")
    # `worker:` names a worker target; on an agentrpc target it is a mistake, said with its line.
    with pytest.raises(ConfigError, match=r"agentops.yaml:9: targets\[hub\].options.node.worker: unknown field"):
        parse_config(load_yaml_text(HOST_HEAD + "        url: https://10.0.0.5:9318\n        token_file: /t\n"
                                    "        worker: w1\n", "agentops.yaml"), "agentops.yaml")
