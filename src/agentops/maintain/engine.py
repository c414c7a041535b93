"""Runs a playbook the way cron needs it: planned up front, one run at a time (lock), never interactive
without a TTY (consent), every step bounded (timeout) and recorded (audit log), ending in one Report.

Steps run in order. A step whose `when` does not hold, or whose target selector matches no target, is
skipped. A failed step stops the playbook (later steps are reported skipped) unless it says
`continue_on_error: true`. A step's outcome (ok/changed/skipped/failed/interrupted) is what it observed; its
status is judged by the maintain command pack (checks/maintain.yaml, overridable from the config's pack_dirs):
as shipped OK for ok/changed/skipped, WARNING for a step that finished but reported problems it stepped over
(a file that could not be deleted), CRITICAL for failed, UNKNOWN for interrupted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentops.core.config import LOCAL, Config, Target
from agentops.core.evaluate import evaluate
from agentops.core.format import utc_stamp
from agentops.core.model import Observation, Reason, Report, Result
from agentops.core.packs import CheckSpec, command_specs
from agentops.core.redact import redact, redact_obj
from agentops.core.yamlsrc import ConfigError
from agentops.maintain.audit import AUDIT_FILE, AuditLog
from agentops.maintain.interrupt import Interrupts
from agentops.maintain.lock import LockBusy, PlaybookLock
from agentops.maintain.playbook import Playbook, StepSpec
from agentops.maintain.step import Outcome, Step, StepContext, StepOutcome
from agentops.maintain.when import holds

REPORT_KIND = "maintain.run"
# A step gets its whole timeout for its own deadlines; the engine's hard stop allows this much more so a
# step that honours ctx.deadline reports its own, more precise, outcome.
GRACE_S = 0.5


@dataclass
class PlannedStep:
    spec: StepSpec
    step: Step
    # [None] for steps acting on this machine; [] when the selector matched no target (the step is skipped).
    targets: list[Target | None]
    timeout: float


@dataclass
class RunOptions:
    state_dir: Path
    check: bool = False
    assume_yes: bool = False
    interactive: bool = False  # a TTY is attached: destructive steps may be confirmed by a prompt
    wait: float = 0.0  # seconds to wait for the lock
    confirm: Callable[[list[str]], bool] | None = None  # asks the human; only called when interactive


class ConsentRequired(Exception):
    """Destructive steps would run without --yes, without the playbook's `unattended: true`, and nobody at
    a TTY said yes."""


@dataclass
class StepRecord:
    spec: StepSpec
    target: Target | None
    outcome: StepOutcome
    duration_s: float = 0.0
    target_label: str = ""


@dataclass
class RunState:
    outcomes: dict[str, list[StepOutcome]] = field(default_factory=dict)
    records: list[StepRecord] = field(default_factory=list)
    stopped_at: str | None = None
    # {signal, step, target} when a signal stopped the run: the step it stopped (or would have started).
    interrupted: dict[str, str] | None = None
    # The maintain command pack: how each step's outcome is judged.
    checks: dict[str, CheckSpec] = field(default_factory=lambda: command_specs("maintain"))


def plan_playbook(pb: Playbook, cfg: Config) -> list[PlannedStep]:
    from agentops.core import registry

    planned = []
    for spec in pb.steps:
        step = registry.step(spec.kind)
        planned.append(PlannedStep(spec=spec, step=step, targets=select_targets(spec, step, cfg),
                                   timeout=spec.timeout if spec.timeout is not None else step.default_timeout))
    return planned


def select_targets(spec: StepSpec, step: Step, cfg: Config) -> list[Target | None]:
    """The checks' selector language (core.packs.select_targets); a step of no target kind runs once, on this
    machine (None)."""
    from agentops.core.packs import select_targets as select

    if not step.target_kinds:
        return [None]
    return list(select(cfg, spec.target, step.target_kinds, what=f"step {spec.id!r}", actor=spec.kind,
                       source=spec.source, verb="act on", verb_s="acts on"))


def destructive_steps(plan: list[PlannedStep]) -> list[str]:
    return [f"{p.spec.id} ({p.spec.kind})" for p in plan if p.step.destructive and p.targets]


def require_consent(pb: Playbook, plan: list[PlannedStep], opts: RunOptions) -> None:
    """Check mode changes nothing and needs no consent; otherwise destructive steps need --yes, the
    playbook's `unattended: true`, or a yes typed at a TTY."""
    risky = destructive_steps(plan)
    if opts.check or not risky or opts.assume_yes or pb.unattended:
        return
    if opts.interactive and opts.confirm is not None:
        if opts.confirm(risky):
            return
        raise ConsentRequired(f"not confirmed: nothing was run ({pb.name} has destructive steps: {', '.join(risky)})")
    raise ConsentRequired(f"playbook {pb.name} has destructive steps ({', '.join(risky)}) and no TTY to confirm "
                          f"them: pass --yes, or set `unattended: true` in the playbook")


