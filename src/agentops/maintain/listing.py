"""The rows of `maintain list` (playbooks, step types) and `maintain show` (a playbook's plan here): plain data
for the listing documents (render.listing); their table view is render/presenters/maintain.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentops.core.config import Config
    from agentops.maintain.engine import PlannedStep
    from agentops.maintain.playbook import Playbook


def playbook_rows(cfg: Config) -> list[dict[str, Any]]:
    from agentops.core.yamlsrc import ConfigError
    from agentops.maintain.playbook import list_playbooks, load_playbook

    rows = []
    for path in list_playbooks(cfg):
        try:
            pb = load_playbook(path, builtins={"state_dir": ""})
            rows.append({"name": path.stem, "steps": len(pb.steps), "description": pb.description,
                         "path": str(path)})
        except ConfigError as exc:  # one broken playbook must not hide the others
            rows.append({"name": path.stem, "steps": None, "description": f"INVALID: {exc}", "path": str(path)})
    return rows


def step_rows() -> list[dict[str, Any]]:
    from agentops.core import registry

    rows = []
    for kind in registry.step_kinds():
        step = registry.step(kind)
        rows.append({"name": kind, "targets": ", ".join(step.target_kinds) or "this machine",
                     "destructive": step.destructive, "description": step.description,
                     "params": dict(step.params_doc)})
    return rows


def plan_document(pb: Playbook, plan: list[PlannedStep]) -> dict[str, Any]:
    steps = [{
        "id": p.spec.id, "step": p.spec.kind,
        "targets": [t.name if t else "local" for t in p.targets] if p.targets else [],
        "when": [c.text for c in p.spec.when], "timeout_s": p.timeout,
        "continue_on_error": p.spec.continue_on_error, "destructive": p.step.destructive,
        "params": p.spec.params, "source": p.spec.source,
    } for p in plan]
    return {"playbook": pb.name, "path": str(pb.path), "description": pb.description,
            "unattended": pb.unattended, "vars": pb.vars, "steps": steps}
