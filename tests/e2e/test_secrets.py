"""A known secret planted in every place a user can put one never appears in any output format, error line
or stderr — against real servers that accept it, reject a wrong one, or are not there at all."""

import pytest

from tests.fixtures.common import assert_no_traceback, free_port, run_cli

PLANTED = "PLANTED-s3cret-7f3a9c"
FORMATS = ["table", "json", "junit", "nagios", "prometheus"]


@pytest.fixture
def secret_config(tmp_path, redis_factory, postgres_server):
    redis = redis_factory(password=PLANTED)
    closed = free_port()
    pw_file = tmp_path / "redis.pw"
    pw_file.write_text(PLANTED + "\n")
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text(f"""
version: 1
packs: [redis, postgres, http]
targets:
  - name: redis-ok
    kind: redis
    address: 127.0.0.1:{redis.port}
    password_file: {pw_file}
  - name: redis-wrong
    kind: redis
    address: 127.0.0.1:{redis.port}
    password_env: WRONG_PASSWORD
  - name: redis-url
    kind: redis
    address: redis://default:{PLANTED}@127.0.0.1:{closed}/0
  - name: pg-ok
    kind: postgres
    dsn_env: PG_DSN
  - name: pg-down
    kind: postgres
    dsn_env: PG_DSN_DOWN
  - name: web
    kind: http
    address: http://admin:{PLANTED}@127.0.0.1:{closed}/status?token={PLANTED}
defaults: {{timeout: 3}}
""")
    env = {
        "WRONG_PASSWORD": PLANTED + "-nope",
        "PG_DSN": postgres_server.dsn,
        "PG_DSN_DOWN": f"postgresql://agent:{PLANTED}@127.0.0.1:{closed}/agents?connect_timeout=2",
    }
    return str(cfg), env, [PLANTED, postgres_server.password]


@pytest.mark.parametrize("fmt", FORMATS)
def test_secrets_never_in_any_format(secret_config, fmt):
    cfg, env, secrets = secret_config
    r = run_cli("health", "-c", cfg, "-o", fmt, env=env)
    assert_no_traceback(r)
    assert r.code in (2, 3), r  # the down/wrong targets are real failures
    for secret in secrets:
        assert secret not in r.stdout and secret not in r.stderr
    if fmt == "json":
        results = {(x["id"], x["target"]): x for x in r.json()["results"]}
        assert results[("redis.ping", "redis-ok")]["status"] == "OK"  # the planted password really worked
        assert results[("redis.ping", "redis-wrong")]["reason"] == "auth"
        assert results[("redis.ping", "redis-url")]["reason"] == "connect"
        assert any(k[1] == "pg-ok" and v["status"] == "OK" for k, v in results.items())


def test_secrets_never_in_listing_validation_or_errors(secret_config, tmp_path):
    cfg, env, secrets = secret_config
    outputs = [run_cli("checks", "list", "-c", cfg, "--json", env=env), run_cli("checks", "list", "-c", cfg, env=env),
               run_cli("config", "validate", "-c", cfg, env=env)]
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"targets:\n  - name: x\n    kind: postgres\n    address: postgresql://u:{PLANTED}@h/db\n    bogus: 1\n")
    outputs.append(run_cli("config", "validate", "-c", str(broken)))
    outputs.append(run_cli("health", "-c", cfg, "--bogus-flag", f"postgresql://u:{PLANTED}@h/db", env=env))
    for r in outputs:
        assert_no_traceback(r)
        for secret in secrets:
            assert secret not in r.stdout + r.stderr, r
