"""The incident's notification: one POST to a webhook, as Alertmanager's webhook receiver sends it (payload
version 4, so anything that takes Alertmanager's webhooks takes this) or as a plain JSON document.

Every attempt has a deadline and the whole delivery has one (`deadline_s`, retries included): a receiver that
accepts and never answers costs at most that. A 5xx or a transport error is retried with backoff, a 4xx is not
(the receiver said no). The URL often carries its secret (a token in the path or query, user:password@), so
it is registered with the one redactor before anything can print it, and the result shows only scheme, host
and port.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agentops.core.format import utc_stamp
from agentops.core.model import Observation, Reason
from agentops.core.redact import redact, redact_obj, register_credentials_in, register_secret

FORMATS = ("alertmanager", "json")
PAYLOAD_VERSION = "4"
# Alertmanager's zero time: an alert whose end is not known yet.
ZERO_TIME = "0001-01-01T00:00:00Z"
RECEIVER = "agentops-emergency"


class WebhookError(ValueError):
    """A webhook URL that cannot be used (one line, already redacted)."""


@dataclass
class Delivery:
    url: str
    format: str = "alertmanager"
    deadline_s: float = 10.0
    attempt_timeout_s: float = 5.0
    retries: int = 2
    backoff_s: float = 0.5
    headers: dict[str, str] = field(default_factory=dict)


def shown(url: str) -> str:
    """What an output may say of a webhook URL: its scheme, host and port (the path and query often are the
    secret: Slack-style /services/T…/B…/XXXX, ?token=…)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def token_like(path: str, query: str) -> list[str]:
    """The parts of a webhook URL that are secrets on their own: every query value, and path segments that
    look like tokens (8+ characters with a digit: Slack's T0…/B0…/XXXX, a route key), so a token quoted
    without its URL (in a message, an error) is masked too. Plain words (`hooks`, `alerts`, `v1`) are not."""
    from urllib.parse import parse_qsl

    segments = [seg for seg in path.split("/") if len(seg) >= 8 and any(c.isdigit() for c in seg)]
    return segments + [value for _, value in parse_qsl(query, keep_blank_values=False)]


def check_url(url: str) -> str:
    """Register the URL's secrets with the redactor, then validate it; the URL as given."""
    register_credentials_in(url)
    parts = urlsplit(url)
    for secret in (parts.path.strip("/"), parts.query, *token_like(parts.path, parts.query)):
        if secret:
            register_secret(secret)
    try:
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:
        ok = False
    if not ok:
        raise WebhookError(f"webhook: {redact(url)!r} is not an http(s):// URL")
    return url


def alert_labels(incident: str, cluster: str, severity: str) -> dict[str, str]:
    return {"alertname": f"AgentopsEmergency{incident.capitalize()}", "incident": incident, "cluster": cluster,
            "severity": severity}


def alertmanager_payload(*, incident: str, cluster: str, severity: str, summary: str, description: str,
                         started_at: float, resolved: bool = False, external_url: str = "",
                         extra_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One alert in Alertmanager's webhook (version 4) document: version, groupKey, truncatedAlerts, status,
    receiver, groupLabels, commonLabels, commonAnnotations, externalURL, alerts[]."""
    labels = {**alert_labels(incident, cluster, severity), **dict(extra_labels or {})}
    annotations = {"summary": summary, "description": description}
    status = "resolved" if resolved else "firing"
    group_labels = {"alertname": labels["alertname"]}
    fingerprint = hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]
    alert = {"status": status, "labels": labels, "annotations": annotations, "startsAt": utc_stamp(started_at),
             "endsAt": utc_stamp() if resolved else ZERO_TIME, "generatorURL": external_url,
             "fingerprint": fingerprint}
    group_key = "{}:{" + ",".join(f'{k}="{v}"' for k, v in sorted(group_labels.items())) + "}"
    return {"version": PAYLOAD_VERSION, "groupKey": group_key, "truncatedAlerts": 0, "status": status,
            "receiver": RECEIVER, "groupLabels": group_labels, "commonLabels": labels,
            "commonAnnotations": annotations, "externalURL": external_url, "alerts": [alert]}


def plain_payload(*, incident: str, cluster: str, severity: str, summary: str, description: str,
                  started_at: float, report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"schema": "agentops.emergency.notification/v1", "incident": incident, "cluster": cluster,
            "severity": severity, "summary": summary, "description": description,
            "started_at": utc_stamp(started_at), "report": dict(report or {})}


async def deliver(d: Delivery, payload: Mapping[str, Any]) -> Observation:
    """POST the (redacted) payload; an Observation of the delivery: metrics attempts and http_status, or a
    failure with the last attempt's reason. Never raises for a network problem, never outlives deadline_s."""
    import httpx

    body = json.dumps(redact_obj(dict(payload)), ensure_ascii=False).encode()
    where = shown(d.url)
    started = time.monotonic()
    attempts, last = 0, Observation.failure(Reason.TIMEOUT, f"{where}: no attempt fitted in {d.deadline_s:g}s")
    try:
        async with asyncio.timeout(d.deadline_s), httpx.AsyncClient(trust_env=False) as client:
            for attempt in range(d.retries + 1):
                attempts = attempt + 1
                left = d.deadline_s - (time.monotonic() - started)
                per = max(0.05, min(d.attempt_timeout_s, left))
                last = await _attempt(client, d, body, per, where)
                last.metrics["attempts"] = float(attempts)
                status = int(last.metrics.get("http_status", 0))
                if last.reason is None or 400 <= status < 500:
                    return last
                await asyncio.sleep(min(d.backoff_s * (2 ** attempt), max(0.0, left - per)))
    except TimeoutError:
        return Observation.failure(Reason.TIMEOUT, f"{where}: no answer within the delivery's deadline "
                                   f"({d.deadline_s:g}s, {attempts} attempt(s))", attempts=attempts)
    return last


async def _attempt(client: Any, d: Delivery, body: bytes, timeout: float, where: str) -> Observation:
    import httpx

    t0 = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            response = await client.post(d.url, content=body, timeout=timeout,
                                         headers={"Content-Type": "application/json", **d.headers})
    except TimeoutError:
        return Observation.failure(Reason.TIMEOUT, f"{where}: no answer within {timeout:.2g}s")
    except httpx.ConnectError as exc:
        return Observation.failure(Reason.CONNECT, f"{where}: {redact(str(exc)) or 'connection refused'}")
    except httpx.HTTPError as exc:
        return Observation.failure(Reason.PROTOCOL, f"{where}: {type(exc).__name__}: {redact(str(exc))}")
    ms = round((time.monotonic() - t0) * 1000, 1)
    metrics = {"http_status": float(response.status_code), "latency_ms": ms}
    if response.is_success:
        return Observation(metrics=metrics, message=f"{where} accepted the notification (HTTP {response.status_code})")
    obs = Observation.failure(Reason.PROTOCOL, f"{where} answered HTTP {response.status_code}")
    obs.metrics = metrics
    return obs
