"""The /metrics probe against a real HTTP server rendering real prometheus_client registries: series,
ratios, histogram quantiles, rates over two scrapes, and the ways a scrape can fail."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from agentops.core.config import Target
from agentops.core.model import Reason
from agentops.probes.metrics import filter_exposition, histogram_quantile
from tests.fixtures.common import assert_no_traceback, free_port, run_cli
from tests.fixtures.servers import AgentMetrics, SteadyWorker, run_probe, unique_name


def scrape(url: str, compute: list[dict], timeout: float = 3.0, window_s: float | None = None, **target_kw):
    params: dict = {"compute": compute}
    if window_s is not None:
        params["window_s"] = window_s
    target = Target(name="worker1", kind="metrics", address=url, **target_kw)
    return run_probe("metrics", target, params, timeout)


@pytest.fixture
def agent(http_server):
    """A worker's metrics: 100 echo replies (50 at 30 ms, 30 at 200 ms, 15 at 700 ms, 5 at 3 s), 2 failed."""
    m = AgentMetrics()
    m.observe("echo", *[0.03] * 50, *[0.2] * 30, *[0.7] * 15, *[3.0] * 5)
    m.observe("slow", 4.0, 4.5)
    m.errors.labels("echo").inc(2)
    m.active_agents.set(7)
    m.url = http_server.metrics_route(f"/{unique_name('metrics')}", m.registry)
    return m


# --------------------------------------------------------------------------------------------------- series

def test_series_sum_labels_and_aggregations(agent):
    obs = scrape(agent.url, [
        {"name": "active", "series": "runtime_active_agents"},
        {"name": "messages", "series": "agent_message_count_total"},
        {"name": "echo_messages", "series": "agent_message_count", "labels": {"agent_type": "echo"}},
        {"name": "max_messages", "series": "agent_message_count_total", "agg": "max"},
        {"name": "types", "series": "agent_message_count_total", "agg": "count"},
    ])
    assert not obs.failed, obs.message
    assert obs.metrics["active"] == 7
    assert obs.metrics["messages"] == 102
    assert obs.metrics["echo_messages"] == 100
    assert obs.metrics["max_messages"] == 100
    assert obs.metrics["types"] == 2
    assert obs.metrics["scrape_bytes"] > 0


def test_declared_family_without_series_counts_as_zero(http_server):
    m = AgentMetrics()  # agent_errors is declared (# TYPE) but no agent type ever failed
    url = http_server.metrics_route(f"/{unique_name('m')}", m.registry)
    obs = scrape(url, [{"name": "errors", "series": "agent_errors_total"},
                       {"name": "worst", "series": "agent_errors_total", "agg": "max"}])
    assert not obs.failed, obs.message
    assert obs.metrics["errors"] == 0
    assert obs.metrics["worst"] != obs.metrics["worst"]  # NaN: a max of nothing is unknown, not 0
    assert obs.message == "worst=n/a (no series of agent_errors_total matched)"


def test_no_traffic_in_the_window_is_no_verdict_and_says_why(http_server):
    m = AgentMetrics()
    m.observe("echo", 0.2)  # traffic before the window only
    url = http_server.metrics_route(f"/{unique_name('m')}", m.registry)
    obs = scrape(url, [
        {"name": "p95_s", "quantile": "agent_response_time", "q": 0.95, "over": "window"},
        {"name": "error_rate_percent", "over": "window",
         "ratio": {"numerator": "agent_errors_total", "denominator": "agent_message_count_total"}},
    ], window_s=0.1)
    assert not obs.failed
    assert all(v != v for k, v in obs.metrics.items() if k in ("p95_s", "error_rate_percent"))
    assert obs.message == ("p95_s=n/a (no observations of agent_response_time in the window); "
                           "error_rate_percent=n/a (agent_message_count_total did not increase in the window)")


