"""The one redactor: every secret the tool ever reads is registered here and masked at every edge
(renderers, error lines, log records, bundles). Patterns catch secrets we never read ourselves, such as a
password inside a DSN that came from a command-line flag or an exception text.

Work is linear in the text and bounded: each string is cut to MAX_CHARS (with a marker) before the patterns
run, and no pattern can backtrack across start positions (each one starts at a fixed anchor).

It is also cheap for the text it sees most (serve redacts every string of a report at every scrape): the
patterns run only when the text holds one of the literals every pattern needs (`_NEEDS`), and the answer for a
short string is remembered until the next secret is registered (`_memo`). Neither changes any answer: the
literal test is a necessary condition of each pattern under the same case folding, and the memo is keyed by the
text and emptied whenever the set of secrets changes."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "***"
# The most of one string (a message, a fact, an output tail) that any output carries: far above every real
# message, and small enough that a 20 MB /metrics label or log line costs milliseconds, not minutes.
MAX_CHARS = 65536
# Text beyond the cut that is still scanned, so a secret or a `password=...` straddling the cut is masked
# rather than shown by its first half.
_CUT_WINDOW = 4096

_secrets: set[str] = set()
_longest = 0
_ordered: tuple[str, ...] = ()  # the secrets, longest first (a secret inside a longer one is masked with it)
# Short strings' answers, valid for one set of secrets: `_generation` counts registrations, and an answer
# computed while a secret was being registered (another thread) is not kept.
_memo: dict[str, str] = {}
_memo_chars = 0  # characters the memo holds (keys, and answers that differ from their key)
_generation = 0
MEMO_MAX_CHARS = 2048  # longer strings are not remembered
MEMO_ENTRIES = 8192
MEMO_BUDGET_CHARS = 1 << 20  # the memo is emptied before it holds more (about 1-4 MiB, whatever the strings)

# A command-line flag whose value is a secret: --password, --db-password, -token, --api-key, --passphrase...
# The name must end the flag (--password-file and --token-file take paths) and --no-password takes no value.
_SECRET_FLAG = (r"--?(?!no[-_])(?:[a-z0-9]+[-_])*"
                r"(?:password|passwd|passphrase|token|secret|api[-_]?key|apikey)")
_FLAG_ALONE = re.compile(_SECRET_FLAG, re.IGNORECASE)
_SECRET_WORDS = r"(?:password|passwd|passphrase|token|secret|api[-_]?key|apikey)"
# A mapping key naming a secret (env: {PGPASSWORD: x}, {api_key: x}); *_file / *_env keys name where one is.
_SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)
# An environment variable holding a secret: the word anywhere, followed by nothing or a `_SUFFIX` that does
# not name a place (DB_PASSWORD, API_TOKEN_PROD; not PASSWORD_FILE, not TOKENS).
_SECRET_ENV = re.compile(rf"{_SECRET_WORDS}(?:[-_](?!(?:file|path|dir|env)$)[a-z0-9_-]*)?$", re.IGNORECASE)
_FLAG_WITH_VALUE = re.compile(rf"{_SECRET_FLAG}=(?P<secret>.+)", re.IGNORECASE | re.DOTALL)
# libpq key=value: password='it\'s' / password=plain. An unquoted value with spaces runs to the next `key=`:
# libpq takes its first word as the password and quotes the next one in its error, so both are the secret.
_CONNINFO_PASSWORD = re.compile(r"\bpassword\s*=\s*(?:'(?P<quoted>(?:[^'\\]|\\.)*)'"
                                r"|(?P<plain>[^\s']+(?:\s+(?![\w.-]+\s*=)[^\s']+)*))")

# user:password@ in URLs/DSNs; key=value pairs in libpq strings; Authorization headers; secret flags.
# Each begins where the text before it cannot extend it (a lookbehind), so a run of scheme characters is tried
# from its first character only: that keeps the scan linear (a plain `[a-z][a-z0-9+.-]*://` retried the rest
# of the run from every position of it, quadratic on 'x' * 80000).
_PATTERNS = [
    re.compile(r"(?P<pre>(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s/]+)(?P<post>@)"),
    re.compile(r"(?P<pre>\b(?:password|passwd|pwd|token|secret|api_key|apikey)\s*[=:]\s*['\"]?)"
               r"(?P<secret>[^\s'\",;&]+)(?P<post>)", re.IGNORECASE),
    re.compile(r"(?P<pre>\b(?:Authorization|X-Api-Key)\s*[:=]\s*(?:Bearer\s+|Basic\s+)?)(?P<secret>[^\s,;]+)(?P<post>)",
               re.IGNORECASE),
    re.compile(rf"(?P<pre>(?<![\w-]){_SECRET_FLAG}(?:=|\s+)['\"]?)(?P<secret>[^\s'\"]+)(?P<post>)", re.IGNORECASE),
]
# Every pattern above needs one of these in the text: `://` (userinfo), or a part of each secret word:
# pass(word|wd|phrase), pwd, token, secret, api(_key|key|-key), authorization. Text with none of them cannot
# match, so the patterns are skipped. ASCII text is tested lower-cased; other text with the same words as one
# pattern with the patterns' own case folding (under IGNORECASE the long s U+017F matches 's',
# the Kelvin sign U+212A 'k').
_NEEDS = ("://", "pass", "pwd", "token", "secret", "api", "authorization")
_NEEDS_FOLDED = re.compile("|".join(re.escape(w) for w in _NEEDS), re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Remember a secret so it is masked wherever it appears, in every shape it can be quoted in: as is,
    URL-encoded (a password put in a URL), and, for a DSN or URL, the password inside it. Very short values
    would mask ordinary text, so they are masked only through the patterns."""
    if not value:
        return
    for form in (value, quote(value, safe=""), quote_plus(value), quote(value)):
        _remember(form)
    register_credentials_in(value)


