"""Runbooks and heal's policy are data: every mistake is one `file:line: field: why` error before anything
runs; the shipped runbook loads; a user's runbook overrides a mode; the budget and the breaker are judged by
the heal command pack, so a pack override changes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentops.core.config import parse_config
from agentops.core.evaluate import evaluate
from agentops.core.model import Observation, Status
from agentops.core.packs import command_specs
from agentops.core.yamlsrc import ConfigError, load_yaml_text
from agentops.heal.policy import heal_policy
from agentops.heal.runbook import load_runbook, load_runbooks
from agentops.heal.targets import heal_targets


def config(tmp_path: Path, text: str):
    path = tmp_path / "agentops.yaml"
    path.write_text(text)
    return parse_config(load_yaml_text(text, str(path)), str(path))


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_the_shipped_runbook_maps_the_worker_modes() -> None:
    from agentops.core.config import Config

    shipped = load_runbooks(Config())
    assert {"worker-frozen", "worker-dead", "host-restarted", "type-not-registered"} <= set(shipped.modes())
    frozen = shipped.for_mode("worker-frozen")
    assert frozen is not None and [s.kind for s in frozen.steps][:2] == ["worker.resume", "worker.restart"]
    assert shipped.for_mode("host-restarted").breaker is False
    assert shipped.for_mode("handler-raised") is None  # an application bug: no runbook restarts it away


@pytest.mark.parametrize(("text", "line", "message"), [
    ("modes:\n  worker-frozn:\n    steps: [{id: a, step: worker.resume}]\n", 2, "unknown failure mode 'worker-frozn'"),
    ("modes:\n  worker-dead:\n    steps:\n      - {id: a, step: worker.explode}\n", 4, "unknown kind 'worker.explode'"),
    ("modes:\n  worker-dead:\n    steps:\n      - {id: a, step: worker.restart, params: {grace: -1}}\n", 4,
     "grace: expected seconds"),
    ("modes:\n  worker-dead:\n    steps:\n      - {id: a, step: worker.restart}\n      - {id: a, step: worker.resume}\n",
     5, "duplicate step id 'a'"),
    ("modes:\n  worker-dead:\n    steps: []\n", 3, "needs at least one step"),
    ("modes:\n  worker-dead:\n    steps:\n      - {id: a, step: worker.restart, verify_within: 2d}\n", 4,
     "at most 1d"),
    ("runbook: x\nstepz: []\n", 2, "stepz"),
])
def test_runbook_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_runbook(path)
    assert str(err.value).startswith(f"{path}:{line}:"), str(err.value)
    assert message in str(err.value)


def test_a_users_runbook_wins_for_its_mode(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    write(tmp_path / "mine", "gentle.yaml", "modes:\n  worker-dead:\n    steps: [{id: unit, step: worker.restart_unit}]\n")
    cfg = config(tmp_path, "version: 1\nheal: {runbook_dirs: [mine]}\n")
    rbs = load_runbooks(cfg)
    assert [s.kind for s in rbs.for_mode("worker-dead").steps] == ["worker.restart_unit"]
    assert rbs.for_mode("worker-frozen").runbook == "worker"  # the shipped one still answers the others


@pytest.mark.parametrize(("text", "message"), [
    ("heal: {window: 0s}\n", "heal.window: must be more than 0"),
    ("heal: {backoff: soon}\n", "heal.backoff"),
    ("heal: {unatended: true}\n", "unatended"),
    ("heal: [1]\n", "heal"),
])
def test_policy_errors_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        heal_policy(config(tmp_path, "version: 1\n" + text))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_worker_heal_options_are_validated(tmp_path: Path) -> None:
    base = "version: 1\ntargets:\n  - name: w1\n    kind: worker\n    options:\n      heal: "
    cfg = config(tmp_path, base + "{restart_command: 'start-w1 --name w1', probe_type: echo}\n")
    t = heal_targets(cfg)[0]
    assert t.options.restart_command == ["start-w1", "--name", "w1"] and t.probe_type == "echo"
    for bad, why in (("{restart_command: []}", "is empty"), ("{kubernetes: {deployment: w1}}", "namespace/name"),
                     ("{restrat_command: x}", "restrat_command")):
        with pytest.raises(ConfigError) as err:
            heal_targets(config(tmp_path, base + bad + "\n"))
        assert why in str(err.value) and str(err.value).startswith(str(tmp_path / "agentops.yaml"))


def test_the_budget_and_the_breaker_are_judged_by_the_pack(tmp_path: Path) -> None:
    shipped = command_specs("heal")
    assert evaluate(shipped["heal.attempts"], Observation(metrics={"attempts_in_window": 2.0}))[0] is Status.OK
    assert evaluate(shipped["heal.attempts"], Observation(metrics={"attempts_in_window": 3.0}))[0] is Status.CRITICAL
    assert evaluate(shipped["heal.breaker"], Observation(metrics={"unhealthy_share": 0.5}))[0] is Status.OK
    assert evaluate(shipped["heal.breaker"], Observation(metrics={"unhealthy_share": 0.51}))[0] is Status.CRITICAL
    (tmp_path / "packs").mkdir()
    write(tmp_path / "packs", "heal.yaml", "pack: heal\nchecks:\n  - id: heal.attempts\n    probe: heal\n"
                                           "    critical: {attempts_in_window: '>= 5'}\n")
    cfg = config(tmp_path, "version: 1\npack_dirs: [packs]\n")
    mine = command_specs("heal", cfg)
    assert evaluate(mine["heal.attempts"], Observation(metrics={"attempts_in_window": 4.0}))[0] is Status.OK
    assert evaluate(mine["heal.attempts"], Observation(metrics={"attempts_in_window": 5.0}))[0] is Status.CRITICAL
