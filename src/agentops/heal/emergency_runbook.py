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
from agentops.core.yamlsrc import ConfigError
from agentops.heal.runbook import RunbookStep, load_runbook, runbook_dirs

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

    rb = load_runbook(path, modes=TYPES)
    mode = rb.modes.get(incident)
    if mode is None:
        raise ConfigError(f"modes: the runbook of emergency {incident!r} needs a mode {incident!r}", path=path)
    return EmergencyRunbook(incident=incident, path=path, description=rb.description, steps=list(mode.steps))
