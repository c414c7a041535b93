"""`agentops emergency TYPE`: detect an incident, and when it is on, plan (default) or apply its runbook's
protective steps, save the state, and notify a webhook (docs/emergency.md).

    detect    emergency_detect: Observations, judged by the `emergency` command pack (CRITICAL = on)
    runbook   runbooks/emergency/<type>.yaml in heal's runbook format (the incident type is the mode);
              found like heal's runbooks: the config's heal.runbook_dirs, runbooks/ beside the config, shipped
    plan      each step's plan (what, why, to what) for each worker the detection named; nothing changes
    apply     consent (heal's rules), one lock per incident type, the snapshot first, then every step in
              order (protective actions are all taken, not tried in turn: an isolation and its reroute both
              run), each step ending in its own verification (the process state, the flag read back, the
              playbook's recap); one history record per step (the maintain audit format)
    notify    one POST (Alertmanager webhook v4 or plain JSON) with a deadline, retries, the URL redacted

The report's status is the detection's: an incident contained by its protective steps is still an incident.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.cluster import Cluster, WorkerSpec
from agentops.core.config import LOCAL, Config
from agentops.core.evaluate import evaluate
from agentops.core.format import utc_stamp
from agentops.core.knowledge import Explanation, FindingText
from agentops.core.model import Finding, Observation, Reason, Report, Result, Status
from agentops.core.packs import CheckSpec, command_specs
from agentops.core.redact import redact, redact_obj
from agentops.core.yamlsrc import ConfigError
from agentops.heal import emergency_detect as detect_
from agentops.heal.emergency_notify import Delivery, alertmanager_payload, deliver, plain_payload, shown
from agentops.heal.emergency_runbook import EmergencyRunbook, find_runbook
from agentops.heal.step import HealContext, HealStep, StepPlan
from agentops.heal.targets import HealTarget, Verdict, heal_targets
from agentops.maintain.audit import AuditLog
from agentops.maintain.engine import step_observation
from agentops.maintain.lock import PlaybookLock
from agentops.maintain.step import Outcome, StepOutcome

REPORT_KIND = "emergency"
TYPES = detect_.TYPES
SNAPSHOT_DIR = "snapshots"

# The words of each incident's finding (filled from the detection's facts); status comes from the judge.
TEXTS: dict[str, FindingText] = {
    "cascade": FindingText(
        "cascade failure: {failing} agent types failing within {window}s ({names})",
        Explanation("several agent types stopped answering within one window: one failure is spreading "
                    "(a shared dependency, a poisoned message passed on, workers overloaded in turn)",
                    "isolate the failing workers so they stop taking work, bring the types up elsewhere "
                    "(heal's failover / a standby), then find the first failure: agentops diagnose message "
                    "--to {first}")),
    "overflow": FindingText(
        "message-queue overflow on {workers}",
        Explanation("a worker's runtime_message_queue_size is over its limit: messages arrive faster than "
                    "its handlers finish, and every queued message waits longer",
                    "apply backpressure (the flag tells the load source to slow down), then look at the "
                    "slow handler: agentops diagnose performance")),
    "memory": FindingText(
        "memory exhaustion on {where}",
        Explanation("the machine or a worker process is over its memory limit: the OOM killer or swapping "
                    "is next",
                    "run the cleanup playbook; a worker that keeps growing needs a restart (agentops heal) "
                    "and a look at what it keeps: agentops profile")),
    "partition": FindingText(
        "network partition: the AgentRpc host {host} is unreachable while the local workers are up",
        Explanation("this machine's workers run but cannot reach the host: no message is routed to or from "
                    "them",
                    "the degraded-mode flag tells the workers to serve locally what they can; check the "
                    "network path to {host} (routes, firewall, the host itself)")),
    "unmeasured": FindingText(
        "could not tell whether a {incident} emergency is on: {message}",
        Explanation("a measurement the detection needs failed (see each result's reason), so the emergency "
                    "pack could not judge it",
                    "make the measurement possible (the target answering, its metrics_url or process configured) "
                    "or look at the incident that explains it (a host that does not answer: emergency partition)")),
    "none": FindingText(
        "no {incident} emergency: {message}",
        Explanation("the detection's measurements are within the emergency pack's limits",
                    "nothing to do; the limits are checks/emergency.yaml (override in a pack_dir)")),
}


@dataclass
class EmergencyOptions:
    state_dir: Path
    apply: bool = False
    assume_yes: bool = False
    interactive: bool = False
    confirm: Callable[[list[str]], bool] | None = None
    webhook: Delivery | None = None
    external_url: str = ""
    lock_wait: float = 0.0


@dataclass
class Detection:
    incident: str
    results: list[Result]
    # The workers the protective steps act on (the failing types' workers, the overflowing ones...).
    workers: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def on(self) -> bool:
        return any(r.status is Status.CRITICAL for r in self.results)

    @property
    def headline(self) -> Result | None:
        worst = Status.worst([r.status for r in self.results]) if self.results else None
        return next((r for r in self.results if r.status is worst), None)


@dataclass
class PlannedAction:
    step_id: str
    step: HealStep
    ctx: HealContext
    plan: StepPlan | None  # None: not applicable (skip_why says why)
    skip_why: str | None = None
    timeout: float = 0.0


# --------------------------------------------------------------------------------------------- detection

async def detect(incident: str, cluster: Cluster, cfg: Config, state_dir: Path) -> Detection:
    specs = command_specs("emergency", cfg)
    t0 = time.perf_counter()
    results: list[Result] = []
    workers: list[str] = []
    if incident == "cascade":
        spec = specs["emergency.cascade"]
        obs = await detect_.measure_cascade(cluster, spec.params, state_dir)
        r = detect_.judge(spec, cluster.target.name, obs, time.perf_counter() - t0)
        results.append(r)
        workers = detect_.failing_workers(r, cluster)
    elif incident == "overflow":
        spec = specs["emergency.overflow"]
        for name, obs in await detect_.measure_queues(cluster, _timeout(spec)):
            results.append(detect_.judge(spec, name, obs, time.perf_counter() - t0))
        workers = [r.target for r in results if r.status is Status.CRITICAL]
    elif incident == "memory":
        machine, worker = specs["emergency.memory.machine"], specs["emergency.memory.worker"]
        m = detect_.judge(machine, LOCAL, await detect_.measure_machine_memory(_timeout(machine)))
        results.append(m)
        for name, obs in detect_.measure_worker_memory(cluster):
            results.append(detect_.judge(worker, name, obs, time.perf_counter() - t0))
        over = [r.target for r in results[1:] if r.status is Status.CRITICAL]
        local = [r.target for r in results[1:] if r.reason is None]
        # The machine's memory is every local worker's: a full machine names them all.
        workers = local if m.status is Status.CRITICAL else over
    elif incident == "partition":
        spec = specs["emergency.partition"]
        r = detect_.judge(spec, cluster.target.name, await detect_.measure_partition(cluster, spec.params),
                          time.perf_counter() - t0)
        results.append(r)
        workers = list(r.facts.get("workers_up", []))
    else:
        raise ConfigError(f"unknown emergency type {incident!r} (known: {', '.join(TYPES)})")
    return Detection(incident, results, workers, time.perf_counter() - t0)


def _timeout(spec: CheckSpec) -> float:
    return spec.timeout or 5.0


def incident_finding(d: Detection, cluster: Cluster) -> Finding:
    head = d.headline
    status = head.status if head is not None else Status.worst([])
    checks = [f"{r.id}@{r.target}" for r in d.results if r.status is status]
    if not d.on or head is None:
        unmeasured = any(r.reason is not None for r in d.results)
        text, suffix = (TEXTS["unmeasured"], "unmeasured") if unmeasured else (TEXTS["none"], "none")
        return text.finding(f"{d.incident}-{suffix}", status, {
            "incident": d.incident, "message": "; ".join(f"{r.target}: {r.message}" for r in d.results)
            or "nothing to measure (no worker, no metrics_url?)"}, checks=checks)
    facts = head.facts
    failing = facts.get("failing", [])
    values = {
        "failing": int(head.metrics.get("failing_types", 0)), "window": f"{head.metrics.get('window_s', 0):g}",
        "names": ", ".join(r["type"] for r in failing), "first": failing[0]["type"] if failing else "?",
        "workers": ", ".join(d.workers), "host": cluster.address,
        "where": ", ".join(r.target for r in d.results if r.status is Status.CRITICAL),
    }
    evidence = [f"{r.id}@{r.target}: {r.message}" for r in d.results if r.status is not Status.OK]
    return TEXTS[d.incident].finding(f"emergency-{d.incident}", status, values, evidence=evidence, checks=checks)


# ------------------------------------------------------------------------------------------------- plan

def _targets(d: Detection, cfg: Config, verdict: Verdict) -> list[HealTarget]:
    if not d.workers:
        return []
    found = heal_targets(cfg, d.workers)
    for t in found:
        t.verdict = verdict
    return found


def plan_actions(d: Detection, rb: EmergencyRunbook, cfg: Config, cluster: Cluster, opts: EmergencyOptions,
                 finding: Finding) -> list[PlannedAction]:
    from agentops.core import registry

    verdict = Verdict.from_finding(finding)
    verdict.mode = d.incident
    targets = _targets(d, cfg, verdict)
    planned: list[PlannedAction] = []
    for spec in rb.steps:
        step: HealStep = registry.heal_step(spec.kind)
        chosen = targets[:1] if getattr(step, "once_per_run", False) else targets
        if not chosen and getattr(step, "once_per_run", False):
            chosen = [_local_target(cluster, verdict)]
        timeout = spec.timeout or step.default_timeout
        for target in chosen:
            ctx = HealContext(target=target, params=spec.params, config=cfg, cluster=cluster, timeout=timeout,
                              state_dir=opts.state_dir)
            why = step.applicable(ctx)
            planned.append(PlannedAction(spec.id, step, ctx, None if why else step.plan(ctx), why, timeout))
    return planned


def _local_target(cluster: Cluster, verdict: Verdict) -> HealTarget:
    """This machine as a target, for a step that runs once (a cleanup playbook) when no worker was named."""
    from agentops.core.cluster import ProcessLocator
    from agentops.core.config import Target
    from agentops.heal.targets import WorkerHeal

    spec = WorkerSpec(name=LOCAL, host=None, process=ProcessLocator(), logs=[], log_format=None, metrics_url=None,
                      agent_types=[], pings={})
    return HealTarget(name=LOCAL, target=Target(name=LOCAL, kind="host", where="this machine"), worker=spec,
                      options=WorkerHeal(), verdict=verdict)


def require_consent(cfg: Config, incident: str, actions: list[PlannedAction], opts: EmergencyOptions) -> None:
    """heal's rules, by heal's own check: --yes, the config's `heal.unattended: true`, or a yes at a TTY."""
    from agentops.heal.engine import ask_consent
    from agentops.heal.policy import heal_policy

    what = [f"{a.ctx.target.name} ({a.step_id}: {a.plan.action})" for a in actions if a.plan is not None]
    if what:
        ask_consent(what, command=f"emergency {incident} --apply", assume_yes=opts.assume_yes,
                    unattended=heal_policy(cfg).unattended, interactive=opts.interactive, confirm=opts.confirm)


