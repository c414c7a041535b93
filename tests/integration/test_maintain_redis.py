"""redis.expire_scan and redis.memory_purge against a real redis-server (password-protected, so the tests
also prove the password never reaches the output or the audit log).

The server runs with its background expiry switched off (DEBUG SET-ACTIVE-EXPIRE 0, which needs
--enable-debug-command): otherwise Redis would reap the expired keys by itself while the test watches,
and neither "check mode changed nothing" nor "the step reaped them" could be told apart from that."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agentops.maintain.audit import AUDIT_FILE
from tests.fixtures.common import run_cli

PASSWORD = "redis-secret-Zq81"
EXPIRED = 3000
LIVE = 400


@pytest.fixture
def redis_env(redis_factory, tmp_path: Path):
    server = redis_factory(password=PASSWORD, extra=["--enable-debug-command", "yes"])
    client = server.client()
    client.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text(f"""
version: 1
targets:
  - name: cache
    kind: redis
    address: 127.0.0.1:{server.port}
    password_env: TEST_REDIS_PASSWORD
""")
    return server, client, cfg


def fill(client) -> dict[bytes, tuple[bytes, int]]:
    pipe = client.pipeline(transaction=False)
    for i in range(EXPIRED):
        pipe.set(f"session:old:{i}", "x" * 50, px=1)
    live = {}
    for i in range(LIVE):
        key = f"session:live:{i}"
        pipe.set(key, f"value-{i}", ex=3600 if i % 2 else None)
    for i in range(20):
        pipe.set(f"session:soon:{i}", "y", px=5)  # expire during the run's set-up: still reaped
    pipe.execute()
    time.sleep(0.05)
    for i in range(LIVE):
        key = f"session:live:{i}".encode()
        live[key] = (client.get(key), client.ttl(key) > 3000 if i % 2 else client.ttl(key))
    return live


def run(cfg: Path, tmp_path: Path, *args: str):
    return run_cli("maintain", "run", "redis", "-c", str(cfg), "--state-dir", str(tmp_path / "state"),
                   "-o", "json", *args, env={"TEST_REDIS_PASSWORD": PASSWORD})


def test_expire_scan_reaps_expired_keys_leaves_live_ones_and_check_mode_changes_nothing(
        redis_env, tmp_path: Path) -> None:
    _server, client, cfg = redis_env
    live = fill(client)
    dbsize = client.dbsize()
    assert dbsize == EXPIRED + LIVE + 20  # nothing reaped yet: the background expiry is off
    expired_counter = client.info("stats")["expired_keys"]

    dry = run(cfg, tmp_path, "--check")
    assert dry.code == 0, dry.stderr
    scan = next(r for r in dry.json()["results"] if r["id"] == "expire-scan")
    assert scan["facts"]["outcome"] == "changed" and scan["facts"]["exact"] is True
    assert scan["facts"]["would_reap"] == EXPIRED + 20
    assert client.dbsize() == dbsize and client.info("stats")["expired_keys"] == expired_counter

    real = run(cfg, tmp_path)
    assert real.code == 0, real.stderr
    scan = next(r for r in real.json()["results"] if r["id"] == "expire-scan")
    assert scan["facts"]["outcome"] == "changed"
    assert scan["facts"]["reaped"] == EXPIRED + 20 and scan["facts"]["complete"] is True
    assert scan["metrics"]["keys_before"] == dbsize and scan["metrics"]["keys_after"] == LIVE
    assert client.dbsize() == LIVE
    for key, (value, ttl) in live.items():
        assert client.get(key) == value
        now_ttl = client.ttl(key)
        assert (now_ttl > 3000) if ttl is True else now_ttl == -1

    again = run(cfg, tmp_path)
    scan = next(r for r in again.json()["results"] if r["id"] == "expire-scan")
    assert scan["facts"]["outcome"] == "ok" and scan["facts"]["reaped"] == 0

    for text in (dry.stdout, dry.stderr, real.stdout, real.stderr,
                 (tmp_path / "state" / AUDIT_FILE).read_text()):
        assert PASSWORD not in text


def test_memory_purge_reports_memory_before_and_after(redis_env, tmp_path: Path) -> None:
    _server, client, cfg = redis_env
    pipe = client.pipeline(transaction=False)
    for i in range(20000):
        pipe.set(f"blob:{i}", "z" * 500)
    pipe.execute()
    client.flushall()  # frees the values: jemalloc keeps dirty pages until purged
    pb = tmp_path / "purge.yaml"
    pb.write_text("steps:\n  - id: purge\n    step: redis.memory_purge\n    params: {min_purgeable: 0}\n")
    r = run_cli("maintain", "run", str(pb), "-c", str(cfg), "--state-dir", str(tmp_path / "state"), "-o", "json",
                env={"TEST_REDIS_PASSWORD": PASSWORD})
    assert r.code == 0, r.stderr
    res = r.json()["results"][0]
    if res["facts"]["outcome"] == "skipped":
        assert "jemalloc" in res["message"]
        return
    assert res["facts"]["outcome"] == "changed"
    assert res["metrics"]["used_memory_rss_before"] > 0 and res["metrics"]["used_memory_rss_after"] > 0
    assert res["metrics"]["used_memory_rss_after"] <= res["metrics"]["used_memory_rss_before"]


def test_wrong_password_fails_the_step_with_reason_auth(redis_env, tmp_path: Path) -> None:
    cfg = redis_env[2]
    r = run_cli("maintain", "run", "redis", "-c", str(cfg), "--state-dir", str(tmp_path / "state"), "-o", "json",
                env={"TEST_REDIS_PASSWORD": "wrong-password-123"})
    assert r.code == 2
    first = r.json()["results"][0]
    assert first["reason"] == "auth" and first["facts"]["outcome"] == "failed"
    assert r.json()["results"][1]["facts"]["outcome"] == "skipped"  # the playbook stopped
    assert "wrong-password-123" not in r.stdout