def test_missing_family_is_an_assertion_naming_it(agent):
    obs = scrape(agent.url, [{"name": "x", "series": "agent_restarts_total"}])
    assert obs.reason is Reason.ASSERTION
    assert obs.message == f"no series agent_restarts_total at {agent.url}"


# ---------------------------------------------------------------------------------------------------- ratio

def test_ratio_of_two_counters(agent):
    obs = scrape(agent.url, [{"name": "error_rate_percent", "scale": 100, "ratio": {
        "numerator": "agent_errors_total", "denominator": "agent_message_count_total"}}])
    assert not obs.failed, obs.message
    assert obs.metrics["error_rate_percent"] == pytest.approx(2 / 102 * 100)


def test_memory_percent_against_a_target_option(http_server):
    m = AgentMetrics(resident_memory_bytes=600 * 2**20)
    url = http_server.metrics_route(f"/{unique_name('m')}", m.registry)
    compute = [{"name": "memory_percent", "scale": 100, "ratio": {
        "numerator": "process_resident_memory_bytes", "denominator": {"option": "memory_limit_bytes"}}}]
    obs = scrape(url, compute, options={"memory_limit_bytes": 1000 * 2**20})
    assert obs.metrics["memory_percent"] == pytest.approx(60.0)
    obs = scrape(url, compute)
    assert obs.reason is Reason.UNSUPPORTED
    assert obs.message == "target 'worker1' sets no options.memory_limit_bytes (needed by memory_percent)"


def test_memory_percent_falls_back_to_machine_memory_only_on_loopback(http_server):
    import psutil

    m = AgentMetrics(resident_memory_bytes=2**30)
    url = http_server.metrics_route(f"/{unique_name('m')}", m.registry)
    compute = [{"name": "memory_percent", "scale": 100, "ratio": {
        "numerator": "process_resident_memory_bytes",
        "denominator": {"option": "memory_limit_bytes", "default": "machine_memory"}}}]
    obs = scrape(url, compute)
    assert obs.metrics["memory_percent"] == pytest.approx(2**30 / psutil.virtual_memory().total * 100)
    assert "machine memory" in obs.facts["memory_percent.memory_limit_bytes"]


# ------------------------------------------------------------------------------------------------- quantile

def test_quantiles_from_a_real_histogram(agent):
    obs = scrape(agent.url, [
        {"name": "p50", "quantile": "agent_response_time", "q": 0.5, "labels": {"agent_type": "echo"}},
        {"name": "p90", "quantile": "agent_response_time", "q": 0.9, "labels": {"agent_type": "echo"}},
        {"name": "p95", "quantile": "agent_response_time", "q": 0.95, "labels": {"agent_type": "echo"}},
        {"name": "p99", "quantile": "agent_response_time", "q": 0.99, "labels": {"agent_type": "echo"}},
        {"name": "p99_all", "quantile": "agent_response_time_bucket", "q": 0.99},
    ])
    assert not obs.failed, obs.message
    # echo's cumulative buckets: le 0.05:50 0.1:50 0.25:80 0.5:80 1:95 2:95 5:100 +Inf:100
    assert obs.metrics["p50"] == pytest.approx(0.05)  # rank 50 in (0, 0.05]: 0 + 0.05 * 50/50
    assert obs.metrics["p90"] == pytest.approx(0.5 + 0.5 * 10 / 15)  # rank 90 in (0.5, 1]: 10th of 15
    assert obs.metrics["p95"] == pytest.approx(1.0)  # rank 95 in (0.5, 1]: 15th of 15
    assert obs.metrics["p99"] == pytest.approx(2 + 3 * 4 / 5)  # rank 99 in (2, 5]: 4th of 5
    # with "slow" (4.0, 4.5) too: 102 observations, le 2:95 5:102; rank 100.98 in (2, 5]: 5.98th of 7
    assert obs.metrics["p99_all"] == pytest.approx(2 + 3 * (0.99 * 102 - 95) / 7)


