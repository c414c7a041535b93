"""The service: its routes, SIGHUP reload and SIGTERM shutdown.

    /metrics   every cached check as the report's Prometheus exposition (render/prometheus.py, the same
               series `agentops health -o prometheus` writes), the AutoGen view, serve's own series and the
               process's (RSS, CPU, fds: prometheus_client's process collector)
    /healthz   200 or 503 from the cached run's status (never runs a check)
    /report    the cached run as the JSON report document (agentops.report/v2)
    /probe     ?target=NAME (a configured target) or ?target=ADDRESS&kind=KIND, &pack=NAME: that target's
               checks run now, bounded by X-Prometheus-Scrape-Timeout-Seconds (blackbox_exporter's model)

A reload reads the config and packs again and plans them; if anything is wrong the old plan keeps running and
the error is logged (and `agentops_serve_config_reload_success` is 0) until a good config is loaded."""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
from dataclasses import replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from agentops.core.config import LOCAL, TARGET_KINDS, Target, check_address
from agentops.core.format import utc_stamp
from agentops.core.model import Report
from agentops.core.packs import Selection, plan
from agentops.core.runner import run_plan
from agentops.core.target import split_host_port
from agentops.core.yamlsrc import ConfigError
from agentops.serve.cluster import TargetView
from agentops.serve.http import HttpEdge, Request, Response
from agentops.serve.log import log
from agentops.serve.options import ServeOptions
from agentops.serve.scheduler import Scheduler
from agentops.serve.state import Plan, ResultCache, expand_plan, load_plan
from agentops.serve.undelivered import UndeliveredCounts
from agentops.serve.verdicts import DiagnosisState

if TYPE_CHECKING:
    from agentops.serve.node import NodeRoutes

EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_HEADER = "x-prometheus-scrape-timeout-seconds"


