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
from agentops.core.units import parse_duration
from agentops.core.yamlsrc import Fields

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
    pol.window_s = _duration(f, "window", pol.window_s, allow_zero=False)
    pol.backoff_s = _duration(f, "backoff", pol.backoff_s, allow_zero=True)
    pol.deadline_s = _duration(f, "deadline", pol.deadline_s, allow_zero=False)
    pol.interval_s = _duration(f, "interval", pol.interval_s, allow_zero=False)
    pause = f.str("pause_file")
    pol.pause_file = (base / pause) if pause else None
    f.reject_unknown(POLICY_KEYS)
    return pol


def _duration(f: Fields, key: str, default: float, *, allow_zero: bool) -> float:
    raw = f.get(key, (str, int, float))
    if raw is None:
        return default
    try:
        value = parse_duration(raw)
    except ValueError as exc:
        raise f.error(key, str(exc)) from None
    if value < 0 or (value == 0 and not allow_zero) or value > 7 * 86400:
        raise f.error(key, f"must be {'0' if allow_zero else 'more than 0'} to 7d, got {raw}")
    return value
