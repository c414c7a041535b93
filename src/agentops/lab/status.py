"""`lab status` as results of the core contract: one per process, one for the host's registrations, so the
same report renders as a table, JSON, JUnit, Nagios or Prometheus and exits with the usual code."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentops.core.format import size
from agentops.core.model import Observation, Reason, Result
from agentops.core.packs import command_specs
from agentops.core.runner import judge
from agentops.lab.layout import HOST, LabLayout, LabManifest
from agentops.lab.manager import ProcessStatus

STATE_NAMES = {"R": "running", "S": "sleeping", "D": "in disk wait", "T": "stopped (SIGSTOP)",
               "t": "stopped by a debugger", "Z": "zombie", "X": "dead", "I": "idle", "-": "gone"}


def _process_result(p: ProcessStatus) -> Result:
    ports = ", ".join(f"{k} :{v}" for k, v in p.ports.items())
    # A stopped process or a zombie is no more alive than a gone one: it cannot answer.
    alive = p.alive and p.state not in ("T", "t", "Z", "X")
    parts = [f"pid {p.pid} {STATE_NAMES.get(p.state, p.state)}"]
    if p.rss_bytes is not None:
        parts.append(f"rss {size(p.rss_bytes)}")
    if ports:
        parts.append(ports)
    if p.agent_types:
        parts.append(f"types {', '.join(p.agent_types)}")
    metrics = {"alive": float(alive), "pid": float(p.pid)}
    if p.rss_bytes is not None:
        metrics["rss_bytes"] = float(p.rss_bytes)
    obs = Observation(metrics=metrics, message=", ".join(parts), facts={"state": p.state, "ports": p.ports,
                                                                           "role": p.role})
    result = judge(command_specs("cluster")["lab.process"], p.name, obs, 0.0)
    result.message = obs.message  # pid, state, ports: the state says why it is not alive
    return result


def _registration_result(layout: LabLayout, host_alive: bool) -> Result | None:
    from agentops.autogen.client import AgentRpcClient, AgentRpcError

    try:
        manifest = LabManifest.load(layout.manifest)
    except (OSError, ValueError):
        return None  # `up` did not finish: the process results say enough
    want = [t for w in manifest.workers for t in w.agent_types]
    spec = command_specs("cluster")["lab.registration"]
    if not host_alive:
        return judge(spec, HOST, Observation.failure(
            Reason.CONNECT, f"the host process is not running; {manifest.host_address} cannot answer"), 0.0)

    async def ask() -> list[str]:
        async with AgentRpcClient(manifest.host_address) as client:
            return (await client.inventory(timeout=2.0)).agent_types

    try:
        registered = asyncio.run(ask())
    except AgentRpcError as exc:
        return judge(spec, HOST, Observation.failure(exc.reason, exc.message), 0.0)
    missing = [t for t in want if t not in registered]
    obs = Observation(metrics={"agent_types": float(len(registered)), "missing_types": float(len(missing))},
                      facts={"missing": missing})
    result = judge(spec, HOST, obs, 0.0)
    result.message = (f"not registered on {manifest.host_address}: {', '.join(missing)}" if missing else
                      f"{len(registered)} agent types registered on {manifest.host_address}")
    return result


def status_results(directory: Path, processes: list[ProcessStatus]) -> list[Result]:
    results = [_process_result(p) for p in processes]
    host = next((p for p in processes if p.role == HOST), None)
    registration = _registration_result(LabLayout(directory), bool(host and host.alive and host.state != "T"))
    if registration is not None:
        results.append(registration)
    return results
