"""Playbooks: YAML files of maintenance steps, loaded and validated up front so every mistake is a one-line
`file:line: field: why` error (exit 3) before anything runs.

    playbook: daily                  # optional, defaults to the file name
    description: what it is for
    unattended: true                 # consent: destructive steps may run without a TTY and without --yes
    vars: {log_dir: /var/log/autogen}
    steps:
      - id: prune-logs               # unique; `when` conditions of later steps refer to it
        step: files.prune            # the step kind (core.registry / entry points `agentops.steps`)
        target: kind:redis           # steps acting on targets: a name, kind:<kind>, or omitted (all of the kind)
        params: {roots: ["${log_dir}"], older_than: 30d}
        when: "disk is ok"           # a condition or a list (all must hold), see maintain/when.py
        timeout: 10m
        continue_on_error: false
        tags: [logs]

`${name}` in any string is replaced by a var: the playbook's `vars`, overridden by `--var name=value`,
plus the built-ins `state_dir` and `playbook`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.config import Config
from agentops.core.packs import builtin_pack_dir
from agentops.core.units import parse_duration
from agentops.core.yamlsrc import ConfigError, Fields, Node, NodeList, load_yaml_file
from agentops.maintain.when import Condition, parse_condition

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# A playbook's name becomes file names (its lock, schedule units) and is matched against names on the
# command line: one safe path component, never `..` or a path.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass
class StepSpec:
    id: str
    kind: str
    target: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    when: list[Condition] = field(default_factory=list)
    timeout: float | None = None
    continue_on_error: bool = False
    description: str = ""
    tags: list[str] = field(default_factory=list)
    source: str = ""  # file:line


@dataclass
class Playbook:
    name: str
    path: Path
    description: str = ""
    unattended: bool = False
    vars: dict[str, str] = field(default_factory=dict)
    steps: list[StepSpec] = field(default_factory=list)


def playbook_dirs(cfg: Config) -> list[Path]:
    """Where playbooks are looked up by name, first match wins: `playbooks/` beside the config file, a
    `playbooks/` folder in each of the config's pack_dirs, then the shipped ones."""
    dirs: list[Path] = []
    if cfg.path:
        dirs.append(Path(cfg.path).parent / "playbooks")
    dirs += [d / "playbooks" for d in cfg.pack_dirs]
    dirs.append(builtin_pack_dir("playbooks"))
    return dirs


def find_playbook(name: str, cfg: Config) -> Path:
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return Path(name)
    if not _NAME_RE.match(name):  # checked before it is joined to any directory
        raise ConfigError(f"no playbook named {name[:100]!r}: a playbook name is letters, digits, '_', '.', '-' "
                          f"(or give the playbook's path)")
    for d in playbook_dirs(cfg):
        for ext in (".yaml", ".yml"):
            p = d / f"{name}{ext}"
            if p.is_file():
                return p
    available = sorted({p.stem for p in list_playbooks(cfg)})
    raise ConfigError(f"no playbook named {name!r} (available: {', '.join(available) or 'none'})")


def list_playbooks(cfg: Config) -> list[Path]:
    """Every playbook file reachable by name, a name shadowed by an earlier directory listed once."""
    seen: dict[str, Path] = {}
    for d in playbook_dirs(cfg):
        if d.is_dir():
            for p in sorted(d.glob("*.y*ml")):
                seen.setdefault(p.stem, p)
    return sorted(seen.values(), key=lambda p: p.stem)


