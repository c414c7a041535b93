"""`agentops profile`: sample agent processes over a window and say what their resources are doing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from agentops.cli.common import (
    FailOn,
    FailOnOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    config_option,
    fail,
    progress,
)

if TYPE_CHECKING:
    from agentops.profile.targets import ProfileTarget

HELP = """Profile agent processes: CPU, RSS/USS, threads, fds, connections, context switches and IO, sampled
with psutil over a window, summarised as min / mean / p95 / max with sparklines; the memory trend (least-squares
slope in MB/min and its r²) with a suspected leak flagged when RSS climbs steadily; CPU saturation (percent of one
core). --stacks samples Python stacks with py-spy; the agents' own /metrics are correlated over the same window
(automatically for lab roles and worker targets with a metrics_url, or with --metrics URL).

Pick processes with --pid, --name (a regex over the command line), --lab-role (a process of `agentops lab up`)
or --target (a worker target of the config); with none of them, every worker target of the config.

Examples:

  agentops profile --lab-role w1 --duration 30 --stacks

  agentops profile --name 'my_worker\\.py' --metrics http://127.0.0.1:9100/metrics -o json

  agentops profile -c agentops.yaml --target w1 --duration 120 --interval 2
"""


PROFILE_CONFIG = config_option("name the processes with --pid, --name or --lab-role")


def register(root: typer.Typer) -> None:
    from agentops.cli.diagnose import app as diagnose_app

    root.command("profile", help=HELP)(profile)
    diagnose_app.command("performance", help=PERFORMANCE_HELP)(diagnose_performance)


DurationOpt = typer.Option(30.0, "--duration", "-d", min=0.1, max=86400, help="Seconds to sample.")
IntervalOpt = typer.Option(1.0, "--interval", "-i", min=0.05, max=3600, help="Seconds between samples.")
LabDirOpt = typer.Option(Path("lab-state"), "--lab-dir", "--lab", help="State directory of the lab (with --lab-role).",
                         file_okay=False)


def profile(
    pid: list[int] = typer.Option(None, "--pid", "-p", help="Process id (repeatable)."),
    name: list[str] = typer.Option(None, "--name", "-n", help="Regex searched in command lines (repeatable)."),
    lab_role: list[str] = typer.Option(None, "--lab-role", help="A lab process: host, w1, w2 … (repeatable)."),
    lab_dir: Path = LabDirOpt,
    target: list[str] = typer.Option(None, "--target", "-t", help="A worker target of the config (repeatable)."),
    duration: float = DurationOpt,
    interval: float = IntervalOpt,
    stacks: bool = typer.Option(False, "--stacks", help="Sample Python stacks with py-spy over the window."),
    stacks_rate: int = typer.Option(50, "--stacks-rate", min=1, max=1000, help="py-spy samples per second."),
    metrics: list[str] = typer.Option(None, "--metrics", "-m", help="A Prometheus /metrics URL to correlate "
                                      "over the window (repeatable)."),
    leak_slope: float = typer.Option(1.0, "--leak-slope", min=0.0, help="MB/min of steady RSS growth that "
                                     "makes a suspected leak."),
    leak_r2: float = typer.Option(0.8, "--leak-r2", min=0.0, max=1.0, help="How straight the climb must be "
                                  "(r² of the least-squares line)."),
    config: str = PROFILE_CONFIG,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    import asyncio

    from agentops.core.config import load_config
    from agentops.profile.session import ProfileOptions
    from agentops.profile.session import profile as run_profile
    from agentops.profile.stats import LeakRule
    from agentops.profile.targets import resolve

    if interval > duration:
        fail(f"--interval {interval:g}s is longer than --duration {duration:g}s")
    for url in metrics or []:
        if not url.startswith(("http://", "https://")):
            fail(f"--metrics {url!r}: expected an http:// or https:// URL")
    cfg = load_config(config)
    try:
        targets = resolve(cfg, pids=pid or [], patterns=name or [], lab=_lab_targets(lab_dir, lab_role or []),
                          targets=target or [])
    except ValueError as exc:
        fail(str(exc))
    from agentops.profile.limits import Limits

    opts = ProfileOptions(duration_s=duration, interval_s=interval, stacks=stacks, stacks_rate=stacks_rate,
                          metrics_urls=list(metrics or []),
                          leak_rule=LeakRule(min_slope_mb_per_min=leak_slope, min_r2=leak_r2), limits=Limits.load(cfg))
    what = ", ".join(t.label for t in targets)
    with progress(f"profiling {what}", total=max(1, round(duration / interval))) as bar:
        report = asyncio.run(run_profile(targets, opts, on_tick=lambda done, total: bar.update(completed=done)))
    Output(output, output_file, fail_on).report(report)


def _lab_targets(lab_dir: Path | None, roles: list[str]) -> list[ProfileTarget]:
    """The lab processes named by --lab-role, as ProfileTargets (the CLI joins lab and profile, which do not
    import each other)."""
    import psutil

    from agentops.lab.manager import LabError, running_role
    from agentops.profile.targets import ProfileTarget

    found = []
    for role in roles:
        try:
            run = running_role(lab_dir or Path("lab-state"), role)
            found.append(ProfileTarget(psutil.Process(run.pid), role, run.metrics_url, run.agent_types))
        except LabError as exc:
            fail(str(exc))
        except psutil.NoSuchProcess:
            fail(f"lab process {role} exited meanwhile")
    return found


PERFORMANCE_HELP = """Where is the bottleneck? Profiles the worker that owns TYPE (or every configured worker) for a
window, with the agents' own /metrics over the same seconds and, with --load, a short load run at TYPE inside
the window; then names the bottleneck with its evidence and a fix: a slow agent type (waiting on an external
call, blocking the event loop, or CPU-bound), a failing type, a leak, a CPU-bound or memory-heavy worker, IO
wait, a worker out of concurrency.

