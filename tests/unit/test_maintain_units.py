"""Pure parts of maintain: durations and sizes, `when` conditions, playbook loading, baselines, cron."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from agentops.core.config import Config
from agentops.core.model import Result, Status
from agentops.core.registry import BUILTIN_STEPS, step
from agentops.core.units import parse_duration, parse_size
from agentops.core.yamlsrc import ConfigError
from agentops.maintain.baseline import load_baseline, sample_of, save_baseline, updated
from agentops.maintain.playbook import list_playbooks, load_playbook
from agentops.maintain.schedule import ScheduleError, on_calendar, parse_cron
from agentops.maintain.step import Outcome, StepOutcome
from agentops.maintain.when import holds, parse_condition


def test_durations_and_sizes() -> None:
    assert parse_duration("30d") == 30 * 86400 and parse_duration("90") == 90 and parse_duration(1.5) == 1.5
    assert parse_duration("250ms") == 0.25 and parse_duration("2w") == 14 * 86400
    assert parse_size("10GiB") == parse_size("10G") == 10 * 1024**3 and parse_size("500k") == 500 * 1024
    for bad in ("soon", "-1d", True, "3 parsecs"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    for bad in ("big", "-5M", False):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_when_conditions() -> None:
    outcomes = {"disk": [StepOutcome(Outcome.OK, before={"used_percent": 91.0})],
                "prune": [StepOutcome(Outcome.SKIPPED), StepOutcome(Outcome.CHANGED)]}

    def h(text: str, **kw) -> bool:
        return holds(parse_condition(text), outcomes, check=kw.pop("check", False), **kw)

    assert h("disk is ok") and not h("disk is not ok") and h("prune is changed") and h("prune is skipped")
    assert h("disk.used_percent > 90") and not h("disk.used_percent < 50") and h("disk.before.used_percent >= 91")
    assert not h("disk.after.used_percent > 0")  # no such figure after: does not hold
    assert h("not check_mode") and h("check_mode", check=True) and h("true") and not h("false")
    saturday = dt.datetime(2026, 11, 21)
    assert h("weekday in sat,sun", now=saturday) and not h("weekday is mon", now=saturday)
    env = {"A": "1"}
    assert h("env.A", env=env) and not h("env.B", env=env) and h("env.A == 1", env=env) and h("env.A != 2", env=env)
    for bad in ("disk is great", "weekday in funday", "disk.used_percent >> 3", "rm -rf /"):
        with pytest.raises(ValueError):
            parse_condition(bad)


def test_every_shipped_playbook_loads_and_every_builtin_step_is_registered() -> None:
    paths = list_playbooks(Config())
    assert {p.stem for p in paths} >= {"daily", "weekly", "files", "postgres", "redis"}
    for p in paths:
        pb = load_playbook(p, builtins={"state_dir": "/x"})
        assert pb.steps and pb.description
    for kind in BUILTIN_STEPS:
        s = step(kind)
        assert s.kind == kind and s.description and s.params_doc


def test_playbook_errors_name_file_line_and_field(tmp_path: Path) -> None:
    pb = tmp_path / "p.yaml"
    pb.write_text("steps:\n  - id: a\n    step: disk.check\n  - id: a\n    step: disk.check\n")
    with pytest.raises(ConfigError) as err:
        load_playbook(pb)
    assert str(err.value) == f"{pb}:4: steps[1].id: duplicate step id 'a'"
    pb.write_text("steps:\n  - id: a\n    step: postgres.vacuum\n    params: {min_dead_tuples: -1}\n")
    with pytest.raises(ConfigError, match=r":4: steps\[0\]\.params: min_dead_tuples"):
        load_playbook(pb)
    pb.write_text("steps:\n  - id: a\n    step: disk.check\n    target: db\n")
    with pytest.raises(ConfigError, match="takes no target"):
        load_playbook(pb)


def test_baseline_keeps_one_sample_per_day_and_medians(tmp_path: Path) -> None:
    def result(value: float) -> Result:
        return Result(id="redis.memory", target="cache", probe="redis", status=Status.OK,
                      metrics={"used_memory_bytes": value, "nan": float("nan")})

    assert load_baseline(tmp_path) is None
    path = tmp_path / "baselines" / "default.json"
    day = dt.date(2026, 11, 1)
    b = None
    for i, value in enumerate([100.0, 300.0, 200.0, 900.0]):
        b = updated(b, path, "default", sample_of([result(value)]), keep_days=3, cluster="c",
                    today=day + dt.timedelta(days=i))
    b = updated(b, path, "default", sample_of([result(50.0)]), keep_days=3, cluster="c",
                today=day + dt.timedelta(days=3))  # replaces that day's 900
    save_baseline(b)
    loaded = load_baseline(tmp_path)
    assert loaded is not None and sorted(loaded.days) == ["2026-11-02", "2026-11-03", "2026-11-04"]
    assert loaded.value("redis.memory", "cache", "used_memory_bytes") == 200.0  # median of 300, 200, 50
    assert loaded.value("redis.memory", "cache", "nan") is None
    devs = loaded.compare([result(1000.0)])
    assert [d.metric for d in devs] == ["used_memory_bytes"] and devs[0].change_percent == 400.0
    assert loaded.compare([result(250.0)]) == []  # +25% is within the default 50% tolerance
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_baseline(tmp_path)


def test_cron_parsing_and_systemd_calendars() -> None:
    assert on_calendar(parse_cron("0 3 * * *")) == "*-*-* 03:00:00"
    assert on_calendar(parse_cron("*/15 * * * *")) == "*-*-* *:00/15:00"
    assert on_calendar(parse_cron("30 2 * * mon-fri")) == "Mon..Fri *-*-* 02:30:00"
    assert on_calendar(parse_cron("@weekly")) == "Sun *-*-* 00:00:00"
    for bad in ("0 3 * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "5-1 * * * *", "*/0 * * * *", "x * * * *"):
        with pytest.raises(ScheduleError):
            parse_cron(bad)
    with pytest.raises(ScheduleError, match="either"):
        on_calendar(parse_cron("0 0 1 * 1"))
