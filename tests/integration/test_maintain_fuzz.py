"""Hostile playbooks (unknown steps and fields, wrong types, huge numbers, NaN/inf, `..` in paths and names,
aliases, YAML tags, text that is not YAML) through the playbook loader, the planner and `maintain run
--check`: the answer is a valid plan and report, or one clean error line with exit 3, never a traceback or
an `internal` error; check mode deletes nothing; a playbook name never becomes a path outside its dirs.

Bounded per case: the CLI runs under an address-space limit and a timeout, and the step types are the ones
that act on this machine (plus unknown ones), so an example takes a fraction of a second. `command` steps
never get `run_in_check_mode` (that would run fuzzed programs for real): the fuzzer varies everything else.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentops.core.config import parse_config
from agentops.core.yamlsrc import ConfigError
from agentops.maintain.engine import RunOptions, plan_playbook, run_playbook
from agentops.maintain.playbook import find_playbook, load_playbook, playbook_dirs
from tests.fixtures.common import REPO

OLD = time.time() - 90 * 86400
ADDRESS_SPACE = 1024 * 1024 * 1024  # 1 GiB per CLI case: an expansion bomb fails, it does not eat the box

HOSTILE_SCALARS = [
    ".nan", ".inf", "-.inf", "1e999", "-1e308", str(10**40), "0", "-1", "true", "null", "~", "''", "'..'",
    "'../../etc/passwd'", "'/etc'", "'/'", "'${nope}'", "'${state_dir}/../..'", "'${playbook}'", "!!float '12'",
    "!!int 'x'", "!!binary aGk=", "!!timestamp 2001-12-14", "!!set {a, b}", "!!python/name:os.system ''",
    "!!str 5", "*a", "[]", "{}", "[1, [2, [3]]]", "'30d'", "'99999999999d'", "'1e999s'", "'nan'", "'inf'",
    "'10GiB'", "'1e999GiB'", "'-5'", "'*.log'", "'**/..'", "!custom x", "&b 5", "*undefined",
]
KINDS = ["files.prune", "command", "disk.check", "postgres.vacuum", "redis.expire_scan", "nope.step", "", "..",
         "files.prune/../command"]
PARAM_KEYS = ["roots", "match", "exclude", "older_than", "max_total_size", "one_file_system", "argv", "env",
              "ok_codes", "changes", "cwd", "paths", "warning", "critical", "min_free", "inodes_critical",
              "min_dead_tuples", "tables", "batch", "bogus"]
STEP_KEYS = ["id", "step", "target", "params", "when", "timeout", "continue_on_error", "tags", "description",
             "unknown_field"]
NAMES = ["daily", "../../etc/passwd", "/etc/passwd", "..", ".", "a/b", "x\u0000y", "ok-name", "'-'", "$(id)",
         "'${playbook}'", "n" * 300]


def scalar(root: str) -> st.SearchStrategy[str]:
    roots = st.sampled_from([f"'{root}'", f"'{root}/sub/../..'", f"'{root}/../{Path(root).name}'", f"['{root}']",
                             f"['{root}', '{root}/none']"])
    return st.one_of(st.sampled_from(HOSTILE_SCALARS), roots, st.text(max_size=12).map(json.dumps),
                     st.integers(min_value=-(2**70), max_value=2**70).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr))


@st.composite
def playbook_text(draw: st.DrawFn, root: str) -> str:
    if draw(st.integers(0, 9)) == 0:  # not a playbook at all
        return draw(st.text(max_size=80))
    value = scalar(root)
    lines = [f"vars: &a {{log_dir: {draw(value)}}}"]
    if draw(st.booleans()):
        lines.append(f"playbook: {draw(st.sampled_from(NAMES))}")
    if draw(st.booleans()):
        lines.append(f"unattended: {draw(value)}")
    lines.append("steps:")
    for i in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(KINDS))
        fields = {"id": f"s{i}", "step": kind or "''"}
        for key in draw(st.lists(st.sampled_from(STEP_KEYS), max_size=4)):
            fields[key] = draw(value)
        if draw(st.booleans()):
            params = {k: draw(value) for k in draw(st.lists(st.sampled_from(PARAM_KEYS), max_size=5))}
            if kind == "files.prune" and draw(st.booleans()):
                params.update(roots=f"['{root}']", older_than="30d")
            params.pop("run_in_check_mode", None)
            fields["params"] = "{" + ", ".join(f"{k}: {v}" for k, v in params.items()) + "}"
        lines.append("  - {" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}")
    return "\n".join(lines) + "\n"


def make_tree(root: Path) -> list[Path]:
    files = []
    for rel in ("a.log", "sub/b.log", "sub/deep/c.txt"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
        os.utime(p, (OLD, OLD))
        files.append(p)
    return files


def hostile_case(data: st.DataObject, base: Path) -> tuple[Path, list[Path]]:
    """A tree of old files under base/logs and a fuzzed playbook pointing at it: (playbook, files)."""
    files = make_tree(base / "logs")
    path = base / "pb.yaml"
    path.write_text(data.draw(playbook_text(str(base / "logs"))), encoding="utf-8", errors="surrogatepass")
    return path, files


def assert_clean(message: str) -> None:
    assert message.strip() and "\n" not in message.strip(), message
    assert "Traceback" not in message and "internal" not in message.lower(), message


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.data())
def test_hostile_playbooks_load_to_a_plan_or_a_clean_error_and_check_mode_deletes_nothing(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        path, files = hostile_case(data, base)
        cfg = parse_config({}, str(base / "agentops.yaml"))
        try:
            pb = load_playbook(path, builtins={"state_dir": str(base / "state")})
            plan = plan_playbook(pb, cfg)
        except ConfigError as exc:
            assert_clean(str(exc))
            return
        assert pb.name == Path(pb.name).name and pb.name not in ("", ".", ".."), pb.name
        assert [p.spec.id for p in plan] == [s.id for s in pb.steps]
        report = run_playbook(pb, cfg, RunOptions(state_dir=base / "state", check=True))
        assert report.data["check"] is True and len(report.results) >= len(plan)
        for r in report.results:
            assert r.reason is None or r.reason.value != "internal", (r.id, r.message)
        assert all(f.exists() for f in files)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hostile_playbooks_through_maintain_run_check(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        path, files = hostile_case(data, base)
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        env.pop("AGENTOPS_CONFIG", None)

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

        proc = subprocess.run([sys.executable, "-m", "agentops", "maintain", "run", str(path), "--check", "-o", "json",
                               "--state-dir", str(base / "state")], capture_output=True, text=True, timeout=60,
                              env=env, cwd=REPO, stdin=subprocess.DEVNULL, preexec_fn=limit)
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        assert proc.returncode in (0, 1, 2, 3), (proc.returncode, proc.stderr)
        if proc.stdout:
            doc = json.loads(proc.stdout)
            assert doc["kind"] == "maintain.run" and doc["data"]["check"] is True
            assert all(r["reason"] != "internal" for r in doc["results"]), doc["results"]
        else:
            assert proc.returncode == 3
            assert_clean(proc.stderr)
        assert all(f.exists() for f in files)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.sampled_from([*NAMES, "..", "../x", "..%2f", "~root", "daily\n", "\\..\\x"]),
                 st.text(max_size=30)))
def test_a_playbook_name_is_only_ever_looked_up_inside_the_playbook_dirs(name: str) -> None:
    cfg = parse_config({}, "/nonexistent/agentops.yaml")
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return  # a path, given as one on purpose (`maintain run ./mine.yaml`)
    try:
        found = find_playbook(name, cfg)
    except ConfigError as exc:
        assert_clean(str(exc))
        return
    dirs = [d.resolve() for d in playbook_dirs(cfg)]
    assert found.resolve().parent in dirs, found
