"""Runs the plan in the background: each check in a task of its own, once per interval with jitter, and the
AutoGen view of each agentrpc target in another. A check is measured and judged by core.runner exactly as
`agentops health` does it (its timeout, retries, the runner's backstop); a target that hangs holds only its
own task, never a scrape (which reads the cache) nor another check. Each agentrpc target's logs are read for
undelivered requests on the cluster interval (in a thread: a file read never holds the loop), and each
diagnosis of the `serve:` section runs in a task of its own on its interval."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from agentops.core.config import Target
from agentops.core.packs import PlannedCheck
from agentops.core.runner import GRACE_S, run_plan
from agentops.serve.cluster import TargetView, collect
from agentops.serve.log import log
from agentops.serve.options import ServeOptions
from agentops.serve.section import DiagnosisSpec
from agentops.serve.state import Plan, ResultCache
from agentops.serve.undelivered import UndeliveredCounts, read_cycle
from agentops.serve.verdicts import DiagnosisState


def run_budget(check: PlannedCheck) -> float:
    """The most one run of a check may take: every attempt with its grace, and the pauses between them."""
    return (check.retries + 1) * (check.timeout + GRACE_S) + check.retries * check.retry_delay


class Scheduler:
    def __init__(self, plan: Plan, cache: ResultCache, views: dict[str, TargetView], options: ServeOptions,
                 rng: random.Random | None = None, on_cycle: Callable[[], None] | None = None,
                 undelivered: dict[str, UndeliveredCounts] | None = None,
                 diagnoses: dict[str, DiagnosisState] | None = None) -> None:
        self.plan, self.cache, self.views, self.options = plan, cache, views, options
        self.undelivered = undelivered if undelivered is not None else {}
        self.diagnoses = diagnoses if diagnoses is not None else {}
        self.rng = rng or random.Random()
        self.on_cycle = on_cycle
        self._sem = asyncio.Semaphore(max(1, plan.cfg.defaults.concurrency))
        self._tasks: list[asyncio.Task[None]] = []

    def _wait(self, interval: float) -> float:
        j = self.options.jitter
        return max(0.0, interval * (1 + self.rng.uniform(-j, j)))

    def start(self) -> None:
        for check in self.plan.checks:
            self._tasks.append(asyncio.create_task(self._check_loop(check), name=f"check {check.id}"))
        for target in self.plan.cfg.targets_of("agentrpc"):
            self._tasks.append(asyncio.create_task(self._cluster_loop(target), name=f"cluster {target.name}"))
            if self.options.log_reader is not None:
                self._tasks.append(asyncio.create_task(self._log_loop(target), name=f"logs {target.name}"))
        if self.options.diagnosis_runner is not None:
            for spec in self.plan.diagnoses:
                self._tasks.append(asyncio.create_task(self._diagnosis_loop(spec), name=f"diagnose {spec.name}"))

    async def stop(self, grace: float) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
        self._tasks = []

    async def _check_loop(self, check: PlannedCheck) -> None:
        key = (check.id, check.target.name)
        # First runs spread over the jitter window, so a plan of hundreds does not start as one wave.
        await asyncio.sleep(self.rng.uniform(0, self.options.jitter * self.options.interval_s))
        while True:
            async with self._sem:
                [result] = await run_plan([check], deadline=run_budget(check))
            before = self.cache.put(key, result)
            if before is not None and before is not result.status:
                log("status_changed", check=check.id, target=check.target.name, before=before.label,
                    after=result.status.label, reason=result.reason.value if result.reason else None,
                    message=result.message)
            if self.on_cycle:
                self.on_cycle()
            await asyncio.sleep(self._wait(self.options.interval_s))

    async def _cluster_loop(self, target: Target) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.options.jitter * self.options.cluster_interval_s))
        while True:
            started = time.monotonic()
            try:
                view = await collect(target, self.plan.cluster, self.options, self.views.get(target.name),
                                     self.options.cluster_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or an unusable TLS file: logged, retried next cycle, never fatal
                log("cluster_failed", level="error", target=target.name, error=f"{type(exc).__name__}: {exc}")
                view = TargetView(target=target.name, address=target.address or "", reason="internal",
                                  message=f"{type(exc).__name__}: {exc}", collected_at=time.time())
                last = self.views.get(target.name)
                if last is not None:  # the histograms and counters stay cumulative
                    view.pings, view.ping_failures = last.pings, last.ping_failures
            before = self.views.get(target.name)
            self.views[target.name] = view
            if before is not None and before.up != view.up:
                log("host_" + ("up" if view.up else "down"), target=target.name, reason=view.reason,
                    message=view.message)
            for worker, connected in view.workers.items():
                if before is not None and before.workers.get(worker, connected) != connected:
                    log("worker_" + ("connected" if connected else "disconnected"), target=target.name,
                        worker=worker)
            if self.on_cycle:
                self.on_cycle()
            await asyncio.sleep(max(0.0, self._wait(self.options.cluster_interval_s) - (time.monotonic() - started)))

    async def _log_loop(self, target: Target) -> None:
        reader = self.options.log_reader
        assert reader is not None
        state = self.undelivered.setdefault(target.name, UndeliveredCounts(target.name,
                                                                           self.options.max_undelivered_series))
        while True:
            started = time.monotonic()
            try:
                await asyncio.to_thread(read_cycle, state, target, self.plan.cluster, reader,
                                        self.options.log_read_bytes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: logged, tried again next cycle, never fatal
                log("logs_failed", level="error", target=target.name, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(max(0.0, self._wait(self.options.cluster_interval_s) - (time.monotonic() - started)))

    async def _diagnosis_loop(self, spec: DiagnosisSpec) -> None:
        runner = self.options.diagnosis_runner
        assert runner is not None
        state = self.diagnoses.setdefault(spec.name, DiagnosisState(spec))
        state.spec = spec
        await asyncio.sleep(self.rng.uniform(0, self.options.jitter * spec.interval_s))
        while True:
            started = time.monotonic()
            before = state.verdict()
            try:
                report = await asyncio.wait_for(runner(self.plan.cfg, spec), self.options.diagnosis_backstop_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # TimeoutError (the backstop) too: the last verdict stands, marked stale
                state.failures += 1
                state.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log("diagnosis_failed", level="error", diagnosis=spec.name, error=state.error)
            else:
                from agentops.render.document import report_document

                state.document, state.error = report_document(report), None
                state.finished_at = time.time()
                after = state.verdict()
                if before is not None and after is not None and (before["id"], before["status"]) != (
                        after["id"], after["status"]):
                    log("verdict_changed", diagnosis=spec.name, before=before["id"], after=after["id"],
                        before_status=before["status"], after_status=after["status"], title=after.get("title"))
            state.runs += 1
            if self.on_cycle:
                self.on_cycle()
            await asyncio.sleep(max(0.0, self._wait(spec.interval_s) - (time.monotonic() - started)))
