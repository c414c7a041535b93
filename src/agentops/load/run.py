"""`agentops load` as a library call: open one AgentRpc stream to the host, drive the load, judge the KPIs,
and return a `load` report (results: the run itself and one check per KPI; findings: what an operator should
know about the numbers)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agentops.core.config import TLSOptions
from agentops.core.format import duration
from agentops.core.model import Finding, Observation, Reason, Report, Result, Status
from agentops.core.packs import CheckSpec
from agentops.core.runner import judge
from agentops.load import kpi as kpi_mod
from agentops.load.engine import HANDLER_ERROR, IN_FLIGHT_LIMIT, NO_REPLY, STREAM_CLOSED, LoadSpec, LoadStats, run_load

RUN_SPEC = CheckSpec(id="load.run", probe="load", description="the load run itself: could it drive the target?",
                     source="agentops load")
# What a load run's metrics are called; the KPI overrides are checked against these names.
METRIC_NAMES = {"requests", "sent", "ok", "errors", "missing", "throughput_per_s", "error_rate_percent",
                "elapsed_s", "late_replies", "p50_s", "p90_s", "p95_s", "p99_s", "p999_s", "min_s", "mean_s", "max_s",
                "send_lag_p99_s", "send_lag_max_s"}


@dataclass
class LoadTarget:
    address: str
    agent_type: str
    key: str
    payload_type: str
    payload: Any
    tls: TLSOptions = field(default_factory=TLSOptions)  # the agentrpc target's `tls:`


@dataclass
class LoadOutcome:
    stats: LoadStats | None
    failure: Observation | None  # could not start: connect/protocol reason
    connect_ms: float = 0.0
    size_bytes: int = 0


async def drive(target: LoadTarget, spec: LoadSpec, *, connect_timeout: float = 5.0,
                on_progress: Any = None, stop: Any = None) -> LoadOutcome:
    """Open the stream and run the load; a failure to start is an Observation, not an exception."""
    from agentops.autogen.client import MAX_MESSAGE_BYTES, AgentRpcClient, AgentRpcError
    from agentops.load.stream import RequestStream

    async with AgentRpcClient(target.address, tls=target.tls) as client:
        stream = RequestStream(client, target.agent_type, target.key, target.payload_type, target.payload)
        if stream.size_bytes > MAX_MESSAGE_BYTES:
            return LoadOutcome(None, Observation.failure(
                Reason.ASSERTION, f"the request is {stream.size_bytes} bytes, over the {MAX_MESSAGE_BYTES}-byte "
                                  f"gRPC limit: the host would drop the connection; not sent"),
                size_bytes=stream.size_bytes)
        try:
            connect_ms = await stream.open(connect_timeout)
        except AgentRpcError as exc:
            return LoadOutcome(None, Observation.failure(exc.reason, exc.message), size_bytes=stream.size_bytes)
        try:
            stats = await run_load(stream, spec, on_progress, stop)
        finally:
            await stream.close()
    return LoadOutcome(stats, None, connect_ms, stream.size_bytes)


def run_result(outcome: LoadOutcome, target: str) -> Result:
    if outcome.failure is not None:
        return judge(RUN_SPEC, target, outcome.failure, 0.0)
    s = outcome.stats
    assert s is not None
    m = s.metrics()
    kinds = ", ".join(f"{k} {n}" for k, n in s.errors.most_common()) or "no errors"
    message = (f"{s.requests} requests, {s.ok} ok ({kinds}); {m['throughput_per_s']:.1f} msg/s; latency p50 "
               f"{duration(m['p50_s'])} p95 {duration(m['p95_s'])} p99 {duration(m['p99_s'])} "
               f"max {duration(m['max_s'])}")
    obs = Observation(metrics=m, message=message, facts={"connect_ms": round(outcome.connect_ms, 3),
                                                          "request_bytes": outcome.size_bytes})
    if s.stopped:
        obs.reason, obs.message = Reason.CONNECT, f"the stream ended during the run: {s.stopped}; {message}"
    elif s.sent and not s.ok + s.errors.get(HANDLER_ERROR, 0):
        # Nothing came back (a handler's error text is a reply): the run measured no agent at all, so it failed
        # whatever the KPIs were set to judge.
        obs.reason = Reason.TIMEOUT
        obs.message = (f"no reply to any of the {s.sent} requests within {s.spec.timeout_s:g}s "
                       f"({s.errors.get(NO_REPLY, 0)} missing at their deadline): {message}")
    return judge(RUN_SPEC, target, obs, s.elapsed_s)


def findings(outcome: LoadOutcome, target: str) -> list[Finding]:
    s = outcome.stats
    if s is None:
        return []
    out: list[Finding] = []
    missing = s.errors.get(NO_REPLY, 0)
    if missing:
        out.append(Finding(
            id="load.missing_replies", status=Status.CRITICAL,
            title=f"{missing} of {s.sent} requests to {target} got no reply within {s.spec.timeout_s:g}s",
            cause="AutoGen gives the caller no error for most failures: an unregistered type, a handler that "
                  "returns nothing or has no serializer for its result, a payload the agent cannot decode, a dead "
                  "or frozen worker, or replies slower than the deadline",
            evidence=[f"{missing} missing, {s.ok} ok, {s.late_replies} replies arrived after their deadline"],
            fix=f"run `agentops diagnose message --to {target}` to find which; raise --timeout if the agent is "
                f"simply slower than {s.spec.timeout_s:g}s",
            checks=["load.run"]))
    if s.errors.get(HANDLER_ERROR):
        texts = [f"{n} x {text}" for text, n in s.handler_errors.most_common(3)]
        out.append(Finding(
            id="load.handler_errors", status=Status.CRITICAL,
            title=f"The handler of {target} raised on {s.errors[HANDLER_ERROR]} of {s.sent} requests",
            cause="the agent's message handler raised; the caller received the exception text",
            evidence=texts, fix="see the worker's log for the traceback (`agentops logs analyze`) and fix the "
                                "handler, or the payload it cannot handle", checks=["load.run"]))
    if s.errors.get(IN_FLIGHT_LIMIT):
        out.append(Finding(
            id="load.in_flight_limit", status=Status.WARNING,
            title=f"{s.errors[IN_FLIGHT_LIMIT]} requests were not sent: {s.spec.max_in_flight} already in flight",
            cause="the target answers slower than the offered rate, so requests pile up",
            evidence=[f"offered {s.spec.rate:g}/s, achieved {s.throughput_per_s:.1f}/s"],
            fix="the target is saturated at this rate: lower --rate, or find its bottleneck with "
                "`agentops diagnose performance`", checks=["load.run"]))
    if s.spec.rate is not None and s.send_lag.count:
        lag = s.send_lag.quantile(0.99)
        if lag > max(0.05, 10.0 / s.spec.rate):
            out.append(Finding(
                id="load.generator_lag", status=Status.WARNING,
                title=f"The load generator fell behind its schedule (p99 send lag {duration(lag)})",
                cause="this machine could not send at the asked rate (CPU, or the stream's flow control pushing "
                      "back); latencies still count from the intended send times, so they include the lag",
                evidence=[f"asked {s.spec.rate:g}/s over {s.send_window_s:.1f}s; send lag p99 {duration(lag)}, "
                          f"max {duration(s.send_lag.max_s)}"],
                fix="run the generator on another machine, or lower --rate", checks=["load.run"]))
    if s.errors.get(STREAM_CLOSED):
        out.append(Finding(
            id="load.stream_closed", status=Status.CRITICAL, title="The connection to the host ended during the run",
            cause="the host closed the stream (host restarted or killed, a message over 4 MiB, a network drop)",
            evidence=[s.stopped or "stream closed", f"{s.errors[STREAM_CLOSED]} requests lost with it"],
            fix="check the host (`agentops diagnose message --to <type>`) and rerun", checks=["load.run"]))
    return out


def load_document(target: LoadTarget, spec: LoadSpec, outcome: LoadOutcome, kpis: list[kpi_mod.Kpi]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "host": target.address, "to": f"{target.agent_type}/{target.key}", "payload_type": target.payload_type,
        "model": spec.model, "rate": spec.rate, "concurrency": spec.concurrency, "duration_s": spec.duration_s,
        "count": spec.count, "timeout_s": spec.timeout_s, "max_in_flight": spec.max_in_flight,
        "kpis": {k.metric: k.goal for k in kpis},
    }
    s = outcome.stats
    if s is not None:
        doc.update({
            "requests": s.requests, "sent": s.sent, "ok": s.ok, "errors": dict(s.errors),
            "handler_errors": [{"error": t, "count": n} for t, n in s.handler_errors.most_common()],
            "elapsed_s": round(s.elapsed_s, 4), "send_window_s": round(s.send_window_s, 4),
            "throughput_per_s": round(s.throughput_per_s, 3), "late_replies": s.late_replies,
            "latency": {k: _finite(v) for k, v in s.latency.summary().items()},
            "histogram": s.latency.buckets(), "timeline": s.timeline_rows(),
        })
        if spec.rate is not None:
            doc["send_lag"] = {"p99_s": _finite(s.send_lag.quantile(0.99)),
                               "max_s": _finite(s.send_lag.max_s) if s.send_lag.count else None}
    return doc


def _finite(v: float) -> float | None:
    return None if v != v or v in (float("inf"), float("-inf")) else round(v, 6)


def load_report(target: LoadTarget, spec: LoadSpec, outcome: LoadOutcome, kpis: list[kpi_mod.Kpi],
                started_at: str, duration_s: float) -> Report:
    label = f"{target.agent_type}/{target.key}"
    report = Report(kind="load", started_at=started_at, duration_s=duration_s)
    report.results.append(run_result(outcome, label))
    if outcome.stats is not None:
        report.results.extend(kpi_mod.judge(kpis, outcome.stats.metrics(), label))
    report.findings = findings(outcome, label)
    report.data = load_document(target, spec, outcome, kpis)
    throughput = next((k for k in kpis if k.metric == "throughput_per_s"), None)
    if (spec.rate is not None and throughput is not None and throughput.alert.op in ("<", "<=")
            and spec.rate < throughput.alert.value):
        report.notes.append(f"--rate {spec.rate:g}/s is below the throughput goal ({throughput.goal}), so that KPI "
                            f"cannot pass at this rate: raise --rate, or judge it separately with "
                            f"--kpi throughput_per_s=off")
    return report


async def load(target: LoadTarget, spec: LoadSpec, kpis: list[kpi_mod.Kpi], *, connect_timeout: float = 5.0,
               on_progress: Any = None, started_at: str = "") -> Report:
    import asyncio

    from agentops.profile.session import stop_on_interrupt

    t0 = time.perf_counter()
    stop = asyncio.Event()
    with stop_on_interrupt(stop):
        outcome = await drive(target, spec, connect_timeout=connect_timeout, on_progress=on_progress, stop=stop)
    report = load_report(target, spec, outcome, kpis, started_at, time.perf_counter() - t0)
    if stop.is_set():
        report.notes.append("stopped early (Ctrl-C): the numbers cover the requests sent until then")
    return report
