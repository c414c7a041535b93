"""Check packs: YAML files of checks (what to measure, against which targets, judged by which thresholds),
and the plan that expands them over the config's targets.

A check's `target` is a target name, `kind:<kind>` (every target of that kind) or omitted (the local
machine for host.* probes, otherwise every target of the kind the probe measures). A check whose selector
matches no target drops out of the plan: the shipped autogen pack costs nothing on a machine without one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentops.core.config import LOCAL, Config, Target, pack_ref_problem
from agentops.core.model import Reason, Status
from agentops.core.thresholds import Threshold, ThresholdError
from agentops.core.yamlsrc import ConfigError, Fields, NodeList, load_yaml_cached, load_yaml_file

# With a config and no `packs:` list, every shipped pack but the opt-in ones runs (host first); checks whose
# targets the config does not have drop out of the plan, so this costs nothing for kinds a cluster lacks.
NO_CONFIG_PACKS = ("host",)


# Packs that judge a cluster under load rather than its health: the KPI pack's throughput goal (>= 1000 msg/s)
# would warn on every quiet hour. Run them by name (`--pack kpi`) or list them under `packs:`.
OPT_IN_PACKS = ("kpi",)

# Packs that judge one command's own observations (a profile window, a load run, a maintenance step), not
# probes a health run schedules: never in a health plan, read by their command through `command_specs`, and
# overridden like any pack by a file of the same name in a config's pack_dirs.
COMMAND_PACKS = ("cluster", "diagnose", "drill", "emergency", "heal", "k8s", "load", "logs", "maintain",
                 "performance")


def default_packs() -> list[str]:
    names = sorted(p.stem for p in builtin_pack_dir().glob("*.yaml")
                   if p.stem not in OPT_IN_PACKS and p.stem not in COMMAND_PACKS)
    return sorted(names, key=lambda n: n != "host")


@dataclass
class MetricRule:
    metric: str  # a metric name or an fnmatch pattern such as "disk_used_percent:*"
    warning: Threshold | None = None
    critical: Threshold | None = None


@dataclass
class CheckSpec:
    id: str
    probe: str
    target: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    rules: list[MetricRule] = field(default_factory=list)
    timeout: float | None = None
    retries: int | None = None
    retry_delay: float | None = None
    tags: list[str] = field(default_factory=list)
    on_timeout: Status = Status.CRITICAL
    on_failure: Status = Status.CRITICAL
    # A failed measurement's status by its reason, before on_timeout/on_failure: "a worker up but not connected
    # (connect) is a warning", "a drill whose fault was observed as expected is OK".
    on_reason: dict[Reason, Status] = field(default_factory=dict)
    description: str = ""
    source: str = ""


ThresholdText = str | int | float


def make_spec(check_id: str, probe: str, *, warning: Mapping[str, ThresholdText] | None = None,
              critical: Mapping[str, ThresholdText] | None = None, on_failure: Status = Status.CRITICAL,
              on_timeout: Status = Status.CRITICAL, on_reason: Mapping[Reason, Status] | None = None,
              params: Mapping[str, Any] | None = None, tags: Sequence[str] = (), description: str = "",
              source: str = "", target: str | None = None) -> CheckSpec:
    """The one way to build a check spec in code, with thresholds written as in a pack ("> 80", "10:").
    A command whose thresholds come from its flags (`--max-errors 10`) puts them here, as data the judge
    reads, instead of comparing numbers itself."""
    return CheckSpec(id=check_id, probe=probe, target=target, params=dict(params or {}),
                     rules=_rules(warning, critical), on_failure=on_failure, on_timeout=on_timeout,
                     on_reason=dict(on_reason or {}), tags=list(tags), description=description, source=source)


def with_thresholds(spec: CheckSpec, *, warning: Mapping[str, ThresholdText] | None = None,
                    critical: Mapping[str, ThresholdText] | None = None) -> CheckSpec:
    """A copy of a pack's spec whose rules for the metrics named here are the ones given (written as in a
    pack): how a command's flags (`--max-errors 10,100`, `--p99-ms 250`) become thresholds the judge reads,
    replacing the pack's rule for that metric while the pack keeps the rest (its other rules, on_reason)."""
    given = _rules(warning, critical)
    named = {r.metric for r in given}
    return replace(spec, rules=[*(r for r in spec.rules if r.metric not in named), *given],
                   on_reason=dict(spec.on_reason), params=dict(spec.params), tags=list(spec.tags))


def _rules(warning: Mapping[str, ThresholdText] | None, critical: Mapping[str, ThresholdText] | None
           ) -> list[MetricRule]:
    rules: dict[str, MetricRule] = {}
    for level, table in (("warning", warning or {}), ("critical", critical or {})):
        for metric, text in table.items():
            rule = rules.setdefault(metric, MetricRule(metric))
            setattr(rule, level, Threshold.parse(text))
    return list(rules.values())


