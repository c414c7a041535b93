"""`agentops checks list`: what `health` would run, against which target, judged how."""

from __future__ import annotations

from pathlib import Path

import typer

from agentops.cli.common import (
    ConfigOpt,
    JsonOpt,
    ListFormat,
    ListOutputOpt,
    Output,
    OutputFileOpt,
    load_config_with_sources,
    split_csv,
)

app = typer.Typer(help="Inspect check packs and probes.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="checks")


@app.command("list")
def list_checks(
    config: str = ConfigOpt,
    pack: list[str] = typer.Option(None, "--pack", "-p", help="List these packs instead of the default ones."),
    only: list[str] = typer.Option(None, "--only", help="Glob on check id, id@target or probe."),
    skip: list[str] = typer.Option(None, "--skip", help="Glob on check id, id@target or probe."),
    tags: list[str] = typer.Option(None, "--tags", help="Only checks with one of these tags."),
    output: ListFormat = ListOutputOpt,
    output_file: Path = OutputFileOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show the plan: each check, its probe, target, thresholds, timeout, retries and tags."""
    from agentops.core.packs import Selection, load_specs, plan

    cfg = load_config_with_sources(config)
    checks = plan(cfg, load_specs(cfg, split_csv(pack) or None),
                  Selection(only=split_csv(only), skip=split_csv(skip), tags=split_csv(tags)))
    rows = []
    for c in checks:
        rules = []
        for r in c.spec.rules:
            parts = [f"warn {r.warning.text}" if r.warning else "", f"crit {r.critical.text}" if r.critical else ""]
            rules.append(f"{r.metric}: " + ", ".join(p for p in parts if p))
        rows.append({"id": c.id, "probe": c.spec.probe, "target": c.target.name, "thresholds": rules,
                     "timeout_s": c.timeout, "retries": c.retries, "on_timeout": c.spec.on_timeout.label,
                     "tags": c.spec.tags, "source": c.spec.source})
    Output.of(output, output_file, as_json=as_json).listing("checks.list", {"config": cfg.path, "checks": rows})


@app.command("probes")
def list_probes(
    output: ListFormat = ListOutputOpt,
    output_file: Path = OutputFileOpt,
    as_json: bool = JsonOpt,
) -> None:
    """List the probe kinds available (built-in and from plugins) and the metrics each reports."""
    from agentops.core import registry

    probes = []
    for kind in registry.probe_kinds():
        try:
            p = registry.probe(kind)
        except Exception as exc:  # a broken plugin must not hide the others
            probes.append({"kind": kind, "target_kinds": [], "metrics": [], "description": "", "error": str(exc)})
            continue
        probes.append({"kind": kind, "target_kinds": list(p.target_kinds), "metrics": list(p.metrics),
                       "description": p.description, "error": None})
    Output.of(output, output_file, as_json=as_json).listing("checks.probes", {"probes": probes})