Thresholds: response > 2 s, memory > 512 MB, CPU > 80 %, error rate > 5 %, concurrency > 90 % of --queue-limit
(WARNING); CPU peak > 90 %, memory > 1 GB, IO wait > 1 s (CRITICAL). CPU is percent of one core.

Examples:

  agentops diagnose performance -c lab-state/agentops.yaml

  agentops diagnose performance slow -c lab-state/agentops.yaml --load --concurrency 4 --duration 8

  agentops diagnose performance planner --load --rate 50 --stacks -o json
"""


def diagnose_performance(
    agent_type: str = typer.Argument(None, metavar="[TYPE]", help="The agent type (default: every worker)."),
    duration: float = typer.Option(10.0, "--duration", "-d", min=0.5, max=3600, help="Seconds to observe."),
    interval: float = typer.Option(0.5, "--interval", "-i", min=0.05, max=60, help="Seconds between samples."),
    stacks: bool = typer.Option(False, "--stacks", help="Sample Python stacks with py-spy (tells a blocked "
                                "event loop from a waiting one)."),
    load: bool = typer.Option(False, "--load", help="Drive a load at TYPE during the window."),
    rate: float = typer.Option(None, "--rate", "-r", min=0.001, max=1_000_000, help="With --load: requests/s "
                               "(open model; default 20)."),
    concurrency: int = typer.Option(None, "--concurrency", "-C", min=1, max=100_000, help="With --load: requests "
                                    "in flight (closed model)."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.01, max=3600, help="With --load: seconds a request "
                                  "may wait for its reply."),
    queue_limit: float = typer.Option(None, "--queue-limit", min=1, help="Messages a worker may hold in flight "
                                      "(runtime_message_queue_size is judged against it)."),
    payload_type: str = typer.Option(None, "--payload-type", help="With --load: the message class name "
                                     "(default: the config's ping for the type)."),
    payload: str = typer.Option(None, "--payload", help="With --load: the body as JSON, or @file."),
    host: str = typer.Option(None, "--host", help="The AgentRpc host as HOST:PORT (default: the config's "
                             "agentrpc target)."),
    config: str = PROFILE_CONFIG,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    import asyncio

    from agentops.cli.common import load_cluster_spec
    from agentops.cli.load import load_payload
    from agentops.diagnose.message import DEFAULT_KEY
    from agentops.diagnose.performance import PerformanceQuery, select_workers
    from agentops.diagnose.performance import diagnose_performance as run_diagnosis
    from agentops.profile.session import now_iso

    if interval > duration:
        fail(f"--interval {interval:g}s is longer than --duration {duration:g}s")
    if (rate is not None or concurrency is not None) and not load:
        fail("--rate/--concurrency set the load of --load; add --load")
    if rate is not None and concurrency is not None:
        fail("give either --rate (open model) or --concurrency (closed model)")
    cluster = load_cluster_spec(config, host)  # loads the config once; the cluster carries it
    cfg = cluster.config
    try:
        workers = select_workers(cfg, cluster.workers, agent_type)
    except ValueError as exc:
        fail(str(exc))
    from agentops.profile.limits import Limits

    query = PerformanceQuery(agent_type=agent_type, duration_s=duration, interval_s=interval, stacks=stacks,
                             queue_limit=queue_limit)
    query.profile.limits = Limits.load(cfg)
    if load:
        from agentops.load.engine import LoadSpec
        from agentops.load.run import LoadTarget

        if agent_type is None:
            fail("--load needs the agent TYPE to load")
        ptype, body = load_payload(cluster, agent_type, payload_type, payload)
        spec = LoadSpec(rate=rate if concurrency is None else None, concurrency=concurrency,
                        duration_s=duration, timeout_s=timeout) if rate or concurrency else \
            LoadSpec(rate=20.0, duration_s=duration, timeout_s=timeout)
        query.load = (LoadTarget(cluster.address, agent_type, DEFAULT_KEY, ptype, body, cluster.target.tls), spec)
    with progress(f"observing {', '.join(w.name for w in workers)}",
                  total=max(1, round(duration / interval))) as bar:
        report = asyncio.run(run_diagnosis(cfg, workers, query, started_at=now_iso(),
                                           on_tick=lambda done, total: bar.update(completed=done)))
    Output(output, output_file, fail_on).report(report)
