"""The state directory: where maintenance keeps its locks, audit log and baselines.

First found wins: `--state-dir`, $AGENTOPS_STATE_DIR, the config's `state_dir`, /var/lib/agentops when
running as root and /var/lib is writable (a system cron job), else $XDG_STATE_HOME/agentops
(~/.local/state/agentops). `health` and `diagnose` find baselines through the same rule.
"""

from __future__ import annotations

import os
from pathlib import Path

from agentops.core.config import Config
from agentops.core.yamlsrc import ConfigError

STATE_ENV = "AGENTOPS_STATE_DIR"
SYSTEM_STATE_DIR = Path("/var/lib/agentops")


def state_dir_for(cfg: Config | None, explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env)
    if cfg is not None and cfg.state_dir is not None:
        return Path(cfg.state_dir)
    if os.geteuid() == 0 and os.access(SYSTEM_STATE_DIR.parent, os.W_OK):
        return SYSTEM_STATE_DIR
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "agentops"


def ensure_state_dir(path: Path) -> Path:
    """Create it (owner-only: the audit log says what ran where) or fail with a one-line ConfigError."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"cannot create state directory {path}: {exc.strerror or exc}") from None
    if not path.is_dir():
        raise ConfigError(f"state directory {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"state directory {path} is not writable (use --state-dir or state_dir in the config)")
    return path