def test_quantile_beyond_the_last_bucket_is_its_bound_and_empty_is_nan():
    inf = float("inf")
    assert histogram_quantile(0.99, {1.0: 1, 5.0: 1, inf: 10}) == 5.0
    assert histogram_quantile(0.5, {1.0: 0, inf: 0}) != histogram_quantile(0.5, {1.0: 0, inf: 0})
    assert histogram_quantile(0.5, {1.0: 3}) != histogram_quantile(0.5, {1.0: 3})  # no +Inf bucket


# ----------------------------------------------------------------------------------------------------- rate

def test_rate_and_windowed_values_over_two_scrapes(http_server):
    # Each scrape advances the counter by exactly 500 and the CPU time by 0.35 s.
    m = AgentMetrics(messages_per_scrape=500, cpu_seconds_per_scrape=0.35)
    url = http_server.metrics_route(f"/{unique_name('m')}", m.registry)
    obs = scrape(url, [
        {"name": "throughput_per_s", "rate": "agent_message_count_total"},
        {"name": "cpu_percent", "rate": "process_cpu_seconds_total"},
        {"name": "messages_in_window", "series": "agent_message_count_total", "over": "window"},
    ], window_s=0.3)
    assert not obs.failed, obs.message
    assert m.scrapes == 2
    elapsed = obs.facts["window_elapsed_s"]
    assert elapsed >= 0.3
    assert obs.metrics["messages_in_window"] == 500
    assert obs.metrics["throughput_per_s"] == pytest.approx(500 / elapsed)
    assert obs.metrics["cpu_percent"] == pytest.approx(0.35 / elapsed)


def test_windowed_error_rate_and_quantile_judge_only_the_window(http_server):
    m = AgentMetrics()
    m.observe("echo", *[3.0] * 10)  # a bad past: slow replies ...
    m.errors.labels("echo").inc(10)  # ... that all failed
    url = http_server.metrics_route(f"/{unique_name('m')}", m.registry)
    registry_collect = m.registry.collect

    def collect_then_recover():  # during the window: 20 fast replies, 1 error
        yield from registry_collect()
        if m.scrapes == 1:
            m.observe("echo", *[0.2] * 20)
            m.errors.labels("echo").inc(1)

    m.registry.collect = collect_then_recover  # type: ignore[method-assign]
    obs = scrape(url, [
        {"name": "error_rate_percent", "scale": 100, "over": "window",
         "ratio": {"numerator": "agent_errors_total", "denominator": "agent_message_count_total"}},
        {"name": "p95_window", "quantile": "agent_response_time", "q": 0.95, "over": "window"},
        {"name": "p95_lifetime", "quantile": "agent_response_time", "q": 0.95},
    ], window_s=0.2)
    assert not obs.failed, obs.message
    assert obs.metrics["error_rate_percent"] == pytest.approx(1 / 20 * 100)
    assert obs.metrics["p95_window"] == pytest.approx(0.1 + 0.15 * 19 / 20)  # rank 19 of 20 in (0.1, 0.25]
    assert obs.metrics["p95_lifetime"] == pytest.approx(2 + 3 * (0.95 * 30 - 20) / 10)


def test_window_must_fit_in_the_timeout(agent):
    obs = scrape(agent.url, [{"name": "r", "rate": "agent_message_count_total"}], window_s=2.0, timeout=1.0)
    assert obs.reason is Reason.UNSUPPORTED
    assert "window_s (2s) must be shorter than the check's timeout (1s)" in obs.message


# -------------------------------------------------------------------------------------- parsing and faults

def test_only_the_named_families_are_parsed(http_server):
    reg = CollectorRegistry()
    Gauge("wanted", "w", registry=reg).set(3)
    big = "\n".join(f'noise_{i}{{shard="{i}"}} {i}' for i in range(20000))
    broken = "this line { is not Prometheus at all\n"  # below the sniffed head: never parsed
    from prometheus_client import generate_latest

    url = http_server.route(f"/{unique_name('m')}", body=lambda: (generate_latest(reg).decode() + big + "\n"
                                                                    + broken).encode())
    obs = scrape(url, [{"name": "w", "series": "wanted"}])
    assert not obs.failed, obs.message
    assert obs.metrics["w"] == 3
    text = '# HELP a_total A.\n# TYPE a_total counter\na_total 1\nab_total 2\n# TYPE ab_total counter\na_total{x="1"} 3\n'
    assert filter_exposition(text, {"a_total"}) == \
        '# HELP a_total A.\n# TYPE a_total counter\na_total 1\na_total{x="1"} 3\n'


