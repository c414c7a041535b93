"""Heals the way the trusted remediation systems do: plan by default; act only with consent; never when paused,
never past the blast-radius breaker, never twice at once on one target (a lock each), never more than the budget
allows in the window (then "needs a human"); and every action verified by the diagnosis again, escalating to the
runbook's next step when it does not hold.

    report = asyncio.run(heal(cfg, HealOptions(state_dir=..., apply=False)))      # the whole cluster
    outcome = await run_runbook(mode_runbook, target, run, verify)                  # one runbook, one target

`run_runbook` is the engine without the diagnosis: `agentops emergency` hands it its own runbook, target and
verification (any coroutine returning a Verdict).

Per target the answer is a `TargetOutcome` (outcome: healthy | planned | healed | failed | needs-human | refused |
busy), judged by the heal command pack's `heal.target` (checks/heal.yaml); each step by `heal.step`; the budget
by `heal.attempts`; the breaker by `heal.breaker`; a busy lock by `heal.lock`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.cluster import Cluster, configured_cluster
from agentops.core.config import Config
from agentops.core.evaluate import evaluate
from agentops.core.format import duration, utc_stamp
from agentops.core.model import Observation, Reason, Report, Result, Status
from agentops.core.packs import CheckSpec, command_specs
from agentops.core.redact import redact, redact_obj
from agentops.core.runner import judge
from agentops.heal.history import attempts, heal_dir, open_history, read_history, recover
from agentops.heal.policy import HealPolicy, heal_policy
from agentops.heal.runbook import ModeRunbook, RunbookSet, RunbookStep, load_runbooks
from agentops.heal.step import HealContext, StepPlan
from agentops.heal.targets import HealTarget, Verdict, heal_targets
from agentops.heal.verify import diagnose_worker, is_healthy, verify_worker
from agentops.maintain.audit import AuditLog
from agentops.maintain.engine import GRACE_S, ConsentRequired
from agentops.maintain.lock import LockBusy, PlaybookLock
from agentops.maintain.step import Outcome, StepOutcome

REPORT_KIND = "heal"
# (target, within_s, acted_at) -> the verdict after an action.
Verify = Callable[[HealTarget, float, float], Awaitable[Verdict]]

HEALTHY, PLANNED, HEALED, FAILED = "healthy", "planned", "healed", "failed"
NEEDS_HUMAN, REFUSED, BUSY = "needs-human", "refused", "busy"
OUTCOMES = (HEALTHY, PLANNED, HEALED, FAILED, NEEDS_HUMAN, REFUSED, BUSY)


@dataclass
class HealOptions:
    state_dir: Path
    apply: bool = False
    assume_yes: bool = False
    interactive: bool = False  # a TTY is attached: consent may be asked
    confirm: Callable[[list[str]], bool] | None = None
    force: bool = False  # act on GitOps-managed objects
    only: list[str] | None = None  # worker names to act on (all are diagnosed: the breaker counts them all)


@dataclass
class StepRun:
    spec: RunbookStep
    plan: StepPlan | None
    outcome: StepOutcome
    duration_s: float = 0.0
    verified: bool | None = None  # None: not verified (planned, skipped, failed before verification)
    verdict_after: Verdict | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.spec.id, "step": self.spec.kind, "plan": self.plan.to_dict() if self.plan else None,
                "outcome": self.outcome.status.value, "message": self.outcome.message,
                "changes": list(self.outcome.changes), "verified": self.verified,
                "mode_after": self.verdict_after.mode if self.verdict_after else None,
                "duration_s": round(self.duration_s, 3)}


@dataclass
class TargetOutcome:
    name: str
    outcome: str
    verdict: Verdict | None
    runbook: ModeRunbook | None = None
    steps: list[StepRun] = field(default_factory=list)
    attempts_in_window: int = 0
    message: str = ""
    verdict_after: Verdict | None = None
    budget: Result | None = None
    lock_holder: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.name, "outcome": self.outcome, "message": self.message,
                "verdict": self.verdict.to_dict() if self.verdict else None,
                "verdict_after": self.verdict_after.to_dict() if self.verdict_after else None,
                "runbook": ({"name": self.runbook.runbook, "path": str(self.runbook.path), "mode": self.runbook.mode}
                            if self.runbook else None),
                "attempts_in_window": self.attempts_in_window, "steps": [s.to_dict() for s in self.steps],
                "lock_holder": self.lock_holder}


@dataclass
class HealRun:
    """One heal invocation: its config, policy, options, judging specs, history and id."""

    cfg: Config
    opts: HealOptions
    policy: HealPolicy
    specs: dict[str, CheckSpec]
    cluster: Cluster | None
    history: AuditLog | None = None
    run_id: str = field(default_factory=lambda: dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-"
                        + uuid.uuid4().hex[:6])

    @property
    def heal_dir(self) -> Path:
        return heal_dir(self.opts.state_dir)

    def write(self, event: str, **fields: Any) -> None:
        if self.history is not None:
            self.history.write(event, **fields)


def new_run(cfg: Config, opts: HealOptions, cluster: Cluster | None = None) -> HealRun:
    """A run other commands (emergency) can drive `run_runbook` with; `heal` makes its own."""
    return HealRun(cfg=cfg, opts=opts, policy=heal_policy(cfg), specs=command_specs("heal", cfg), cluster=cluster)



async def heal(cfg: Config, opts: HealOptions) -> Report:
    """Diagnose every worker, judge the breaker, and plan (or apply) each unhealthy target's runbook.
    Raises ConfigError (bad runbook or policy) and ConsentRequired (apply, nothing confirmed)."""
    started_at, t0 = utc_stamp(), time.perf_counter()
    run = new_run(cfg, opts, configured_cluster(cfg))
    runbooks = load_runbooks(cfg)
    targets = heal_targets(cfg)
    chosen = set(opts.only) if opts.only else {t.name for t in targets}
    if opts.only:
        heal_targets(cfg, opts.only)  # an unknown name is a config error before anything runs
    verdicts = await asyncio.gather(*(diagnose_worker(run.cluster, t, cfg, deadline_s=run.policy.deadline_s,
                                                      since_s=run.policy.deadline_s * 2) for t in targets))
    for t, v in zip(targets, verdicts, strict=True):
        t.verdict = v
    breaker = breaker_result(targets, runbooks, run.specs)
    tripped = breaker.status is not Status.OK
    paused = run.policy.pause_path(run.heal_dir).exists()
    actionable = [t for t in targets if t.name in chosen and not is_healthy(t.verdict)
                  and runbooks.for_mode(t.verdict.mode if t.verdict else "") is not None]
    if opts.apply and actionable and not tripped and not paused:
        require_consent(run, actionable)
    outcomes: list[TargetOutcome] = []
    if opts.apply:
        run.history = open_history(opts.state_dir, run.run_id, apply=True)
        with PlaybookLock(run.heal_dir, "history") as hl:
            hl.acquire(5.0, run_id=run.run_id)
            recovered = recover(run.history, read_history(opts.state_dir), run.run_id)
        run.write("run.start", apply=True, targets=[t.name for t in targets if t.name in chosen],
                  runbooks=[str(rb.path) for rb in runbooks.runbooks], recovered=recovered)
    try:
        for t in targets:
            if t.name not in chosen:
                continue
            outcomes.append(await _heal_target(run, t, runbooks, tripped=tripped, paused=paused))
    finally:
        if run.history is not None:
            recap = {o: sum(1 for x in outcomes if x.outcome == o) for o in OUTCOMES}
            run.write("run.end", status="DONE", recap=recap, duration_s=round(time.perf_counter() - t0, 3))
    return build_report(run, targets, outcomes, breaker, paused=paused, started_at=started_at,
                        duration_s=time.perf_counter() - t0)


def breaker_result(targets: list[HealTarget], runbooks: RunbookSet, specs: dict[str, CheckSpec]) -> Result:
    """The share of workers already unhealthy, judged by heal.breaker. A mode whose runbook says
    `breaker: false` (one cause for every worker, such as a restarted host) is not counted."""
    counted = [t for t in targets if not is_healthy(t.verdict) and _counts(t, runbooks)]
    share = len(counted) / len(targets) if targets else 0.0
    obs = Observation(metrics={"unhealthy_share": round(share, 4), "unhealthy": float(len(counted)),
                               "workers": float(len(targets))},
                      facts={"unhealthy_workers": [t.name for t in counted]},
                      message=f"{len(counted)} of {len(targets)} workers unhealthy")
    return judge(specs["heal.breaker"], "cluster", obs, 0.0)


def _counts(t: HealTarget, runbooks: RunbookSet) -> bool:
    rb = runbooks.for_mode(t.verdict.mode) if t.verdict else None
    return rb is None or rb.breaker


def require_consent(run: HealRun, targets: list[HealTarget]) -> None:
    ask_consent([f"{t.name} ({t.verdict.mode})" for t in targets if t.verdict], command="heal --apply",
                assume_yes=run.opts.assume_yes, unattended=run.policy.unattended, interactive=run.opts.interactive,
                confirm=run.opts.confirm)


def ask_consent(actions: list[str], *, command: str, assume_yes: bool, unattended: bool, interactive: bool,
                confirm: Callable[[list[str]], bool] | None) -> None:
    """--yes or `unattended: true` consent; else a yes at a TTY; else ConsentRequired (one line, exit 3)."""
    if assume_yes or unattended:
        return
    if interactive and confirm is not None:
        if confirm(actions):
            return
        raise ConsentRequired(f"not confirmed: nothing was done ({command} would act on {', '.join(actions)})")
    raise ConsentRequired(f"{command} would act on {', '.join(actions)} and there is no TTY to confirm: pass "
                          f"--yes, or set `heal: {{unattended: true}}` in the config")


async def _heal_target(run: HealRun, t: HealTarget, runbooks: RunbookSet, *, tripped: bool,
                       paused: bool) -> TargetOutcome:
    v = t.verdict
    if is_healthy(v):
        return TargetOutcome(t.name, HEALTHY, v, message=f"healthy ({v.title if v else ''})")
    rb = runbooks.for_mode(v.mode) if v else None
    if rb is None:
        return TargetOutcome(t.name, NEEDS_HUMAN, v, message=f"needs a human: no runbook for "
                             f"{v.mode if v else 'this verdict'} ({v.title if v else ''})")
    out = TargetOutcome(t.name, PLANNED, v, rb)
    out.attempts_in_window, out.budget = budget(run, t.name)
    if run.opts.apply and tripped:
        return _planned(run, t, out, REFUSED, "refused: the blast-radius breaker is open (see heal.breaker); "
                                              "nothing was done")
    if run.opts.apply and paused:
        return _planned(run, t, out, REFUSED, f"refused: heal is paused "
                                              f"({run.policy.pause_path(run.heal_dir)} exists)")
    if not run.opts.apply:
        refusal = ("; --apply would refuse: the blast-radius breaker is open" if tripped else
                   "; --apply would refuse: heal is paused" if paused else "")
        return _planned(run, t, out, PLANNED, f"plan: {v.mode if v else '?'} → runbook {rb.runbook} "
                                              f"({len(rb.steps)} step{'s' if len(rb.steps) != 1 else ''}){refusal}")
    lock = PlaybookLock(run.heal_dir, f"target-{t.name}")
    try:
        lock.acquire(0.0, run_id=run.run_id)
    except LockBusy as exc:
        out.outcome, out.lock_holder = BUSY, exc.holder
        out.message = f"another heal holds {t.name}'s lock (pid {exc.holder.get('pid', '?')}): not acted on"
        return out
    try:
        return await _locked(run, t, out, rb)
    finally:
        lock.release()


def budget(run: HealRun, target: str) -> tuple[int, Result]:
    since = time.time() - run.policy.window_s
    n = len(attempts(read_history(run.opts.state_dir), target, since))
    obs = Observation(metrics={"attempts_in_window": float(n)}, facts={"window_s": run.policy.window_s},
                      message=f"{n} attempt{'s' if n != 1 else ''} within {duration(run.policy.window_s)}",
                      explains=True)
    return n, judge(run.specs["heal.attempts"], target, obs, 0.0)


def _planned(run: HealRun, t: HealTarget, out: TargetOutcome, outcome: str, message: str) -> TargetOutcome:
    assert out.runbook is not None
    for spec in out.runbook.steps:
        ctx = _context(run, t, spec)
        step = _step(spec)
        why_not = step.applicable(ctx)
        plan = None if why_not else step.plan(ctx)
        o = StepOutcome.skipped(f"not applicable: {why_not}") if why_not else StepOutcome(
            Outcome.CHANGED, message="would run" if outcome == PLANNED else "not run")
        out.steps.append(StepRun(spec, plan, o))
    out.outcome, out.message = outcome, message
    if outcome == PLANNED and out.budget is not None and out.budget.status is not Status.OK:
        out.message += f"; --apply would hand it to a human: {out.budget.message}"
    return out


async def _locked(run: HealRun, t: HealTarget, out: TargetOutcome, rb: ModeRunbook) -> TargetOutcome:
    # Under the lock: another heal may have just acted, so the budget and the verdict are read again.
    out.attempts_in_window, out.budget = budget(run, t.name)
    fresh = await diagnose_worker(run.cluster, t, run.cfg, deadline_s=run.policy.deadline_s,
                                  since_s=run.policy.deadline_s * 2)
    if is_healthy(fresh):
        out.outcome, out.verdict_after = HEALTHY, fresh
        out.message = f"healthy when its lock was taken (another heal or the worker itself fixed it): {fresh.title}"
        return out
    if fresh.mode != (t.verdict.mode if t.verdict else None):
        t.verdict = out.verdict = fresh
        fresh_rb = load_runbooks(run.cfg).for_mode(fresh.mode)
        if fresh_rb is None:
            out.outcome, out.message = NEEDS_HUMAN, f"needs a human: no runbook for {fresh.mode} ({fresh.title})"
            return out
        rb = out.runbook = fresh_rb
    if out.budget is not None and out.budget.status is not Status.OK:
        out.outcome = NEEDS_HUMAN
        out.message = (f"needs a human: {out.budget.message} on {t.name}, the budget of heal.attempts; not acting "
                       f"again. Verdict: {fresh.title}")
        return out
    wait = backoff_left(run, t.name)
    if wait > 0:
        return _planned(run, t, out, REFUSED, f"refused: backing off, the next attempt on {t.name} is allowed in "
                                              f"{wait:.0f}s")

    async def verify(target: HealTarget, within_s: float, acted_at: float) -> Verdict:
        return await verify_worker(run.cluster, target, run.cfg, deadline_s=run.policy.deadline_s,
                                   within_s=within_s, acted_at=acted_at)

    return await run_runbook(rb, t, run, verify, out=out)


def backoff_left(run: HealRun, target: str) -> float:
    """Seconds until the next attempt is allowed: the policy's backoff after the first attempt in the window,
    doubled after each further one."""
    past = attempts(read_history(run.opts.state_dir), target, time.time() - run.policy.window_s)
    if not past or run.policy.backoff_s <= 0:
        return 0.0
    allowed_at = past[-1].at + run.policy.backoff_s * (2 ** (len(past) - 1))
    return max(0.0, allowed_at - time.time())


async def run_runbook(rb: ModeRunbook, t: HealTarget, run: HealRun, verify: Verify,
                      out: TargetOutcome | None = None) -> TargetOutcome:
    """Apply `rb`'s steps to `t` in order, verifying after each; the first verified step ends it (healed),
    a step that fails or does not verify escalates to the next; none verified: failed (needs a human).
    With run.opts.apply false it only plans. The caller holds the target's lock and has checked budget and
    consent; this records the attempt in run.history."""
    out = out or TargetOutcome(t.name, PLANNED, t.verdict, rb)
    if not run.opts.apply:
        return _planned(run, t, out, PLANNED, f"plan: runbook {rb.runbook} for {rb.mode}")
    mode = t.verdict.mode if t.verdict else rb.mode
    run.write("attempt.start", target=t.name, mode=mode, verdict=t.verdict.to_dict() if t.verdict else None,
              runbook=str(rb.path))
    for spec in rb.steps:
        step = _step(spec)
        ctx = _context(run, t, spec)
        why_not = step.applicable(ctx)
        if why_not:
            out.steps.append(StepRun(spec, None, StepOutcome.skipped(f"not applicable: {why_not}")))
            continue
        plan = step.plan(ctx)
        run.write("step.start", target=t.name, step=spec.id, kind=spec.kind, plan=plan.to_dict())

        def on_change(line: str, spec: RunbookStep = spec) -> None:
            run.write("change", target=t.name, step=spec.id, kind=spec.kind, change=line)

        ctx.on_change = on_change
        acted_at, t0 = time.time(), time.perf_counter()
        outcome = await _apply(step, ctx)
        sr = StepRun(spec, plan, outcome)
        if outcome.status is not Outcome.FAILED:
            sr.verdict_after = await verify(t, spec.verify_within, acted_at)
            sr.verified = is_healthy(sr.verdict_after)
        sr.duration_s = time.perf_counter() - t0
        out.steps.append(sr)
        _write_step(run, t, sr)
        if sr.verified:
            out.outcome, out.verdict_after = HEALED, sr.verdict_after
            title = sr.verdict_after.title if sr.verdict_after else ""
            out.message = f"healed by {spec.id} ({spec.kind}), verified: {title}"
            break
        out.verdict_after = sr.verdict_after or out.verdict_after
    else:
        tried = [s for s in out.steps if s.outcome.status is not Outcome.SKIPPED]
        out.outcome = FAILED
        after = out.verdict_after.title if out.verdict_after else (t.verdict.title if t.verdict else "")
        out.message = (f"needs a human: {len(tried)} step{'s' if len(tried) != 1 else ''} of runbook {rb.runbook} "
                       f"did not make {t.name} healthy ({after})" if tried else
                       f"needs a human: no step of runbook {rb.runbook} applies to {t.name}")
    run.write("attempt.end", target=t.name, outcome=out.outcome,
              mode_after=out.verdict_after.mode if out.verdict_after else None)
    return out


def _write_step(run: HealRun, t: HealTarget, sr: StepRun) -> None:
    o = sr.outcome
    result = step_result(t.name, sr, run.specs)
    run.write("step", target=t.name, step=sr.spec.id, kind=sr.spec.kind, outcome=o.status.value,
              status=result.status.label, reason=o.reason.value if o.reason else None, message=o.message,
              changes=o.changes, changes_total=o.changes_total, before=o.before, after=o.after,
              warnings=o.warnings, duration_s=round(sr.duration_s, 3), verified=sr.verified,
              mode_after=sr.verdict_after.mode if sr.verdict_after else None)


def _step(spec: RunbookStep) -> Any:
    from agentops.core import registry

    return registry.heal_step(spec.kind)


def _context(run: HealRun, t: HealTarget, spec: RunbookStep) -> HealContext:
    step = _step(spec)
    return HealContext(target=t, params=spec.params, config=run.cfg, cluster=run.cluster,
                       timeout=spec.timeout if spec.timeout is not None else step.default_timeout,
                       state_dir=run.opts.state_dir, force=run.opts.force)


async def _apply(step: Any, ctx: HealContext) -> StepOutcome:
    from agentops.core.yamlsrc import ConfigError

    try:
        result: StepOutcome = await asyncio.wait_for(step.apply(ctx), ctx.timeout + GRACE_S)
        return result
    except TimeoutError:
        return StepOutcome.failure(Reason.TIMEOUT, f"did not finish within its timeout ({ctx.timeout:g}s)")
    except ConfigError as exc:
        return StepOutcome.failure(Reason.INTERNAL, str(exc))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a step bug fails that step (and escalates), never the run
        return StepOutcome.failure(Reason.INTERNAL, f"{type(exc).__name__}: {exc}")


def step_result(target: str, sr: StepRun, specs: dict[str, CheckSpec]) -> Result:
    o = sr.outcome
    obs = (Observation.failure(o.reason or Reason.INTERNAL, o.message) if o.status is Outcome.FAILED
           else Observation(metrics={"changes": float(o.changes_total)}, message=o.message))
    status, reason, message = evaluate(specs["heal.step"], obs)
    facts = {**o.to_dict(), "plan": sr.plan.to_dict() if sr.plan else None, "verified": sr.verified,
             "mode_after": sr.verdict_after.mode if sr.verdict_after else None}
    return Result(id=f"{sr.spec.id}", target=target, probe=sr.spec.kind, status=status, reason=reason,
                  message=redact(message), metrics=obs.metrics, facts=redact_obj(facts), duration_s=sr.duration_s,
                  tags=["heal", "step"])


def target_result(o: TargetOutcome, specs: dict[str, CheckSpec]) -> Result:
    if o.outcome == BUSY:
        return judge(specs["heal.lock"], o.name, Observation.failure(Reason.TIMEOUT, o.message,
                                                                     holder=o.lock_holder or {}), 0.0)
    still_broken = o.outcome in (PLANNED, REFUSED, FAILED, NEEDS_HUMAN)
    obs = Observation(metrics={"unhealthy_after": float(still_broken),
                               "needs_human": float(o.outcome in (FAILED, NEEDS_HUMAN)),
                               "refused": float(o.outcome == REFUSED),
                               "attempts_in_window": float(o.attempts_in_window)},
                      facts={"outcome": o.outcome, "mode": o.verdict.mode if o.verdict else None,
                             "evidence": list(o.verdict.evidence) if o.verdict else []},
                      message=o.message, explains=True)
    r = judge(specs["heal.target"], o.name, obs, sum(s.duration_s for s in o.steps))
    r.id = "heal.target"
    return r


def build_report(run: HealRun, targets: list[HealTarget], outcomes: list[TargetOutcome], breaker: Result, *,
                 paused: bool, started_at: str, duration_s: float) -> Report:
    results = [breaker]
    for o in outcomes:
        results.append(target_result(o, run.specs))
        results += [step_result(o.name, s, run.specs) for s in o.steps if s.plan is not None or run.opts.apply]
    report = Report(kind=REPORT_KIND, started_at=started_at, duration_s=duration_s, results=results)
    report.data = {
        "apply": run.opts.apply, "run_id": run.run_id if run.opts.apply else None, "paused": paused,
        "breaker": {"status": breaker.status.label, **breaker.metrics},
        "targets": [o.to_dict() for o in outcomes],
        "recap": {k: sum(1 for o in outcomes if o.outcome == k) for k in OUTCOMES},
        "history": str(heal_dir(run.opts.state_dir) / "audit.jsonl"),
        "workers": [t.name for t in targets],
    }
    if not run.opts.apply:
        report.notes.append("plan: nothing was changed; run with --apply to act")
    if paused:
        report.notes.append(f"paused: {run.policy.pause_path(run.heal_dir)} exists")
    return report