# ------------------------------------------------------------------------------------------------ apply

def save_snapshot(path: Path, document: dict[str, Any]) -> Observation:
    """The detection's report, redacted, written atomically: the state an expert reads after the incident."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(redact_obj(document), indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        size = path.stat().st_size
    except OSError as exc:
        return Observation.failure(Reason.INTERNAL, f"snapshot {path}: {exc}")
    return Observation(metrics={"bytes": float(size)}, facts={"path": str(path)}, message=f"state saved to {path}")


async def run_action(a: PlannedAction, history: AuditLog | None) -> StepOutcome:
    def on_change(line: str) -> None:
        if history is not None:
            history.write("change", target=a.ctx.target.name, step=a.step_id, kind=a.step.kind, change=line)

    a.ctx.on_change = on_change
    a.ctx.started = time.monotonic()
    try:
        return await asyncio.wait_for(a.step.apply(a.ctx), a.timeout + 0.5)
    except TimeoutError:
        return StepOutcome.failure(Reason.TIMEOUT, f"did not finish within its timeout ({a.timeout:g}s)")
    except ConfigError as exc:
        return StepOutcome.failure(Reason.INTERNAL, str(exc))
    except Exception as exc:  # a step bug fails that step, not the emergency
        return StepOutcome.failure(Reason.INTERNAL, f"{type(exc).__name__}: {exc}")


def action_result(a: PlannedAction, outcome: StepOutcome, duration_s: float, maintain: dict[str, CheckSpec]
                  ) -> Result:
    """A step's outcome judged like a maintenance step's (the maintain pack), so a failed protective step is
    CRITICAL and a plan or a skip is OK."""
    metrics = {f"{k}_before": v for k, v in outcome.before.items()}
    metrics |= {f"{k}_after": v for k, v in outcome.after.items()}
    metrics["warnings"] = float(len(outcome.warnings))
    check_id, obs = step_observation(outcome, metrics, outcome.message)
    status, reason, message = evaluate(maintain[check_id], obs)
    facts = redact_obj(outcome.to_dict())
    if a.plan is not None:
        facts["plan"] = a.plan.to_dict()
    return Result(id=a.step_id, target=a.ctx.target.name, probe=a.step.kind, status=status, reason=reason,
                  message=redact(message), metrics=metrics, facts=facts, duration_s=duration_s,
                  tags=["emergency", "step"])


def planned_outcome(a: PlannedAction) -> StepOutcome:
    """A step as the plan shows it: "would change" with what and why, or skipped with why it cannot act."""
    if a.plan is None:
        return StepOutcome.skipped(f"not applicable: {a.skip_why}")
    out = StepOutcome(Outcome.CHANGED, message=f"would {a.plan.action} — {a.plan.why}")
    out.add_change(f"would {a.plan.action} ({a.plan.to})")
    return out


def notification_payload(d: Detection, finding: Finding, cluster: Cluster, cfg: Config, fmt: str,
                         started_at: float, external_url: str, report_doc: dict[str, Any]) -> dict[str, Any]:
    name = cfg.cluster or cluster.target.name
    severity = finding.status.label.lower()
    description = "; ".join(finding.evidence[:5]) or finding.cause
    if fmt == "json":
        return plain_payload(incident=d.incident, cluster=name, severity=severity, summary=finding.title,
                             description=description, started_at=started_at, report=report_doc)
    return alertmanager_payload(incident=d.incident, cluster=name, severity=severity, summary=finding.title,
                                description=description, started_at=started_at, external_url=external_url,
                                extra_labels={"host": cluster.address})


def run_emergency(incident: str, cfg: Config, cluster: Cluster, opts: EmergencyOptions) -> Report:
    """Detect; plan or apply; snapshot; notify. Raises ConfigError, heal's ConsentRequired, LockBusy."""
    rb = find_runbook(incident, cfg)
    started_at, t0 = time.time(), time.perf_counter()
    d = asyncio.run(detect(incident, cluster, cfg, opts.state_dir))
    finding = incident_finding(d, cluster)
    actions = plan_actions(d, rb, cfg, cluster, opts, finding) if d.on else []
    specs, maintain = command_specs("emergency", cfg), command_specs("maintain", cfg)
    report = Report(kind=REPORT_KIND, started_at=utc_stamp(started_at), duration_s=0.0, results=list(d.results),
                    verdict=finding)
    data: dict[str, Any] = {"incident": incident, "on": d.on, "apply": opts.apply, "runbook": str(rb.path),
                            "workers": d.workers, "detection_s": round(d.duration_s, 3), "snapshot": None,
                            "notified": None, "actions": []}
    report.data = data
    if not d.on:
        report.notes.append(f"no {incident} emergency: nothing planned")
    elif not opts.apply:
        report.results += [action_result(a, planned_outcome(a), 0.0, maintain) for a in actions]
        data["actions"] = [{"step": a.step_id, "target": a.ctx.target.name, "plan": a.plan.to_dict() if a.plan
                            else None, "skipped": a.skip_why} for a in actions]
        report.notes.append("plan: nothing was changed; run with --apply to act")
        if opts.webhook is not None:
            report.notes.append(f"would notify {shown(opts.webhook.url)} ({opts.webhook.format})")
    else:
        require_consent(cfg, incident, actions, opts)
        _apply(incident, d, finding, actions, cfg, cluster, opts, report, specs, maintain, started_at)
    report.duration_s = time.perf_counter() - t0
    return report


