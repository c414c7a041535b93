"""`agentops diagnose agent TYPE [--import module:Class] [--error TEXT|@file]`: can this agent type live?

On the cluster (when a host is configured or given): is the type registered and owned, is its worker's process
alive and running, does a ping come back — the same layers and rules as `diagnose message`. Off the cluster:
`--import` imports the agent class in a CHILD process (an import runs arbitrary module code, may hang, may
exit the interpreter; none of that may touch agentops), with the interpreter the workers use (`--python`), and
classifies the failure; `--error` classifies a traceback pasted from anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from agentops.core.cluster import Cluster
from agentops.core.config import Config
from agentops.core.model import Finding, Observation, Reason, Report, Status
from agentops.core.packs import command_specs
from agentops.diagnose.baseline import add_baseline_evidence
from agentops.diagnose.engine import DEFAULT_DEADLINE_S, Deadline, Evidence
from agentops.diagnose.layers import Layers
from agentops.diagnose.message import (
    CONFIRM_PING_S,
    DEFAULT_KEY,
    DEFAULT_SINCE_S,
    PING_SHARE,
    POST_PING_S,
    choose_payload,
    started_stamp,
)
from agentops.diagnose.pod_layer import preload as preload_pods
from agentops.diagnose.verdict import Subject, diagnose, make_finding
from agentops.logs.classify import Classification, classify_exception, classify_text

MARKER = "AGENTOPS-IMPORT-RESULT "
IMPORT_CAP_S = 5.0

# Runs in the child: import, look the class up, tell whether it is an AutoGen agent, report as one JSON line.
_CHILD = r'''
import importlib, importlib.util, json, sys, traceback
target = sys.argv[1]
module, _, attr = target.partition(":")
out = {"module": module, "attr": attr, "python": sys.executable}
try:
    mod = importlib.import_module(module)
    out["file"] = getattr(mod, "__file__", None)
    obj = mod
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    out["ok"] = True
    out["is_class"] = isinstance(obj, type)
    try:
        from autogen_core import BaseAgent
        out["is_agent"] = isinstance(obj, type) and issubclass(obj, BaseAgent)
    except Exception:
        out["is_agent"] = None
except BaseException as exc:
    out["ok"] = False
    out["error_type"] = type(exc).__name__
    out["error"] = str(exc)
    out["traceback"] = traceback.format_exc()[-8000:]
    name = getattr(exc, "name", None)
    if isinstance(exc, ImportError) and name:
        top = name.split(".")[0]
        try:
            out["top_level_installed"] = importlib.util.find_spec(top) is not None
        except Exception:
            out["top_level_installed"] = None
sys.stdout.write("\n''' + MARKER + r'''" + json.dumps(out) + "\n")
sys.stdout.flush()
'''


@dataclass
class AgentQuery:
    agent_type: str
    import_target: str | None = None
    error_text: str | None = None
    python: str = field(default_factory=lambda: sys.executable)
    payload_type: str | None = None
    payload: Any = None
    deadline_s: float = DEFAULT_DEADLINE_S
    since_s: float = DEFAULT_SINCE_S


def validate_import_target(value: str) -> str:
    module, sep, attr = value.partition(":")
    ok = bool(module) and all(p.isidentifier() for p in module.split(".")) and (
        not sep or (attr and all(p.isidentifier() for p in attr.split("."))))
    if not ok:
        raise ValueError(f"--import: {value!r} is not module:Class (e.g. my_agents.planner:PlannerAgent)")
    return value


async def import_in_child(target: str, python: str, timeout: float) -> Observation:
    """Import `module:Class` in a fresh interpreter and classify what happened."""
    started = time.perf_counter()
    try:
        proc = await asyncio.create_subprocess_exec(
            python, "-c", _CHILD, target, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    except OSError as exc:
        return Observation.failure(Reason.INTERNAL, f"cannot run {python}: {exc.strerror or exc}")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        c = classify_exception("TimeoutError", "import did not finish")
        return Observation(reason=Reason.TIMEOUT, facts={"classification": c.to_dict()},
                           message=f"importing {target} did not finish within {timeout:.2g}s (import-time code "
                                   f"blocks: a network call or a lock at module level?)")
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    doc = _child_result(out.decode("utf-8", "replace"))
    if doc is None:
        # The child died before reporting (os._exit, a segfault in an extension, SystemExit in C code).
        tail = err.decode("utf-8", "replace").strip()
        c = classify_text(tail) if tail else Classification("unclassified", "the interpreter exited during the "
                                                            "import", "run the import by hand to see why")
        return Observation(reason=Reason.ASSERTION, metrics={"import_ms": elapsed_ms},
                           facts={"exit_code": proc.returncode, "stderr_tail": tail[-2000:],
                                  "classification": c.to_dict()},
                           message=f"the interpreter exited with status {proc.returncode} while importing {target}")
    facts: dict[str, Any] = {k: v for k, v in doc.items() if k != "traceback"}
    if doc.get("ok"):
        if not doc.get("is_class"):
            return Observation(reason=Reason.ASSERTION, metrics={"import_ms": elapsed_ms}, facts=facts,
                               message=f"{target} imports, but is not a class")
        kind = {True: "an AutoGen agent class", False: "a class that is NOT an AutoGen agent (no BaseAgent base)",
                None: "a class (autogen_core is not importable there, so not checked as an agent)"}[doc.get("is_agent")]
        obs = Observation(metrics={"import_ms": elapsed_ms}, facts=facts,
                          message=f"{target} imports in {elapsed_ms:.0f} ms: {kind}")
        if doc.get("is_agent") is False:
            obs.reason = Reason.ASSERTION
        return obs
    c = classify_text(doc.get("traceback") or f"{doc.get('error_type')}: {doc.get('error')}")
    if c.kind == "missing-module" and doc.get("top_level_installed") and c.subject and "." in c.subject:
        c.cause = (f"{c.subject!r} is missing although its package {c.subject.split('.')[0]!r} is installed: a "
                   f"different version, or an optional extra")
    facts["classification"] = c.to_dict()
    facts["traceback_tail"] = (doc.get("traceback") or "").strip().splitlines()[-6:]
    return Observation(reason=Reason.ASSERTION, metrics={"import_ms": elapsed_ms}, facts=facts,
                       message=f"importing {target} fails: {doc.get('error_type')}: {doc.get('error')}"[:400])


def _child_result(stdout: str) -> dict[str, Any] | None:
    for text in reversed(stdout.splitlines()):
        if text.startswith(MARKER):
            try:
                doc = json.loads(text[len(MARKER):])
            except ValueError:
                return None
            return doc if isinstance(doc, dict) else None
    return None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the child leads its own session: its children go with it
    except (ProcessLookupError, PermissionError):
        pass


def _classification_finding(mode_id: str, c: dict[str, Any], values: dict[str, Any], evidence: list[str],
                            checks: list[str]) -> Finding:
    values = {**values, "cause": c.get("cause", ""), "fix": c.get("fix", ""), "exception": c.get("exception", ""),
              "message": c.get("message", "")}
    return make_finding(mode_id, values, evidence + list(c.get("evidence", [])), checks)


async def diagnose_agent(cluster: Cluster | None, q: AgentQuery, cfg: Config | None = None) -> Report:
    """`cfg`: the config when there is no cluster (an offline `--error`/`--import` diagnosis), so its
    pack_dirs still decide how the layers are judged."""
    started_at, t0 = started_stamp(), time.perf_counter()
    if cluster is not None:
        preload_pods(cluster)  # the kubernetes client, before the deadline's clock starts
    ev = Evidence(Deadline(q.deadline_s))
    # How the layers are judged: the diagnose command pack, with the config's pack_dirs' overrides.
    specs = command_specs("diagnose", cluster.config if cluster is not None else cfg)
    findings: list[Finding] = []
    if q.error_text is not None:
        c = classify_text(q.error_text)
        obs = Observation(facts={"classification": c.to_dict()}, message=f"{c.kind}: {c.cause}")
        if c.known:
            obs.reason = Reason.ASSERTION
        from agentops.core.runner import judge

        ev.record(judge(specs["agent.error"], q.agent_type, obs, 0.0))
        if c.known:
            findings.append(_classification_finding("agent-error", c.to_dict(), {}, [], ["agent.error"]))
        else:
            ev.note(f"the --error text was not recognised ({c.cause}); the cluster evidence below still applies")
    if q.import_target:
        result = await ev.layer(specs["agent.import"], q.import_target,
                                lambda timeout: import_in_child(q.import_target or "", q.python, timeout),
                                cap=IMPORT_CAP_S, reserve=1.0 if cluster else 0.0)
        c = result.facts.get("classification")
        if result.reason is not None:
            values = {"target": q.import_target}
            if c:
                findings.append(_classification_finding("agent-import-failed", c, values, [f"agent.import: "
                                                        f"{result.message}"], ["agent.import"]))
            else:
                findings.append(make_finding("agent-import-failed", {
                    **values, "exception": "not an agent class", "cause": result.message,
                    "fix": "point --import at the agent class (a RoutedAgent/BaseAgent subclass) the worker "
                           "registers"}, [f"agent.import: {result.message}"], ["agent.import"]))
    cluster_findings: list[Finding] = []
    if cluster is not None:
        subject = Subject(to_type=q.agent_type, key=DEFAULT_KEY, address=cluster.address)
        async with Layers(cluster, ev, since_s=q.since_s) as layers:
            await _cluster_layers(layers, ev, q, subject)
        cluster_findings = diagnose(ev, subject)
    else:
        ev.note("no AgentRpc host configured or given (--host): registration, worker and ping were not checked")
    checks = ev.ids()
    for f in findings:
        f.checks = checks
    ordered = _order(findings, cluster_findings)
    report = Report(kind="diagnose.agent", started_at=started_at, duration_s=time.perf_counter() - t0,
                    results=ev.results, findings=ordered, notes=ev.notes,
                    verdict=ordered[0] if ordered else None)
    report.data = {"agent_type": q.agent_type, "host": cluster.address if cluster else None,
                   "verdict": ordered[0].id if ordered else None, "deadline_s": q.deadline_s}
    add_baseline_evidence(report, cluster.config if cluster else None)
    return report


def _order(offline: list[Finding], cluster: list[Finding]) -> list[Finding]:
    """The verdict first: the cluster's, unless an import failure or a classified error is worse (an import
    that fails explains a type nobody registered better than the reverse)."""
    if not cluster:
        return offline
    head = cluster[0]
    worse = [f for f in offline if f.status.severity > head.status.severity]
    rest = [f for f in offline if f not in worse]
    return worse + cluster + rest


async def _cluster_layers(layers: Layers, ev: Evidence, q: AgentQuery, subject: Subject) -> None:
    if not await layers.reach_host():
        return
    reg = await layers.registration(q.agent_type)
    owned = bool(reg.facts.get("owned"))
    await layers.owner_process(q.agent_type, reg.facts.get("owner_client_id"))
    if not owned:
        await layers.cluster_workers()
    payload_type, payload, _ = choose_payload(layers.cluster, q.agent_type, q.payload_type, q.payload)
    subject.payload_type = payload_type
    if payload_type is None:
        ev.note(f"no ping payload configured for {q.agent_type}: the round trip was not tested")
    else:
        proc = ev.get("worker.process")
        # Reads the judged status, not the reason: whether the worker's state blocks a reply is the pack's
        # decision (on_reason: up but not connected is only a warning), not a second one made here.
        blocked = not owned or (proc is not None and proc.status is Status.CRITICAL)
        await layers.ping_type(q.agent_type, DEFAULT_KEY, payload_type, payload, source=None,
                               cap=CONFIRM_PING_S if blocked else PING_SHARE * ev.deadline.total_s,
                               reserve=min(1.5, max(POST_PING_S, 0.3 * ev.deadline.remaining())))
    await layers.logs(q.agent_type, key=DEFAULT_KEY)
    await layers.metrics(q.agent_type)