@pytest.mark.parametrize(("body", "content_type", "expect"), [
    ("<html><body>Login</body></html>", "text/html", "not a Prometheus exposition (content-type text/html)"),
    ("<html><body>Login</body></html>", "text/plain", "cannot parse the exposition"),
    ('{"metrics": []}', "text/plain", "cannot parse the exposition"),
    ("# TYPE agent_errors_total counter\nagent_errors_total{broken 12 ??\n", "text/plain",
     "cannot parse the exposition"),
])
def test_garbage_is_protocol(http_server, body, content_type, expect):
    url = http_server.route(f"/{unique_name('g')}", body=body, content_type=content_type)
    obs = scrape(url, [{"name": "e", "series": "agent_errors_total"}])
    assert obs.reason is Reason.PROTOCOL
    assert expect in obs.message


def test_openmetrics_exposition_is_read(http_server):
    from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest

    reg = CollectorRegistry()
    Counter("agent_errors", "e", registry=reg).inc(4)
    url = http_server.route(f"/{unique_name('om')}", body=lambda: generate_latest(reg),
                            content_type=CONTENT_TYPE_LATEST)
    obs = scrape(url, [{"name": "e", "series": "agent_errors_total"}])
    assert not obs.failed, obs.message
    assert obs.metrics["e"] == 4


def test_scrape_failures_keep_their_reason(http_server, silent_listener):
    url = http_server.route(f"/{unique_name('e')}", status=500, body="oops")
    obs = scrape(url, [{"name": "e", "series": "x"}])
    assert obs.reason is Reason.PROTOCOL and "answered 500" in obs.message
    obs = scrape(f"http://127.0.0.1:{free_port()}/metrics", [{"name": "e", "series": "x"}])
    assert obs.reason is Reason.CONNECT
    obs = scrape(f"http://127.0.0.1:{silent_listener.port}/metrics", [{"name": "e", "series": "x"}], timeout=0.3)
    assert obs.reason is Reason.TIMEOUT


@pytest.mark.parametrize(("params", "error"), [
    ({}, "compute: expected a non-empty list"),
    ({"compute": [{"name": "a"}]}, "compute[0]: give exactly one of series, ratio, quantile, rate"),
    ({"compute": [{"name": "a", "series": "x", "rate": "y"}]}, "give exactly one of"),
    ({"compute": [{"name": "a", "series": "x"}, {"name": "a", "series": "y"}]}, "'a' is computed twice"),
    ({"compute": [{"name": "a", "rate": "x"}]}, "compute[0]: needs params.window_s"),
    ({"compute": [{"name": "a", "quantile": "h"}]}, "compute[0].q: expected a quantile between 0 and 1"),
    ({"compute": [{"name": "a", "quantile": "h", "q": 95}]}, "compute[0].q:"),
    ({"compute": [{"name": "a", "ratio": {"numerator": "x"}}]}, "compute[0].ratio: expected {numerator"),
    ({"compute": [{"name": "a", "ratio": {"numerator": "x", "denominator": 0}}]}, "cannot be 0"),
    ({"compute": [{"name": "a", "series": "bad name"}]}, "compute[0].series: expected a Prometheus metric name"),
    ({"compute": [{"name": "a", "series": "x", "agg": "median"}]}, "compute[0].agg:"),
    ({"compute": [{"name": "a", "series": "x", "lables": {}}]}, "unknown key 'lables'"),
    ({"compute": [{"name": "a", "series": "x"}], "window_s": 0}, "window_s: expected a number of seconds > 0"),
    ({"compute": [{"name": "a", "series": "x"}], "path": "/m"}, "unknown param 'path'"),
])
def test_bad_params_are_one_line_errors(params, error):
    from agentops.core import registry

    with pytest.raises(ValueError) as info:
        registry.probe("metrics").validate_params(params)
    assert error in str(info.value)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------- the kpi pack, end to end

