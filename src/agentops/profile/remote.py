"""A worker on another machine, profiled through its node (`agentops serve --node`'s /node/profile): the node
samples the worker's process with profile/sampler.py there and answers the whole series (and py-spy's stacks
when asked); the report is built from them here by the same analysis as a local profile's (session.run_window),
so a remote worker's profile is the same report, with the same presenter.

The node bounds the window (NodeOptions.max_profile_s): a longer --duration is cut to it, said in a note."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentops.core.nodeclient import NodeClient, NodeError
from agentops.profile.sampler import MachineSeries, ProcessInfo, ProcessSeries, SamplingRun
from agentops.profile.stacks import StackProfile

if TYPE_CHECKING:
    from agentops.profile.targets import ProfileTarget

RemoteWindow = tuple[ProcessSeries, SamplingRun, StackProfile | None, list[str]]


async def sample_remote(target: ProfileTarget, duration_s: float, interval_s: float, stacks: bool) -> RemoteWindow:
    """The target's series sampled by its node, the node's machine as the window's, its stacks, and notes.
    A node that refuses, fails or finds no process leaves a series with no sample and says why (`gone`), which
    the analysis judges as it does a process that vanished."""
    assert target.node is not None
    node = target.node
    client = NodeClient(node)
    try:
        doc = await client.profile(duration_s, node.timeout_s, interval=interval_s, stacks=stacks)
    except NodeError as exc:
        return _empty(target, duration_s, interval_s, exc.message)
    finally:
        await client.close()
    if doc.get("pid") is None:
        return _empty(target, duration_s, interval_s, f"node {node.label} found no live process of worker "
                                                      f"{node.worker} ({doc.get('located_by', '?')})")
    try:
        series = ProcessSeries.from_dict(doc["process"])
        machine = _machine(doc["machine"])
        run = SamplingRun([series], machine, float(doc["interval_s"]), float(doc["duration_s"]),
                          elapsed_s=float(doc["window_s"]), ticks=int(doc["ticks"]))
        stack = StackProfile.from_dict(doc["stacks"]) if isinstance(doc.get("stacks"), dict) else None
    except (KeyError, TypeError, ValueError) as exc:
        return _empty(target, duration_s, interval_s, f"node {node.label}: its profile answer is not one ({exc})")
    series.info.label = target.label
    notes = [f"{target.label} was sampled on node {node.label} (pid {series.info.pid} there)"]
    if run.duration_s < duration_s:
        notes.append(f"{target.label}: node {node.label} samples at most {run.duration_s:g}s, not the "
                     f"{duration_s:g}s asked")
    if stack is not None and not stack.available:
        notes.append(f"stacks of {target.label}: {stack.reason}")
    return series, run, stack, notes


def _machine(doc: dict[str, Any]) -> MachineSeries:
    return MachineSeries(t=[float(x) for x in doc["t"]], cpu_percent=[float(x) for x in doc["cpu_percent"]],
                         memory_percent=[float(x) for x in doc["memory_percent"]], cpu_count=int(doc["cpu_count"]))


def _empty(target: ProfileTarget, duration_s: float, interval_s: float, why: str) -> RemoteWindow:
    series = ProcessSeries(ProcessInfo(pid=0, label=target.label), gone=why)
    return series, SamplingRun([series], MachineSeries(), interval_s, duration_s), None, [f"{target.label}: {why}"]
