"""`agentops config validate`: load the config and every pack it uses, and plan, without contacting anything."""

from __future__ import annotations

from pathlib import Path

import typer

from agentops.cli.common import ConfigOpt, ListFormat, ListOutputOpt, Output, OutputFileOpt

app = typer.Typer(help="Check and explain the cluster file (agentops.yaml).", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="config")


@app.command("validate")
def validate(
    config: str = ConfigOpt,
    pack: list[str] = typer.Option(None, "--pack", "-p", help="Also validate these packs (name or path)."),
    output: ListFormat = ListOutputOpt,
    output_file: Path = OutputFileOpt,
) -> None:
    """Validate the config and its packs; errors name file, line and field (exit 3). Secrets are not read."""
    from agentops.cli.common import split_csv
    from agentops.core.config import load_config
    from agentops.core.packs import load_specs, plan

    cfg = load_config(config)
    specs = load_specs(cfg, split_csv(pack) or None)
    checks = plan(cfg, specs)
    Output.of(output, output_file).listing("config.validate", {
        "config": cfg.path, "targets": len(cfg.targets), "checks_defined": len(specs), "checks_planned": len(checks)})


@app.command("init")
def init(
    output: str = typer.Option("agentops.yaml", "--output", "-o", help="Where to write it; - for stdout."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    ports: str = typer.Option(None, "--ports", help="Try only these loopback ports (comma-separated). Default: "
                              "every TCP port listening on this machine's loopback or on all addresses."),
    timeout: float = typer.Option(0.5, "--timeout", min=0.05, max=30, help="Deadline per connection, seconds."),
) -> None:
    """Write an agentops.yaml for what answers on this machine: AgentRpc hosts, Redis, PostgreSQL, /metrics.
    Each port is identified by speaking its protocol, with short deadlines; no secret is read or written
    (a target that needs one gets the name of an environment variable to set)."""
    import asyncio

    from agentops.cli.common import fail, split_csv, write_atomic
    from agentops.cli.discover import discover, listening_ports, render_config

    target = None if output == "-" else Path(output)
    if target is not None and target.exists() and not force:
        fail(f"{target} exists; pass --force to overwrite it, or -o - to print the config")
    if ports:
        try:
            candidates = sorted({int(p) for p in split_csv([ports])})
        except ValueError:
            fail(f"--ports: expected port numbers separated by commas, got {ports!r}")
        if not all(0 < p < 65536 for p in candidates):
            fail("--ports: a port is a number from 1 to 65535")
    else:
        candidates = listening_ports()
    found = asyncio.run(discover(candidates, timeout))
    text = render_config(found)
    summary = ", ".join(f"{f.kind} {f.address}" for f in found) or "nothing"
    if target is None:
        typer.echo(text, nl=False)
    else:
        write_atomic(target, text)
    typer.echo(f"config init: tried {len(candidates)} port(s), found {summary}"
               + (f"; wrote {target}" if target else ""), err=True)
