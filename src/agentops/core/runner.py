"""Runs a plan: all checks concurrently under a limit, each with its timeout and retries, the whole run
under a global deadline. Nothing a probe does can crash or hang the run: an exception becomes UNKNOWN with
its class and message, a probe that overruns its timeout is cancelled and reported as a timeout."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agentops.core import registry
from agentops.core.evaluate import evaluate, thresholds_for
from agentops.core.model import Observation, Reason, Result, Status
from agentops.core.packs import CheckSpec, PlannedCheck
from agentops.core.redact import redact
from agentops.core.yamlsrc import ConfigError

# A probe gets its whole timeout for its own deadlines; the runner's hard stop allows this much more so a
# probe that honours its deadline reports its own (more precise) reason rather than being cut off.
GRACE_S = 0.25
# An attempt with less time than this left is not started: it could only report a timeout it did not measure.
MIN_ATTEMPT_S = 0.01
# How late past the deadline the backstop fires (loop turns on a busy machine), and how long cancelled checks
# then get to unwind before the run goes on without them.
BACKSTOP_SLACK_S = 0.02
# Time kept back from a command's deadline for rendering the report and exiting (see runner_deadline).
REPORT_RESERVE_S = 0.1
REPORT_RESERVE_PER_CHECK_S = 0.001
# A preload quicker than this imported nothing (already loaded, or nothing to load): not reported.
MIN_IMPORT_MS = 1.0
# The most the reserve is scaled by for a busy machine (see runner_deadline).
MAX_SLOWDOWN = 5.0


async def observe(measure: Callable[[], Awaitable[Observation]], timeout: float,
                  grace: float = GRACE_S) -> Observation:
    """Run one measurement under its timeout (plus `grace`); it never raises, except on cancellation.
    Shared by the runner's probes and the diagnosis layers that measure without a registered probe."""
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps the coroutine in a task of its own (a task,
    # a waiter future and a done callback per check: a third of the runner's CPU per TCP check), where a
    # timeout cancels the check's own task. A probe that swallows the cancellation is caught by the backstop.
    try:
        async with asyncio.timeout(timeout + grace):
            return await measure()
    except TimeoutError:
        return Observation.failure(Reason.TIMEOUT, f"no answer within {timeout:.3g}s")
    except asyncio.CancelledError:
        raise
    except ConfigError as exc:  # found at run time (an unset *_env variable): the config's fault, not a bug
        return Observation.failure(Reason.UNSUPPORTED, redact(str(exc)))
    except Exception as exc:  # a probe bug or an unexpected library error must not end the run
        return Observation.failure(Reason.INTERNAL, f"{type(exc).__name__}: {exc}")


async def measure_once(check: PlannedCheck, timeout: float | None = None, grace: float = GRACE_S) -> Observation:
    probe = registry.probe(check.spec.probe)
    budget = check.timeout if timeout is None else timeout
    return await observe(lambda: probe.measure(check.target, check.spec.params, budget), budget, grace)


def judge(spec: CheckSpec, target: str, obs: Observation, duration_s: float, attempts: int = 1) -> Result:
    """An observation judged by the check's rules, as a redacted Result."""
    status, reason, message = evaluate(spec, obs)
    return Result(
        id=spec.id, target=target, probe=spec.probe, status=status, reason=reason, message=redact(message),
        metrics=obs.metrics, facts=obs.facts, duration_s=duration_s, attempts=attempts, tags=list(spec.tags),
        thresholds=thresholds_for(spec, obs.metrics),
    )


@dataclass
class _Progress:
    """What a check has seen so far, kept outside its task so a check cut off by the backstop is judged on
    what it observed (an attempt in progress that got no answer is a timeout) rather than on being cut."""

    started: float = field(default_factory=time.perf_counter)
    attempts: int = 0
    last: Observation | None = None
    budget: float | None = None  # the timeout of the attempt in progress; None between attempts
    cut: bool = False  # the attempt in progress got less than the check's timeout: the deadline capped it

    def result(self, check: PlannedCheck) -> Result:
        obs = self.last
        if self.budget is not None and not (self.cut and obs is not None):
            # An unanswered attempt is a timeout, unless it is a retry the global deadline cut short: then the
            # attempt before it, which ran its course, says what the fault is (the same on every run).
            obs = Observation.failure(Reason.TIMEOUT, f"no answer within {self.budget:.3g}s")
        if obs is None:
            return _not_started(check)
        result = judge(check.spec, check.target.name, obs, time.perf_counter() - self.started, self.attempts)
        if check.target.labels:  # the target's `labels:` travel with each of its results (JSON: facts.labels)
            result.facts = {**result.facts, "labels": dict(check.target.labels)}
        return result


def attempt_budget(timeout: float, left: float | None) -> tuple[float, float]:
    """(timeout, grace) for one attempt: its own timeout, capped so that it plus the runner's grace ends by the
    deadline (`left` seconds away). Short of time, the grace shrinks with it (a fifth of what is left)."""
    if left is None:
        return timeout, GRACE_S
    grace = min(GRACE_S, max(0.0, left) / 5)
    # Whole milliseconds, so a message quoting the budget reads "within 0.948s", not "within 0.948941s".
    return max(0.0, math.floor(min(timeout, left - grace) * 1000) / 1000), grace


async def run_check(check: PlannedCheck, deadline_at: float | None = None,
                    progress: _Progress | None = None) -> Result:
    """Measure (with retries) and judge one check. With a global deadline (`deadline_at`, monotonic), each
    attempt's timeout and hard stop end by it, so a hung target still ends as this check's own timeout
    (judged by its on_timeout) rather than as "the run ran out of time". A retry is made only when, after its
    pause, at least as much time is left as the previous attempt took: the last attempt is never one cut
    short, so a given fault is reported the same way on every run."""
    p = progress or _Progress()
    while True:
        left = None if deadline_at is None else deadline_at - time.monotonic()
        timeout, grace = attempt_budget(check.timeout, left)
        if timeout <= MIN_ATTEMPT_S:
            return p.result(check)  # the last attempt's observation, or "not started"
        p.attempts += 1
        p.budget, p.cut = timeout, timeout < check.timeout
        attempt_started = time.monotonic()
        obs = await measure_once(check, timeout, grace)
        if p.cut and p.last is not None and obs.reason is Reason.TIMEOUT:
            p.budget = None
            break  # a retry the deadline cut short says nothing the previous attempt did not (see _Progress)
        p.last, p.budget = obs, None
        if not obs.failed or obs.reason in (Reason.UNSUPPORTED, Reason.INTERNAL) or p.attempts > check.retries:
            break
        if deadline_at is not None:
            took = time.monotonic() - attempt_started
            if deadline_at - time.monotonic() - check.retry_delay < max(took, MIN_ATTEMPT_S):
                break
        await asyncio.sleep(check.retry_delay)
    return p.result(check)


def runner_deadline(started: float, timeout: float, n_checks: int) -> float:
    """When the checks must be done (monotonic) for a command that started at `started` to have rendered its
    report and exited within `timeout`: the time to present the results (per check, measured for the table
    format at a few hundred checks with room to spare) is kept back, and never more than a quarter of the
    whole. Past that moment a check is judged on what it saw (see run_plan).

    The reserve is CPU work, so on a machine busy enough that this process gets a fraction of a core it takes
    that many times longer: it is scaled by how much slower than its own CPU time this process has run so far
    (wall over CPU since the process started, its imports and config load; 1 on an idle machine)."""
    elapsed = time.monotonic() - started
    slowdown = min(MAX_SLOWDOWN, max(1.0, elapsed / max(time.process_time(), 1e-3)))
    reserve = min(timeout / 4, (REPORT_RESERVE_S + n_checks * REPORT_RESERVE_PER_CHECK_S) * slowdown)
    return started + timeout - reserve


def _not_started(check: PlannedCheck, message: str = "not started before the global deadline") -> Result:
    return Result(id=check.id, target=check.target.name, probe=check.spec.probe, status=Status.UNKNOWN,
                  reason=Reason.TIMEOUT, message=message, attempts=0, tags=list(check.spec.tags))


async def run_plan(checks: list[PlannedCheck], *, concurrency: int = 256, deadline: float | None = None,
                   deadline_at: float | None = None,
                   on_done: Callable[[Result], None] | None = None) -> list[Result]:
    """Results in plan order, all by the deadline: `deadline_at` (monotonic, e.g. counted from when the
    command started) or else `deadline` seconds from now. A check still running then is judged on what it
    observed (an unanswered attempt is its timeout); one that never got to start is UNKNOWN."""
    imported = _preload(checks)
    if deadline_at is None and deadline is not None:
        deadline_at = time.monotonic() + deadline
    if not checks:
        return []
    progress = [_Progress() for _ in checks]
    results: list[Result | None] = [None] * len(checks)
    errors: dict[int, Exception] = {}
    queue = iter(range(len(checks)))  # shared by the workers: each takes the next check in plan order

    async def worker() -> None:
        # `concurrency` workers taking checks in turn, rather than a task per check behind a semaphore: at
        # fleet scale the task, its wait on the semaphore and its wake-up were a fifth of a TCP check's CPU.
        for i in queue:
            p = progress[i]
            p.started = time.perf_counter()
            try:
                result = await run_check(checks[i], deadline_at, p)
                if on_done:
                    on_done(result)
            except Exception as exc:  # a runner bug, or on_done's: this check's result, the others go on
                errors[i] = exc
                continue
            results[i] = result

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(checks))))]
    final = await _gather(checks, workers, results, errors, progress, deadline_at)
    for r in final:
        if r.probe in imported:
            r.facts = {**r.facts, "client_import_ms": imported[r.probe]}
    return final


