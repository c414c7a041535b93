"""gRPC channels from a target's address and `tls` block, and what a failed connection's text means.

Shared by the grpc.health probe and agentops' AgentRpc client (probes, diagnose, cluster inventory, load,
profile), so "how agentops reaches a gRPC server" has one answer: plaintext, TLS verified against the system
trust store or `tls.ca`, mutual TLS with `tls.cert`/`tls.key`, and `tls.server_name` as the name the server
certificate must carry. grpc is imported lazily (only here).
"""

from __future__ import annotations

import os
import re
from typing import Any

from agentops.core.config import TLSOptions
from agentops.core.errors import error_text, reason_from_text
from agentops.core.model import Reason
from agentops.core.tls import TlsSetupError, read_pem

# "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50051: " before the real error
_CONNECT_PREFIX = re.compile(r"^failed to connect to all addresses; last error: \w+: (?:ipv[46]:\S+?:\d+: )?")
PLAIN_AT_TLS_HINT = "(a TLS port? set tls in the target)"
NO_CLIENT_CERT_HINT = "(during the TLS handshake: does the server want a client certificate?)"


def import_grpc() -> Any:
    """grpc, imported with its C core's own logging off unless the user asked for it: every failure it would
    print to stderr (handshake errors, name mismatches) is already in the result, as one line."""
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    import grpc

    return grpc


def open_channel(address: str, tls: TLSOptions, options: list[tuple[str, Any]] | None = None) -> Any:
    """A grpc.aio channel to `address`, with TLS / mTLS when `tls.enabled`. TlsSetupError when a TLS file
    cannot be used or the options ask for what gRPC cannot do."""
    grpc = import_grpc()
    opts = list(options or [])
    if not tls.enabled:
        return grpc.aio.insecure_channel(address, options=opts)
    if not tls.verify:
        # gRPC's Python API has no switch to skip verification; trusting the server needs its CA.
        raise TlsSetupError("gRPC cannot skip certificate verification (tls.verify: false); give tls.ca instead")
    creds = grpc.ssl_channel_credentials(root_certificates=read_pem(tls.ca, "CA"),
                                         private_key=read_pem(tls.key, "key"),
                                         certificate_chain=read_pem(tls.cert, "certificate"))
    if tls.server_name:
        opts.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.aio.secure_channel(address, creds, options=opts)


def unavailable(details: str, tls_enabled: bool) -> tuple[Reason, str]:
    """The reason and one-line text for an UNAVAILABLE call, whose only clue is gRPC's text: refused,
    unresolvable, a failed handshake and a peer that hung up all come back as UNAVAILABLE."""
    text = error_text(Exception(_CONNECT_PREFIX.sub("", details) or "UNAVAILABLE"))
    if "http/2" in text.lower() or "http1" in text.lower():  # "Trying to connect an http1.x server"
        return Reason.PROTOCOL, f"does not speak gRPC (HTTP/2): {text}"
    reason = reason_from_text(text) or Reason.CONNECT
    if "socket closed" in text.lower():
        # The TCP connection was made and the peer hung up before its first HTTP/2 frame: not a refusal
        # (connect) but a peer that does not speak what we spoke: a TLS server to a plaintext client, or a
        # server that wants a client certificate.
        if tls_enabled:
            return Reason.TLS, f"{text} {NO_CLIENT_CERT_HINT}"
        return Reason.PROTOCOL, f"{text} {PLAIN_AT_TLS_HINT}"
    if reason is Reason.TIMEOUT:  # "connect timed out" inside UNAVAILABLE: the connection never came up
        reason = Reason.CONNECT
    return reason, text
