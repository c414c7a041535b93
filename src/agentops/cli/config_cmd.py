"""`agentops config validate`: load the config and every pack it uses, and plan, without contacting anything."""

from __future__ import annotations

import typer

from agentops.cli.common import ConfigOpt

app = typer.Typer(help="Check and explain the cluster file (agentops.yaml).", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="config")


@app.command("validate")
def validate(
    config: str = ConfigOpt,
    pack: list[str] = typer.Option(None, "--pack", "-p", help="Also validate these packs (name or path)."),
) -> None:
    """Validate the config and its packs; errors name file, line and field (exit 3). Secrets are not read."""
    from agentops.cli.common import split_csv
    from agentops.core.config import load_config
    from agentops.core.packs import load_specs, plan

    cfg = load_config(config)
    specs = load_specs(cfg, split_csv(pack) or None)
    checks = plan(cfg, specs)
    where = cfg.path or "no config file (this machine only)"
    typer.echo(f"OK: {where}: {len(cfg.targets)} targets, {len(specs)} checks defined, {len(checks)} planned")