def register_credentials_in(text: str | None) -> None:
    """Register the password a URL's userinfo or a libpq string carries (an address, a DSN, an env value),
    without registering the rest of it: host names and paths must stay readable."""
    if not text:
        return
    if "://" in text and "@" in text:
        try:
            password = urlsplit(text.strip()).password
        except ValueError:
            password = None
        if password:  # as written (maybe %-encoded) and as meant
            register_secret(password)
            register_secret(unquote(password))
    if "=" in text:
        for m in _CONNINFO_PASSWORD.finditer(text):
            quoted = m.group("quoted")
            if quoted is not None:
                words = [re.sub(r"\\(.)", r"\1", quoted)]
            else:
                words = [m.group("plain"), *m.group("plain").split()]
            for password in words:
                if password != text:
                    register_secret(password)


def _remember(form: str) -> None:
    global _longest, _ordered, _generation
    if len(form) >= 4 and form not in _secrets:
        _generation += 1
        _secrets.add(form)
        _longest = max(_longest, len(form))
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))
        _forget()


def _forget() -> None:
    global _memo_chars
    _memo.clear()
    _memo_chars = 0


def secret_env_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (PGPASSWORD, API_TOKEN, DB_SECRET_KEY)."""
    return _SECRET_ENV.search(name) is not None


def _may_match(text: str) -> bool:
    if text.isascii():
        low = text.lower()
        return any(word in low for word in _NEEDS)
    return _NEEDS_FOLDED.search(text) is not None


def _mask(m: re.Match[str]) -> str:
    return f"{m.group('pre')}{MASK}{m.group('post')}"


def redact(text: str) -> str:
    """Mask every registered secret and every secret-shaped pattern; cut the text to MAX_CHARS first."""
    global _memo_chars
    if not text:
        return text
    if len(text) <= MEMO_MAX_CHARS:
        known = _memo.get(text)
        if known is not None:
            return known
        generation = _generation
        out = _redact(text)
        if generation == _generation:
            size = len(text) + (len(out) if out is not text else 0)
            if len(_memo) >= MEMO_ENTRIES or _memo_chars + size > MEMO_BUDGET_CHARS:
                _forget()  # bounded: a burst of distinct strings costs a recomputation, never memory
            _memo[text] = out
            _memo_chars += size
        return out
    return _redact(text)


def _redact(text: str) -> str:
    cut = len(text) - MAX_CHARS
    if cut > 0:
        text = text[:MAX_CHARS + max(_CUT_WINDOW, _longest)]
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    if _may_match(text):
        for pattern in _PATTERNS:
            text = pattern.sub(_mask, text)
    if cut > 0:
        # Cut after masking, so the part of a secret before the cut is already a mask.
        text = f"{text[:MAX_CHARS]}… [{cut:,} more characters cut]"
    return text


def _argv_secrets(argv: list[Any]) -> list[tuple[int, str, bool]]:
    """(index, secret, whole item) for each secret flag value: the item after `--password`, the tail of
    `--token=X` (not the whole item)."""
    found = []
    for i, arg in enumerate(argv):
        if not isinstance(arg, str) or not arg.startswith("-"):  # both flag patterns begin with '-'
            continue
        if _FLAG_ALONE.fullmatch(arg) and i + 1 < len(argv) and isinstance(argv[i + 1], str):
            found.append((i + 1, argv[i + 1], True))
        elif m := _FLAG_WITH_VALUE.fullmatch(arg):
            found.append((i, m.group("secret"), False))
    return found


def argv_secrets(argv: list[Any]) -> list[str]:
    """The secrets an argv list carries as flag values (to register_secret before running it)."""
    return [secret for _i, secret, _whole in _argv_secrets(argv)]


def _redact_argv(argv: list[Any]) -> list[Any]:
    # Split over list items (`[tool, --password, X]`), a flag and its value escape the text patterns.
    out = list(argv)
    for i, _secret, whole in _argv_secrets(argv):
        if whole:
            out[i] = MASK
    return out


_key_memo: dict[str, bool] = {}  # a document's keys are few and repeat: each is tested once (bounded, as _memo)


def _secret_key(key: str) -> bool:
    known = _key_memo.get(key)
    if known is None:
        m = _SECRET_KEY.search(key)
        known = m is not None and m.end() == len(key)
        if len(_key_memo) >= MEMO_ENTRIES:
            _key_memo.clear()
        _key_memo[key] = known
    return known


_PLAIN = (int, float, bool, type(None))  # leaves with nothing to redact, returned as they are


def redact_obj(value: Any) -> Any:
    """Redact every string inside a JSON-like value (report documents, audit records)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if isinstance(k, str):
                if isinstance(v, str):
                    out[redact(k)] = MASK if v and _secret_key(k) else redact(v)
                else:
                    out[redact(k)] = v if isinstance(v, _PLAIN) else redact_obj(v)
            else:
                out[k] = v if isinstance(v, _PLAIN) else redact_obj(v)
        return out
    if isinstance(value, list | tuple):
        return [v if isinstance(v, _PLAIN) else redact_obj(v) for v in _redact_argv(list(value))]
    return value


