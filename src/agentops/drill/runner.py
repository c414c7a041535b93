"""Runs one drill: prepare → baseline → inject → diagnose → undo → verify, and reports whether the
diagnosis named the fault and how long it took (the diagnosis report's own duration).

The undo always runs once the fault was injected, whatever happened after (an exception, Ctrl-C), so a drill
never leaves a cluster broken on purpose. The report is a normal agentops report (kind "drill"): one result
per step, one finding saying named/undone or not, and the diagnosis' own report document under data.
"""

from __future__ import annotations

import time
from typing import Any

from agentops.core.config import Config
from agentops.core.format import duration
from agentops.core.model import Finding, Observation, Reason, Report, Result, Status
from agentops.core.packs import CheckSpec, command_specs
from agentops.core.runner import judge
from agentops.drill.faults import DrillRefused, Fault


class _Steps:
    """The drill command pack's checks, and the results judged against them, in the order the steps ran."""

    def __init__(self, fault: Fault, cfg: Config | None) -> None:
        self.fault = fault
        self.specs: dict[str, CheckSpec] = command_specs("drill", cfg)
        self.results: list[Result] = []

    def add(self, step: str, obs: Observation, started: float) -> None:
        self.results.append(judge(self.specs[f"drill.{step}"], self.fault.name, obs, time.perf_counter() - started))

    def done(self, step: str, message: str, started: float, **metrics: float) -> None:
        self.add(step, Observation(metrics=dict(metrics), message=message), started)

    def failed(self, step: str, reason: Reason, message: str, started: float, **facts: Any) -> None:
        self.add(step, Observation.failure(reason, message, **facts), started)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, DrillRefused) else str(exc)


async def run_drill(fault: Fault, cfg: Config | None = None) -> Report:
    """`cfg`: whose pack_dirs may override the drill command pack (how each step is judged)."""
    from agentops.diagnose.message import started_stamp
    from agentops.render.document import report_document

    started_at, t0 = started_stamp(), time.perf_counter()
    steps = _Steps(fault, cfg)
    data: dict[str, Any] = {"fault": fault.name, "expected": list(fault.expects), "deadline_s": fault.t.deadline_s}
    injected = False
    try:
        t = time.perf_counter()
        try:
            prepared = await fault.prepare()
            if prepared:
                steps.done("prepare", prepared, t)
            t = time.perf_counter()
            base = await fault.baseline()
        except Exception as exc:
            steps.failed("baseline", Reason.INTERNAL, f"cannot start the drill: {_error(exc)}", t)
            return _report(fault, steps.results, data, started_at, t0)
        if base is not None:
            ok, said = base
            if not ok:
                steps.failed("baseline", Reason.ASSERTION, "NOT healthy before the drill, so it was not injected: "
                             + said, t)
                return _report(fault, steps.results, data, started_at, t0)
            steps.done("baseline", "healthy before the drill: " + said, t)
        t = time.perf_counter()
        try:
            injected = True  # from here on, undo runs whatever happens
            steps.done("inject", await fault.inject(), t)
        except Exception as exc:
            steps.failed("inject", Reason.INTERNAL, f"inject failed: {_error(exc)}", t)
            return _report(fault, steps.results, data, started_at, t0)
        t = time.perf_counter()
        diagnosis = await fault.detect()
        named, said = fault.named(diagnosis)
        data.update(verdict=said, named=named, time_to_verdict_s=round(diagnosis.duration_s, 3),
                    diagnosis=report_document(diagnosis))
        metrics = {"time_to_verdict_s": round(diagnosis.duration_s, 3),
                   "within_deadline": float(diagnosis.duration_s <= fault.t.deadline_s + 1.0)}
        message = (f"{'named' if named else 'did NOT name'} the fault in {duration(diagnosis.duration_s)} "
                   f"(expected {' or '.join(fault.expects)}): {said}")
        # Expected against observed: the verdict the diagnosis reached is the observation; the pack judges it.
        obs = Observation(metrics=metrics, message=message, facts={"expected": list(fault.expects),
                                                                     "observed": said})
        if not named:
            obs.reason = Reason.ASSERTION
        steps.add("detect", obs, t)
    finally:
        if injected:
            await _undo_and_verify(fault, steps)
        await fault.cleanup()
    return _report(fault, steps.results, data, started_at, t0)


async def _undo_and_verify(fault: Fault, steps: _Steps) -> None:
    t = time.perf_counter()
    try:
        steps.done("undo", await fault.undo(), t)
    except Exception as exc:
        steps.failed("undo", Reason.INTERNAL, f"undo FAILED: {_error(exc)}", t)
        return
    t = time.perf_counter()
    try:
        after = await fault.verify()
    except Exception as exc:
        steps.failed("verify", Reason.INTERNAL, f"cannot verify: {_error(exc)}", t)
        return
    if after is None:
        return
    said = after.findings[0].title if after.findings else (after.results[0].message if after.results else "")
    if fault.healthy(after):
        steps.done("verify", "healthy again: " + said, t)
    else:
        steps.failed("verify", Reason.ASSERTION, "NOT healthy after the undo: " + said, t)


def _report(fault: Fault, results: list[Result], data: dict[str, Any], started_at: str, t0: float) -> Report:
    worst = Status.worst(r.status for r in results)
    steps = {r.id.split(".", 1)[1]: r for r in results}
    if "detect" in steps:
        detect = steps["detect"]
        undone = "verify" not in steps or steps["verify"].status is Status.OK
        title = (f"drill {fault.name}: the diagnosis {'named' if data.get('named') else 'did NOT name'} the fault "
                 f"in {duration(data.get('time_to_verdict_s', 0))}; " + ("undone" if undone else "NOT undone"))
        cause = detect.message
    else:
        last = results[-1] if results else None
        title = f"drill {fault.name} did not run to the diagnosis"
        cause = last.message if last else ""
    fix = "" if worst is Status.OK else next((r.message for r in results if r.status is not Status.OK), "")
    finding = Finding(id=f"drill.{fault.name}", status=worst, title=title, cause=cause,
                      evidence=[f"{r.id}: {r.message}" for r in results], fix=fix, checks=[r.id for r in results])
    return Report(kind="drill", started_at=started_at, duration_s=time.perf_counter() - t0, results=results,
                  findings=[finding], data=data, verdict=finding)
