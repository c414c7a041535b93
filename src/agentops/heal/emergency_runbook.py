"""Where an incident type's runbook is found, and reading it in heal's runbook format.

An emergency runbook is a heal runbook whose mode is the incident type:

    runbook: emergency-cascade
    description: ...
    modes:
      cascade:
        steps:
          - {id: isolate, step: emergency.isolate, params: {signal: term}}

looked up as `emergency/<type>.yaml` in heal's runbook directories (the config's heal.runbook_dirs, runbooks/
beside the config, the shipped runbooks/), first found wins. heal's engine tries steps in turn (escalation);
emergency runs them all in order (protective actions, docs/emergency.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agentops.core.config import Config
from agentops.core.yamlsrc import ConfigError, Fields, load_yaml_file
from agentops.heal.runbook import Runbook, RunbookStep, _parse_mode, runbook_dirs

SUBDIR = "emergency"


@dataclass
class EmergencyRunbook:
    incident: str
    path: Path
    description: str = ""
    steps: list[RunbookStep] = field(default_factory=list)


def runbook_paths(incident: str, cfg: Config) -> list[Path]:
    return [d / SUBDIR / f"{incident}{ext}" for d in runbook_dirs(cfg) for ext in (".yaml", ".yml")]


def find_runbook(incident: str, cfg: Config) -> EmergencyRunbook:
    from agentops.heal.emergency_detect import TYPES

    if incident not in TYPES:
        raise ConfigError(f"unknown emergency type {incident!r} (known: {', '.join(TYPES)})")
    for path in runbook_paths(incident, cfg):
        if path.is_file():
            return read_runbook(path, incident)
    raise ConfigError(f"no runbook for emergency {incident!r} (looked for emergency/{incident}.yaml in "
                      f"{', '.join(str(d) for d in runbook_dirs(cfg))})")


def read_runbook(path: Path, incident: str) -> EmergencyRunbook:
    from agentops.heal.emergency_detect import TYPES

    doc = load_yaml_file(path)
    if doc is None:
        raise ConfigError("file is empty", path=path)
    top = Fields(doc, "", path=str(path), line=1)
    rb = Runbook(name=top.str("runbook") or path.stem, path=path, description=top.str("description", "") or "")
    modes = top.sub("modes")
    top.reject_unknown({"runbook", "description", "modes"})
    if modes is None or incident not in modes.node:
        raise top.error("modes", f"the runbook of emergency {incident!r} needs a mode {incident!r}")
    for mode in modes.node:
        if mode not in TYPES:
            raise modes.error(mode, f"unknown incident type {mode!r} (known: {', '.join(TYPES)})")
    # heal's own mode parser (steps, params validated by each step plugin, file:line errors); heal's
    # load_runbook checks modes against the diagnosis' failure modes, which incident types are not.
    mode_rb = _parse_mode(modes.sub(incident) or modes, f"modes.{incident}", incident, rb)
    return EmergencyRunbook(incident=incident, path=path, description=rb.description, steps=list(mode_rb.steps))
