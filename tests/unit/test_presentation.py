"""All presentation lives under render/ (issue 11, item 3): one registry of presenters, one formatting module,
the output options declared once, and every command takes `-o json`.

The command tree is walked, not listed by hand, so a new command that forgets the output options fails here."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import typer

from agentops.core import format as fmt
from agentops.render import registry
from agentops.render.presenters import kinds, presenter_for
from tests.fixtures.common import run_cli

SRC = Path(__file__).resolve().parents[2] / "src" / "agentops"
# `config init -o FILE` names the YAML file it writes (`-o -` prints it); it lists nothing and its output is a
# config, not a document about one, so its -o keeps that meaning.
# `serve` prints nothing: it serves the report's documents over HTTP (/report, /metrics) and logs JSON lines on
# stderr (tests/integration/test_serve.py).
NOT_A_DOCUMENT = {"config init", "serve"}


def _leaves() -> list[tuple[str, Any]]:
    from agentops.cli import main

    main.mount([])
    root = typer.main.get_command(main.app)
    out: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: str) -> None:
        if hasattr(cmd, "commands"):  # a group (typer vendors click, so no class to name)
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}".strip())
        else:
            out.append((path, cmd))

    walk(root, "")
    return out


def _dummy_args(cmd: Any) -> list[str]:
    """Values for the required arguments and options, so that parsing reaches -o."""
    args: list[str] = []
    for p in cmd.params:
        if p.param_type_name == "argument" and p.required:
            args.append("x")
        elif p.param_type_name == "option" and p.required:
            args += [p.opts[0], "0 3 * * *" if "--cron" in p.opts else "x"]
    return args


def test_the_tree_is_walked() -> None:
    names = {name for name, _ in _leaves()}
    assert {"health", "checks list", "maintain list", "lab status", "cluster inventory", "drill"} <= names


@pytest.mark.parametrize("name", [n for n, _ in _leaves() if n not in NOT_A_DOCUMENT])
def test_every_command_accepts_output_json(name: str) -> None:
    cmd = dict(_leaves())[name]
    output = next((p for p in cmd.params if "--output" in getattr(p, "opts", [])), None)
    assert output is not None and "-o" in output.opts, f"{name}: no -o/--output"
    ctx = cmd.make_context(name, ["-o", "json", *_dummy_args(cmd)])
    assert str(ctx.params["output"]) == "json", name
    # the same declaration everywhere: the help text comes from cli.common, not from each command
    from agentops.cli import common

    assert output.help in (common.OUTPUT_HELP, common.LIST_OUTPUT_HELP), name


# `lab up` would start a cluster: tests/e2e/test_lab.py runs it. `watch` refreshes until stopped (one JSON line
# per refresh): tests/integration/test_watch.py runs it.
STARTS_SOMETHING = {"lab up", "watch"}


@pytest.mark.parametrize("name", [n for n, _ in _leaves() if n not in NOT_A_DOCUMENT | STARTS_SOMETHING])
def test_with_output_json_a_command_prints_one_document_or_nothing(name: str, tmp_path: Path) -> None:
    """Run with -o json where nothing exists (no config, no lab, no logs): either one JSON document on stdout,
    or nothing on stdout and one error line with exit 3 — never a table."""
    cmd = dict(_leaves())[name]
    r = run_cli(*name.split(), "-o", "json", *_dummy_args(cmd), cwd=tmp_path)
    if r.stdout.strip():
        doc = json.loads(r.stdout)
        assert doc["schema"] in ("agentops.report/v1", "agentops.report/v2", "agentops.listing/v1"), doc["schema"]
    else:
        assert r.code == 3 and len(r.stderr.strip().splitlines()) == 1, r.stderr


LISTINGS: list[tuple[list[str], str, str]] = [
    (["checks", "list"], "checks.list", "checks"),
    (["checks", "probes"], "checks.probes", "probes"),
    (["config", "validate"], "config.validate", "checks_planned"),
    (["maintain", "list"], "maintain.playbooks", "items"),
    (["maintain", "list", "--steps"], "maintain.steps", "items"),
    (["maintain", "show", "daily"], "maintain.show", "steps"),
    (["maintain", "schedule", "daily", "--cron", "0 3 * * *"], "maintain.schedule", "files"),
]


@pytest.mark.parametrize(("argv", "kind", "rows"), LISTINGS, ids=[" ".join(a[:2]) for a, _, _ in LISTINGS])
def test_every_listing_prints_one_json_document_with_its_rows(argv: list[str], kind: str, rows: str,
                                                              tmp_path: Path) -> None:
    r = run_cli(*argv, "-o", "json", cwd=tmp_path)
    assert r.code == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)  # one document: json.loads refuses trailing text
    assert doc["schema"] == "agentops.listing/v1" and doc["kind"] == kind
    assert doc[rows], doc
    table = run_cli(*argv, cwd=tmp_path)
    assert table.code == 0 and table.stdout.strip() and not table.stdout.lstrip().startswith("{")


def test_a_listing_goes_to_output_file(tmp_path: Path) -> None:
    out = tmp_path / "checks.json"
    r = run_cli("checks", "list", "-o", "json", "--output-file", str(out), cwd=tmp_path)
    assert r.code == 0 and r.stdout == ""
    assert json.loads(out.read_text())["kind"] == "checks.list"


def _builds_rich_layout(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("rich.table", "rich.panel", "rich.columns",
                                                                  "rich.tree"):
            found.append(f"line {node.lineno}: from {node.module} import …")
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name in ("rich.table", "rich.panel")]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("Table", "Panel"):
            found.append(f"line {node.lineno}: {node.func.id}(…)")
    return found


def test_no_module_outside_render_builds_a_table_or_panel() -> None:
    offenders = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "render":
            continue
        found = _builds_rich_layout(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            offenders[str(rel)] = found
    assert not offenders, offenders


def test_every_document_kind_has_one_presenter() -> None:
    registered = kinds()
    for kind in ("logs", "maintain", "diagnose.message", "diagnose.agent", "diagnose.performance", "profile",
                 "load", "cluster.inventory", "checks.list", "checks.probes", "config.validate", "lab.up",
                 "lab.down", "maintain.playbooks", "maintain.steps", "maintain.show", "maintain.schedule"):
        assert kind in registered, kind
    assert presenter_for("logs.trace") is presenter_for("logs")
    assert presenter_for("health") is None  # the generic results view

    def other(doc: dict[str, Any], console: Any) -> None:
        pass

    with pytest.raises(RuntimeError, match="two presenters"):
        registry.presenter("load")(other)


def test_the_lazy_lookup_index_names_exactly_the_modules_that_register_each_family() -> None:
    """presenters.MODULES says which modules to import for a kind's family; it must name every module that
    registers a kind of that family, and only those (a presenter it missed would silently fall back to the
    generic view)."""
    import importlib
    import pkgutil

    from agentops.render import presenters

    registering: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(presenters.__path__):
        module = importlib.import_module(f"{presenters.__name__}.{info.name}")
        for kind in kinds():
            fn = registry.registered(kind)
            if fn is not None and fn.__module__ == module.__name__:
                registering.setdefault(kind.split(".")[0], set()).add(info.name)
    assert registering == {family: set(mods) for family, mods in presenters.MODULES.items()}


def test_one_formatter_per_quantity() -> None:
    assert fmt.size(512) == "512 B" and fmt.size(1536) == "1.5 KiB" and fmt.size(3 * 2**40) == "3.0 TiB"
    assert fmt.size(None) == fmt.duration(float("nan")) == fmt.number(None) == "n/a"
    assert fmt.exact_size(64 << 20) == "64 MiB" and fmt.exact_size(1500) == "1500 bytes"
    assert fmt.duration(0.0008) == "0.8 ms" and fmt.duration(0.12) == "120 ms" and fmt.duration(2.345) == "2.35 s"
    assert fmt.number(3.0) == "3" and fmt.number(0.01234) == "0.0123" and fmt.compact(12345) == "12.3k"
    assert fmt.utc_stamp(0) == "1970-01-01T00:00:00.000Z" and fmt.utc_stamp(0, timespec="seconds").endswith(":00Z")
    assert fmt.clock_time("2026-12-02T10:11:12.500Z") == "10:11:12"
    assert fmt.clock_time("2026-12-02T10:11:12.500Z", millis=True) == "10:11:12.500" and fmt.clock_time(None) == "-"
    assert fmt.clock_time("2026-12-02T10:11:12.5Z", with_date=True) == "12-02 10:11"
    # counts: silence is blank, any event at least the lowest block, summed when resampled
    assert fmt.count_sparkline([0, 1, 8]) == " " + fmt.BLOCKS[0] + fmt.BLOCKS[-1]
    assert fmt.count_sparkline([1] * 48, width=24) == fmt.BLOCKS[-1] * 24


def test_no_second_byte_or_sparkline_formatter() -> None:
    """A unit table or a block-character ramp outside core/format.py is a second formatter."""
    for path in SRC.rglob("*.py"):
        if path.name == "format.py" and path.parent.name == "core":
            continue
        text = path.read_text(encoding="utf-8")
        assert '("B", "KiB"' not in text and '"KB", "MB"' not in text, path
        assert "▁▂▃▄▅▆▇█" not in text, path


def test_listing_documents_follow_the_schema_section(tmp_path: Path) -> None:
    import jsonschema

    schema = json.loads((SRC / "schemas" / "report.schema.json").read_text())
    listing = {"$defs": schema["$defs"], "$ref": "#/$defs/listing"}
    for argv, _kind, _rows in LISTINGS[:4]:
        r = run_cli(*argv, "-o", "json", cwd=tmp_path)
        jsonschema.validate(json.loads(r.stdout), listing)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema": "agentops.listing/v1", "kind": "checks.list"}, listing)  # no rows
