"""The redactor's fast paths (the literal pre-test before the patterns, the memo of short strings, the flag
pre-test of argv lists) change no answer: every output equals the plain algorithm's (every secret masked, then
every pattern applied), on hostile fragments, on text whose secret words are spelled with the characters the
patterns' IGNORECASE folds (long s U+017F, the Kelvin sign U+212A, dotted and dotless i), and across secret registrations."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agentops.core import redact as R
from agentops.core.redact import MASK, redact, redact_obj, register_secret

FRAGMENTS = ["x", "a://", "://", "u:", "@", "--", "-", "password", "pa\u017fsword", "passwd", "pwd", "to\u212aen",
             "token", "secret", "\u017fecret", "api_key", "ap\u0130key", "ap\u0131key", "X-Api-\u212aey",
             "Authorization: ", "author\u0131zation=",
             "Bearer ", " ", "=", ":", "'", '"', "/", "é", "\n", "PGPASSWORD", "-token", "--db-password "]


def reference(text: str) -> str:
    """The algorithm without its fast paths (text at most MAX_CHARS: the cut is tested elsewhere)."""
    for secret in sorted(R._secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in R._PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('pre')}{MASK}{m.group('post')}", text)
    return text


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=30))
def test_same_answer_as_the_plain_algorithm(parts: list[str]) -> None:
    text = "".join(parts)
    assert redact(text) == reference(text)
    assert redact(text) == reference(text)  # the memo's answer too


def test_folded_secret_words_still_reach_the_patterns() -> None:
    # Non-ASCII text that spells a secret word only under IGNORECASE folding is not skipped by the pre-test.
    for text in ("pa\u017fsword=hunter2x", "\u017fecret: hunter2x", "to\u212aen=hunter2x",
                 "Author\u0130zation: Bearer hunter2x"):
        assert "hunter2x" not in redact(text), text
        assert redact(text) == reference(text)


def test_a_secret_registered_later_is_masked_in_a_string_seen_before() -> None:
    text = "connected with late-registered-0451 as the key"
    assert redact(text) == text  # remembered as harmless ...
    register_secret("late-registered-0451")
    assert "late-registered-0451" not in redact(text)  # ... until the set of secrets changed
    assert redact_obj({"m": text, "l": [text]}) == {"m": redact(text), "l": [redact(text)]}


def test_the_memo_is_bounded() -> None:
    for i in range(R.MEMO_ENTRIES + 10):
        redact(f"distinct string {i}")
    assert len(R._memo) <= R.MEMO_ENTRIES
    for i in range(2 * R.MEMO_BUDGET_CHARS // R.MEMO_MAX_CHARS):  # long strings: the character budget binds
        redact(f"{i:08d}" + "z" * (R.MEMO_MAX_CHARS - 8))
        assert R._memo_chars <= R.MEMO_BUDGET_CHARS
    assert sum(len(k) for k in R._memo) == R._memo_chars  # the count is the truth (answers equal their keys)


def test_long_strings_are_not_remembered_and_still_redacted() -> None:
    text = "y" * (R.MEMO_MAX_CHARS + 1) + " password=hunter2x"
    assert "hunter2x" not in redact(text)
    assert text not in R._memo


def test_argv_flags_and_secret_keys_in_documents() -> None:
    doc = {"argv": ["tool", "--password", "s3cr3t-value", "--token=t0k-value", "plain"], "api_key": "k-value",
           "password_file": "/etc/pw", "n": 3, "none": None, "nested": [{"token": "t-value"}, 1.5, True]}
    out = redact_obj(doc)
    flat = repr(out)
    for secret in ("s3cr3t-value", "t0k-value", "k-value", "t-value"):
        assert secret not in flat
    assert out["password_file"] == "/etc/pw" and out["n"] == 3 and out["none"] is None
    assert out["nested"][1:] == [1.5, True] and out["argv"][-1] == "plain"


def test_every_pattern_needs_a_literal_of_the_pre_test() -> None:
    # The pre-test is sound only if no pattern can match without one of _NEEDS: strip every such literal
    # (in every case-folded spelling) from texts that match, and nothing may match any more.
    samples = ["https://u:pw@h/", "password=x1", "PWD: y2", "token='z3'", "secret=a4", "api_key=b5",
               "apikey=c6", "Authorization: Bearer d7", "X-Api-Key: e8", "--db-password f9", "--api-key=g0",
               "-passphrase h1", "--token i2"]
    for text in samples:
        assert any(p.search(text) for p in R._PATTERNS), text
        stripped = R._NEEDS_FOLDED.sub("", text)
        assert not R._NEEDS_FOLDED.search(stripped)
        assert not any(p.search(stripped) for p in R._PATTERNS), (text, stripped)
