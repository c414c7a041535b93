"""The options of `agentops serve`, with their defaults declared here once: the CLI's flags take their
defaults from `ServeOptions` and the server reads nothing else, so no interval or limit is a literal in code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentops.core.model import Status

if TYPE_CHECKING:
    from agentops.serve.undelivered import LogReader
    from agentops.serve.verdicts import DiagnosisRunner

DEFAULT_LISTEN = "127.0.0.1:9317"


def _unhealthy_from_critical(status: Status) -> bool:
    # The same rule as `--fail-on critical`: only OK and WARNING pass (UNKNOWN does not: it could not tell).
    return status not in (Status.OK, Status.WARNING)


@dataclass(frozen=True)
class ServeOptions:
    listen: str = DEFAULT_LISTEN
    # Every check runs once per interval; each wait is interval * (1 ± jitter), so checks that started
    # together spread out instead of hitting the targets (and the loop) all at once every interval.
    interval_s: float = 30.0
    jitter: float = 0.2
    # The AutoGen view (inventory, ownership, pings) of each agentrpc target, on its own interval.
    cluster_interval_s: float = 15.0
    # One cycle of that view (every step and ping) ends by this; the backstop allows the grace more.
    cluster_timeout_s: float = 5.0
    cluster_grace_s: float = 0.5
    # /probe: without Prometheus's X-Prometheus-Scrape-Timeout-Seconds header, this is the budget; with it,
    # the header less the offset (blackbox_exporter's timeout_offset), so the answer is back before Prometheus
    # gives up; never more than the maximum.
    probe_timeout_s: float = 10.0
    probe_timeout_offset_s: float = 0.5
    probe_timeout_max_s: float = 120.0
    max_concurrent_probes: int = 16
    # /probe plans remembered per loaded plan, per (target, kind, pack): emptied when this many are kept.
    probe_plans_kept: int = 4096
    # The HTTP edge: a request head larger than this or slower than this is refused; connections beyond the
    # limit are closed at once (memory stays bounded whatever the clients do).
    max_request_bytes: int = 16 * 1024
    request_read_timeout_s: float = 5.0
    max_connections: int = 64
    # How long SIGTERM waits for running checks and open responses before the process exits anyway.
    shutdown_grace_s: float = 5.0
    # Series per agentrpc target in the AutoGen view (types, topics): a host with more is reported truncated.
    max_series_per_target: int = 2000
    # Ping round-trip histogram buckets, seconds (Prometheus `le`).
    ping_buckets_s: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
    # Ask each registered type's owner (RegisterAgent) every cluster cycle; off: types without owners.
    owners: bool = True
    # When /healthz answers 503, given the cached run's status (the CLI passes its --fail-on rule).
    unhealthy: Callable[[Status], bool] = field(default=_unhealthy_from_critical)
    # Undelivered requests in the cluster's logs (serve/undelivered.py), read every cluster interval: at most
    # this many bytes of each file per cycle, and at most this many (log, type, kind) series per target.
    log_read_bytes: int = 1024 * 1024
    max_undelivered_series: int = 500
    # One periodic diagnosis (serve: diagnoses:) is cancelled after this, whatever its own deadline says.
    diagnosis_backstop_s: float = 120.0
    # What reads a log chunk and runs a diagnosis: agentops.diagnose's, handed in by the CLI (serve sits below
    # diagnose in the layers). None: the feature is off (no undelivered series, the section's diagnoses not run).
    log_reader: LogReader | None = None
    diagnosis_runner: DiagnosisRunner | None = None
    # --only / --skip / --tags and --pack, as `agentops health` takes them.
    packs: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