def _apply(incident: str, d: Detection, finding: Finding, actions: list[PlannedAction], cfg: Config,
           cluster: Cluster, opts: EmergencyOptions, report: Report, specs: dict[str, CheckSpec],
           maintain: dict[str, CheckSpec], started_at: float) -> None:
    from agentops.heal.history import heal_dir, open_history
    from agentops.render.document import report_document

    run_id = dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    data = report.data
    data["run_id"] = run_id
    locks = heal_dir(opts.state_dir)
    # One emergency run per incident type at a time; each worker is also locked the way heal locks it, so
    # heal and emergency never act on one worker at once.
    with PlaybookLock(locks, f"emergency-{incident}") as lock:
        lock.acquire(opts.lock_wait, run_id=run_id)
        history = open_history(opts.state_dir, run_id, apply=True)
        history.write("run.start", apply=True, emergency=incident, targets=d.workers, runbooks=[data["runbook"]],
                      finding=finding.to_dict())
        # State first: whatever the steps do next, what was seen before acting is on disk.
        path = opts.state_dir / "emergency" / SNAPSHOT_DIR / f"{incident}-{run_id}.json"
        snap = save_snapshot(path, report_document(report))
        report.results.append(detect_.judge(specs["emergency.snapshot"], LOCAL, snap))
        data["snapshot"] = str(path) if snap.reason is None else None
        steps = asyncio.run(_act(incident, actions, history, locks, run_id, maintain, data["runbook"]))
        report.results += steps
        data["actions"] = [{"step": r.id, "target": r.target, "outcome": r.facts.get("outcome"),
                            "plan": r.facts.get("plan")} for r in steps]
        if opts.webhook is not None:
            payload = notification_payload(d, finding, cluster, cfg, opts.webhook.format, started_at,
                                           opts.external_url, report_document(report))
            obs = asyncio.run(deliver(opts.webhook, payload))
            report.results.append(detect_.judge(specs["emergency.notify"], shown(opts.webhook.url), obs))
            data["notified"] = obs.reason is None
            history.write("notify", emergency=incident, target=shown(opts.webhook.url), delivered=obs.reason is None,
                          message=obs.message)
        history.write("run.end", status=report.status.label, emergency=incident,
                      recap={o.value: sum(1 for r in steps if r.facts.get("outcome") == o.value) for o in Outcome})