def load_playbook(path: str | Path, *, overrides: dict[str, str] | None = None,
                  builtins: dict[str, str] | None = None) -> Playbook:
    from agentops.core import registry

    path = Path(path)
    doc = load_yaml_file(path)
    if doc is None:
        raise ConfigError("file is empty", path=path)
    top = Fields(doc, "", path=str(path), line=1)
    pb = Playbook(name=top.str("playbook") or path.stem, path=path)
    if not _NAME_RE.match(pb.name):
        raise top.error("playbook", f"playbook name {pb.name[:100]!r} must be 1-100 letters, digits, '_', '.', "
                                    f"'-', starting with a letter or digit (it names files)")
    pb.description = top.str("description", "") or ""
    pb.unattended = top.bool("unattended", False)
    raw_vars = top.sub("vars")
    if raw_vars:
        for key, value in raw_vars.node.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise raw_vars.error(key, "a var is a string or a number")
            pb.vars[key] = str(value)
    unknown = sorted(set(overrides or {}) - set(pb.vars))
    if unknown:
        raise ConfigError(f"--var {unknown[0]}: the playbook defines no var {unknown[0]!r} "
                          f"(it defines: {', '.join(pb.vars) or 'none'})", path=path)
    variables = {**(builtins or {}), "playbook": pb.name, **pb.vars, **(overrides or {})}
    steps = top.get("steps", list, required=True)
    top.reject_unknown()
    if not steps:
        raise top.error("steps", "a playbook needs at least one step")

    seen: set[str] = set()
    for i, node in enumerate(steps):
        line = steps.line_of(i) if isinstance(steps, NodeList) else 0
        f = Fields(_substitute(node, variables, str(path), line), f"steps[{i}]", path=str(path), line=line)
        spec = _parse_step(f, seen)
        step = registry.validated_step(f, registry.step, spec.kind, spec.params)
        if spec.target is not None and not step.target_kinds:
            raise f.error("target", f"step {spec.kind} acts on this machine and takes no target")
        seen.add(spec.id)
        pb.steps.append(spec)
    return pb


def _parse_step(f: Fields, earlier: set[str]) -> StepSpec:
    spec = StepSpec(id=f.str("id", required=True) or "", kind=f.str("step", required=True) or "")
    spec.source = f"{f.path}:{f.line}"
    if not _ID_RE.match(spec.id):
        raise f.error("id", f"step id {spec.id!r} must be letters, digits, '_', '.', '-'")
    if spec.id in earlier:
        raise f.error("id", f"duplicate step id {spec.id!r}")
    spec.target = f.str("target")
    spec.params = f.mapping("params")
    spec.description = f.str("description", "") or ""
    spec.continue_on_error = f.bool("continue_on_error", False)
    spec.tags = f.str_list("tags")
    raw_timeout = f.get("timeout", (str, int, float))
    if raw_timeout is not None:
        try:
            spec.timeout = parse_duration(raw_timeout)
        except ValueError as exc:
            raise f.error("timeout", str(exc)) from None
        if not 0 < spec.timeout <= 86400:
            raise f.error("timeout", f"must be more than 0 and at most 1d, got {raw_timeout}")
    for text in f.str_list("when"):
        try:
            cond = parse_condition(text)
        except ValueError as exc:
            raise f.error("when", str(exc)) from None
        ref = cond.refers_to()
        if ref is not None and ref not in earlier:
            raise f.error("when", f"condition {cond.text!r} refers to step {ref!r}, which is not an earlier "
                                  f"step of this playbook")
        spec.when.append(cond)
    f.reject_unknown({"id", "step", "target", "params", "description", "continue_on_error", "tags", "timeout",
                      "when"})
    return spec


def _substitute(value: Any, variables: dict[str, str], path: str, line: int) -> Any:
    """Replace ${name} in every string of a step, keeping the located node types for error lines."""
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in variables:
                raise ConfigError(f"unknown var ${{{name}}} (defined: {', '.join(sorted(variables))})",
                                  path=path, line=line)
            return variables[name]

        return _VAR_RE.sub(repl, value)
    if isinstance(value, dict):
        out = Node()
        out.path = getattr(value, "path", path)
        out.line = getattr(value, "line", line)
        out.key_lines = dict(getattr(value, "key_lines", {}))
        for k, v in value.items():
            out[k] = _substitute(v, variables, path, value.line_of(k) if isinstance(value, Node) else line)
        return out
    if isinstance(value, list):
        items = NodeList(_substitute(v, variables, path, value.line_of(i) if isinstance(value, NodeList) else line)
                         for i, v in enumerate(value))
        items.path = getattr(value, "path", path)
        items.line = getattr(value, "line", line)
        items.item_lines = list(getattr(value, "item_lines", []))
        return items
    return value