class RedactingFilter(logging.Filter):
    """Attached to agentops' log handlers so a secret in an exception or a message never reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# What each of _PATTERNS masks, in its order, for a redaction report (a bundle's): the rule, never the secret.
PATTERN_RULES = ("url-userinfo", "secret-assignment", "auth-header", "secret-flag")
REGISTERED_RULE = "registered-secret"


def redact_counting(text: str, stand_in: Callable[[str], str] | None = None,
                    stand_ins: Iterable[str] = ()) -> tuple[str, dict[str, int]]:
    """`redact` for a whole file (a bundle member): no MAX_CHARS cut, and per rule how many secrets it masked
    (REGISTERED_RULE for one registered by value). `stand_in(secret)` is what replaces a secret instead of
    MASK (a bundle's stable tokens); what it returns, and the `stand_ins` it returned before, are never masked
    or counted again."""
    counts: dict[str, int] = {}
    produced = {MASK, *stand_ins}
    replace = stand_in or (lambda _secret: MASK)

    def put(rule: str, secret: str) -> str:
        counts[rule] = counts.get(rule, 0) + 1
        token = replace(secret)
        produced.add(token)
        return token

    for secret in sorted(_secrets, key=len, reverse=True):
        n = text.count(secret) if secret in text else 0
        if n:
            token = put(REGISTERED_RULE, secret)
            counts[REGISTERED_RULE] += n - 1
            text = text.replace(secret, token)
    for rule, pattern in zip(PATTERN_RULES, _PATTERNS, strict=True):
        def sub(m: re.Match[str], rule: str = rule) -> str:
            secret = m.group("secret")
            if secret in produced:
                return m.group(0)
            return f"{m.group('pre')}{put(rule, secret)}{m.group('post')}"

        text = pattern.sub(sub, text)
    return text, counts
