"""bundle.sources.register_config_secrets: every secret the config names is registered before any file is
redacted, so a bare one in a log line is masked though no check ran and no pattern would see it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentops.bundle.sources import register_config_secrets
from agentops.core.config import load_config
from agentops.core.redact import redact


def test_secrets_of_targets_and_check_headers_are_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pw_file = tmp_path / "redis.pw"
    pw_file.write_text("bundle-file-pw-5521\n")
    monkeypatch.setenv("BUNDLE_HDR_TOKEN", "Bearer bundle-env-tok-6632")
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text(f"""
version: 1
targets:
  - name: cache
    kind: redis
    address: 127.0.0.1:1
    password_file: {pw_file}
  - name: web
    kind: http
    address: http://127.0.0.1:1
checks:
  - id: web.auth
    probe: http
    target: web
    params: {{headers: {{Authorization: "Bearer bundle-inline-tok-7743"}}, headers_env: {{X-Api-Key: BUNDLE_HDR_TOKEN}}}}
""")
    register_config_secrets(load_config(str(cfg)))
    line = "bare bundle-file-pw-5521 bundle-inline-tok-7743 bundle-env-tok-6632 in a log line"
    masked = redact(line)
    for secret in ("bundle-file-pw-5521", "bundle-inline-tok-7743", "bundle-env-tok-6632"):
        assert secret not in masked, masked
