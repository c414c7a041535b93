"""The pieces of serve that need no network: the HTTP head parser, the ping histogram, the probe budget from
Prometheus's header, the Pushgateway group URL, the gate's loop, and the AutoGen view's exposition."""

from __future__ import annotations

import asyncio
import base64

import pytest

from agentops.core.model import Report, Result, Status
from agentops.serve.cluster import RoundTrips, TargetView
from agentops.serve.gate import until_healthy
from agentops.serve.http import parse_head
from agentops.serve.push import PushError, group_url, grouping_key


def test_parse_head() -> None:
    req = parse_head(b"GET /probe?target=a%20b&pack=x HTTP/1.1\r\nX-Prometheus-Scrape-Timeout-Seconds: 3\r\nHost: h")
    assert req.method == "GET" and req.path == "/probe"
    assert req.arg("target") == "a b" and req.arg("pack") == "x" and req.arg("none") is None
    assert req.headers["x-prometheus-scrape-timeout-seconds"] == "3"
    for bad in (b"GET /", b"GET / SPDY/3", b"GET / HTTP/1.1\r\nno colon here", b"\xff\xfe"):
        with pytest.raises(ValueError):
            parse_head(bad)


def test_round_trips_are_cumulative_buckets() -> None:
    h = RoundTrips((0.01, 0.1, 1.0))
    for s in (0.005, 0.05, 0.05, 2.0):
        h.record(s)
    assert h.to_dict()["buckets"] == [[0.01, 1], [0.1, 3], [1.0, 3]]
    assert h.count == 4 and h.total_s == pytest.approx(2.105)


def test_probe_budget_follows_the_scrape_timeout_header(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentops.serve.http import Request
    from agentops.serve.options import ServeOptions
    from agentops.serve.service import Service

    monkeypatch.chdir(tmp_path)  # no ./agentops.yaml: the no-config plan (this machine)
    monkeypatch.delenv("AGENTOPS_CONFIG", raising=False)
    o = ServeOptions()
    svc = Service(None, o)

    def budget(headers: dict[str, str]) -> float:
        return svc._probe_budget(Request("GET", "/probe", {}, headers))

    assert budget({}) == o.probe_timeout_s
    assert budget({"x-prometheus-scrape-timeout-seconds": "3"}) == 3 - o.probe_timeout_offset_s
    assert budget({"x-prometheus-scrape-timeout-seconds": "100000"}) == o.probe_timeout_max_s
    for bad in ("soon", "-1", "0", "nan"):
        with pytest.raises(ValueError):
            budget({"x-prometheus-scrape-timeout-seconds": bad})


def test_group_url_encodes_what_a_path_cannot_hold() -> None:
    url = group_url("http://gw:9091/", grouping_key(["host"], instance="web-1"))
    assert url == "http://gw:9091/metrics/job/agentops/instance/web-1/pack/host"
    url = group_url("http://gw:9091", grouping_key(["./my/pack.yaml", "redis"], instance="h"))
    encoded = base64.urlsafe_b64encode(b"./my/pack.yaml,redis").decode()
    assert url.endswith(f"/pack@base64/{encoded}")
    assert group_url("http://gw", {"job": "agentops", "instance": ""}).endswith("/instance@base64/=")
    with pytest.raises(PushError):
        group_url("gw:9091", grouping_key([]))


def _report(status: Status) -> Report:
    return Report(kind="health", started_at="", duration_s=0,
                  results=[Result(id="c", target="t", probe="p", status=status)])


def test_the_gate_stops_at_the_first_pass_or_at_its_deadline() -> None:
    seen: list[int] = []
    statuses = iter([Status.CRITICAL, Status.CRITICAL, Status.OK, Status.CRITICAL])

    async def run_round(deadline_at: float) -> Report:
        return _report(next(statuses))

    report = asyncio.run(until_healthy(run_round, lambda r: r.status is Status.OK, wait_s=60, every_s=0,
                                       on_round=lambda n, r, left: seen.append(n)))
    assert report.status is Status.OK and seen == [1, 2]

    async def never(deadline_at: float) -> Report:
        return _report(Status.CRITICAL)

    report = asyncio.run(until_healthy(never, lambda r: False, wait_s=0.05, every_s=0.01))
    assert report.status is Status.CRITICAL


def test_autogen_exposition_parses_and_says_what_the_view_holds() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from agentops.render.prometheus import render_autogen_views

    view = TargetView(target="h", address="127.0.0.1:1", up=True, owners_asked=True,
                      types={"echo": {"registered": True, "owned": True, "worker": "w1", "client_id": "c1"},
                             "gone": {"registered": False, "owned": False, "worker": "w2", "client_id": None}},
                      topics=[{"topic": 'we"ird\ntopic', "kind": "type", "subscriptions": 1, "live": 0}],
                      workers={"w1": True, "w2": False})
    view.pings["echo"] = RoundTrips((0.01,))
    view.pings["echo"].record(0.002)
    view.ping_failures[("gone", "no_reply")] = 3
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(render_autogen_views([view.to_dict()])) for s in f.samples}
    assert samples[("agentops_autogen_agent_types", (("target", "h"),))] == 1  # registered ones only
    assert samples[("agentops_autogen_agent_type_owned", (("agent_type", "gone"), ("target", "h"),
                                                          ("worker", "w2")))] == 0
    assert samples[("agentops_autogen_topics_without_subscriber", (("target", "h"),))] == 1
    assert samples[("agentops_autogen_worker_connected", (("target", "h"), ("worker", "w2")))] == 0
    assert samples[("agentops_autogen_ping_rtt_seconds_count", (("agent_type", "echo"), ("target", "h")))] == 1
    assert samples[("agentops_autogen_ping_failures_total", (("agent_type", "gone"), ("outcome", "no_reply"),
                                                             ("target", "h")))] == 3
    assert any(dict(k[1]).get("topic") == 'we"ird\ntopic' for k in samples)  # escaped, not broken
