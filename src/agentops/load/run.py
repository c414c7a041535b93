"""`agentops load` as a library call: open one AgentRpc stream to the host, drive the load, judge the KPIs,
and return a `load` report (results: the run itself and one check per KPI; findings: what an operator should
know about the numbers)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agentops.core.config import Config, TLSOptions
from agentops.core.evaluate import evaluate
from agentops.core.format import duration
from agentops.core.model import Finding, Observation, Reason, Report, Result, Status
from agentops.core.packs import CheckSpec, command_specs
from agentops.core.runner import judge
from agentops.load import kpi as kpi_mod
from agentops.load.engine import HANDLER_ERROR, IN_FLIGHT_LIMIT, NO_REPLY, STREAM_CLOSED, LoadSpec, LoadStats, run_load
from agentops.load.knowledge import TEXTS

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


def run_result(outcome: LoadOutcome, target: str, checks: dict[str, CheckSpec] | None = None) -> Result:
    spec = (checks or command_specs("load"))["load.run"]
    if outcome.failure is not None:
        return judge(spec, target, outcome.failure, 0.0)
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
    return judge(spec, target, obs, s.elapsed_s)


def finding_metrics(s: LoadStats, lag_spec: CheckSpec) -> dict[str, dict[str, float]]:
    """What each finding check of the load pack judges, by check id."""
    out = {"load.missing_replies": {"missing": float(s.errors.get(NO_REPLY, 0))},
           "load.handler_errors": {"handler_errors": float(s.errors.get(HANDLER_ERROR, 0))},
           "load.in_flight_limit": {"in_flight_limited": float(s.errors.get(IN_FLIGHT_LIMIT, 0))},
           "load.stream_closed": {"stream_closed": float(s.errors.get(STREAM_CLOSED, 0))}}
    if s.spec.rate is not None and s.send_lag.count:
        # Behind by more than `periods` send periods and more than `floor_s`: the lag beyond the larger of the
        # two (the pack's params) is what the check judges.
        allowed = max(float(lag_spec.params.get("floor_s", 0.0)), float(lag_spec.params.get("periods", 0.0))
                      / s.spec.rate)
        lag = s.send_lag.quantile(0.99)
        out["load.generator_lag"] = {"send_lag_p99_s": lag, "send_lag_p99_beyond_s": lag - allowed}
    return out


def findings(outcome: LoadOutcome, target: str, checks: dict[str, CheckSpec] | None = None) -> list[Finding]:
    """A finding for each of the load pack's finding checks that its numbers make non-OK, with the judged
    status; the texts say what it means and what to do."""
    s = outcome.stats
    if s is None:
        return []
    checks = checks or command_specs("load")
    judged: dict[str, Status] = {}
    for check_id, metrics in finding_metrics(s, checks["load.generator_lag"]).items():
        status, _reason, _message = evaluate(checks[check_id], Observation(metrics=metrics))
        if status is not Status.OK:
            judged[check_id] = status
    out: list[Finding] = []
    cites = ["load.run"]
    v: dict[str, object] = {"target": target, "sent": s.sent, "ok": s.ok, "late": s.late_replies,
                            "timeout": f"{s.spec.timeout_s:g}", "throughput": f"{s.throughput_per_s:.1f}",
                            "rate": f"{s.spec.rate:g}" if s.spec.rate is not None else "?"}
    if "load.missing_replies" in judged:
        out.append(TEXTS["load.missing_replies"].finding("load.missing_replies", judged["load.missing_replies"],
                                                         {**v, "missing": s.errors.get(NO_REPLY, 0)}, checks=cites))
    if "load.handler_errors" in judged:
        texts = [f"{n} x {text}" for text, n in s.handler_errors.most_common(3)]
        out.append(TEXTS["load.handler_errors"].finding("load.handler_errors", judged["load.handler_errors"],
                                                        {**v, "errors": s.errors[HANDLER_ERROR]}, evidence=texts,
                                                        checks=cites))
    if "load.in_flight_limit" in judged:
        out.append(TEXTS["load.in_flight_limit"].finding("load.in_flight_limit", judged["load.in_flight_limit"], {
            **v, "refused": s.errors[IN_FLIGHT_LIMIT], "max_in_flight": s.spec.max_in_flight}, checks=cites))
    if "load.generator_lag" in judged and s.spec.rate is not None:
        out.append(TEXTS["load.generator_lag"].finding("load.generator_lag", judged["load.generator_lag"], {
            **v, "lag_p99": duration(s.send_lag.quantile(0.99)), "lag_max": duration(s.send_lag.max_s),
            "window": f"{s.send_window_s:.1f}"}, checks=cites))
    if "load.stream_closed" in judged:
        out.append(TEXTS["load.stream_closed"].finding("load.stream_closed", judged["load.stream_closed"], {
            **v, "stopped": s.stopped or "stream closed", "lost": s.errors[STREAM_CLOSED]}, checks=cites))
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
                started_at: str, duration_s: float, cfg: Config | None = None) -> Report:
    """`cfg`: whose pack_dirs may override the load command pack (the run, the KPIs' template, the findings)."""
    label = f"{target.agent_type}/{target.key}"
    checks = command_specs("load", cfg)
    report = Report(kind="load", started_at=started_at, duration_s=duration_s)
    report.results.append(run_result(outcome, label, checks))
    if outcome.stats is not None:
        report.results.extend(kpi_mod.judge(kpis, outcome.stats.metrics(), label, cfg))
    report.findings = findings(outcome, label, checks)
    report.data = load_document(target, spec, outcome, kpis)
    throughput = next((k for k in kpis if k.metric == "throughput_per_s"), None)
    if (spec.rate is not None and throughput is not None and throughput.alert.op in ("<", "<=")
            and spec.rate < throughput.alert.value):
        report.notes.append(f"--rate {spec.rate:g}/s is below the throughput goal ({throughput.goal}), so that KPI "
                            f"cannot pass at this rate: raise --rate, or judge it separately with "
                            f"--kpi throughput_per_s=off")
    return report


async def load(target: LoadTarget, spec: LoadSpec, kpis: list[kpi_mod.Kpi], *, connect_timeout: float = 5.0,
               on_progress: Any = None, started_at: str = "", cfg: Config | None = None) -> Report:
    import asyncio

    from agentops.core.interrupt import stop_on_interrupt

    t0 = time.perf_counter()
    stop = asyncio.Event()
    with stop_on_interrupt(stop):
        outcome = await drive(target, spec, connect_timeout=connect_timeout, on_progress=on_progress, stop=stop)
    report = load_report(target, spec, outcome, kpis, started_at, time.perf_counter() - t0, cfg)
    if stop.is_set():
        report.notes.append("stopped early (Ctrl-C): the numbers cover the requests sent until then")
    return report