def kpi_config(tmp_path, url: str, options: dict | None = None) -> str:
    import yaml

    target = {"name": "worker1", "kind": "metrics", "address": url}
    if options:
        target["options"] = options
    path = tmp_path / "agentops.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "targets": [target], "packs": ["kpi"]}))
    return str(path)


def kpi_results_list(result) -> list[dict]:
    assert_no_traceback(result)
    return result.json()["results"]


def kpi_results(result) -> dict[str, dict]:
    return {r["id"]: r for r in kpi_results_list(result)}


def test_kpi_pack_on_a_healthy_worker(http_server, tmp_path):
    worker = SteadyWorker(messages_per_s=1500, error_ratio=0.0002, cpu_cores=0.3,
                          latency_shares={0.08: 0.97, 0.8: 0.025, 1.5: 0.005}, resident_memory_bytes=400e6)
    url = http_server.metrics_route(f"/{unique_name('kpi')}", worker.registry)
    result = run_cli("health", "-c", kpi_config(tmp_path, url, {"memory_limit_bytes": 1e9}), "-o", "json",
                     "--only", "kpi.*")
    by_id = kpi_results(result)
    assert sorted(by_id) == ["kpi.cpu", "kpi.error_rate", "kpi.latency_p95", "kpi.latency_p99", "kpi.memory",
                             "kpi.throughput"]
    assert {i: r["status"] for i, r in by_id.items()} == dict.fromkeys(by_id, "OK"), by_id
    assert result.code == 0
    m = {k: v for r in by_id.values() for k, v in r["metrics"].items()}
    assert m["throughput_per_s"] == pytest.approx(1500, rel=0.1)
    assert m["error_rate_percent"] == pytest.approx(0.02, rel=0.01)  # a ratio of increases: no timing in it
    assert m["cpu_percent"] == pytest.approx(30, rel=0.1)
    assert m["memory_percent"] == pytest.approx(40)
    # within the window: 97 % at or under the 0.1 s bucket, 99.5 % under 1 s
    assert m["p95_s"] == pytest.approx(0.05 + 0.05 * 0.95 / 0.97, rel=0.01)
    assert m["p99_s"] == pytest.approx(0.5 + 0.5 * (0.99 - 0.97) / 0.025, rel=0.01)


def test_kpi_pack_on_a_failing_worker(http_server, tmp_path):
    worker = SteadyWorker(messages_per_s=200, error_ratio=0.01, cpu_cores=0.85,
                          latency_shares={0.08: 0.5, 3.0: 0.45, 7.0: 0.05}, resident_memory_bytes=880e6)
    url = http_server.metrics_route(f"/{unique_name('kpi')}", worker.registry)
    result = run_cli("health", "-c", kpi_config(tmp_path, url, {"memory_limit_bytes": 1e9}), "-o", "json",
                     "--only", "kpi.*")
    by_id = kpi_results(result)
    assert {i: (r["status"], r["reason"]) for i, r in by_id.items()} == {
        "kpi.latency_p95": ("CRITICAL", "threshold"),  # 95 % of replies within 5 s: P95 at the 5 s bound
        "kpi.latency_p99": ("CRITICAL", "threshold"),  # P99 falls in +Inf: the highest bound, 5 s
        "kpi.throughput": ("WARNING", "threshold"),
        "kpi.error_rate": ("CRITICAL", "threshold"),
        "kpi.cpu": ("CRITICAL", "threshold"),
        "kpi.memory": ("CRITICAL", "threshold"),
    }
    assert result.code == 2
    assert by_id["kpi.error_rate"]["message"].startswith("error_rate_percent=1 (critical >= 0.1)")


