"""The `serve:` section of agentops.yaml: what only the long-running process does. Today: the diagnoses it runs
on an interval, each verdict exported on /metrics and in /report.

    serve:
      diagnoses:
        - agent_type: echo         # the type `agentops diagnose message --to` would name
          key: agentops-probe      # optional: the agent key (diagnose's default)
          host: lab-host           # optional: the agentrpc target (default: the config's one)
          interval: 60             # seconds between diagnoses (default 60)
          deadline: 5              # optional: one diagnosis' deadline (diagnose's default)

Read when the plan loads (so a bad section at a reload keeps the old plan), with file:line errors."""

from __future__ import annotations

from dataclasses import dataclass

from agentops.core.config import Config
from agentops.core.yamlsrc import ConfigError, Fields, NodeList

DIAGNOSIS_INTERVAL_S = 60.0


@dataclass(frozen=True)
class DiagnosisSpec:
    agent_type: str
    key: str | None = None  # None: the diagnosis' default key
    host: str | None = None  # an agentrpc target's name; None: the config's one
    interval_s: float = DIAGNOSIS_INTERVAL_S
    deadline_s: float | None = None  # None: the diagnosis' default deadline

    @property
    def name(self) -> str:
        """How logs and /report name it: TYPE or TYPE/KEY, with @HOST when a host is named."""
        return self.agent_type + (f"/{self.key}" if self.key else "") + (f"@{self.host}" if self.host else "")


def diagnosis_specs(cfg: Config) -> list[DiagnosisSpec]:
    if cfg.sections.get("serve") is None:
        return []
    section = Fields(cfg.sections["serve"], "serve", path=cfg.path or "")
    raw = section.get("diagnoses", list, [])
    section.reject_unknown({"diagnoses"})
    specs: list[DiagnosisSpec] = []
    hosts = {t.name for t in cfg.targets_of("agentrpc")}
    for i, node in enumerate(raw):
        line = raw.line_of(i) if isinstance(raw, NodeList) else section.line
        f = Fields(node, f"serve.diagnoses[{i}]", path=cfg.path or "", line=line)
        agent_type = (f.str("agent_type", required=True) or "").strip()
        if not agent_type or any(c in agent_type for c in ":/ "):
            raise f.error("agent_type", f"not an agent type: {agent_type!r}")
        host = f.str("host")
        if host is not None and host not in hosts:
            raise f.error("host", f"no agentrpc target named {host!r} in the config")
        if host is None and len(hosts) != 1:
            raise f.error(None, "a diagnosis needs an agentrpc target in the config" if not hosts else
                          f"the config has {len(hosts)} agentrpc targets: name one with host:")
        spec = DiagnosisSpec(agent_type=agent_type, key=f.str("key") or None, host=host,
                             interval_s=f.number("interval", DIAGNOSIS_INTERVAL_S, minimum=0.05, maximum=86400)
                             or DIAGNOSIS_INTERVAL_S,
                             deadline_s=f.number("deadline", None, minimum=0.1, maximum=600))
        f.reject_unknown()
        if any(s.name == spec.name for s in specs):
            raise ConfigError(f"diagnosis {spec.name} is listed twice", path=cfg.path, line=line,
                              field=f"serve.diagnoses[{i}]")
        specs.append(spec)
    return specs
