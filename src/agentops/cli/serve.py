"""`agentops serve`: the health plan as a long-running exporter (agentops.serve). Flags only: the server is
in its own package."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from agentops.cli.common import ConfigOpt, FailOn, exit_code, fail, split_csv
from agentops.core.config import Config
from agentops.core.model import Report
from agentops.serve.options import ServeOptions
from agentops.serve.section import DiagnosisSpec
from agentops.serve.undelivered import LogReader

if TYPE_CHECKING:
    import ssl

    from agentops.serve.node import NodeRoutes

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

--node also answers a central agentops' diagnosis for this machine's workers (/node/processes, /node/logs,
/node/profile: read-only, bounded), behind the bearer token in --token-file; over TLS (--tls-cert, --tls-key),
which --node requires unless it listens on loopback. See docs/serve.md, "Every node".
The config's `serve:` section may name diagnoses (`agentops diagnose message`) to run on an interval; each
verdict is exported on /metrics and in /report. Requests the host's and workers' logs show were not delivered
are counted from those logs as they grow.

SIGHUP reloads the config (a bad one keeps the old plan, logged on stderr); SIGTERM stops cleanly. Logs are
JSON lines on stderr. See docs/serve.md.

Examples:

  agentops serve -c /etc/agentops/agentops.yaml --listen 0.0.0.0:9317

  agentops serve --interval 10 --fail-on warning

  agentops serve --node --token-file /etc/agentops/node.token --tls-cert node.crt --tls-key node.key \
--listen 0.0.0.0:9318
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
    node: bool = typer.Option(False, "--node", help="Also answer a central agentops for this machine's workers "
                                                    "(/node/...; needs --token-file)."),
    token_file: str = typer.Option(None, "--token-file", help="File holding the bearer token /node/ requires."),
    tls_cert: str = typer.Option(None, "--tls-cert", help="Serve over TLS with this certificate (PEM)."),
    tls_key: str = typer.Option(None, "--tls-key", help="The key of --tls-cert (PEM)."),
) -> None:
    import asyncio

    from agentops.core.target import split_host_port
    from agentops.serve.service import Service

    try:
        split_host_port(listen, what="--listen")
    except ValueError as exc:
        fail(str(exc))
    node_routes, tls = _node_and_tls(listen, node, token_file, tls_cert, tls_key)
    options = ServeOptions(
        listen=listen, interval_s=interval, jitter=jitter, cluster_interval_s=cluster_interval,
        cluster_timeout_s=cluster_timeout, owners=owners,
        unhealthy=lambda status: exit_code(status, fail_on) != 0,
        packs=tuple(split_csv(pack)), only=tuple(split_csv(only)), skip=tuple(split_csv(skip)),
        tags=tuple(split_csv(tags)), log_reader=_log_reader(), diagnosis_runner=run_diagnosis)

    async def main() -> int:
        try:
            return await Service(config, options, node=node_routes, tls=tls).run()
        except OSError as exc:  # the port is taken, or not ours to bind
            fail(f"--listen {listen}: {exc.strerror or exc}")

    raise typer.Exit(asyncio.run(main()))


def _node_and_tls(listen: str, node: bool, token_file: str | None, cert: str | None, key: str | None
                  ) -> tuple[NodeRoutes | None, ssl.SSLContext | None]:
    """The node's routes (its token read and registered with the redactor; the readers of logs and profile,
    which serve does not import) and the server TLS context, or a one-line error."""
    from agentops.core.osproc import LOOPBACK
    from agentops.core.target import split_host_port
    from agentops.core.tls import TlsSetupError, server_context
    from agentops.serve.node import NodeReaders, NodeRoutes, TokenFileError, read_token

    if bool(cert) != bool(key):
        fail("--tls-cert and --tls-key go together")
    if token_file and not node:
        fail("--token-file is the token of --node's routes: give --node too")
    routes = None
    if node:
        if not token_file:
            fail("--node needs --token-file: a node answers only a caller holding its bearer token")
        if not cert and split_host_port(listen, what="--listen")[0] not in LOOPBACK:
            fail("--node on a network address needs --tls-cert and --tls-key: the bearer token must not cross "
                 "the network in clear")
        try:
            token = read_token(token_file)
        except TokenFileError as exc:
            fail(f"--token-file: {exc}")
        from agentops.logs.ranges import read_records, size_of
        from agentops.profile.sampler import sample
        from agentops.profile.stacks import record

        routes = NodeRoutes(token, NodeReaders(read_records=read_records, size_of=size_of, sample=sample,
                                               stacks=record), token_file=token_file)
    try:
        return routes, server_context(cert, key) if cert and key else None
    except TlsSetupError as exc:
        fail(f"--tls-cert: {exc}")
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
