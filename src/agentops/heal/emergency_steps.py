"""The protective actions of `agentops emergency`, as heal step plugins (heal/step.py's interface, registered
under `agentops.heal_steps` like heal's own). Each acts on one worker target the detection named; what each
does, and what it cannot do, is in docs/emergency.md:

- emergency.isolate: stops the processes of a worker whose types are failing (SIGTERM, SIGKILL after a grace;
  or SIGSTOP). A terminated worker's types leave the host's registry, so a standby (heal's failover, the
  `reroute` step of the cascade runbook) can register them. AutoGen gives callers no error for a missing type,
  so callers do not fail fast by themselves: isolation stops the damage, it does not answer for the worker.
- emergency.flag: a state file (and, optionally, a Redis key with a TTL) that says "backpressure" or
  "degraded local mode" for a worker. agentops cannot slow a load source or switch a worker's mode itself;
  the user's workers or load source read the flag (docs/emergency.md shows the few lines it takes).
- emergency.cleanup: runs a maintain playbook (the maintain engine: its lock, its audit log, its steps).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from agentops.core.format import utc_stamp
from agentops.core.model import Reason
from agentops.heal.step import HealContext, HealStep, StepPlan
from agentops.maintain.step import Outcome, StepOutcome

SIGNALS = ("term", "stop")
MODES = ("backpressure", "degraded")
DEFAULT_FLAG = "{state_dir}/emergency/flags/{mode}-{worker}.json"
DEFAULT_KEY = "agentops:{mode}:{worker}"
POLL_S = 0.05


def _why(ctx: HealContext) -> str:
    v = ctx.target.verdict
    if v is None:
        return "the emergency's detection named this worker"
    return f"{v.mode}: {v.title}" + (f" ({v.evidence[0]})" if v.evidence else "")


def _processes(ctx: HealContext) -> list[Any]:
    return ctx.target.worker.process.find()


class IsolateStep(HealStep):
    kind = "emergency.isolate"
    description = "stop a failing worker's processes (SIGTERM then SIGKILL, or SIGSTOP) so its types stop taking work"
    default_timeout = 30.0
    params_doc: ClassVar[dict[str, str]] = {
        "signal": "term (default: the worker exits, its types leave the host's registry) or stop (SIGSTOP: "
                  "frozen, types stay registered; resume with heal's worker.resume)",
        "kill_after_s": "seconds to wait for a SIGTERM'd process before SIGKILL (default 5)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        if str(params.get("signal", "term")) not in SIGNALS:
            raise ValueError(f"signal must be one of {', '.join(SIGNALS)}")
        kill_after = params.get("kill_after_s", 5)
        if not isinstance(kill_after, int | float) or not 0 < kill_after <= 300:
            raise ValueError("kill_after_s must be a number of seconds, more than 0 and at most 300")

    def applicable(self, ctx: HealContext) -> str | None:
        if not ctx.target.worker.process.configured:
            return f"worker {ctx.target.name} has no options.process: its processes cannot be found"
        return None

    def plan(self, ctx: HealContext) -> StepPlan:
        procs = _processes(ctx)
        sig = str(ctx.params.get("signal", "term"))
        pids = ", ".join(str(p.pid) for p in procs) or "none running"
        action = (f"send SIGSTOP to pid {pids}" if sig == "stop"
                  else f"send SIGTERM to pid {pids} (SIGKILL after {ctx.params.get('kill_after_s', 5)}s)")
        types = ", ".join(ctx.target.worker.agent_types) or "its types"
        return StepPlan(action=action, why=_why(ctx), to=f"worker {ctx.target.name} (hosting {types})")

    async def apply(self, ctx: HealContext) -> StepOutcome:
        from agentops.heal.steps.process import stop_processes

        sig = str(ctx.params.get("signal", "term"))
        procs = _processes(ctx)
        todo = [p for p in procs if not (sig == "stop" and _stopped(p))]
        out = StepOutcome(Outcome.OK, before={"processes": float(len(procs))})
        if not todo:
            out.message = f"worker {ctx.target.name}: nothing to isolate (" + (
                "already stopped)" if procs else "no process running)")
            return out
        out.status = Outcome.CHANGED
        if sig == "term":  # heal's own stop: SIGCONT, SIGTERM, SIGKILL after the grace, every process gone
            failed = await stop_processes(ctx, out, float(ctx.params.get("kill_after_s", 5)))
            if failed is not None:
                return failed
        else:
            failed = await _freeze(ctx, todo, out)
            if failed is not None:
                return failed
        # Verified on what a caller of the worker meets: no process left (term), every one stopped (stop).
        after = _processes(ctx)
        left = [p for p in after if not _stopped(p)] if sig == "stop" else after
        if left:
            return StepOutcome.failure(Reason.ASSERTION, f"pid {', '.join(str(p.pid) for p in left)} still "
                                       f"running after SIG{sig.upper()}", changes=out.changes)
        out.after = {"processes": float(len(after))}
        out.message = (f"worker {ctx.target.name}: " + ("stopped (SIGSTOP)" if sig == "stop" else "exited")
                       + f", pid {', '.join(str(p.pid) for p in todo)}")
        return out


async def _freeze(ctx: HealContext, procs: list[Any], out: StepOutcome) -> StepOutcome | None:
    """SIGSTOP each process and wait (within the step's time) until the kernel shows it stopped."""
    import psutil

    for p in procs:
        try:
            p.send_signal(signal.SIGSTOP)
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied as exc:
            return StepOutcome.failure(Reason.AUTH, f"pid {p.pid}: not permitted to signal it ({exc})")
        ctx.record_change(out, f"sent SIGSTOP to pid {p.pid} (worker {ctx.target.name})")
    deadline = time.monotonic() + ctx.remaining()
    while any(not _stopped(p) for p in procs if psutil.pid_exists(p.pid)) and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
    return None


def _stopped(p: Any) -> bool:
    import psutil

    try:
        return bool(p.status() == psutil.STATUS_STOPPED)
    except psutil.Error:
        return False


def flag_path(ctx: HealContext) -> Path:
    mode = str(ctx.params.get("mode", ""))
    template = str(ctx.params.get("path", DEFAULT_FLAG))
    return Path(template.format(state_dir=ctx.state_dir, mode=mode, worker=ctx.target.name)).expanduser()


class FlagStep(HealStep):
    kind = "emergency.flag"
    description = "raise a backpressure / degraded-mode flag for a worker: a JSON state file, and a Redis key"
    default_timeout = 15.0
    params_doc: ClassVar[dict[str, str]] = {
        "mode": "backpressure or degraded (what the flag asks the worker / load source to do)",
        "path": f"the flag file (default {DEFAULT_FLAG}; {{state_dir}}, {{mode}}, {{worker}} are filled in)",
        "ttl_s": "how long the flag holds (expires_at in the file, EX on the Redis key); default 900",
        "redis": "a redis target of the config to SET the key on as well (optional)",
        "key": f"the Redis key (default {DEFAULT_KEY})",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        if params.get("mode") not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        ttl = params.get("ttl_s", 900)
        if not isinstance(ttl, int) or not 1 <= ttl <= 7 * 86400:
            raise ValueError("ttl_s must be a whole number of seconds from 1 to 604800")
        for key in ("path", "redis", "key"):
            if key in params and not isinstance(params[key], str):
                raise ValueError(f"{key} must be a string")

    def _key(self, ctx: HealContext) -> str:
        return str(ctx.params.get("key", DEFAULT_KEY)).format(mode=ctx.params["mode"], worker=ctx.target.name)

    def applicable(self, ctx: HealContext) -> str | None:
        name = ctx.params.get("redis")
        if name and (name not in ctx.config.targets or ctx.config.targets[name].kind != "redis"):
            return f"no redis target named {name!r} in the config"
        return None

    def plan(self, ctx: HealContext) -> StepPlan:
        mode, ttl = ctx.params["mode"], int(ctx.params.get("ttl_s", 900))
        action = f"write {mode} flag {flag_path(ctx)} (expires in {ttl}s)"
        if ctx.params.get("redis"):
            action += f"; SET {self._key(ctx)} on redis {ctx.params['redis']} EX {ttl}"
        return StepPlan(action=action, why=_why(ctx), to=f"worker {ctx.target.name}")

    def document(self, ctx: HealContext, now: float) -> dict[str, Any]:
        v = ctx.target.verdict
        ttl = int(ctx.params.get("ttl_s", 900))
        return {"schema": "agentops.emergency.flag/v1", "mode": ctx.params["mode"], "worker": ctx.target.name,
                "since": utc_stamp(now), "expires_at": utc_stamp(now + ttl), "ttl_s": ttl,
                "incident": v.mode if v else None, "why": _why(ctx)}

    async def apply(self, ctx: HealContext) -> StepOutcome:
        doc = self.document(ctx, time.time())
        path = flag_path(ctx)
        out = StepOutcome(Outcome.CHANGED, facts={"flag": str(path)})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, path)  # a reader never sees half a flag
            written = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return StepOutcome.failure(Reason.INTERNAL, f"flag {path}: {exc}")
        if written.get("mode") != doc["mode"]:  # read back: the flag a worker would read
            return StepOutcome.failure(Reason.ASSERTION, f"flag {path} reads back as {written.get('mode')!r}")
        ctx.record_change(out, f"wrote {doc['mode']} flag {path} (expires {doc['expires_at']})")
        name = ctx.params.get("redis")
        if name:
            failed = await self._set_key(ctx, ctx.config.targets[str(name)], doc, out)
            if failed is not None:
                return failed
        out.message = f"{doc['mode']} flag raised for {ctx.target.name} until {doc['expires_at']}"
        return out

    async def _set_key(self, ctx: HealContext, target: Any, doc: dict[str, Any],
                       out: StepOutcome) -> StepOutcome | None:
        from agentops.maintain.steps._clients import redis_client, redis_failure

        key, timeout = self._key(ctx), max(0.5, ctx.remaining())
        client = redis_client(target, timeout)
        try:
            async with asyncio.timeout(timeout):
                await client.set(key, json.dumps(doc), ex=int(doc["ttl_s"]))
                back = await client.get(key)
        except Exception as exc:  # redis' errors and a timeout alike: classified by the probe's own words
            return redis_failure(exc, target, "SET", timeout)
        finally:
            await client.aclose()
        if back is None:
            return StepOutcome.failure(Reason.ASSERTION, f"redis {target.name}: {key} not readable after SET")
        ctx.record_change(out, f"SET {key} on redis {target.name} EX {doc['ttl_s']}")
        out.facts["redis_key"] = key
        return None


class CleanupStep(HealStep):
    kind = "emergency.cleanup"
    description = "run a maintain playbook (memory: tmpfs files, Redis allocator pages) through the maintain engine"
    default_timeout = 600.0
    # One playbook run serves every worker of the incident: the engine runs it for the first target only.
    once_per_run: ClassVar[bool] = True
    params_doc: ClassVar[dict[str, str]] = {
        "playbook": "a playbook name (found as `maintain run` finds it) or its path",
        "vars": "playbook variables (as `maintain run --var`)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        if not isinstance(params.get("playbook"), str) or not params["playbook"]:
            raise ValueError("playbook: the name or path of a maintain playbook")
        if not isinstance(params.get("vars", {}), Mapping):
            raise ValueError("vars must be a mapping of names to values")

    def _playbook(self, ctx: HealContext) -> Any:
        from agentops.maintain.playbook import find_playbook, load_playbook

        overrides = {str(k): str(v) for k, v in dict(ctx.params.get("vars", {})).items()}
        return load_playbook(find_playbook(str(ctx.params["playbook"]), ctx.config), overrides=overrides)

    def applicable(self, ctx: HealContext) -> str | None:
        from agentops.core.yamlsrc import ConfigError

        try:
            self._playbook(ctx)
        except ConfigError as exc:
            return str(exc)
        return None

    def plan(self, ctx: HealContext) -> StepPlan:
        pb = self._playbook(ctx)
        steps = ", ".join(f"{s.id} ({s.kind})" for s in pb.steps)
        return StepPlan(action=f"run maintain playbook {pb.name}: {steps}", why=_why(ctx), to="this machine")

    async def apply(self, ctx: HealContext) -> StepOutcome:
        from agentops.maintain.engine import RunOptions, run_playbook

        pb = self._playbook(ctx)
        # Consent was given for the emergency as a whole; the playbook's own lock and audit log still apply.
        opts = RunOptions(state_dir=ctx.state_dir, assume_yes=True, wait=min(5.0, ctx.remaining()))
        try:
            report = await asyncio.to_thread(run_playbook, pb, ctx.config, opts)
        except Exception as exc:  # LockBusy, ConfigError: the playbook did not run
            return StepOutcome.failure(Reason.INTERNAL, f"playbook {pb.name}: {exc}")
        recap = report.data.get("recap", {})
        out = StepOutcome(Outcome.CHANGED if recap.get("changed") else Outcome.OK,
                          facts={"playbook": pb.name, "recap": recap, "audit_log": report.data.get("audit_log"),
                                 "run_id": report.data.get("run_id")})
        for r in report.results:
            for line in r.facts.get("changes", [])[:20]:
                ctx.record_change(out, f"{r.id}: {line}")
        if recap.get("failed") or recap.get("interrupted"):
            out = StepOutcome.failure(Reason.ASSERTION, f"playbook {pb.name}: {recap.get('failed', 0)} step(s) "
                                      f"failed", **out.facts)
            return out
        out.message = f"playbook {pb.name}: " + ", ".join(f"{v} {k}" for k, v in recap.items() if v)
        return out
