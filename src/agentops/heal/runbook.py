"""Runbooks: YAML files mapping a verdict's failure mode to ordered remedies, loaded and validated up front
(`file:line: field: why`, exit 3).

    runbook: worker                       # optional, defaults to the file name
    description: what it is for
    modes:
      worker-frozen:                      # a failure mode of the diagnosis (diagnose/knowledge.py MODES)
        steps:                            # tried in order: the next only when the diagnosis after the
          - id: resume                    # previous one still finds the target broken (escalation)
            step: worker.resume           # the step kind (core.registry.heal_step / `agentops.heal_steps`)
            params: {}
            timeout: 30s                  # for apply (default: the step's own)
            verify_within: 20s            # how long the diagnosis may take to find it healthy (default 60s)
          - {id: restart, step: worker.restart}
      host-restarted:
        breaker: false                    # one cause for every worker: not counted by the blast-radius breaker
        steps: [...]

Where runbooks are found, first match per mode wins: the config's `heal.runbook_dirs`, `runbooks/` beside
the config file, then the shipped ones (`agentops/packs/runbooks`, a link to the repo's `runbooks/`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.config import Config
from agentops.core.packs import builtin_pack_dir
from agentops.core.yamlsrc import ConfigError, Fields, NodeList, load_yaml_file
from agentops.heal.fields import duration_field

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
DEFAULT_VERIFY_S = 60.0


@dataclass
class RunbookStep:
    id: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    verify_within: float = DEFAULT_VERIFY_S
    source: str = ""  # file:line

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "step": self.kind, "params": dict(self.params), "timeout": self.timeout,
                "verify_within": self.verify_within, "source": self.source}


@dataclass
class ModeRunbook:
    """The remedies of one failure mode, in escalation order."""

    mode: str
    runbook: str
    path: Path
    steps: list[RunbookStep]
    breaker: bool = True  # counted by the blast-radius breaker
    description: str = ""


@dataclass
class Runbook:
    name: str
    path: Path
    description: str = ""
    modes: dict[str, ModeRunbook] = field(default_factory=dict)


@dataclass
class RunbookSet:
    """Every mode's runbook, first directory first; `for_mode` is the one heal uses."""

    runbooks: list[Runbook] = field(default_factory=list)

    def for_mode(self, mode: str) -> ModeRunbook | None:
        for rb in self.runbooks:
            if mode in rb.modes:
                return rb.modes[mode]
        return None

    def modes(self) -> list[str]:
        return sorted({m for rb in self.runbooks for m in rb.modes})


def runbook_dirs(cfg: Config) -> list[Path]:
    from agentops.heal.policy import heal_policy

    dirs = list(heal_policy(cfg).runbook_dirs)
    if cfg.path:
        dirs.append(Path(cfg.path).parent / "runbooks")
    dirs.append(builtin_pack_dir("runbooks"))
    return dirs


def load_runbooks(cfg: Config) -> RunbookSet:
    """Every *.yaml directly in each runbook dir (not recursive: runbooks/emergency/ belongs to `emergency`)."""
    out = RunbookSet()
    seen: set[Path] = set()
    for d in runbook_dirs(cfg):
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.y*ml")):
            if p.resolve() in seen:
                continue
            seen.add(p.resolve())
            out.runbooks.append(load_runbook(p))
    return out


def load_runbook(path: str | Path, modes: Collection[str] | None = None) -> Runbook:
    """`modes`: the names a runbook may map (default: the diagnosis' failure modes; `emergency` passes its
    incident types)."""
    if modes is None:
        from agentops.diagnose.knowledge import MODES

        modes = set(MODES)
    path = Path(path)
    doc = load_yaml_file(path)
    if doc is None:
        raise ConfigError("file is empty", path=path)
    top = Fields(doc, "", path=str(path), line=1)
    rb = Runbook(name=top.str("runbook") or path.stem, path=path, description=top.str("description", "") or "")
    if not _ID_RE.match(rb.name):
        raise top.error("runbook", f"runbook name {rb.name[:100]!r} must be letters, digits, '_', '.', '-'")
    raw = top.sub("modes")
    top.reject_unknown({"runbook", "description", "modes"})
    if raw is None or not raw.node:
        raise top.error("modes", "a runbook maps at least one failure mode to steps")
    for mode in raw.node:
        if mode not in modes:
            raise raw.error(mode, f"unknown failure mode {mode!r} (known: {', '.join(sorted(modes))})")
        rb.modes[mode] = _parse_mode(raw.sub(mode) or raw, f"modes.{mode}", mode, rb)
    return rb


def _parse_mode(f: Fields, where: str, mode: str, rb: Runbook) -> ModeRunbook:
    steps = f.get("steps", list, required=True)
    out = ModeRunbook(mode=mode, runbook=rb.name, path=rb.path, steps=[], breaker=f.bool("breaker", True),
                      description=f.str("description", "") or "")
    f.reject_unknown({"steps", "breaker", "description"})
    if not steps:
        raise f.error("steps", "needs at least one step")
    seen: set[str] = set()
    for i, node in enumerate(steps):
        line = steps.line_of(i) if isinstance(steps, NodeList) else f.line
        out.steps.append(_parse_step(Fields(node, f"{where}.steps[{i}]", path=f.path, line=line), seen))
    return out


def _parse_step(f: Fields, seen: set[str]) -> RunbookStep:
    from agentops.core import registry

    spec = RunbookStep(id=f.str("id", required=True) or "", kind=f.str("step", required=True) or "",
                       source=f"{f.path}:{f.line}")
    if not _ID_RE.match(spec.id):
        raise f.error("id", f"step id {spec.id!r} must be letters, digits, '_', '.', '-'")
    if spec.id in seen:
        raise f.error("id", f"duplicate step id {spec.id!r}")
    seen.add(spec.id)
    spec.params = f.mapping("params")
    spec.timeout = duration_field(f, "timeout")
    spec.verify_within = duration_field(f, "verify_within") or DEFAULT_VERIFY_S
    f.reject_unknown({"id", "step", "params", "timeout", "verify_within"})
    registry.validated_step(f, registry.heal_step, spec.kind, spec.params)
    return spec