def run_playbook(pb: Playbook, cfg: Config, opts: RunOptions) -> Report:
    """Plan, ask for consent, take the lock, run, audit. Raises ConfigError, ConsentRequired, LockBusy.

    A signal (SIGTERM, SIGINT, SIGHUP) once the lock is held does not raise: the running step is cancelled,
    what it had done is recorded, later steps are skipped, and the report says so (`data.interrupted`)."""
    plan = plan_playbook(pb, cfg)
    require_consent(pb, plan, opts)
    run_id = dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    started_at = _utc_now()
    t0 = time.perf_counter()
    with PlaybookLock(opts.state_dir, pb.name) as lock:
        lock.acquire(opts.wait, run_id=run_id)
        with Interrupts() as interrupts:
            audit = AuditLog(opts.state_dir, playbook=pb.name, run_id=run_id, check=opts.check)
            audit.rotate_if_large()
            audit.write("run.start", path=str(pb.path), steps=[p.spec.id for p in plan])
            state = asyncio.run(_execute(pb, plan, cfg, opts, audit, interrupts))
            report = build_report(pb, state, opts, run_id=run_id, started_at=started_at,
                                  duration_s=time.perf_counter() - t0)
            audit.write("run.end", status="INTERRUPTED" if state.interrupted else report.status.label,
                        recap=report.data["recap"], stopped_at=state.stopped_at, interrupted=state.interrupted,
                        duration_s=round(report.duration_s, 3))
    return report


async def _execute(pb: Playbook, plan: list[PlannedStep], cfg: Config, opts: RunOptions,
                   audit: AuditLog, interrupts: Interrupts) -> RunState:
    state = RunState(checks=command_specs("maintain", cfg))
    interrupts.watch(asyncio.current_task())
    try:
        for ps in plan:
            for target in ps.targets or [None]:
                await _execute_one(ps, target, pb, cfg, opts, audit, interrupts, state)
            failed = any(o.status is Outcome.FAILED for o in state.outcomes.get(ps.spec.id, []))
            if failed and not ps.spec.continue_on_error and state.stopped_at is None:
                state.stopped_at = ps.spec.id
    finally:
        interrupts.watch(None)
    return state


async def _execute_one(ps: PlannedStep, target: Target | None, pb: Playbook, cfg: Config, opts: RunOptions,
                       audit: AuditLog, interrupts: Interrupts, state: RunState) -> None:
    spec = ps.spec
    label = target.name if target else (LOCAL if ps.targets else (spec.target or "-"))
    t0 = time.perf_counter()
    if state.interrupted is not None:
        outcome = StepOutcome.skipped(f"not run: the run was interrupted by {state.interrupted['signal']} "
                                      f"during step {state.interrupted['step']}")
    elif interrupts.received is not None:  # arrived between two steps: nothing of this one was started
        state.interrupted = {"signal": interrupts.name, "step": spec.id, "target": label}
        outcome = StepOutcome.skipped(f"not run: the run was interrupted by {interrupts.name}")
    elif state.stopped_at is not None:
        outcome = StepOutcome.skipped(f"not run: the playbook stopped after step {state.stopped_at} failed")
    elif not ps.targets:
        outcome = StepOutcome.skipped(f"no target matches {spec.target or ', '.join(ps.step.target_kinds)} "
                                      f"in the config")
    else:
        false = next((c for c in spec.when if not holds(c, state.outcomes, check=opts.check)), None)
        if false is not None:
            outcome = StepOutcome.skipped(f"when: {false.text!r} is false")
        else:
            # What the step has changed so far, kept here because a cancelled step returns nothing.
            done = StepOutcome(Outcome.INTERRUPTED)

            def on_change(line: str) -> None:
                done.add_change(line)
                audit.write("change", step=spec.id, kind=spec.kind, target=label, change=line)

            try:
                outcome = await run_step(ps, target, cfg, opts, pb.name, on_change)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if interrupts.received is None or task is None:
                    raise  # not ours: someone else cancelled the run
                task.uncancel()  # handled here: later awaits (the audit, skipped steps) must not see it
                state.interrupted = {"signal": interrupts.name, "step": spec.id, "target": label}
                done.message = (f"interrupted by {interrupts.name} after {done.changes_total} "
                                f"change{'s' if done.changes_total != 1 else ''}")
                done.facts = _interrupted_facts(ps.step, done)
                outcome = done
    record = StepRecord(spec, target, outcome, time.perf_counter() - t0, label)
    state.records.append(record)
    state.outcomes.setdefault(spec.id, []).append(outcome)
    audit.write("step", step=spec.id, kind=spec.kind, target=label, outcome=outcome.status.value,
                status=step_result(record, state.checks).status.label,
                reason=outcome.reason.value if outcome.reason else None,
                message=outcome.message, changes=outcome.changes, changes_total=outcome.changes_total,
                before=outcome.before, after=outcome.after, warnings=outcome.warnings,
                duration_s=round(record.duration_s, 3))


def _interrupted_facts(step: Step, done: StepOutcome) -> dict[str, int]:
    # files.prune's own figure, so a reader of an interrupted prune finds it where a finished one has it.
    return {"deleted_files": done.changes_total} if step.kind == "files.prune" else {}


