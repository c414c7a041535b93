"""Runs a plan: all checks concurrently under a limit, each with its timeout and retries, the whole run
under a global deadline. Nothing a probe does can crash or hang the run: an exception becomes UNKNOWN with
its class and message, a probe that overruns its timeout is cancelled and reported as a timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from agentops.core import registry
from agentops.core.evaluate import evaluate, thresholds_for
from agentops.core.model import Observation, Reason, Result, Status
from agentops.core.packs import CheckSpec, PlannedCheck
from agentops.core.redact import redact
from agentops.core.yamlsrc import ConfigError

# A probe gets its whole timeout for its own deadlines; the runner's hard stop allows this much more so a
# probe that honours its deadline reports its own (more precise) reason rather than being cut off.
GRACE_S = 0.25


async def observe(measure: Callable[[], Awaitable[Observation]], timeout: float,
                  grace: float = GRACE_S) -> Observation:
    """Run one measurement under its timeout (plus `grace`); it never raises, except on cancellation.
    Shared by the runner's probes and the diagnosis layers that measure without a registered probe."""
    try:
        return await asyncio.wait_for(measure(), timeout + grace)
    except TimeoutError:
        return Observation.failure(Reason.TIMEOUT, f"no answer within {timeout:.3g}s")
    except asyncio.CancelledError:
        raise
    except ConfigError as exc:  # found at run time (an unset *_env variable): the config's fault, not a bug
        return Observation.failure(Reason.UNSUPPORTED, redact(str(exc)))
    except Exception as exc:  # a probe bug or an unexpected library error must not end the run
        return Observation.failure(Reason.INTERNAL, f"{type(exc).__name__}: {exc}")


async def measure_once(check: PlannedCheck, timeout: float | None = None) -> Observation:
    probe = registry.probe(check.spec.probe)
    budget = check.timeout if timeout is None else timeout
    return await observe(lambda: probe.measure(check.target, check.spec.params, budget), budget)


def judge(spec: CheckSpec, target: str, obs: Observation, duration_s: float, attempts: int = 1) -> Result:
    """An observation judged by the check's rules, as a redacted Result."""
    status, reason, message = evaluate(spec, obs)
    return Result(
        id=spec.id, target=target, probe=spec.probe, status=status, reason=reason, message=redact(message),
        metrics=obs.metrics, facts=obs.facts, duration_s=duration_s, attempts=attempts, tags=list(spec.tags),
        thresholds=thresholds_for(spec, obs.metrics),
    )


async def run_check(check: PlannedCheck, deadline_at: float | None = None) -> Result:
    """Measure (with retries) and judge one check. With a global deadline (`deadline_at`, monotonic), each
    attempt's timeout is capped at the time left, so a hung target still ends as this check's own timeout
    (judged by its on_timeout) rather than as "the run ran out of time"."""
    started = time.perf_counter()
    attempts = 0
    while True:
        timeout = check.timeout
        if deadline_at is not None:
            left = deadline_at - time.monotonic()
            if left <= 0.01:
                if attempts:
                    break  # keep the last attempt's observation
                return _not_started(check)
            timeout = min(timeout, left)
        attempts += 1
        obs = await measure_once(check, timeout)
        if not obs.failed or obs.reason in (Reason.UNSUPPORTED, Reason.INTERNAL) or attempts > check.retries:
            break
        await asyncio.sleep(check.retry_delay)
    return judge(check.spec, check.target.name, obs, time.perf_counter() - started, attempts)


def _not_started(check: PlannedCheck, message: str = "not started before the global deadline") -> Result:
    return Result(id=check.id, target=check.target.name, probe=check.spec.probe, status=Status.UNKNOWN,
                  reason=Reason.TIMEOUT, message=message, attempts=0, tags=list(check.spec.tags))


async def run_plan(checks: list[PlannedCheck], *, concurrency: int = 256, deadline: float | None = None,
                   on_done: Callable[[Result], None] | None = None) -> list[Result]:
    """Results in plan order. Checks still running at the deadline are cancelled and reported UNKNOWN."""
    sem = asyncio.Semaphore(max(1, concurrency))
    deadline_at = None if deadline is None else time.monotonic() + deadline

    async def guarded(check: PlannedCheck) -> Result:
        async with sem:
            result = await run_check(check, deadline_at)
        if on_done:
            on_done(result)
        return result

    tasks = [asyncio.create_task(guarded(c)) for c in checks]
    if not tasks:
        return []
    # Checks cap their own timeouts at the deadline; this backstop (deadline + grace) only catches a probe
    # that ignores cancellation's timing or a check stuck behind the concurrency limit.
    backstop = None if deadline is None else deadline + GRACE_S + 0.5
    done, pending = await asyncio.wait(tasks, timeout=backstop)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    results = []
    for check, task in zip(checks, tasks, strict=True):
        if task in done and not task.cancelled() and task.exception() is None:
            results.append(task.result())
        else:
            err = None if task not in done or task.cancelled() else task.exception()
            results.append(Result(
                id=check.id, target=check.target.name, probe=check.spec.probe, status=Status.UNKNOWN,
                reason=Reason.INTERNAL if err else Reason.TIMEOUT,
                message=redact(f"{type(err).__name__}: {err}") if err else
                f"not finished when the global deadline ({deadline:g}s) was reached",
                tags=list(check.spec.tags),
            ))
    return results


def run(checks: list[PlannedCheck], **kwargs: object) -> list[Result]:
    return asyncio.run(run_plan(checks, **kwargs))  # type: ignore[arg-type]
