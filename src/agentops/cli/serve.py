"""`agentops serve`: the health plan as a long-running exporter (agentops.serve). Flags only: the server is
in its own package."""

from __future__ import annotations

import typer

from agentops.cli.common import ConfigOpt, FailOn, exit_code, fail, split_csv
from agentops.core.config import Config
from agentops.core.model import Report
from agentops.serve.options import ServeOptions
from agentops.serve.section import DiagnosisSpec
from agentops.serve.undelivered import LogReader

_D = ServeOptions()  # the defaults, declared once in ServeOptions

HELP = f"""Run the health checks continuously and serve what they found over HTTP.

Each check of the plan (the same config and packs as `agentops health`) runs every --interval seconds with
--jitter, in the background; each agentrpc target's AutoGen view (agent types and owners, topics, workers,
ping round trips) every --cluster-interval. A scrape never waits for a check.

Routes:

  /metrics: every check's status, reason and metrics; the AutoGen series; serve's own (Prometheus text)

  /healthz: 200, or 503 when the cached status fails --fail-on (or not every check has run yet)

  /report: the cached run as the JSON report (agentops.report/v2)

  /probe?target=NAME[&pack=P] or ?target=ADDRESS&kind=KIND: that target's checks, run now within \
X-Prometheus-Scrape-Timeout-Seconds less {_D.probe_timeout_offset_s:g} s

The config's `serve:` section may name diagnoses (`agentops diagnose message`) to run on an interval; each
verdict is exported on /metrics and in /report. Requests the host's and workers' logs show were not delivered
are counted from those logs as they grow.

SIGHUP reloads the config (a bad one keeps the old plan, logged on stderr); SIGTERM stops cleanly. Logs are
JSON lines on stderr. See docs/serve.md.

Examples:

  agentops serve -c /etc/agentops/agentops.yaml --listen 0.0.0.0:9317

  agentops serve --interval 10 --fail-on warning
"""


def register(root: typer.Typer) -> None:
    root.command("serve", help=HELP)(serve)


def serve(
    config: str = ConfigOpt,
    listen: str = typer.Option(_D.listen, "--listen", help="Address to listen on, HOST:PORT (port 0: any)."),
    interval: float = typer.Option(_D.interval_s, "--interval", min=0.05, max=86400,
                                   help="Seconds between runs of each check."),
    jitter: float = typer.Option(_D.jitter, "--jitter", min=0, max=0.9,
                                 help="Each wait is interval * (1 +- jitter); first runs spread over it too."),
    cluster_interval: float = typer.Option(_D.cluster_interval_s, "--cluster-interval", min=0.05, max=86400,
                                           help="Seconds between AutoGen views of each agentrpc target."),
    cluster_timeout: float = typer.Option(_D.cluster_timeout_s, "--cluster-timeout", min=0.1, max=600,
                                          help="Deadline of one AutoGen view (inventory, owners, pings)."),
    owners: bool = typer.Option(_D.owners, "--owners/--no-owners",
                                help="Ask the host which client owns each registered type (RegisterAgent)."),
    fail_on: FailOn = typer.Option(FailOn.critical, "--fail-on", case_sensitive=False,
                                   help="Lowest status that makes /healthz answer 503 (as health's --fail-on)."),
    pack: list[str] = typer.Option(None, "--pack", "-p", help="Run these packs instead of the config's."),
    only: list[str] = typer.Option(None, "--only", help="Run only checks matching (glob), as health."),
    skip: list[str] = typer.Option(None, "--skip", help="Skip checks matching (glob), as health."),
    tags: list[str] = typer.Option(None, "--tags", help="Run only checks carrying one of these tags."),
) -> None:
    import asyncio

    from agentops.core.target import split_host_port
    from agentops.serve.service import Service

    try:
        split_host_port(listen, what="--listen")
    except ValueError as exc:
        fail(str(exc))
    options = ServeOptions(
        listen=listen, interval_s=interval, jitter=jitter, cluster_interval_s=cluster_interval,
        cluster_timeout_s=cluster_timeout, owners=owners,
        unhealthy=lambda status: exit_code(status, fail_on) != 0,
        packs=tuple(split_csv(pack)), only=tuple(split_csv(only)), skip=tuple(split_csv(skip)),
        tags=tuple(split_csv(tags)), log_reader=_log_reader(), diagnosis_runner=run_diagnosis)

    async def main() -> int:
        try:
            return await Service(config, options).run()
        except OSError as exc:  # the port is taken, or not ours to bind
            fail(f"--listen {listen}: {exc.strerror or exc}")

    raise typer.Exit(asyncio.run(main()))


def _log_reader() -> LogReader:
    # diagnose sits above serve in the layers: its log signals are handed to serve from here.
    from agentops.diagnose.undelivered import read_undelivered

    return read_undelivered


async def run_diagnosis(cfg: Config, spec: DiagnosisSpec) -> Report:
    """One periodic diagnosis of the `serve:` section: `agentops diagnose message --to TYPE[/KEY]` on the
    config's (or the named) agentrpc target, as the command runs it."""
    from agentops.core.cluster import load_cluster
    from agentops.diagnose.message import MessageQuery, diagnose_message

    query = MessageQuery(to_type=spec.agent_type)
    if spec.key:
        query.key = spec.key
    if spec.deadline_s is not None:
        query.deadline_s = spec.deadline_s
    host = cfg.targets[spec.host].address if spec.host else None
    return await diagnose_message(load_cluster(cfg, host), query)
