"""What heal acts on: one configured worker, its verdict, and how it may be restarted.

A worker target says how heal may act on it under `options.heal` (validated here, file:line errors):

    - name: w1
      kind: worker
      options:
        unit: agents-w1.service             # systemd: worker.restart_unit uses the worker's own `unit`
        heal:
          probe_type: echo                  # the type whose diagnosis tells whether w1 works (default: its first)
          restart_command: ["/srv/agents/start-w1.sh"]   # a list of arguments, or one string split like a shell
          restart_timeout: 60s
          kubernetes: {deployment: agents/worker-w1, kubeconfig: ~/.kube/config, context: prod}
          standby: w1-standby               # a worker target to fail over to (its own restart_command)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from agentops.core.cluster import WorkerSpec, worker_spec
from agentops.core.config import Config, Target
from agentops.core.model import Finding, Status
from agentops.core.yamlsrc import ConfigError, Fields
from agentops.heal.fields import duration_field

HEAL_OPTIONS = {"probe_type", "restart_command", "restart_timeout", "kubernetes", "standby"}
KUBE_OPTIONS = {"deployment", "kubeconfig", "context", "timeout"}


@dataclass(frozen=True)
class KubeRef:
    namespace: str
    deployment: str
    kubeconfig: str | None = None
    context: str | None = None
    timeout: float = 10.0


@dataclass
class WorkerHeal:
    probe_type: str | None = None
    restart_command: list[str] = field(default_factory=list)
    restart_timeout: float = 60.0
    kubernetes: KubeRef | None = None
    standby: str | None = None


@dataclass
class Verdict:
    """The diagnosis' headline for one worker: its failure mode and the words and evidence behind it."""

    mode: str
    status: Status
    title: str
    cause: str = ""
    evidence: list[str] = field(default_factory=list)
    fix: str = ""

    @classmethod
    def from_finding(cls, f: Finding) -> Verdict:
        return cls(mode=f.id, status=f.status, title=f.title, cause=f.cause, evidence=list(f.evidence), fix=f.fix)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "status": self.status.label, "title": self.title, "cause": self.cause,
                "evidence": list(self.evidence), "fix": self.fix}


@dataclass
class HealTarget:
    name: str
    target: Target
    worker: WorkerSpec
    options: WorkerHeal
    verdict: Verdict | None = None

    @property
    def probe_type(self) -> str | None:
        return self.options.probe_type or (self.worker.agent_types[0] if self.worker.agent_types else None)


def worker_heal(target: Target) -> WorkerHeal:
    raw = target.options.get("heal")
    if raw is None:
        return WorkerHeal()
    f = Fields(raw, f"targets.{target.name}.options.heal", path=target.where.rsplit(":", 1)[0],
               line=getattr(raw, "line", 0) or _line(target.where))
    opts = WorkerHeal(probe_type=f.str("probe_type"), standby=f.str("standby"))
    command = f.get("restart_command", (str, list))
    if isinstance(command, str):
        try:
            opts.restart_command = shlex.split(command)
        except ValueError as exc:
            raise f.error("restart_command", f"cannot split {command!r}: {exc}") from None
    elif command is not None:
        if not all(isinstance(a, str) for a in command):
            raise f.error("restart_command", "every argument is a string")
        opts.restart_command = list(command)
    if command is not None and not opts.restart_command:
        raise f.error("restart_command", "is empty")
    opts.restart_timeout = duration_field(f, "restart_timeout") or opts.restart_timeout
    kube = f.sub("kubernetes")
    if kube is not None:
        ref = kube.str("deployment", required=True) or ""
        namespace, _, name = ref.partition("/")
        if not namespace or not name or "/" in name:
            raise kube.error("deployment", f"expected namespace/name, got {ref!r}")
        opts.kubernetes = KubeRef(namespace=namespace, deployment=name, kubeconfig=kube.str("kubeconfig"),
                                  context=kube.str("context"),
                                  timeout=kube.number("timeout", 10.0, minimum=0.1, maximum=600) or 10.0)
        kube.reject_unknown(KUBE_OPTIONS)
    f.reject_unknown(HEAL_OPTIONS)
    return opts



def _line(where: str) -> int:
    tail = where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def heal_targets(cfg: Config, only: list[str] | None = None) -> list[HealTarget]:
    """Every worker target (or those named in `only`), in config order; ConfigError for an unknown name."""
    workers = cfg.targets_of("worker")
    if only:
        known = {t.name for t in workers}
        missing = [n for n in only if n not in known]
        if missing:
            raise ConfigError(f"no worker target named {missing[0]!r} (workers: {', '.join(sorted(known)) or 'none'})",
                              path=cfg.path)
        workers = [t for t in workers if t.name in only]
    return [HealTarget(name=t.name, target=t, worker=worker_spec(t), options=worker_heal(t)) for t in workers]
