"""What serve holds between scrapes: the loaded plan (config, packs, planned checks) and the latest result of
each check, kept per (check, target) so a slow check never holds up the others' answers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from agentops.core.cluster import ClusterSpec, cluster_spec
from agentops.core.config import Config, load_config
from agentops.core.model import Report, Result, Status
from agentops.core.packs import CheckSpec, PlannedCheck, Selection, load_specs, plan
from agentops.core.yamlsrc import ConfigError
from agentops.serve.options import ServeOptions
from agentops.serve.section import DiagnosisSpec, diagnosis_specs

Key = tuple[str, str]  # (check id, target name)


@dataclass
class Plan:
    cfg: Config  # the config as planned: `kind: kubernetes` sources expanded (expand_plan)
    checks: list[PlannedCheck]
    cluster: ClusterSpec
    base: Config | None = None  # the config as read, before any expansion (None: the same as cfg)
    diagnoses: list[DiagnosisSpec] = field(default_factory=list)  # the `serve:` section's
    loaded_at: float = field(default_factory=time.time)
    # /probe's packs, read once per plan (a reload makes a new plan, so edited packs are read again).
    probe_specs: dict[tuple[str, ...], list[CheckSpec]] = field(default_factory=dict)
    # /probe's planned checks per (target, kind, pack), made once per plan: Prometheus asks the same targets
    # every scrape. Bounded (service discovery may name any address): emptied when full.
    probe_plans: dict[tuple[str, str | None, str | None], list[PlannedCheck]] = field(default_factory=dict)

    def specs_of(self, packs: list[str] | None) -> list[CheckSpec]:
        key = tuple(packs or ())
        if key not in self.probe_specs:
            self.probe_specs[key] = load_specs(self.cfg, packs)
        return self.probe_specs[key]

    def check_keys(self) -> list[Key]:
        return [(c.id, c.target.name) for c in self.checks]

    def has_sources(self) -> bool:
        return bool((self.base or self.cfg).targets_of("kubernetes"))

    def targets_seen(self) -> dict[str, tuple[str, str | None]]:
        """Each target's kind and address: what a re-expansion compares to tell whether the pods changed."""
        return {t.name: (t.kind, t.address) for t in self.cfg.targets.values()}


def load_plan(config: str | None, options: ServeOptions) -> Plan:
    """The config and its packs read and planned, as `agentops health` plans them; ConfigError (file:line:
    why) when anything is wrong, so a reload can keep the old plan. `kind: kubernetes` sources are not asked
    here (no request before the server runs): `expand_plan` adds their targets."""
    cfg = load_config(config)
    # With a source, checks may match only the targets it expands to: judged after the expansion.
    return _planned(cfg, cfg, options, may_be_empty=bool(cfg.targets_of("kubernetes")))


def _planned(base: Config, cfg: Config, options: ServeOptions, *, may_be_empty: bool = False) -> Plan:
    specs = load_specs(cfg, list(options.packs) or None)
    selection = Selection(only=list(options.only), skip=list(options.skip), tags=list(options.tags))
    checks = plan(cfg, specs, selection)
    if not checks and not may_be_empty:
        raise ConfigError("no check to run: nothing matched " + (selection.describe() or "the config's packs and "
                          "targets"), path=cfg.path)
    return Plan(cfg=cfg, checks=checks, cluster=cluster_spec(cfg), base=base, diagnoses=diagnosis_specs(cfg))


async def expand_plan(current: Plan, options: ServeOptions) -> Plan:
    """The plan over the config's `kind: kubernetes` sources expanded now (k8s.discovery.expand_async, the one
    expansion health and bundle use): every replica a target of its own, so /metrics and /probe cover it.
    Called when serve starts, on each reload and once per check interval (serve/service.py); a source that
    cannot be listed keeps the targets it had in `current` (none at start) and its k8s.discovery check says
    why. Without a source: `current`."""
    if not current.has_sources():
        return current
    from agentops.k8s.discovery import DISCOVERED, expand_async

    base = current.base or current.cfg
    expanded = await expand_async(base)
    # A listing that failed (the API away for a moment) keeps the targets of the last one that did not, so
    # every replica's series stays while its k8s.discovery check says why the list is stale.
    failed = {s.name for s in base.targets_of("kubernetes") if DISCOVERED[s.name].reason is not None}
    kept = {n: t for n, t in current.cfg.targets.items() if n not in base.targets and t.labels.get("source") in failed}
    if kept:
        expanded = replace(expanded, targets={**kept, **expanded.targets})
    return _planned(base, expanded, options)


@dataclass
class Cached:
    result: Result
    finished_at: float  # wall clock
    runs: int


class ResultCache:
    """The latest result of each planned check. Bounded by the plan: `retain` drops the entries of checks a
    reload removed."""

    def __init__(self) -> None:
        self._entries: dict[Key, Cached] = {}

    def put(self, key: Key, result: Result) -> Status | None:
        """Store a result; the status it replaces (None for the first)."""
        old = self._entries.get(key)
        self._entries[key] = Cached(result, time.time(), (old.runs if old else 0) + 1)
        return old.result.status if old else None

    def retain(self, keys: list[Key]) -> None:
        wanted = set(keys)
        for key in [k for k in self._entries if k not in wanted]:
            del self._entries[key]

    def get(self, key: Key) -> Cached | None:
        return self._entries.get(key)

    def report(self, keys: list[Key], started_at: str) -> Report:
        """The cached results in plan order, as one health report (checks not yet run are left out)."""
        results = [c.result for k in keys if (c := self._entries.get(k)) is not None]
        return Report(kind="health", started_at=started_at, duration_s=0.0, results=results)

    def complete(self, keys: list[Key]) -> bool:
        return all(k in self._entries for k in keys)
