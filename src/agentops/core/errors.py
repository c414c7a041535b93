"""Turning client-library exceptions into a failure Reason and a one-line, redacted message.

Client libraries wrap socket errors in their own exception types (redis-py keeps the OSError as the cause,
libpq and gRPC only as text), so a caller first asks `network_reason` (the cause chain) and then
`reason_from_text` (the message), adding its own protocol-specific cases before both. Used by the probes and
by agentops' own AgentRpc client (autogen.client), hence in core.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

from agentops.core.model import Reason
from agentops.core.redact import redact

MAX_MESSAGE = 300

# Lower-cased fragments of OS, OpenSSL and resolver messages, as libpq, gRPC and others quote them.
_TEXT_REASONS: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    (Reason.DNS, ("name or service not known", "could not translate host name", "failed to resolve host",
                  "nodename nor servname", "temporary failure in name resolution", "no address associated",
                  "dns resolution failed")),
    (Reason.TLS, ("ssl", "tls", "certificate")),
    (Reason.TIMEOUT, ("timeout expired", "timed out", "deadline exceeded")),
    (Reason.CONNECT, ("connection refused", "no route to host", "network is unreachable", "host is unreachable",
                      "connection reset", "server closed the connection", "broken pipe")),
)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from or while handling, without looping."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def network_reason(exc: BaseException) -> Reason | None:
    """The reason for a resolver, TLS, timeout or socket failure anywhere in the cause chain, else None."""
    for e in causes(exc):
        if isinstance(e, socket.gaierror):
            return Reason.DNS
        if isinstance(e, ssl.SSLError | ssl.CertificateError):
            return Reason.TLS
        if isinstance(e, TimeoutError):
            return Reason.TIMEOUT
        if isinstance(e, ConnectionError):  # refused, reset, aborted, broken pipe
            return Reason.CONNECT
        if isinstance(e, OSError) and e.errno is not None:  # EHOSTUNREACH, ENETUNREACH, ...
            return Reason.CONNECT
    return None


def reason_from_text(text: str) -> Reason | None:
    low = text.lower()
    for reason, fragments in _TEXT_REASONS:
        if any(f in low for f in fragments):
            return reason
    return None


def error_text(exc: BaseException) -> str:
    """One line, redacted and bounded: what a result message may quote of an exception."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = redact(text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
