"""Runs one drill: prepare → baseline → inject → diagnose → undo → verify, and reports whether the
diagnosis named the fault and how long it took (the diagnosis report's own duration).

The undo always runs once the fault was injected, whatever happened after (an exception, Ctrl-C), so a drill
never leaves a cluster broken on purpose. The report is a normal agentops report (kind "drill"): one result
per step, one finding saying named/undone or not, and the diagnosis' own report document under data.
"""

from __future__ import annotations

import time
from typing import Any

from agentops.core.format import duration
from agentops.core.model import Finding, Reason, Report, Result, Status
from agentops.drill.faults import DrillRefused, Fault


def _step(step: str, fault: Fault, status: Status, message: str, started: float, reason: Reason | None = None,
          **metrics: float) -> Result:
    if status is not Status.OK and reason is None:
        reason = Reason.ASSERTION
    return Result(id=f"drill.{step}", target=fault.name, probe="drill", status=status, reason=reason,
                  message=message, metrics=dict(metrics), duration_s=time.perf_counter() - started, tags=["drill"])


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, DrillRefused) else str(exc)


async def run_drill(fault: Fault) -> Report:
    from agentops.diagnose.message import started_stamp
    from agentops.render.document import report_document

    started_at, t0 = started_stamp(), time.perf_counter()
    results: list[Result] = []
    data: dict[str, Any] = {"fault": fault.name, "expected": list(fault.expects), "deadline_s": fault.t.deadline_s}
    injected = False
    named = False
    try:
        t = time.perf_counter()
        try:
            prepared = await fault.prepare()
            if prepared:
                results.append(_step("prepare", fault, Status.OK, prepared, t))
            t = time.perf_counter()
            base = await fault.baseline()
        except Exception as exc:
            results.append(_step("baseline", fault, Status.UNKNOWN, f"cannot start the drill: {_error(exc)}", t,
                                 Reason.INTERNAL))
            return _report(fault, results, data, started_at, t0)
        if base is not None:
            ok, said = base
            results.append(_step("baseline", fault, Status.OK if ok else Status.UNKNOWN,
                                 ("healthy before the drill: " if ok else "NOT healthy before the drill, so it was "
                                  "not injected: ") + said, t))
            if not ok:
                return _report(fault, results, data, started_at, t0)
        t = time.perf_counter()
        try:
            injected = True  # from here on, undo runs whatever happens
            results.append(_step("inject", fault, Status.OK, await fault.inject(), t))
        except Exception as exc:
            results.append(_step("inject", fault, Status.UNKNOWN, f"inject failed: {_error(exc)}", t,
                                 Reason.INTERNAL))
            return _report(fault, results, data, started_at, t0)
        t = time.perf_counter()
        diagnosis = await fault.detect()
        named, said = fault.named(diagnosis)
        data.update(verdict=said, named=named, time_to_verdict_s=round(diagnosis.duration_s, 3),
                    diagnosis=report_document(diagnosis))
        within = diagnosis.duration_s <= fault.t.deadline_s + 1.0
        status = Status.OK if named else Status.CRITICAL
        results.append(_step("detect", fault, status,
                             f"{'named' if named else 'did NOT name'} the fault in {duration(diagnosis.duration_s)} "
                             f"(expected {' or '.join(fault.expects)}): {said}", t,
                             time_to_verdict_s=round(diagnosis.duration_s, 3), within_deadline=float(within)))
    finally:
        if injected:
            await _undo_and_verify(fault, results)
        await fault.cleanup()
    return _report(fault, results, data, started_at, t0)


async def _undo_and_verify(fault: Fault, results: list[Result]) -> None:
    t = time.perf_counter()
    try:
        results.append(_step("undo", fault, Status.OK, await fault.undo(), t))
    except Exception as exc:
        results.append(_step("undo", fault, Status.CRITICAL, f"undo FAILED: {_error(exc)}", t, Reason.INTERNAL))
        return
    t = time.perf_counter()
    try:
        after = await fault.verify()
    except Exception as exc:
        results.append(_step("verify", fault, Status.CRITICAL, f"cannot verify: {_error(exc)}", t, Reason.INTERNAL))
        return
    if after is None:
        return
    ok = fault.healthy(after)
    said = after.findings[0].title if after.findings else (after.results[0].message if after.results else "")
    results.append(_step("verify", fault, Status.OK if ok else Status.CRITICAL,
                         ("healthy again: " if ok else "NOT healthy after the undo: ") + said, t))


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
                  findings=[finding], data=data)
