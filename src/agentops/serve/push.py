"""Pushing a run's exposition to a Prometheus Pushgateway, and deleting it again.

A group is identified by its grouping key: `job` (agentops), `instance` (this host) and `pack` (the packs run),
so each host's run of each pack replaces only its own series (PUT), and `delete` removes them when the job that
pushed them is gone (so pushed series do not outlive it). Values are put in the path base64-encoded when they
hold a "/" or are empty (the Pushgateway's `label@base64` form)."""

from __future__ import annotations

import base64
import platform
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from agentops.core.redact import redact

PUSH_TIMEOUT_S = 10.0  # every network operation has a deadline; a Pushgateway answers in milliseconds
DEFAULT_JOB = "agentops"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PushError(Exception):
    """Why a push or delete failed, one line, redacted."""


def grouping_key(packs: Sequence[str], job: str = DEFAULT_JOB, instance: str | None = None) -> dict[str, str]:
    return {"job": job, "instance": instance or platform.node(), "pack": ",".join(packs) or "default"}


def group_url(base: str, grouping: dict[str, str]) -> str:
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError(f"--push: {base!r} is not an http(s):// URL of a Pushgateway")
    path = "/metrics"
    for name, value in grouping.items():
        if value and "/" not in value:
            path += f"/{name}/{quote(value, safe='')}"
        else:
            path += f"/{name}@base64/{base64.urlsafe_b64encode(value.encode()).decode() or '='}"
    return base.rstrip("/") + path


def push(base: str, grouping: dict[str, str], text: str, timeout: float = PUSH_TIMEOUT_S) -> str:
    """PUT the exposition as the group's whole content; the group's URL."""
    url = group_url(base, grouping)
    _request("PUT", url, text.encode(), timeout)
    return url


def delete(base: str, grouping: dict[str, str], timeout: float = PUSH_TIMEOUT_S) -> str:
    url = group_url(base, grouping)
    _request("DELETE", url, None, timeout)
    return url


def _request(method: str, url: str, body: bytes | None, timeout: float) -> None:
    import httpx

    try:
        response = httpx.request(method, url, content=body, timeout=timeout, trust_env=False,
                                 headers={"Content-Type": CONTENT_TYPE} if body is not None else None)
    except httpx.HTTPError as exc:
        raise PushError(redact(f"{method} {url}: {type(exc).__name__}: {exc}")) from None
    if response.status_code >= 300:
        why = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        raise PushError(redact(f"{method} {url}: HTTP {response.status_code} {why}".rstrip()))
