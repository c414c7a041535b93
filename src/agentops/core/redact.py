"""The one redactor: every secret the tool ever reads is registered here and masked at every edge
(renderers, error lines, log records, bundles). Patterns catch secrets we never read ourselves, such as a
password inside a DSN that came from a command-line flag or an exception text."""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

_secrets: set[str] = set()

# user:password@ in URLs/DSNs; key=value pairs in libpq strings; Authorization headers.
_PATTERNS = [
    re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s/]+)(?P<post>@)"),
    re.compile(r"(?P<pre>\b(?:password|passwd|pwd|token|secret|api_key|apikey)\s*[=:]\s*['\"]?)"
               r"(?P<secret>[^\s'\",;&]+)(?P<post>)", re.IGNORECASE),
    re.compile(r"(?P<pre>\b(?:Authorization|X-Api-Key)\s*[:=]\s*(?:Bearer\s+|Basic\s+)?)(?P<secret>[^\s,;]+)(?P<post>)",
               re.IGNORECASE),
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


def redact_obj(value: Any) -> Any:
    """Redact every string inside a JSON-like value (report documents, audit records)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)) if isinstance(k, str) else k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Attached to agentops' log handlers so a secret in an exception or a message never reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
