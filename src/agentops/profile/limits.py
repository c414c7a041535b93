"""Where a worker stops being healthy: the checks `profile` and `diagnose performance` judge by.

The thresholds are data, the shipped command pack `checks/performance.yaml` (overridable by id from a
config's pack_dirs, like any pack); this module only names the checks the code judges each observation by.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from agentops.core.config import Config
from agentops.core.packs import CheckSpec, command_specs
from agentops.core.thresholds import Threshold


@dataclass(frozen=True)
class Limits:
    cpu: CheckSpec
    memory: CheckSpec
    memory_trend: CheckSpec
    fds: CheckSpec
    io: CheckSpec
    activity: CheckSpec
    agent_metrics: CheckSpec
    agent_type: CheckSpec
    load_latency: CheckSpec
    process: CheckSpec
    concurrency: CheckSpec
    alive: CheckSpec
    event_loop: CheckSpec

    @classmethod
    def load(cls, cfg: Config | None = None) -> Limits:
        """The performance pack as shipped, with the config's pack_dirs' overrides (ConfigError if bad)."""
        specs = command_specs("performance", cfg)
        ids = {"cpu": "profile.cpu", "memory": "profile.memory", "memory_trend": "profile.memory_trend",
               "fds": "profile.fds", "io": "profile.io", "activity": "profile.activity",
               "agent_metrics": "profile.agent_metrics", "agent_type": "performance.agent_type",
               "load_latency": "performance.load_latency", "process": "performance.process",
               "concurrency": "performance.concurrency", "alive": "profile.alive",
               "event_loop": "profile.event_loop"}
        missing = [i for i in ids.values() if i not in specs]
        if missing:
            raise ValueError(f"the performance pack lacks {', '.join(missing)}")
        return cls(**{attr: specs[check_id] for attr, check_id in ids.items()})

    @property
    def process_specs(self) -> tuple[CheckSpec, ...]:
        return (self.cpu, self.memory, self.memory_trend, self.fds, self.io, self.activity, self.alive)


@lru_cache(maxsize=1)
def shipped() -> Limits:
    return Limits.load(None)


def threshold_of(spec: CheckSpec, metric: str, level: str = "warning") -> Threshold | None:
    rule = next((r for r in spec.rules if r.metric == metric), None)
    return getattr(rule, level) if rule else None
