"""`agentops checks list`: what `health` would run, against which target, judged how."""

from __future__ import annotations

import typer

from agentops.cli.common import ConfigOpt, split_csv

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
    json_out: bool = typer.Option(False, "--json", help="One JSON document instead of a table."),
) -> None:
    """Show the plan: each check, its probe, target, thresholds, timeout, retries and tags."""
    from agentops.core.config import load_config
    from agentops.core.packs import Selection, load_specs, plan

    cfg = load_config(config)
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
    if json_out:
        import json

        typer.echo(json.dumps({"schema": "agentops.checks/v1", "config": cfg.path, "checks": rows}, indent=2))
        return
    from rich.table import Table

    from agentops.render.table import make_console

    table = Table(title=f"{len(rows)} checks ({cfg.path or 'no config: this machine'})", title_justify="left")
    for col in ("CHECK", "PROBE", "TARGET", "THRESHOLDS", "TIMEOUT", "TAGS"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["id"], r["probe"], r["target"], "\n".join(r["thresholds"]), f"{r['timeout_s']:g}s"
                      + (f" x{r['retries'] + 1}" if r["retries"] else ""), ",".join(r["tags"]))
    make_console().print(table)


@app.command("probes")
def list_probes() -> None:
    """List the probe kinds available (built-in and from plugins) and the metrics each reports."""
    from rich.table import Table

    from agentops.core import registry
    from agentops.render.table import make_console

    table = Table(title="probes", title_justify="left")
    for col in ("PROBE", "TARGET KINDS", "METRICS", "DESCRIPTION"):
        table.add_column(col, overflow="fold")
    for kind in registry.probe_kinds():
        try:
            p = registry.probe(kind)
        except Exception as exc:  # a broken plugin must not hide the others
            table.add_row(kind, "", "", f"cannot load: {exc}")
            continue
        table.add_row(kind, ", ".join(p.target_kinds), ", ".join(p.metrics), p.description)
    make_console().print(table)
