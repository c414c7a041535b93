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
from agentops.core.format import utc_stamp

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


async def _inventory(target: Target, timeout: float, owners: bool,
                     workers: list[Any]) -> tuple[Any, dict[str, Any]]:
    from agentops.autogen.client import AgentRpcClient
    from agentops.autogen.topics import topic_table
    from agentops.core import registry
    from agentops.core.cluster import name_owners
    from agentops.core.model import Observation
    from agentops.core.packs import command_specs
    from agentops.core.runner import judge

    name, address = target.name, target.address or ""
    spec = command_specs("cluster")["cluster.inventory"]
    entry: dict[str, Any] = {"target": name, "address": address, "inventory": None, "owners": None}
    async with AgentRpcClient.for_target(target) as client:
        # The registered steps health and the diagnosis use too (probes.agentrpc_steps).
        inv = await registry.probe("agentrpc.inventory").observe(client, {}, timeout)
        failed = inv if inv.reason is not None else None
        if failed is None:
            entry["inventory"] = {"address": address, **{k: inv.facts[k] for k in ("agent_types", "topics",
                                                                                    "subscriptions")},
                                  "connect_ms": inv.metrics["connect_ms"], "latency_ms": inv.metrics["latency_ms"]}
            # Topics and the agent types behind each: who an event published to a topic reaches.
            entry["inventory"]["topic_types"] = topic_table(inv.facts["subscriptions"])
            if owners:
                entry["owners"] = {}
                for agent_type in inv.facts["agent_types"]:  # registered types: RegisterAgent only reads their owner
                    own = await registry.probe("agentrpc.ownership").observe(client, {"agent_type": agent_type},
                                                                             timeout)
                    if own.reason is not None and "owned" not in own.facts:
                        failed = own
                        break
                    entry["owners"][agent_type] = own.facts.get("owner_client_id")
                else:
                    named = name_owners(workers, entry["owners"])
                    entry["owner_workers"] = {t: o.to_dict() for t, o in named.items()}
        if failed is not None:
            return judge(spec, name, Observation.failure(failed.reason, failed.message), 0.0), entry
    types, topics = inv.facts["agent_types"], inv.facts["topics"]
    n_subs = len(inv.facts["subscriptions"])
    obs = Observation(metrics={"agent_types": float(len(types)), "topics": float(len(topics)),
                               "subscriptions": float(n_subs), "latency_ms": inv.metrics["latency_ms"]},
                      facts={"agent_types": types, "topics": topics},
                      message=f"{len(types)} agent types, {len(topics)} topics, {n_subs} subscriptions")
    return judge(spec, name, obs, 0.0), entry


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
    import time

    from agentops.core.model import Report

    hosts, cluster = _hosts(host, config)
    started_at = utc_stamp()
    t0 = time.perf_counter()

    async def ask_all() -> list[tuple[Any, dict[str, Any]]]:
        return await asyncio.gather(*(_inventory(t, timeout, owners,
                                                 cluster.workers_of(t.address or "") if cluster else [])
                                      for t in hosts))

    answers = asyncio.run(ask_all())
    report = Report(kind="cluster.inventory", started_at=started_at, duration_s=time.perf_counter() - t0,
                    results=[r for r, _ in answers], data={"hosts": [e for _, e in answers]})
    Output.of(output, output_file, fail_on, as_json=as_json).report(report)
