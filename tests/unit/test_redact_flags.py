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