async def run_step(ps: PlannedStep, target: Target | None, cfg: Config, opts: RunOptions,
                   playbook: str, on_change: Callable[[str], None] | None = None) -> StepOutcome:
    ctx = StepContext(params=ps.spec.params, target=target, check=opts.check, timeout=ps.timeout, config=cfg,
                      state_dir=opts.state_dir, playbook=playbook, step_id=ps.spec.id, on_change=on_change)
    try:
        return await asyncio.wait_for(ps.step.run(ctx), ps.timeout + GRACE_S)
    except TimeoutError:
        return StepOutcome.failure(Reason.TIMEOUT, f"did not finish within its timeout ({ps.timeout:g}s)")
    except ConfigError as exc:  # e.g. the target's password_env is not set
        return StepOutcome.failure(Reason.INTERNAL, str(exc))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a step bug must fail that step, not crash the playbook
        return StepOutcome.failure(Reason.INTERNAL, f"{type(exc).__name__}: {exc}")


def step_observation(o: StepOutcome, metrics: dict[str, float], message: str) -> tuple[str, Observation]:
    """The maintain pack check that judges this outcome, and the step's outcome as an observation: a failed
    step is a failed measurement with the step's reason; an interrupted one a cut-short one (an external
    deadline: reason timeout); a finished one its figures and how many problems it stepped over."""
    if o.status is Outcome.INTERRUPTED:
        return "maintain.interrupted", Observation.failure(Reason.TIMEOUT, message)
    if o.status is Outcome.FAILED:
        return "maintain.step", Observation.failure(o.reason or Reason.INTERNAL, message)
    return "maintain.step", Observation(metrics=metrics, message=message)


def step_result(record: StepRecord, checks: dict[str, CheckSpec] | None = None) -> Result:
    o = record.outcome
    metrics: dict[str, float] = {}
    for name, value in o.before.items():
        metrics[f"{name}_before"] = value
    for name, value in o.after.items():
        metrics[f"{name}_after"] = value
    metrics["warnings"] = float(len(o.warnings))
    message = o.message
    if o.warnings:
        extra = f" (+{len(o.warnings) - 1} more)" if len(o.warnings) > 1 else ""
        message = f"{message}; {o.warnings[0]}{extra}" if message else o.warnings[0] + extra
    check_id, obs = step_observation(o, metrics, message)
    status, reason, _judged = evaluate((checks or command_specs("maintain"))[check_id], obs)
    # The message is the step's own account (what it did, the first problem it stepped over); a breached
    # `warnings` rule is in status and reason.
    return Result(id=record.spec.id, target=record.target_label, probe=record.spec.kind,
                  status=status, reason=reason, message=redact(message), metrics=metrics,
                  facts=redact_obj(o.to_dict()), duration_s=record.duration_s, tags=list(record.spec.tags))


def recap(state: RunState) -> dict[str, int]:
    counts = {o.value: 0 for o in Outcome}
    for r in state.records:
        counts[r.outcome.status.value] += 1
    return counts


def build_report(pb: Playbook, state: RunState, opts: RunOptions, *, run_id: str, started_at: str,
                 duration_s: float) -> Report:
    report = Report(kind=REPORT_KIND, started_at=started_at, duration_s=duration_s,
                    results=[step_result(r, state.checks) for r in state.records])
    report.data = {
        "playbook": pb.name, "path": str(pb.path), "check": opts.check, "run_id": run_id,
        "recap": recap(state), "stopped_at": state.stopped_at, "interrupted": state.interrupted,
        "state_dir": str(opts.state_dir), "audit_log": str(opts.state_dir / AUDIT_FILE),
    }
    if opts.check:
        report.notes.append("check mode: nothing was changed; 'changed' means 'would change'")
    if state.stopped_at:
        report.notes.append(f"stopped after step {state.stopped_at} failed")
    if state.interrupted:
        i = state.interrupted
        report.notes.append(f"interrupted by {i['signal']} during step {i['step']} ({i['target']}); later steps "
                            f"were not run (every change made is in the audit log)")
    return report


def busy_report(pb: Playbook, exc: LockBusy, opts: RunOptions, cfg: Config | None = None) -> Report:
    """The answer of a run that did not get the lock: one result naming the holder, judged by the maintain
    pack's `maintain.lock` (UNKNOWN as shipped: this run did nothing, which is neither a pass nor a failure)."""
    spec = command_specs("maintain", cfg)["maintain.lock"]
    status, reason, message = evaluate(spec, Observation.failure(Reason.TIMEOUT, str(exc)))
    report = Report(kind=REPORT_KIND, started_at=_utc_now(),
                    duration_s=exc.waited, results=[Result(
                        id="lock", target=LOCAL, probe=spec.probe, status=status, reason=reason,
                        message=message, facts={"holder": exc.holder, "lock": str(opts.state_dir / "locks")})])
    report.data = {"playbook": pb.name, "path": str(pb.path), "check": opts.check, "run_id": None,
                   "recap": {o.value: 0 for o in Outcome}, "stopped_at": None, "interrupted": None,
                   "lock_busy": True,
                   "state_dir": str(opts.state_dir), "audit_log": str(opts.state_dir / AUDIT_FILE)}
    return report


def _utc_now() -> str:
    return utc_stamp()
