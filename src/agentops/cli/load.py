"""`agentops load`: drive requests at an agent type and judge the production KPIs (a CI release gate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from agentops.cli.common import (
    FailOn,
    FailOnOpt,
    HostConfigOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    fail,
    progress,
)
from agentops.cli.diagnose import HostOpt, PayloadTypeOpt

# Unlike `diagnose message` (which sends a malformed body on purpose, to test it), a load refuses one.
PayloadOpt = typer.Option(None, "--payload", help="The message body as a JSON object, or @file (checked before "
                          "connecting: anything else is a usage error).")

HELP = """Load an agent type through the AgentRpc host and judge the production KPIs.

Requests go over one OpenChannel stream with many in flight, each with a unique request id. --rate R is the
open model: request i is due at i/R seconds whatever happened to earlier ones, and latency counts from that
intended time, so a stalled agent cannot hide its stall (coordinated omission). --concurrency C is the closed
model: C requests always in flight. Stop after --duration seconds and/or --count requests; a request without a
reply after --timeout seconds counts as missing.

KPIs (goals; a miss is CRITICAL): p95_s < 2, p99_s < 5, throughput_per_s >= 1000, error_rate_percent < 0.1.
Override with --kpi NAME=GOAL (e.g. --kpi 'p95_s=< 0.5', --kpi throughput_per_s=off), or add one on any
reported metric (p50_s, p999_s, max_s, missing, ...). Exit code per the report contract: gate a release with
--fail-on critical.

Examples:

  agentops load -c lab-state/agentops.yaml --to echo --rate 500 --duration 30

  agentops load --host 10.0.0.5:50051 --to planner --payload-type Task --payload @task.json -C 20 --count 5000

  agentops load -c agentops.yaml --to echo --rate 1200 --duration 60 --kpi 'p99_s=< 1' -o json --fail-on critical
"""


def register(root: typer.Typer) -> None:
    root.command("load", help=HELP)(load)


def load(
    to: str = typer.Option(..., "--to", help="The agent: TYPE or TYPE/KEY (one agent instance per key)."),
    payload_type: str = PayloadTypeOpt,
    payload: str = PayloadOpt,
    rate: float = typer.Option(None, "--rate", "-r", min=0.001, max=1_000_000, help="Requests per second "
                               "(open model)."),
    concurrency: int = typer.Option(None, "--concurrency", "-C", min=1, max=100_000, help="Requests in flight "
                                    "(closed model)."),
    duration: float = typer.Option(None, "--duration", "-d", min=0.01, max=86400, help="Seconds to send for."),
    count: int = typer.Option(None, "--count", "-n", min=1, max=100_000_000, help="Requests to send."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.01, max=3600, help="Seconds a request may wait for "
                                  "its reply before it counts as missing."),
    max_in_flight: int = typer.Option(10_000, "--max-in-flight", min=1, max=1_000_000, help="Open model: do not "
                                      "send (count as an error) while this many requests are unanswered."),
    kpi: list[str] = typer.Option(None, "--kpi", help="NAME=GOAL, e.g. 'p95_s=< 2' or throughput_per_s=off "
                                  "(repeatable)."),
    connect_timeout: float = typer.Option(5.0, "--connect-timeout", min=0.01, max=600, help="Seconds to "
                                          "connect and open the stream."),
    host: str = HostOpt,
    config: str = HostConfigOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    import asyncio

    from agentops.cli.common import load_cluster_spec
    from agentops.core.thresholds import ThresholdError
    from agentops.diagnose.message import parse_to
    from agentops.load import kpi as kpi_mod
    from agentops.load.engine import LoadSpec
    from agentops.load.run import METRIC_NAMES, LoadTarget
    from agentops.load.run import load as run_load
    from agentops.profile.session import now_iso

    if (rate is None) == (concurrency is None):
        fail("give either --rate (open model) or --concurrency (closed model)")
    if duration is None and count is None:
        fail("give --duration and/or --count")
    try:
        agent_type, key = parse_to(to)
        spec = LoadSpec(rate=rate, concurrency=concurrency, duration_s=duration, count=count, timeout_s=timeout,
                        max_in_flight=max_in_flight)
        goals = kpi_mod.parse_overrides(kpi or [], METRIC_NAMES)
    except (ValueError, ThresholdError) as exc:
        fail(str(exc))
    cluster = load_cluster_spec(config, host)  # loads the config once; the cluster carries it
    cfg = cluster.config  # its pack_dirs may override the load command pack (KPIs, findings)
    kpis = kpi_mod.kpis(goals, cfg)
    ptype, body = load_payload(cluster, agent_type, payload_type, payload)
    target = LoadTarget(cluster.address, agent_type, key, ptype, body, cluster.target.tls)
    with progress(f"load {agent_type}/{key}: {spec.describe()}", total=spec.planned_requests) as bar:
        report = asyncio.run(run_load(target, spec, kpis, connect_timeout=connect_timeout,
                                      on_progress=lambda done: bar.update(completed=done), started_at=now_iso(),
                                      cfg=cfg))
    Output(output, output_file, fail_on).report(report)


def load_payload(cluster: Any, agent_type: str, payload_type: str | None, payload: str | None) -> tuple[str, Any]:
    """The (payload type, body) a load sends to `agent_type`: --payload-type/--payload (text or @file), else the
    config's ping for the type; a body the agent could never handle is a usage error (exit 3) before any
    connection, not a run of requests that all end at their deadline."""
    from agentops.cli.common import read_arg
    from agentops.diagnose.message import choose_payload
    from agentops.load.stream import payload_problem

    if payload is not None and not payload_type:
        fail("--payload needs --payload-type (the message class name the agent handles)")
    ptype, body, source = choose_payload(cluster, agent_type, payload_type, read_arg(payload, "--payload"))
    if ptype is None:
        fail(f"no payload for {agent_type}: give --payload-type and --payload, or configure a ping for the type "
             f"(worker target option `ping`)")
    problem = payload_problem(ptype, body)
    if problem:
        fail(f"{'--payload' if payload_type else source}: {problem}")
    return ptype, body