async def _gather(checks: list[PlannedCheck], workers: list[asyncio.Task[None]], results: list[Result | None],
                  errors: dict[int, Exception], progress: list[_Progress],
                  deadline_at: float | None) -> list[Result]:
    # Every attempt's hard stop is at or before the deadline; this backstop only catches a probe slow to
    # honour cancellation. Its checks are judged from their progress, and are not waited for beyond a moment.
    backstop = None if deadline_at is None else max(0.0, deadline_at - time.monotonic()) + BACKSTOP_SLACK_S
    _, pending = await asyncio.wait(workers, timeout=backstop)
    finished, failed = list(results), dict(errors)  # what ended by the backstop; later endings do not count
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=BACKSTOP_SLACK_S)
    out = []
    for i, (check, p) in enumerate(zip(checks, progress, strict=True)):
        result = finished[i]
        if result is not None:
            out.append(result)
        elif i in failed:
            err = failed[i]
            out.append(Result(
                id=check.id, target=check.target.name, probe=check.spec.probe, status=Status.UNKNOWN,
                reason=Reason.INTERNAL, message=redact(f"{type(err).__name__}: {err}"), tags=list(check.spec.tags),
            ))
        else:
            out.append(p.result(check))
    return out


def _preload(checks: list[PlannedCheck]) -> dict[str, float]:
    """Each probe kind's lazy imports, before any check's clock starts (see Probe.preload). A probe whose
    preload fails is left to fail in measure(), where the error becomes that check's result. Returns the
    milliseconds each kind's import took where it took any (MIN_IMPORT_MS): reported beside its checks'
    own time (the fact client_import_ms), never inside it — `import redis` is ~125 ms beside a 1 ms PING."""
    took: dict[str, float] = {}
    for kind in dict.fromkeys(c.spec.probe for c in checks):
        t0 = time.perf_counter()
        try:
            registry.probe(kind).preload()
        except Exception:  # reported by the check itself, with its target
            continue
        ms = (time.perf_counter() - t0) * 1000
        if ms >= MIN_IMPORT_MS:
            took[kind] = round(ms, 1)
    return took


def run(checks: list[PlannedCheck], **kwargs: object) -> list[Result]:
    return asyncio.run(run_plan(checks, **kwargs))  # type: ignore[arg-type]