class Service:
    def __init__(self, config: str | None, options: ServeOptions, *, node: NodeRoutes | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.config, self.options, self.tls = config, options, tls
        self.cache = ResultCache()
        self.views: dict[str, TargetView] = {}
        self.undelivered: dict[str, UndeliveredCounts] = {}  # per agentrpc target, cumulative across reloads
        self.diagnoses: dict[str, DiagnosisState] = {}  # per diagnosis of the serve: section
        self.requests: dict[str, int] = {}
        self.reload_ok = True
        self.started_at = utc_stamp()
        self.plan: Plan = load_plan(config, options)  # ConfigError at start: the CLI's one line and exit 3
        self.scheduler: Scheduler | None = None
        self._probes = asyncio.Semaphore(options.max_concurrent_probes)
        self._stop = asyncio.Event()
        self._reloading: asyncio.Task[None] | None = None
        # Node mode (serve/node.py): the /node/ routes, answering from the current plan's config.
        self.node = node
        if node is not None:
            node.config = lambda: self.plan.cfg

    # -------------------------------------------------------------------- lifecycle

    async def run(self) -> int:
        host, port = split_host_port(self.options.listen, what="--listen")
        edge = HttpEdge(self.route, self.options)
        bound = await edge.start(host, port, self.tls)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon)
        self.plan = await expand_plan(self.plan, self.options)  # kind: kubernetes sources: every replica
        self._start_scheduler()
        rediscovery = loop.create_task(self._rediscover()) if self.plan.has_sources() else None
        log("listening", address=f"{host}:{bound}", config=self.plan.cfg.path, checks=len(self.plan.checks),
            interval_s=self.options.interval_s, jitter=self.options.jitter, node=self.node is not None,
            tls=self.tls is not None)
        await self._stop.wait()
        log("stopping", grace_s=self.options.shutdown_grace_s)
        if rediscovery is not None:
            rediscovery.cancel()
        await edge.close()
        if self.scheduler is not None:
            await self.scheduler.stop(self.options.shutdown_grace_s)
        log("stopped")
        return 0

    def _start_scheduler(self) -> None:
        self.cache.retain(self.plan.check_keys())
        hosts = {t.name for t in self.plan.cfg.targets_of("agentrpc")}
        self.views = {k: v for k, v in self.views.items() if k in hosts}
        self.undelivered = {k: v for k, v in self.undelivered.items() if k in hosts}
        wanted = {d.name for d in self.plan.diagnoses}
        self.diagnoses = {k: v for k, v in self.diagnoses.items() if k in wanted}
        self.scheduler = Scheduler(self.plan, self.cache, self.views, self.options, undelivered=self.undelivered,
                                   diagnoses=self.diagnoses)
        self.scheduler.start()

    def _reload_soon(self) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self.reload())

    async def reload(self) -> bool:
        if self.node is not None:  # a rotated token is taken on SIGHUP; an unusable file keeps the old one
            problem = self.node.reread_token()
            if problem is not None:
                log("token_reload_failed", level="error", error=problem, kept="the token read before")
            else:
                log("token_reloaded", token_file=self.node.token_file)
        try:
            new = await expand_plan(load_plan(self.config, self.options), self.options)
        except ConfigError as exc:
            self.reload_ok = False
            log("reload_failed", level="error", error=str(exc), kept=self.plan.cfg.path,
                kept_loaded_at=utc_stamp(self.plan.loaded_at))
            return False
        if self.scheduler is not None:
            await self.scheduler.stop(self.options.shutdown_grace_s)
        self.plan, self.reload_ok = new, True
        self._start_scheduler()
        log("reloaded", config=new.cfg.path, checks=len(new.checks))
        return True

    async def _rediscover(self) -> None:
        """kind: kubernetes sources listed again once per check interval: a pod replaced, scaled or gone
        changes the plan (the cache keeps the results of the targets that stayed); unchanged, nothing
        restarts. A reload under way does it itself."""
        while True:
            await asyncio.sleep(self.options.interval_s)
            if self._reloading is not None and not self._reloading.done():
                continue
            before = self.plan
            try:
                new = await expand_plan(before, self.options)
            except ConfigError as exc:  # the selectors were checked at load; kept as a reload keeps its plan
                log("rediscovery_failed", level="error", error=str(exc))
                continue
            # a reload that ended meanwhile made its own plan from the new config: that one stands
            if self.plan is not before or new.targets_seen() == before.targets_seen():
                continue
            if self.scheduler is not None:
                await self.scheduler.stop(self.options.shutdown_grace_s)
            self.plan = new
            self._start_scheduler()
            log("rediscovered", checks=len(new.checks), targets=len(new.cfg.targets))

    # -------------------------------------------------------------------- routes

    async def route(self, request: Request) -> Response:
        routes = {"/metrics": self.metrics, "/healthz": self.healthz, "/report": self.report, "/probe": self.probe,
                  "/": self.index, **(self.node.routes if self.node else {})}
        handler = routes.get(request.path)
        if handler is None:
            return Response.text(HTTPStatus.NOT_FOUND, f"no route {request.path} (see /)")
        self.requests[request.path] = self.requests.get(request.path, 0) + 1
        return await handler(request)

    async def index(self, request: Request) -> Response:
        return Response.text(HTTPStatus.OK, "agentops serve: /metrics /healthz /report /probe?target=…&pack=…")

    def cached_report(self) -> Report:
        report = self.cache.report(self.plan.check_keys(), self.started_at)
        if self.plan.diagnoses:  # the periodic diagnoses' latest verdicts, in plan order (not yet run: left out)
            report.data = {"diagnoses": [self.diagnoses[d.name].to_dict() for d in self.plan.diagnoses
                                         if d.name in self.diagnoses]}
        return report

    def state(self) -> dict[str, Any]:
        now = time.time()
        ages = []
        for check_id, target in self.plan.check_keys():
            cached = self.cache.get((check_id, target))
            if cached is not None:
                ages.append({"check": check_id, "target": target, "age_s": now - cached.finished_at,
                             "runs": cached.runs})
        return {"reload_ok": self.reload_ok, "loaded_at": self.plan.loaded_at, "checks": len(self.plan.checks),
                "ages": ages, "requests": dict(self.requests)}

    async def metrics(self, request: Request) -> Response:
        from prometheus_client import REGISTRY, generate_latest

        from agentops.render.document import report_document
        from agentops.render.prometheus import (
            render_autogen_views,
            render_diagnoses,
            render_prometheus,
            render_serve_state,
            render_undelivered,
        )

        text = render_prometheus(report_document(self.cached_report()))
        text += render_autogen_views([self.views[k].to_dict() for k in sorted(self.views)])
        text += render_undelivered([self.undelivered[k].to_dict() for k in sorted(self.undelivered)])
        text += render_diagnoses([self.diagnoses[d.name].to_dict() for d in self.plan.diagnoses
                                  if d.name in self.diagnoses])
        text += render_serve_state(self.state())
        text += generate_latest(REGISTRY).decode()  # process_* (RSS over days) and python_* of this process
        return Response(HTTPStatus.OK, text.encode(), EXPOSITION)

    async def healthz(self, request: Request) -> Response:
        keys = self.plan.check_keys()
        if not self.cache.complete(keys):
            done = sum(1 for k in keys if self.cache.get(k) is not None)
            return Response.text(HTTPStatus.SERVICE_UNAVAILABLE, f"starting: {done}/{len(keys)} checks have run")
        report = self.cached_report()
        status = report.status
        set_by = ", ".join(report.status_set_by())
        line = f"{status.label}" + (f" set by: {set_by}" if set_by else "")
        code = HTTPStatus.SERVICE_UNAVAILABLE if self.options.unhealthy(status) else HTTPStatus.OK
        return Response.text(code, line)

    async def report(self, request: Request) -> Response:
        from agentops.render.document import report_document
        from agentops.render.json import render_json

        return Response(HTTPStatus.OK, render_json(report_document(self.cached_report())).encode(),
                        "application/json")

    async def probe(self, request: Request) -> Response:
        from agentops.render.document import report_document
        from agentops.render.prometheus import render_prometheus

        name = request.arg("target")
        if not name:
            return Response.text(HTTPStatus.BAD_REQUEST, "give ?target=NAME (a configured target) or "
                                                         "?target=ADDRESS&kind=KIND")
        try:
            budget = self._probe_budget(request)
            checks = self._probe_plan(name, request.arg("kind"), request.arg("pack"))
        except (ConfigError, ValueError) as exc:
            return Response.text(HTTPStatus.BAD_REQUEST, str(exc).splitlines()[0])
        if not checks:
            return Response.text(HTTPStatus.BAD_REQUEST, f"no check of the pack applies to target {name!r}")
        if self._probes.locked():
            return Response.text(HTTPStatus.SERVICE_UNAVAILABLE, "too many probes at once")
        started, t0 = utc_stamp(), time.monotonic()
        async with self._probes:
            results = await run_plan(checks, concurrency=self.plan.cfg.defaults.concurrency, deadline=budget)
        report = Report(kind="probe", started_at=started, duration_s=time.monotonic() - t0, results=results)
        return Response(HTTPStatus.OK, render_prometheus(report_document(report)).encode(), EXPOSITION)

    def _probe_budget(self, request: Request) -> float:
        o = self.options
        header = request.headers.get(SCRAPE_TIMEOUT_HEADER)
        if header is None:
            return min(o.probe_timeout_s, o.probe_timeout_max_s)
        try:
            given = float(header)
        except ValueError:
            raise ValueError(f"{SCRAPE_TIMEOUT_HEADER}: not a number: {header[:40]!r}") from None
        if not given > 0:
            raise ValueError(f"{SCRAPE_TIMEOUT_HEADER}: must be positive")
        return max(0.05, min(given - o.probe_timeout_offset_s, o.probe_timeout_max_s))

    def _probe_plan(self, name: str, kind: str | None, pack: str | None) -> list[Any]:
        key = (name, kind, pack)
        known = self.plan.probe_plans.get(key)
        if known is None:  # a bad request raises before anything is kept
            known = self._plan_probe(name, kind, pack)
            if len(self.plan.probe_plans) >= self.options.probe_plans_kept:
                self.plan.probe_plans.clear()
            self.plan.probe_plans[key] = known
        return known

    def _plan_probe(self, name: str, kind: str | None, pack: str | None) -> list[Any]:
        cfg = self.plan.cfg
        if pack is not None and pack.endswith((".yaml", ".yml")):
            # A scrape names a pack; it never makes serve read a file of its choosing.
            raise ValueError("pack: give a pack name (from the config's pack_dirs or the shipped ones), not a path")
        specs = self.plan.specs_of([pack] if pack else (list(self.options.packs) or None))
        if kind is None:
            if name not in cfg.targets:
                raise ValueError(f"no target named {name!r} in the config (give &kind=KIND for an address)")
            target = cfg.targets[name]
        else:
            if kind not in TARGET_KINDS or kind in ("host", "worker"):
                raise ValueError(f"kind {kind!r} cannot be probed by address")
            check_address(kind, name)
            target = Target(name=name, kind=kind, address=name, where="/probe")
        # This machine stays (a check of `host` kind with no selector plans onto it, then is filtered out).
        only_this = replace(cfg, targets={LOCAL: cfg.targets[LOCAL], target.name: target})
        checks = plan(only_this, [s for s in specs if s.target in (None, "*", f"kind:{target.kind}", target.name)],
                      Selection(only=list(self.options.only), skip=list(self.options.skip),
                                tags=list(self.options.tags)))
        return [c for c in checks if c.target.name == target.name]
