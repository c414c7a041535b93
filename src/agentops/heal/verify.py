"""The round trip heal trusts: the diagnosis of one worker (`diagnose agent` of its probe type), first to find
what is wrong and again after every action to verify it. A worker is healthy when its verdict's judged
status is OK."""

from __future__ import annotations

import asyncio
import time

from agentops.core.cluster import Cluster
from agentops.core.config import Config
from agentops.core.model import Status
from agentops.diagnose.verdict import make_finding
from agentops.heal.targets import HealTarget, Verdict

# Between two verification diagnoses: a fresh process needs a moment to register its types.
VERIFY_POLL_S = 0.5
UNDIAGNOSED = "unexplained"


def is_healthy(v: Verdict | None) -> bool:
    return v is not None and v.status is Status.OK


async def diagnose_worker(cluster: Cluster | None, t: HealTarget, cfg: Config, *, deadline_s: float,
                          since_s: float) -> Verdict:
    """The verdict of the worker's probe type. Without a cluster or a type to ask about it cannot be told."""
    from agentops.diagnose.agent import AgentQuery, diagnose_agent

    if cluster is None or t.probe_type is None:
        why = "no agentrpc target in the config" if cluster is None else f"{t.name} lists no agent_types"
        return _undiagnosed(t, why)
    report = await diagnose_agent(cluster, AgentQuery(agent_type=t.probe_type, deadline_s=deadline_s,
                                                      since_s=max(1.0, since_s)), cfg)
    if report.verdict is None:
        return _undiagnosed(t, f"the diagnosis of {t.probe_type} gave no verdict")
    return Verdict.from_finding(report.verdict)


def _undiagnosed(t: HealTarget, why: str) -> Verdict:
    # The diagnosis' own words and severity for "could not tell" (its knowledge table), not a status made here.
    return Verdict.from_finding(make_finding(UNDIAGNOSED, {"what": "no diagnosis", "type": t.name, "detail": why},
                                             [why], []))


async def verify_worker(cluster: Cluster | None, t: HealTarget, cfg: Config, *, deadline_s: float,
                        within_s: float, acted_at: float) -> Verdict:
    """Diagnose until healthy or `within_s` has passed; the last verdict. Logs are read from the action on,
    so a traceback from before it does not count against the fix."""
    end = time.monotonic() + within_s
    while True:
        verdict = await diagnose_worker(cluster, t, cfg, deadline_s=deadline_s,
                                        since_s=time.time() - acted_at + 1.0)
        if is_healthy(verdict) or time.monotonic() + VERIFY_POLL_S >= end:
            return verdict
        await asyncio.sleep(VERIFY_POLL_S)
