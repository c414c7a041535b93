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


def test_profile_of_a_remote_worker_says_where_it_can_be_sampled() -> None:
    from agentops.profile.targets import by_worker_target

    cfg = load("        url: https://10.0.0.6:9318\n        token_file: /t\n")
    with pytest.raises(ValueError, match=r"runs on node 10\.0\.0\.6:9318: .*/node/profile\?worker=w1"):
        by_worker_target(cfg, "w1")
