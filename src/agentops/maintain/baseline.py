"""Baselines: what "normal" looks like for each check's metrics, written by the `baseline.update` maintenance
step and read by `health` and `diagnose` to say "3x the usual" rather than only "above 80".

File: <state_dir>/baselines/<name>.json (state dir: see maintain/state.py), written atomically:

    {
      "schema": "agentops.baseline/v1",
      "name": "default", "cluster": "prod", "host": "app-1",
      "updated_at": "2026-11-21T03:00:02Z",
      "keep_days": 14,
      "days": {                                  # one sample per day, the latest run of that day wins
        "2026-11-21": {"<check>@<target>": {"metrics": {"used_memory": 1048576.0, ...}, "status": "OK"}}
      },
      "checks": {                                # the baseline proper: per metric, the median over the days
        "<check>@<target>": {"check": "redis.memory", "target": "redis-main", "probe": "redis",
                             "metrics": {"used_memory": 1000000.0}, "samples": 9, "last_status": "OK"}
      }
    }

API for other commands (small on purpose):
    load_baseline(state_dir=None, name="default", cfg=None) -> Baseline | None   (None: no baseline yet)
    read_baseline(path) -> Baseline | None                                          (a file named directly)
    Baseline.value(check_id, target, metric) -> float | None
    Baseline.compare(results, tolerance_percent=50.0) -> list[Deviation]           (metrics far from usual)
    Baseline.annotate(results, tolerance_percent=50.0) -> list[Deviation]          (and facts["baseline"])
A corrupt or foreign file raises ConfigError (one line naming the file), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.config import Config
from agentops.core.files import FileProblem, read_text, write_file
from agentops.core.format import utc_stamp
from agentops.core.model import Result
from agentops.core.yamlsrc import ConfigError
from agentops.maintain.state import state_dir_for

SCHEMA = "agentops.baseline/v1"
DEFAULT_NAME = "default"
DEFAULT_KEEP_DAYS = 14


@dataclass
class Deviation:
    check: str
    target: str
    metric: str
    baseline: float
    current: float

    @property
    def ratio(self) -> float:
        return self.current / self.baseline if self.baseline else float("inf")

    @property
    def change_percent(self) -> float | None:
        """Signed change from the baseline in percent; None when the baseline is 0 and now is not."""
        if self.baseline == 0:
            return 0.0 if self.current == 0 else None
        return round(100.0 * (self.current - self.baseline) / abs(self.baseline), 1)

    def beyond(self, tolerance_percent: float) -> bool:
        change = self.change_percent
        return change is None or abs(change) > tolerance_percent

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "now": self.current, "change_percent": self.change_percent}

    def describe(self) -> str:
        change = self.change_percent
        moved = "from 0" if change is None else f"{change:+g}%"
        return f"{self.check}@{self.target} {self.metric}={self.current:g} (usually {self.baseline:g}, {moved})"


@dataclass
class Baseline:
    name: str
    path: Path
    updated_at: str = ""
    cluster: str = ""
    host: str = ""
    keep_days: int = DEFAULT_KEEP_DAYS
    days: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def value(self, check_id: str, target: str, metric: str) -> float | None:
        entry = self.checks.get(f"{check_id}@{target}")
        if not entry:
            return None
        v = entry.get("metrics", {}).get(metric)
        return float(v) if isinstance(v, int | float) else None

    def _entry_for(self, result: Result) -> dict[str, Any] | None:
        """The stored figures for this result: by check id and target, else the one entry measured by the same
        probe on the same target (a diagnosis names its layers differently from the health pack, e.g.
        machine.cpu vs host.cpu, but measures the same thing)."""
        entry = self.checks.get(f"{result.id}@{result.target}")
        if entry is not None:
            return entry
        same = [e for e in self.checks.values() if e.get("probe") == result.probe and e.get("target") == result.target]
        return same[0] if len(same) == 1 else None

    def deviations(self, result: Result) -> list[Deviation]:
        """Every metric of the result that has a baseline value, moved or not."""
        out = []
        entry = self._entry_for(result) or {}
        stored = entry.get("metrics", {})
        for metric, current in result.metrics.items():
            value = stored.get(metric)
            base = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
            if base is not None and current == current:
                out.append(Deviation(result.id, result.target, metric, base, current))
        return out

    def compare(self, results: list[Result], tolerance_percent: float = 50.0) -> list[Deviation]:
        """Metrics that moved more than `tolerance_percent` from their baseline, up or down."""
        return [d for r in results for d in self.deviations(r) if d.beyond(tolerance_percent)]

    def annotate(self, results: list[Result], tolerance_percent: float = 50.0) -> list[Deviation]:
        """Put facts["baseline"] = {metric: {baseline, now, change_percent}} on each result that has baseline
        values and return the metrics beyond the tolerance. Statuses are left alone: thresholds judge."""
        for r in results:
            devs = self.deviations(r)
            if devs:
                r.facts["baseline"] = {d.metric: d.to_dict() for d in devs}
        return self.compare(results, tolerance_percent)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "name": self.name, "cluster": self.cluster, "host": self.host,
                "updated_at": self.updated_at, "keep_days": self.keep_days, "days": self.days, "checks": self.checks}


# Days x checks x metrics of medians: megabytes at most; a link to /dev/zero is no baseline.
MAX_BASELINE_BYTES = 64 * 1024 * 1024


def baseline_path(state_dir: Path, name: str = DEFAULT_NAME) -> Path:
    return Path(state_dir) / "baselines" / f"{name}.json"


def load_baseline(state_dir: str | Path | None = None, name: str = DEFAULT_NAME,
                  cfg: Config | None = None) -> Baseline | None:
    return read_baseline(baseline_path(Path(state_dir) if state_dir else state_dir_for(cfg), name), name)


def read_baseline(path: Path, name: str = DEFAULT_NAME) -> Baseline | None:
    """The baseline in that file; None if there is no such file."""
    try:
        doc = json.loads(read_text(path, limit=MAX_BASELINE_BYTES))
    except FileProblem as exc:
        if exc.missing:
            return None
        raise ConfigError(f"cannot read baseline: {exc}", path=path) from None
    except ValueError as exc:
        raise ConfigError(f"baseline is not valid JSON ({exc})", path=path) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ConfigError(f"not an {SCHEMA} document", path=path)
    days, checks = doc.get("days"), doc.get("checks")
    if not isinstance(days, dict) or not isinstance(checks, dict):
        raise ConfigError("baseline has no days/checks mappings", path=path)
    return Baseline(name=str(doc.get("name", name)), path=path, updated_at=str(doc.get("updated_at", "")),
                    cluster=str(doc.get("cluster", "")), host=str(doc.get("host", "")),
                    keep_days=int(doc.get("keep_days", DEFAULT_KEEP_DAYS)), days=days, checks=checks)


def sample_of(results: list[Result]) -> dict[str, dict[str, Any]]:
    """Today's figures: every finite metric of every result that measured something."""
    sample: dict[str, dict[str, Any]] = {}
    for r in results:
        metrics = {k: float(v) for k, v in r.metrics.items()
                   if isinstance(v, int | float) and v == v and abs(v) != float("inf")}
        if metrics:
            sample[f"{r.id}@{r.target}"] = {"check": r.id, "target": r.target, "probe": r.probe,
                                            "status": r.status.label, "metrics": metrics}
    return sample