@dataclass
class PlannedCheck:
    spec: CheckSpec
    target: Target
    timeout: float
    retries: int
    retry_delay: float

    @property
    def id(self) -> str:
        return self.spec.id


def builtin_pack_dir(sub: str = "checks") -> Path:
    return Path(__file__).resolve().parent.parent / "packs" / sub


def pack_dirs(cfg: Config) -> list[Path]:
    return [*cfg.pack_dirs, builtin_pack_dir()]


def find_pack(name: str, cfg: Config) -> Path:
    """A pack by name (looked up in the config's pack_dirs, then the shipped ones) or by path."""
    why = pack_ref_problem(name)
    if why:
        raise ConfigError(why, path=cfg.path)
    if name.endswith((".yaml", ".yml")):
        base = Path(cfg.path).parent if cfg.path else Path.cwd()
        return (base / name) if not Path(name).is_absolute() else Path(name)
    for d in pack_dirs(cfg):
        for ext in (".yaml", ".yml"):
            p = d / f"{name}{ext}"
            if p.is_file():
                return p
    available = sorted({p.stem for d in pack_dirs(cfg) if d.is_dir() for p in d.glob("*.y*ml")})
    raise ConfigError(f"no check pack named {name!r} (available: {', '.join(available) or 'none'})",
                      path=cfg.path)


def load_pack(path: Path, registered: bool = True) -> list[CheckSpec]:
    """`registered=False` for a command pack, whose "probe" names what a command measures itself."""
    try:
        return _parse_pack(load_yaml_cached(path), path, registered)
    except ConfigError:
        return _parse_pack(load_yaml_file(path), path, registered)  # again from the YAML: the error names its line


def _parse_pack(doc: Any, path: Path, registered: bool = True) -> list[CheckSpec]:
    top = Fields(doc, "", path=str(path), line=1)
    top.str("pack")
    top.str("description")
    checks = top.get("checks", list, required=True)
    top.reject_unknown()
    return parse_checks(checks, str(path), registered=registered)


def command_specs(pack: str, cfg: Config | None = None) -> dict[str, CheckSpec]:
    """A command pack's checks by id: the shipped file, then each config pack_dir's file of the same name
    (in reverse order, so the first pack_dir wins), a check there replacing the shipped one of the same id."""
    if pack not in COMMAND_PACKS:
        raise ValueError(f"{pack!r} is not a command pack ({', '.join(COMMAND_PACKS)})")
    specs = {s.id: s for s in load_pack(builtin_pack_dir() / f"{pack}.yaml", registered=False)}
    for d in reversed(cfg.pack_dirs if cfg is not None else []):
        for ext in (".yaml", ".yml"):
            path = Path(d) / f"{pack}{ext}"
            if path.is_file():
                specs.update({s.id: s for s in load_pack(path, registered=False)})
    return specs


def parse_checks(nodes: list[Any], path: str, where: str = "checks", registered: bool = True) -> list[CheckSpec]:
    from agentops.core import registry

    specs = []
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        line = nodes.line_of(i) if isinstance(nodes, NodeList) else 0
        f = Fields(node, f"{where}[{i}]", path=path, line=line)
        spec = parse_check(f)
        if spec.id in seen:
            raise f.error("id", f"duplicate check id {spec.id!r}")
        seen.add(spec.id)
        if not registered:
            specs.append(spec)
            continue
        try:
            probe = registry.probe(spec.probe)
        except LookupError as exc:
            raise f.error("probe", str(exc)) from None
        try:
            probe.validate_params(spec.params)
        except ValueError as exc:
            raise f.error("params", str(exc)) from None
        specs.append(spec)
    return specs


def parse_check(f: Fields) -> CheckSpec:
    spec = CheckSpec(id=f.str("id", required=True) or "", probe=f.str("probe", required=True) or "")
    spec.source = f"{f.path}:{f.line}"
    spec.target = f.str("target")
    spec.params = dict(f.mapping("params"))
    spec.description = f.str("description", "") or ""
    spec.timeout = f.number("timeout", minimum=0.01, maximum=3600)
    spec.retries = f.int("retries", minimum=0, maximum=100)
    spec.retry_delay = f.number("retry_delay", minimum=0, maximum=3600)
    spec.tags = f.str_list("tags")
    for key in ("on_timeout", "on_failure"):
        value = f.str(key)
        if value is not None:
            try:
                status = Status.parse(value)
            except ValueError as exc:
                raise f.error(key, str(exc)) from None
            if status is Status.OK:
                # A failed measurement is never OK: it would hide an outage behind a green light.
                raise f.error(key, "must be warning, critical or unknown")
            setattr(spec, key, status)
    reasons = f.sub("on_reason")
    if reasons is not None:
        for name, value in reasons.node.items():
            try:
                spec.on_reason[Reason(str(name))] = Status.parse(str(value))
            except ValueError as exc:
                raise reasons.error(name, f"{exc} (reasons: {', '.join(r.value for r in Reason)})") from None
    levels: dict[str, dict[str, Threshold]] = {}
    for level in ("warning", "critical"):
        sub = f.sub(level)
        levels[level] = {}
        if sub is None:
            continue
        for metric, value in sub.node.items():
            try:
                levels[level][metric] = Threshold.parse(value)
            except ThresholdError as exc:
                raise sub.error(metric, str(exc)) from None
    for metric in dict.fromkeys([*levels["warning"], *levels["critical"]]):
        spec.rules.append(MetricRule(metric, levels["warning"].get(metric), levels["critical"].get(metric)))
    f.reject_unknown({"warning", "critical", "on_reason"})
    return spec


