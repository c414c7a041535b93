"""TLS for probes: client SSL contexts from a target's `tls` options, the days a peer certificate has left,
and one-line descriptions of TLS failures.

Building an SSLContext loads the trust store (~35 ms); a run of 200 HTTPS checks would spend seconds doing
it again and again, so contexts are cached per distinct set of options for the life of the process.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from functools import cache

from agentops.core.config import TLSOptions
from agentops.core.files import FileProblem, read_file

# A CA bundle (the system one is ~200 KiB), a certificate chain or a key; a link to /dev/zero is none of them.
MAX_PEM_BYTES = 4 * 1024 * 1024


class TlsSetupError(ValueError):
    """A TLS file named by the config cannot be used (missing, unreadable, not PEM, key does not match)."""


def client_context(tls: TLSOptions) -> ssl.SSLContext:
    return _context(tls.ca, tls.cert, tls.key, tls.verify)


@cache
def _context(ca: str | None, cert: str | None, key: str | None, verify: bool) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context(cadata=_ca_text(ca)) if ca else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot load TLS CA file {ca}: {_os_reason(exc)}") from None
    if not verify:
        # Still complete the handshake and read the certificate (days left), but accept any.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        check_files(TLSOptions(cert=cert, key=key))
        try:
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise TlsSetupError(f"cannot load TLS client certificate {cert} / key {key}: {_os_reason(exc)}") from None
    return ctx


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server's context (agentops serve): its certificate chain and key, TLS 1.2 at least."""
    check_files(TLSOptions(cert=cert, key=key))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot load TLS certificate {cert} / key {key}: {_os_reason(exc)}") from None
    return ctx


def read_pem(path: str | None, what: str) -> bytes | None:
    """A PEM file's bytes for libraries that take bytes (grpc), with the same one-line error on failure."""
    if not path:
        return None
    try:
        return read_file(path, limit=MAX_PEM_BYTES)
    except FileProblem as exc:
        raise TlsSetupError(f"cannot read TLS {what} file {path}: {exc}") from None


def check_files(tls: TLSOptions) -> None:
    """Before a library that takes paths (libpq, redis-py, ssl.load_cert_chain) reads the target's TLS files
    itself: each is a bounded regular file, and the CA file holds a PEM certificate. TlsSetupError if not."""
    if tls.ca:
        _ca_text(tls.ca)
    for what, path in (("client certificate", tls.cert), ("key", tls.key)):
        read_pem(path, what)


def _ca_text(path: str) -> str:
    try:
        text = read_file(path, limit=MAX_PEM_BYTES).decode("ascii", errors="replace")
    except FileProblem as exc:
        raise TlsSetupError(f"cannot load TLS CA file {path}: {exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise TlsSetupError(f"cannot load TLS CA file {path}: not PEM (no BEGIN CERTIFICATE line)")
    return text


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def describe_ssl_error(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message or exc.reason}"
    return f"TLS handshake failed: {exc.reason or exc}"


def cert_days_left(der: bytes, now: datetime | None = None) -> float:
    """Days until the certificate's notAfter (negative once expired), read from its DER encoding.

    Python's ssl module decodes a peer certificate only when it was verified; a check with `verify: false`
    must still see the expiry, so the few DER fields on the way to `validity` are walked here.
    """
    not_after = cert_not_after(der)
    now = now or datetime.now(UTC)
    return (not_after - now).total_seconds() / 86400.0


def cert_not_after(der: bytes) -> datetime:
    try:
        _, start, _ = _tlv(der, 0)  # Certificate ::= SEQUENCE { tbsCertificate, ... }
        tag, pos, end = _tlv(der, start)  # TBSCertificate ::= SEQUENCE
        fields = []
        while pos < end and len(fields) < 6:
            field = _tlv(der, pos)
            fields.append(field)
            pos = field[2]
        # [0] version (optional), serialNumber, signature, issuer, validity
        validity = fields[4] if fields[0][0] == 0xA0 else fields[3]
        _, _, nb_end = _tlv(der, validity[1])  # notBefore
        tag, na_start, na_end = _tlv(der, nb_end)  # notAfter
        text = der[na_start:na_end].decode("ascii")
    except (IndexError, UnicodeDecodeError) as exc:
        raise ValueError("malformed certificate") from exc
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ (RFC 5280: YY >= 50 is 19YY)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError("malformed certificate: notAfter is not a time")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at `pos`."""
    tag = der[pos]
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(der[pos:pos + n], "big")
        pos += n
    if pos + length > len(der):
        raise IndexError("truncated DER")
    return tag, pos, pos + length
