"""Secrets passed as command-line flags (`--password X`, `--token=X`) are masked by the shared redactor, in
text and in argv lists, without masking ordinary flags and arguments."""

from __future__ import annotations

import pytest

from agentops.core.redact import MASK, argv_secrets, redact, redact_obj


@pytest.mark.parametrize("text", [
    "pg_dump --password hunter2-x -h db", "tool --password=hunter2-x", "tool --db-password 'hunter2-x'",
    "tool -token hunter2-x", "tool --api-key=hunter2-x", "tool --API_KEY hunter2-x", "tool --secret hunter2-x",
    "tool --passphrase hunter2-x", "tool --access-token hunter2-x",
])
def test_flag_values_are_masked_in_text(text: str) -> None:
    out = redact(text)
    assert "hunter2-x" not in out and MASK in out


@pytest.mark.parametrize("text", [
    "psql --no-password -h db", "tool --token-file /etc/tok -v", "tool --password-file /run/pw",
    "re-password hunter", "tool --pass 3",
])
def test_ordinary_flags_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_argv_lists_mask_the_value_after_a_secret_flag() -> None:
    argv = ["mysqldump", "--password", "hunter2-x", "--token=tok-9", "--user", "root", "--no-password", "-v"]
    assert redact_obj({"argv": argv})["argv"] == ["mysqldump", "--password", MASK, f"--token={MASK}", "--user",
                                                  "root", "--no-password", "-v"]
    assert argv_secrets(argv) == ["hunter2-x", "tok-9"]
    assert redact_obj(["--password"]) == ["--password"]  # a trailing flag has no value to mask


def test_mapping_values_under_secret_names_are_masked() -> None:
    env = {"PGPASSWORD": "hunter2-x", "API_TOKEN": "t-1", "password_file": "/run/pw", "tokens": "3", "LANG": "C"}
    assert redact_obj({"env": env})["env"] == {"PGPASSWORD": MASK, "API_TOKEN": MASK, "password_file": "/run/pw",
                                               "tokens": "3", "LANG": "C"}


@pytest.mark.parametrize(("name", "secret"), [
    ("PGPASSWORD", True), ("DB_PASSWORD", True), ("API_TOKEN_PROD", True), ("APP_SECRET", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("api_key", True), ("PASSWORD_FILE", False), ("TOKEN_PATH", False),
    ("TOKENS", False), ("GREETING", False),
])
def test_secret_env_names(name: str, secret: bool) -> None:
    from agentops.core.redact import secret_env_name

    assert secret_env_name(name) is secret


def test_a_secret_is_masked_in_every_form_it_is_quoted_in() -> None:
    from agentops.core.redact import register_secret

    register_secret("postgresql://u:Form s3cret@x!@db:5432/app")
    for quoted in ("Form s3cret@x!", "Form%20s3cret%40x%21", "Form+s3cret%40x%21"):
        assert redact(f"error near {quoted!r}") == f"error near {MASK!r}"
    assert redact("db:5432/app") == "db:5432/app"  # the rest of the DSN stays readable
