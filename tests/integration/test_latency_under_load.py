"""Latency under concurrency: a probe reports how long the target took, not how long agentops' own event loop
took to get round to it.

Hundreds of HTTP checks over 150 endpoints of a real local server in a process of its own
(tests/fixtures/servers.HttpServerProcess) that answer after a known delay and record their own handling time, run beside CPU-heavy checks (/metrics scrapes of a
large exposition, parsed on the same loop, in slices: probes._pacing). Each reported latency is compared with the server's own time for
that request (matched by a header), so the assertion is structural, not about the machine's speed."""

from __future__ import annotations

import pytest

from agentops.core.config import Target
from agentops.core.model import Status
from agentops.core.packs import CheckSpec, MetricRule, PlannedCheck
from agentops.core.runner import run
from agentops.core.thresholds import Threshold
from tests.fixtures.servers import HttpServerProcess, unique_name

SERVER_DELAY_S = 0.05
ENDPOINTS = 150
HTTP_CHECKS = 500
CPU_CHECKS = 12
# What a request may add to the server's own handling time: connecting and sending over loopback, reading
# the response, and this process being scheduled late on a loaded machine (up to ~0.2 s measured with a
# busy-loop beside the test on a 2-core machine already at load 12). Below the warning's distance from the
# server's delay (0.45 s); before the fix the loop's queueing added 0.3-0.5 s here, 2.5 s at 256 in flight.
MARGIN_MS = 300.0


def big_exposition(series: int = 20_000) -> bytes:
    lines = ["# TYPE load_series_total counter"]
    lines += [f'load_series_total{{i="{i}"}} {i}' for i in range(series)]
    return ("\n".join(lines) + "\n").encode()


def http_check(n: int, url: str) -> PlannedCheck:
    spec = CheckSpec(id=f"http{n}", probe="http", params={"headers": {"X-Check": str(n)}},
                     rules=[MetricRule("latency_ms", Threshold.parse("> 500"), Threshold.parse("> 2000"))])
    return PlannedCheck(spec=spec, target=Target(name=f"web{n}", kind="http", address=url), timeout=20,
                        retries=0, retry_delay=0)


def cpu_check(n: int, url: str) -> PlannedCheck:
    spec = CheckSpec(id=f"scrape{n}", probe="metrics",
                     params={"compute": [{"name": "series", "series": "load_series_total", "agg": "count"}]})
    # Twelve parses of ~0.5 s CPU each, sliced and sharing the loop with 500 requests: on this 2-core machine
    # at load 8 the process gets a third of a core and they took 17-23 s. They are the load here, not what is
    # judged, so their timeout leaves room; their result is still asserted.
    return PlannedCheck(spec=spec, target=Target(name=f"exporter{n}", kind="metrics", address=url), timeout=90,
                        retries=0, retry_delay=0)


@pytest.mark.parametrize("cpu_checks", [0, CPU_CHECKS])
def test_http_latency_is_the_requests_own_time_beside_hundreds_of_checks(http_server, cpu_checks):
    big = http_server.route(f"/{unique_name('big')}", body=big_exposition(), content_type="text/plain; version=0.0.4")
    with HttpServerProcess(ENDPOINTS, SERVER_DELAY_S) as server:
        checks = [http_check(n, server.urls[n % ENDPOINTS]) for n in range(HTTP_CHECKS)]
        # The CPU-heavy checks are spread through the plan, so they run while the requests are in flight.
        for k in range(cpu_checks):
            checks.insert(k * len(checks) // cpu_checks, cpu_check(k, big))
        results = {r.id: r for r in run(checks, concurrency=256)}
        handled = server.handled()

    for k in range(cpu_checks):
        assert results[f"scrape{k}"].metrics.get("series") == 20_000, results[f"scrape{k}"].message
    off = []
    for n in range(HTTP_CHECKS):
        r = results[f"http{n}"]
        assert "latency_ms" in r.metrics, r.message
        server_ms = handled[str(n)] * 1000
        assert server_ms >= SERVER_DELAY_S * 1000
        if r.status is Status.WARNING or not server_ms <= r.metrics["latency_ms"] <= server_ms + MARGIN_MS:
            off.append((n, round(server_ms), round(r.metrics["latency_ms"])))
    assert not off, f"{len(off)} of {HTTP_CHECKS} latencies off the server's own time: {off[:10]}"
