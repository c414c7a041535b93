"""`agentops cluster inventory`: what an AutoGen AgentRpc host has registered (agentops.autogen.client)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agentops.cli.common import (
    FailOn,
    FailOnOpt,
    HostConfigOpt,
    JsonOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    fail,
)

if TYPE_CHECKING:
    from agentops.core.config import Target

HELP = """Look at an AutoGen distributed cluster through its AgentRpc host."""

INVENTORY_HELP = """Agent types, topics and subscriptions registered on an AgentRpc host (GetSubscriptions).

The host is --host HOST:PORT, or every `agentrpc` target of the config. With --owners, also which client \
(worker connection) owns each type, from the host's RegisterAgent answer, named as the configured worker when \
the config ties the client to one (a worker's log names the client id, or all its types are listed under it).

Exit codes: 0 answered, 2 a host did not answer (dns, connect, timeout, protocol), 3 bad flags or config.

Examples:

  agentops cluster inventory --host 127.0.0.1:50051

  agentops cluster inventory -c lab-state/agentops.yaml --owners -o json
"""

app = typer.Typer(help=HELP, no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cluster", help=HELP)


def _hosts(host: str | None, config: str | None) -> tuple[list[Target], Any]:
    """The agentrpc targets to ask (`--host`: a plaintext target of that address), and the config's cluster
    (ClusterSpec; its workers name the owners) when a config is found, also beside --host."""
    from agentops.core.cluster import cluster_spec
    from agentops.core.config import Target, find_config, load_config, split_host_port

    if host:
        try:
            split_host_port(host, what="--host")
        except ValueError as exc:
            fail(str(exc))
    cfg = load_config(config) if not host or find_config(config) else None
    cluster = cluster_spec(cfg) if cfg is not None else None
    if host:
        return [Target(name=host, kind="agentrpc", address=host, where="--host")], cluster
    assert cfg is not None
    targets = cfg.targets_of("agentrpc")
    if not targets:
        where = cfg.path or "no config file found"
        fail(f"no agentrpc target in the config ({where}); give --host HOST:PORT")
    return targets, cluster


@app.command("inventory", help=INVENTORY_HELP)
def inventory(
    host: str = typer.Option(None, "--host", help="The AgentRpc host, HOST:PORT (instead of the config's "
                             "agentrpc targets)."),
    config: str = HostConfigOpt,
    owners: bool = typer.Option(False, "--owners", help="Also ask which client owns each registered type."),
    timeout: float = typer.Option(5.0, "--timeout", min=0.1, max=600, help="Deadline per host, in seconds."),
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
    as_json: bool = JsonOpt,
) -> None:
    import asyncio

    from agentops.diagnose.inventory import inventory_report

    hosts, cluster = _hosts(host, config)
    report = asyncio.run(inventory_report(hosts, cluster, timeout, owners))
    Output.of(output, output_file, fail_on, as_json=as_json).report(report)
