"""Remedies for a worker process on this machine: resume a frozen one (SIGCONT), restart a dead, orphaned or
frozen one with its configured restart command, or through its systemd unit."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Mapping
from typing import Any

from agentops.core.model import Reason
from agentops.heal.step import HealContext, HealStep, StepPlan
from agentops.heal.steps._run import command_outcome, run_argv, shown
from agentops.maintain.step import Outcome, StepOutcome

# How long a signalled process may take to show it (the kernel delivers asynchronously); polled, not slept.
SIGNAL_SETTLE_S = 5.0
POLL_S = 0.05


def _why(ctx: HealContext) -> str:
    v = ctx.target.verdict
    return f"{v.mode}: {v.title}" if v else "the diagnosis found it unhealthy"


def _stopped(ctx: HealContext) -> list[Any]:
    import psutil

    out = []
    for p in ctx.target.worker.process.find():
        try:
            if p.status() == psutil.STATUS_STOPPED:
                out.append(p)
        except psutil.Error:
            continue
    return out


async def _until(check: Any, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if check():
            return True
        await asyncio.sleep(POLL_S)
    return bool(check())


class WorkerResumeStep(HealStep):
    kind = "worker.resume"
    description = "resume a frozen (SIGSTOPped) worker process with SIGCONT"
    default_timeout = 15.0

    def applicable(self, ctx: HealContext) -> str | None:
        if not ctx.target.worker.process.configured:
            return f"{ctx.target.name} has no `process:` to find it by"
        if _stopped(ctx):
            return None
        return f"no stopped process of {ctx.target.name} ({ctx.target.worker.process.describe()})"

    def plan(self, ctx: HealContext) -> StepPlan:
        pids = [p.pid for p in _stopped(ctx)]
        return StepPlan(action=f"send SIGCONT to pid {', '.join(map(str, pids)) or '?'}", why=_why(ctx),
                        to=f"worker {ctx.target.name}")

    async def apply(self, ctx: HealContext) -> StepOutcome:
        import psutil

        out = StepOutcome(Outcome.CHANGED)
        procs = _stopped(ctx)
        for p in procs:
            try:
                os.kill(p.pid, signal.SIGCONT)
            except ProcessLookupError:
                continue
            except PermissionError:
                return StepOutcome.failure(Reason.AUTH, f"not permitted to signal pid {p.pid} (run heal as its user)")
            ctx.record_change(out, f"sent SIGCONT to pid {p.pid}")

        def running() -> bool:
            try:
                return all(p.status() != psutil.STATUS_STOPPED for p in procs)
            except psutil.NoSuchProcess:
                return True

        if not await _until(running, min(SIGNAL_SETTLE_S, ctx.remaining())):
            return StepOutcome.failure(Reason.TIMEOUT, "the process is still stopped after SIGCONT")
        out.message = f"resumed pid {', '.join(str(p.pid) for p in procs)}"
        return out


class WorkerRestartStep(HealStep):
    kind = "worker.restart"
    description = ("restart a worker with its `options.heal.restart_command` (after stopping what is left of "
                   "it: SIGCONT, SIGTERM, then SIGKILL after `grace`)")
    default_timeout = 120.0
    params_doc = {"grace": "seconds between SIGTERM and SIGKILL of the old process (default 5)",
                  "stop_first": "stop the worker's remaining processes before running the command (default true)"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        grace = params.get("grace", 5)
        if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= 600:
            raise ValueError(f"grace: expected seconds from 0 to 600, got {grace!r}")
        if not isinstance(params.get("stop_first", True), bool):
            raise ValueError("stop_first: expected true or false")

    def applicable(self, ctx: HealContext) -> str | None:
        if not ctx.target.options.restart_command:
            return f"{ctx.target.name} has no options.heal.restart_command"
        return None

    def plan(self, ctx: HealContext) -> StepPlan:
        old = [p.pid for p in ctx.target.worker.process.find()] if ctx.params.get("stop_first", True) else []
        stop = f"stop pid {', '.join(map(str, old))}, then " if old else ""
        return StepPlan(action=f"{stop}run {shown(ctx.target.options.restart_command)}", why=_why(ctx),
                        to=f"worker {ctx.target.name}")

    async def apply(self, ctx: HealContext) -> StepOutcome:
        out = StepOutcome(Outcome.CHANGED)
        if ctx.params.get("stop_first", True):
            failed = await stop_processes(ctx, out, float(ctx.params.get("grace", 5)))
            if failed is not None:
                return failed
        argv = ctx.target.options.restart_command
        done = command_outcome(argv, await run_argv(argv, min(ctx.target.options.restart_timeout, ctx.remaining())))
        if isinstance(done, StepOutcome):
            return done
        text, tail = done
        ctx.record_change(out, f"ran {text}")
        out.message, out.facts = f"ran {text}: exit code 0", {"argv": text, "output_tail": tail}
        return out


async def stop_processes(ctx: HealContext, out: StepOutcome, grace: float) -> StepOutcome | None:
    """SIGCONT (a stopped process cannot act on SIGTERM), SIGTERM, SIGKILL after `grace`: every process of
    the worker gone (a zombie is gone: only its parent's wait is missing), or `out` turned into the failure,
    keeping the changes it records."""
    procs = ctx.target.worker.process.find()
    for sig in (signal.SIGCONT, signal.SIGTERM):
        for p in procs:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                continue
            except PermissionError:
                return _failed(out, Reason.AUTH, f"not permitted to signal pid {p.pid}")
    for p in procs:
        ctx.record_change(out, f"sent SIGTERM to pid {p.pid}")
    if await _until(lambda: not _alive(procs), grace):
        return None
    for p in _alive(procs):
        try:
            os.kill(p.pid, signal.SIGKILL)
            ctx.record_change(out, f"sent SIGKILL to pid {p.pid} (still there after {grace:g}s)")
        except ProcessLookupError:
            continue
    if await _until(lambda: not _alive(procs), SIGNAL_SETTLE_S):
        return None
    return _failed(out, Reason.TIMEOUT, f"pid {', '.join(str(p.pid) for p in _alive(procs))} survived SIGKILL")


def _alive(procs: list[Any]) -> list[Any]:
    import psutil

    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def _failed(out: StepOutcome, reason: Reason, message: str) -> StepOutcome:
    out.status, out.reason, out.message = Outcome.FAILED, reason, message
    return out


class WorkerRestartUnitStep(HealStep):
    kind = "worker.restart_unit"
    description = "restart a worker's systemd unit (`options.unit`) with systemctl restart"
    default_timeout = 90.0
    params_doc = {"user": "the unit is a user unit (systemctl --user; default false)"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        if not isinstance(params.get("user", False), bool):
            raise ValueError("user: expected true or false")

    def argv(self, ctx: HealContext) -> list[str]:
        return ["systemctl", *(["--user"] if ctx.params.get("user") else []), "restart", "--",
                ctx.target.worker.unit or ""]

    def applicable(self, ctx: HealContext) -> str | None:
        if not ctx.target.worker.unit:
            return f"{ctx.target.name} has no systemd `unit`"
        if shutil.which("systemctl") is None:
            return "systemctl is not installed here"
        return None

    def plan(self, ctx: HealContext) -> StepPlan:
        return StepPlan(action=f"run {shown(self.argv(ctx))}", why=_why(ctx),
                        to=f"unit {ctx.target.worker.unit} (worker {ctx.target.name})")

    async def apply(self, ctx: HealContext) -> StepOutcome:
        argv = self.argv(ctx)
        done = command_outcome(argv, await run_argv(argv, ctx.remaining()))
        if isinstance(done, StepOutcome):
            return done
        out = StepOutcome(Outcome.CHANGED, f"ran {done[0]}")
        ctx.record_change(out, f"ran {done[0]}")
        return out


class WorkerFailoverStep(HealStep):
    kind = "worker.failover"
    description = ("start the worker's standby (`options.heal.standby`, a worker target with its own "
                   "restart_command); verified when the probe type answers again, from whichever worker")
    default_timeout = 120.0

    def _standby(self, ctx: HealContext) -> Any:
        from agentops.heal.targets import heal_targets

        name = ctx.target.options.standby
        return heal_targets(ctx.config, [name])[0] if name else None

    def applicable(self, ctx: HealContext) -> str | None:
        if not ctx.target.options.standby:
            return f"{ctx.target.name} has no options.heal.standby"
        sb = self._standby(ctx)
        if not sb.options.restart_command:
            return f"standby {sb.name} has no options.heal.restart_command"
        return None

    def plan(self, ctx: HealContext) -> StepPlan:
        sb = self._standby(ctx)
        return StepPlan(action=f"run {shown(sb.options.restart_command)}", why=_why(ctx),
                        to=f"standby worker {sb.name} (for {ctx.target.name})")

    async def apply(self, ctx: HealContext) -> StepOutcome:
        sb = self._standby(ctx)
        argv = sb.options.restart_command
        done = command_outcome(argv, await run_argv(argv, min(sb.options.restart_timeout, ctx.remaining())))
        if isinstance(done, StepOutcome):
            return done
        out = StepOutcome(Outcome.CHANGED, f"started standby {sb.name}: {done[0]}")
        ctx.record_change(out, f"started standby {sb.name}: ran {done[0]}")
        return out