def select_targets(cfg: Config, selector: str | None, kinds: Sequence[str], *, what: str, actor: str,
                   source: str, verb: str = "measure", verb_s: str = "measures") -> list[Target]:
    """The one target selector language, of checks and of playbook steps alike: a target name, `kind:<kind>`,
    `*` (every target of the `kinds` the probe or step handles), or omitted (the same, except that a probe of
    this machine (`host` in kinds) takes this machine only). A named target must exist, and every selected
    target must be of one of `kinds`: ConfigError naming `what` ("check 'x'"), `actor` and the `source`."""
    path, _, line = source.rpartition(":")
    if not line.isdigit():
        path, line = source, ""
    if selector is None and "host" in kinds:
        found = [cfg.targets[LOCAL]]
    elif selector is None or selector == "*":
        found = [t for t in cfg.targets.values() if t.kind in kinds]
    elif selector.startswith("kind:"):
        found = [t for t in cfg.targets.values() if t.kind == selector[5:]]
    elif selector in cfg.targets:
        found = [cfg.targets[selector]]
    else:
        defined = ", ".join(t for t in cfg.targets if t != LOCAL) or "none"
        raise ConfigError(f"{what} names target {selector!r}, which the config does not define (defined: {defined})",
                          path=path, line=int(line) if line else None)
    for t in found:
        if t.kind not in kinds:
            raise ConfigError(f"{what}: {actor} cannot {verb} target {t.name!r} of kind {t.kind} (it {verb_s}: "
                              f"{', '.join(kinds)})", path=path)
    return found


def check_targets(spec: CheckSpec, cfg: Config) -> list[Target]:
    from agentops.core import registry

    return select_targets(cfg, spec.target, registry.probe(spec.probe).target_kinds, what=f"check {spec.id!r}",
                          actor=f"probe {spec.probe}", source=spec.source)


@dataclass
class Selection:
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"--{name} {','.join(values)}" for name, values in
                 (("only", self.only), ("skip", self.skip), ("tags", self.tags)) if values]
        return " ".join(parts)

    def wants(self, spec: CheckSpec, target: Target) -> bool:
        names = (spec.id, f"{spec.id}@{target.name}", spec.probe)
        if self.only and not any(fnmatch.fnmatchcase(n, pat) for pat in self.only for n in names):
            return False
        if any(fnmatch.fnmatchcase(n, pat) for pat in self.skip for n in names):
            return False
        return not self.tags or bool(set(self.tags) & set(spec.tags))


def load_specs(cfg: Config, packs: list[str] | None = None) -> list[CheckSpec]:
    names = packs if packs else (cfg.packs if cfg.packs is not None else
                                 (default_packs() if cfg.path else list(NO_CONFIG_PACKS)))
    specs: list[CheckSpec] = []
    seen: dict[str, str] = {}
    for name in names:
        if name in COMMAND_PACKS:
            raise ConfigError(f"{name!r} is a command pack (its checks judge what one command measures, such as a "
                              f"profile window or a load run), not a pack of health checks", path=cfg.path)
        for spec in load_pack(find_pack(name, cfg)):
            if spec.id in seen:
                raise ConfigError(f"check id {spec.id!r} is defined twice ({seen[spec.id]} and {spec.source})")
            seen[spec.id] = spec.source
            specs.append(spec)
    if cfg.checks:
        for spec in parse_checks(cfg.checks, cfg.path or "agentops.yaml"):
            if spec.id in seen:
                raise ConfigError(f"check id {spec.id!r} is defined twice ({seen[spec.id]} and {spec.source})")
            specs.append(spec)
    return specs


def plan(cfg: Config, specs: list[CheckSpec], selection: Selection | None = None,
         timeout_override: float | None = None) -> list[PlannedCheck]:
    selection = selection or Selection()
    planned = []
    for spec in specs:
        for target in check_targets(spec, cfg):
            if not selection.wants(spec, target):
                continue
            timeout = spec.timeout if spec.timeout is not None else cfg.defaults.timeout
            if timeout_override is not None:
                timeout = min(timeout, timeout_override)
            planned.append(PlannedCheck(
                spec=spec, target=target, timeout=timeout,
                retries=spec.retries if spec.retries is not None else cfg.defaults.retries,
                retry_delay=spec.retry_delay if spec.retry_delay is not None else cfg.defaults.retry_delay,
            ))
    return planned
