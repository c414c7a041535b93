"""`agentops config init` against real services started here: the lab's AgentRpc host and its workers'
/metrics, a redis-server (one with a password too), a PostgreSQL, a socket that accepts and never answers and
a closed port. The machine's own Redis and PostgreSQL are not relied on: --ports names the test's instances."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.fixtures.common import REPO, assert_no_traceback, free_port, run_cli


def test_config_init_names_what_answers_and_validates(lab, redis_server, redis_factory, postgres_server,
                                                      silent_listener, tmp_path: Path) -> None:
    locked = redis_factory(password="s3cret-init")
    metrics_port = int(lab.metrics_url("w1").rsplit(":", 1)[1].split("/")[0])
    closed = free_port()
    ports = [lab.port, redis_server.port, locked.port, postgres_server.port, metrics_port,
             silent_listener.port, closed]
    out = tmp_path / "agentops.yaml"
    r = run_cli("config", "init", "--ports", ",".join(map(str, ports)), "-o", str(out), "--timeout", "0.5")
    assert r.code == 0, r.stderr
    assert_no_traceback(r)
    doc = yaml.safe_load(out.read_text())
    by_address = {t["address"]: t for t in doc["targets"]}
    assert by_address[lab.address]["kind"] == "agentrpc"
    assert "echo" in by_address[lab.address]["options"]["expect_types"]
    assert by_address[f"127.0.0.1:{redis_server.port}"]["kind"] == "redis"
    assert by_address[f"127.0.0.1:{locked.port}"]["password_env"] == "REDIS_PASSWORD"
    assert by_address[f"127.0.0.1:{postgres_server.port}"]["kind"] == "postgres"
    assert by_address[lab.metrics_url("w1")]["kind"] == "metrics"
    assert len(doc["targets"]) == 5  # the silent and the closed port are named nothing
    assert "s3cret-init" not in out.read_text() and postgres_server.password not in out.read_text()
    v = run_cli("config", "validate", "-c", str(out))
    assert v.code == 0, v.stderr

    # never overwrites without --force; -o - prints instead
    again = run_cli("config", "init", "--ports", str(redis_server.port), "-o", str(out))
    assert again.code == 3 and "--force" in again.stderr and len(yaml.safe_load(out.read_text())["targets"]) == 5
    printed = run_cli("config", "init", "--ports", str(redis_server.port), "-o", "-")
    assert printed.code == 0 and yaml.safe_load(printed.stdout)["targets"][0]["kind"] == "redis"
    forced = run_cli("config", "init", "--ports", str(redis_server.port), "-o", str(out), "--force")
    assert forced.code == 0 and len(yaml.safe_load(out.read_text())["targets"]) == 1


def test_bad_ports_are_a_usage_error() -> None:
    r = run_cli("config", "init", "--ports", "80,x", "-o", "-")
    assert r.code == 3 and "--ports" in r.stderr
    assert_no_traceback(r)


def test_the_shipped_example_config_validates() -> None:
    for example in (REPO / "agentops.example.yaml", REPO / "src/agentops/agentops.example.yaml"):
        r = run_cli("config", "validate", "-c", str(example))
        assert r.code == 0, r.stderr


def test_a_missing_config_points_to_config_init_and_the_example(tmp_path: Path) -> None:
    r = run_cli("health", "-c", str(tmp_path / "nope.yaml"))
    assert r.code == 3 and "not found" in r.stderr
    assert "agentops config init" in r.stderr and "agentops.example.yaml" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
