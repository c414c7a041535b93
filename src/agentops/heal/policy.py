"""heal's policy: the `heal:` section of agentops.yaml (every key optional).

    heal:
      runbook_dirs: [runbooks]   # looked up before the shipped runbooks (relative to the config file)
      unattended: false          # true: `heal --apply` acts without a TTY and without --yes (cron, --watch)
      window: 1h                 # attempts per target are counted over this window (the budget itself,
                                 # 3 as shipped, is the check heal.attempts in checks/heal.yaml)
      backoff: 1m                # wait after an attempt before the next on the same target, doubled each time
      pause_file: /var/lib/agentops/heal/PAUSE   # while it exists, heal plans but never acts
      deadline: 5s               # per diagnosis (the first look and every verification)
      interval: 1m               # `heal --watch`: time between two rounds

How many attempts, and how large a share of unhealthy workers trips the breaker, are thresholds: they live in
the heal command pack (checks/heal.yaml), overridable from the config's pack_dirs, judged by core.evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agentops.core.config import Config
from agentops.core.yamlsrc import Fields
from agentops.heal.fields import duration_field

POLICY_KEYS = {"runbook_dirs", "unattended", "window", "backoff", "pause_file", "deadline", "interval"}
PAUSE_FILE = "PAUSE"


@dataclass
class HealPolicy:
    runbook_dirs: list[Path] = field(default_factory=list)
    unattended: bool = False
    window_s: float = 3600.0
    backoff_s: float = 60.0
    pause_file: Path | None = None  # None: <heal state dir>/PAUSE
    deadline_s: float = 5.0
    interval_s: float = 60.0

    def pause_path(self, heal_dir: Path) -> Path:
        return self.pause_file or heal_dir / PAUSE_FILE


def heal_policy(cfg: Config) -> HealPolicy:
    raw = cfg.sections.get("heal")
    if raw is None:
        return HealPolicy()
    f = Fields(raw, "heal", path=cfg.path or "", line=getattr(raw, "line", 0))
    base = Path(cfg.path).parent if cfg.path else Path.cwd()
    pol = HealPolicy(runbook_dirs=[base / d for d in f.str_list("runbook_dirs")],
                     unattended=f.bool("unattended", False))
    pol.window_s = duration_field(f, "window", most_days=7) or pol.window_s
    backoff = duration_field(f, "backoff", zero_ok=True, most_days=7)
    pol.backoff_s = pol.backoff_s if backoff is None else backoff
    pol.deadline_s = duration_field(f, "deadline") or pol.deadline_s
    pol.interval_s = duration_field(f, "interval", most_days=7) or pol.interval_s
    pause = f.str("pause_file")
    pol.pause_file = (base / pause) if pause else None
    f.reject_unknown(POLICY_KEYS)
    return pol

