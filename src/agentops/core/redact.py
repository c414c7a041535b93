"""The one redactor: every secret the tool ever reads is registered here and masked at every edge
(renderers, error lines, log records, bundles). Patterns catch secrets we never read ourselves, such as a
password inside a DSN that came from a command-line flag or an exception text."""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

_secrets: set[str] = set()

# A command-line flag whose value is a secret: --password, --db-password, -token, --api-key, --passphrase...
# The name must end the flag (--password-file and --token-file take paths) and --no-password takes no value.
_SECRET_FLAG = (r"--?(?!no[-_])(?:[a-z0-9]+[-_])*"
                r"(?:password|passwd|passphrase|token|secret|api[-_]?key|apikey)")
_FLAG_ALONE = re.compile(_SECRET_FLAG, re.IGNORECASE)
# A mapping key naming a secret (env: {PGPASSWORD: x}, {api_key: x}); *_file / *_env keys name where one is.
_SECRET_KEY = re.compile(r"(?:password|passwd|passphrase|token|secret|api[-_]?key|apikey)", re.IGNORECASE)
_FLAG_WITH_VALUE = re.compile(rf"{_SECRET_FLAG}=(?P<secret>.+)", re.IGNORECASE | re.DOTALL)

# user:password@ in URLs/DSNs; key=value pairs in libpq strings; Authorization headers; secret flags.
_PATTERNS = [
    re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s/]+)(?P<post>@)"),
    re.compile(r"(?P<pre>\b(?:password|passwd|pwd|token|secret|api_key|apikey)\s*[=:]\s*['\"]?)"
               r"(?P<secret>[^\s'\",;&]+)(?P<post>)", re.IGNORECASE),
    re.compile(r"(?P<pre>\b(?:Authorization|X-Api-Key)\s*[:=]\s*(?:Bearer\s+|Basic\s+)?)(?P<secret>[^\s,;]+)(?P<post>)",
               re.IGNORECASE),
    re.compile(rf"(?P<pre>(?<![\w-]){_SECRET_FLAG}(?:=|\s+)['\"]?)(?P<secret>[^\s'\"]+)(?P<post>)", re.IGNORECASE),
]


def register_secret(value: str | None) -> None:
    """Remember a secret so it is masked wherever it appears. Very short values would mask ordinary text,
    so they are masked only through the patterns."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('pre')}{MASK}{m.group('post')}", text)
    return text


def _argv_secrets(argv: list[Any]) -> list[tuple[int, str, bool]]:
    """(index, secret, whole item) for each secret flag value: the item after `--password`, the tail of
    `--token=X` (not the whole item)."""
    found = []
    for i, arg in enumerate(argv):
        if not isinstance(arg, str):
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


def _secret_key(key: str) -> bool:
    m = _SECRET_KEY.search(key)
    return m is not None and m.end() == len(key)


def redact_obj(value: Any) -> Any:
    """Redact every string inside a JSON-like value (report documents, audit records)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)) if isinstance(k, str) else k:
                MASK if isinstance(k, str) and isinstance(v, str) and v and _secret_key(k) else redact_obj(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v) for v in _redact_argv(list(value))]
    return value


class RedactingFilter(logging.Filter):
    """Attached to agentops' log handlers so a secret in an exception or a message never reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
