"""bundle.redaction over core.redact: every file redacted whole (no 64 KiB cut), a report of rule, file and
count that never holds the secret, and stable tokens: one secret, one token, in every file."""

from __future__ import annotations

import json

from agentops.bundle.redaction import RULE_KINDS, BundleRedactor
from agentops.core.redact import MAX_CHARS, register_secret

SECRET = "unit-bundle-s3cret-4411"


def test_each_rule_is_counted_per_file_and_the_report_never_holds_a_secret() -> None:
    register_secret(SECRET)
    r = BundleRedactor()
    text = (f"url redis://u:pw-in-url-77@h/0\npassword=plain-pw-88\nAuthorization: Bearer tok-99xx\n"
            f"--api-key flag-val-11\nbare {SECRET} and {SECRET}\n")
    out = r.redact_file("logs/w1/w1.log", text.encode()).decode()
    for secret in ("pw-in-url-77", "plain-pw-88", "tok-99xx", "flag-val-11", SECRET):
        assert secret not in out, secret
    counts = {row["rule"]: row["count"] for row in r.report()["files"]}
    assert counts == {"registered-secret": 2, "url-userinfo": 1, "secret-assignment": 1, "auth-header": 1,
                      "secret-flag": 1}, counts
    report = json.dumps(r.report())
    for secret in ("pw-in-url-77", "plain-pw-88", "tok-99xx", "flag-val-11", SECRET):
        assert secret not in report
    assert set(r.report()["rules"]) == set(RULE_KINDS)


def test_a_whole_file_is_redacted_past_the_redactors_one_string_cut() -> None:
    register_secret(SECRET)
    data = ("x" * (MAX_CHARS * 3) + f"\npassword={SECRET}\n").encode()
    out = BundleRedactor().redact_file("big.log", data)
    assert SECRET.encode() not in out and len(out) > MAX_CHARS * 3  # nothing cut: caps are bundle.caps' job


def test_stable_tokens_are_the_same_across_files_and_the_map_holds_the_secret() -> None:
    r = BundleRedactor(stable_tokens=True)
    a = r.redact_file("config/agentops.yaml", b"address: postgresql://agent:tok-pg-5566@db/x\n").decode()
    b = r.redact_file("logs/w1.log", b"failed: postgresql://agent:tok-pg-5566@db/x; password=other-7788\n").decode()
    token = r.tokens["tok-pg-5566"]
    assert token in a and token in b and token.startswith("REDACTED-")
    assert r.tokens["other-7788"] != token
    assert r.token_map()[token] == "tok-pg-5566"
    assert "tok-pg-5566" not in a + b
    # a token is never masked again or counted twice when the file is redacted a second time
    again = r.redact_file("logs/w1.log", b.encode()).decode()
    assert again == b and r.report()["masked"] == 3


def test_bytes_that_are_not_utf8_pass_through() -> None:
    data = b"\xff\xfe binary \x00 password=zz-9911 \xc3\x28\n"
    out = BundleRedactor().redact_file("x.bin", data)
    assert b"zz-9911" not in out and out.startswith(b"\xff\xfe binary \x00") and out.endswith(b"\xc3\x28\n")