def updated(previous: Baseline | None, path: Path, name: str, sample: dict[str, dict[str, Any]], *,
            keep_days: int, cluster: str, today: dt.date | None = None) -> Baseline:
    """The baseline with today's sample put in (replacing an earlier one of today), days older than
    keep_days dropped, and the medians recomputed. Pure: writes nothing."""
    today = today or dt.date.today()
    days = dict(previous.days) if previous else {}
    days[today.isoformat()] = sample
    oldest = (today - dt.timedelta(days=keep_days - 1)).isoformat()
    days = {d: s for d, s in sorted(days.items()) if d >= oldest}
    checks: dict[str, dict[str, Any]] = {}
    for day in sorted(days):
        for key, entry in days[day].items():
            c = checks.setdefault(key, {"check": entry.get("check", key), "target": entry.get("target", ""),
                                        "probe": entry.get("probe", ""), "values": {}, "last_status": ""})
            c["last_status"] = entry.get("status", "")
            for metric, value in entry.get("metrics", {}).items():
                c["values"].setdefault(metric, []).append(value)
    for c in checks.values():
        values = c.pop("values")
        c["metrics"] = {m: statistics.median(v) for m, v in values.items()}
        c["samples"] = max((len(v) for v in values.values()), default=0)
    now = utc_stamp(timespec="seconds")
    return Baseline(name=name, path=path, updated_at=now, cluster=cluster, host=platform.node(),
                    keep_days=keep_days, days=days, checks=checks)


def save_baseline(baseline: Baseline) -> None:
    """Atomically (core.files.write_file: temp file + rename): a reader never sees half a baseline, a killed
    run leaves the old one. Owner-only, like the state directory it lives in."""
    try:
        baseline.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file(baseline.path, json.dumps(baseline.to_dict(), indent=1, sort_keys=True), mode=0o600)
    except (OSError, FileProblem) as exc:
        raise ConfigError(f"cannot write baseline: {getattr(exc, 'strerror', None) or exc}",
                          path=baseline.path) from None


def baseline_note(baseline: Baseline, moved: list[Deviation], tolerance_percent: float, limit: int = 10) -> str:
    """One report note: what moved more than the tolerance against which baseline (statuses unchanged)."""
    head = f"baseline {baseline.path} ({baseline.updated_at or 'undated'})"
    if not moved:
        return f"{head}: no metric moved more than {tolerance_percent:g}%"
    listed = "; ".join(d.describe() for d in moved[:limit])
    more = f"; and {len(moved) - limit} more" if len(moved) > limit else ""
    return f"{head}: {len(moved)} metrics moved more than {tolerance_percent:g}%: {listed}{more}"