def test_kpi_pack_on_a_worker_that_is_down(tmp_path):
    result = run_cli("health", "-c", kpi_config(tmp_path, f"http://127.0.0.1:{free_port()}/metrics"),
                     "-o", "json", "--only", "kpi.cpu,kpi.memory")
    by_id = kpi_results(result)
    assert {i: (r["status"], r["reason"]) for i, r in by_id.items()} == {
        "kpi.cpu": ("CRITICAL", "connect"), "kpi.memory": ("CRITICAL", "connect")}
    assert result.code == 2


@pytest.mark.lab
def test_kpi_pack_reads_the_real_lab_workers(lab):
    """The contract between the pack and a real AutoGen worker's exposition: every family the KPIs name is
    there (an idle lab has no traffic in the window: throughput 0 is a WARNING, quantiles are n/a)."""
    result = run_cli("health", "-c", str(lab.config), "-o", "json", "--pack", "kpi")  # opt-in pack
    results = kpi_results_list(result)
    assert {r["target"] for r in results} == {"w1-metrics", "w2-metrics"}
    assert len(results) == 12
    for r in results:
        assert r["reason"] in (None, "threshold"), r
    metrics = {(r["target"], k): v for r in results for k, v in r["metrics"].items()}
    for worker in ("w1-metrics", "w2-metrics"):
        assert 0 < metrics[(worker, "memory_percent")] < 100  # its RSS against this machine's RAM
        assert metrics[(worker, "cpu_percent")] >= 0
        assert metrics[(worker, "throughput_per_s")] >= 0


# ------------------------------------------------------------------------------- hostile and huge bodies

def test_a_body_over_the_limit_is_too_large_not_a_parse_error(http_server):
    """9 MiB of well-formed series (over the 8 MiB limit): the reason says too large and names the limit."""
    from agentops.probes.metrics import MAX_SCRAPE_BYTES

    line = b'filler_series{instance="%d"} 1\n'
    body = b"up 1\n" + b"".join(line % i for i in range(MAX_SCRAPE_BYTES // len(line % 0) + 50_000))
    assert len(body) > MAX_SCRAPE_BYTES
    url = http_server.route(f"/{unique_name('huge')}", body=body)
    obs = scrape(url, [{"name": "up", "series": "up"}], timeout=20)
    assert obs.reason is Reason.PROTOCOL, obs
    assert "too large" in obs.message and "8 MiB" in obs.message and "parse" not in obs.message


def test_many_series_are_scanned_in_bounded_memory(http_server):
    """A body of 800k series under the limit is streamed: only the wanted family's lines are
    kept, so the probe's peak allocation stays far below the body's size."""
    import tracemalloc

    from agentops.probes.metrics import MAX_SCRAPE_BYTES

    body = b"up 1\n" + b"".join(b"s%d 1\n" % i for i in range(800_000))
    assert len(body) < MAX_SCRAPE_BYTES
    url = http_server.route(f"/{unique_name('many')}", body=body)
    tracemalloc.start()
    try:
        obs = scrape(url, [{"name": "up", "series": "up"}], timeout=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not obs.failed, obs
    assert obs.metrics["up"] == 1 and obs.metrics["scrape_bytes"] == len(body)
    assert peak < len(body) / 2, peak


def test_a_nan_histogram_has_no_quantile_and_no_crash(http_server):
    body = (b"# TYPE h histogram\n"
            b'h_bucket{le="0.1"} NaN\nh_bucket{le="1"} NaN\nh_bucket{le="+Inf"} NaN\nh_sum NaN\nh_count NaN\n')
    url = http_server.route(f"/{unique_name('nanhist')}", body=body)
    obs = scrape(url, [{"name": "p95", "quantile": "h", "q": 0.95}])
    assert obs.reason is not Reason.INTERNAL, obs
    assert obs.metrics["p95"] != obs.metrics["p95"]  # NaN: no verdict possible