async def _act(incident: str, actions: list[PlannedAction], history: AuditLog, locks: Path, run_id: str,
               maintain: dict[str, CheckSpec], runbook: str) -> list[Result]:
    """Every planned step in order. Each worker acted on is one attempt in heal's history (mode: the
    incident), so `heal history` lists it and heal's budget counts it: heal and emergency together never act
    on one worker more often than the budget allows."""
    from agentops.maintain.lock import LockBusy

    acted = list(dict.fromkeys(a.ctx.target.name for a in actions if a.plan is not None))
    verdicts = {a.ctx.target.name: a.ctx.target.verdict for a in actions}
    for name in acted:
        v = verdicts.get(name)
        history.write("attempt.start", target=name, mode=incident, verdict=v.to_dict() if v else None,
                      runbook=runbook)
    failed: set[str] = set()
    out = []
    for a in actions:
        t = time.perf_counter()
        name = a.ctx.target.name
        if a.plan is None:
            outcome = planned_outcome(a)
        else:
            history.write("step.start", target=name, step=a.step_id, kind=a.step.kind, plan=a.plan.to_dict())
            try:
                with PlaybookLock(locks, f"target-{name}") as target_lock:
                    target_lock.acquire(0.0, run_id=run_id)
                    outcome = await run_action(a, history)
            except LockBusy as exc:
                outcome = StepOutcome.failure(Reason.TIMEOUT, f"{name} is locked: {exc}")
        r = action_result(a, outcome, time.perf_counter() - t, maintain)
        history.write("step", target=name, step=a.step_id, kind=a.step.kind, outcome=outcome.status.value,
                      status=r.status.label, reason=outcome.reason.value if outcome.reason else None,
                      message=outcome.message, changes=outcome.changes, changes_total=outcome.changes_total,
                      before=outcome.before, after=outcome.after, warnings=outcome.warnings,
                      duration_s=round(r.duration_s, 3), verified=outcome.status is not Outcome.FAILED)
        if outcome.status is Outcome.FAILED:
            failed.add(name)
        out.append(r)
    for name in acted:
        # "contained": the protective steps ran and verified; the incident itself is not over (no "healed").
        history.write("attempt.end", target=name, outcome="failed" if name in failed else "contained",
                      mode_after=incident)
    return out
