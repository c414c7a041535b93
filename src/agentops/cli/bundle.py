"""`agentops bundle`: one support archive (tar.gz) of the cluster for an expert (agentops.bundle)."""

from __future__ import annotations

from pathlib import Path

import typer

from agentops.cli.common import (
    ConfigOpt,
    ListFormat,
    ListOutputOpt,
    Output,
    OutputFileOpt,
    fail,
    seconds_arg,
    split_csv,
)

HELP = """Write one support archive (tar.gz) an expert can read, like `sos report`: the diagnosis verdict first
(SUMMARY.md), a manifest of what each collector did, then the redacted config, the health report, a diagnosis
of every configured agent type, the cluster inventory, a profile of the workers with py-spy stacks, log
excerpts since --since, /metrics scrapes and, for `kind: kubernetes` sources, objects, events and pod logs in
`kubectl get -o json` layout.

Collectors run at once, each under its own timeout, the whole under --deadline; one that hangs is recorded as
timed out. Every file goes through agentops' one redactor (redaction-report.json says what was masked where,
never the secret); --token-map FILE replaces each secret by the same REDACTED-nnnn token in every file and
writes the token map to FILE, outside the archive. Files over --max-file, and the whole over --max-total, keep
their head and tail with a marker where the middle was cut.

Read a bundle back: `agentops k8s audit --from-bundle DIR/k8s/SOURCE`, `agentops logs analyze DIR/logs`.

Exit codes: 0 the archive was written (whatever the verdict: it is in SUMMARY.md), 3 bad flags, an unwritable
path or a config error.

Examples:

  agentops bundle -c agentops.yaml --since 1h

  agentops bundle -c agentops.yaml --dry-run

  agentops bundle -c agentops.yaml --archive /var/tmp/incident.tar.gz --token-map /root/incident.tokens.json
"""


def register(root: typer.Typer) -> None:
    root.command("bundle", help=HELP)(bundle)


def bundle(
    config: str = ConfigOpt,
    archive: Path = typer.Option(None, "--archive", "-f", help="Where to write the archive (default: "
                                 "./agentops-bundle-<host>-<time>.tar.gz).", dir_okay=False),
    since: str = typer.Option("30m", "--since", help="How far back logs are excerpted and the diagnosis reads "
                              "logs (30s, 10m, 2h)."),
    agent_type: list[str] = typer.Option(None, "--type", help="Diagnose only these agent types (repeat or "
                                         "comma-separate; default: every type the config names)."),
    deadline: float = typer.Option(90.0, "--deadline", min=1, max=3600, help="Seconds for all collectors "
                                   "together; the archive is written right after."),
    collector_timeout: float = typer.Option(20.0, "--collector-timeout", min=0.5, max=3600,
                                            help="Seconds each collector may take (the profile: its window "
                                            "plus 15 s, if longer)."),
    profile_seconds: float = typer.Option(3.0, "--profile-seconds", min=0, max=600, help="The workers' "
                                          "profiling window (0: no profile and no py-spy stack dumps)."),
    max_file: str = typer.Option("4MiB", "--max-file", help="Cap of each file (head and tail kept)."),
    max_total: str = typer.Option("64MiB", "--max-total", help="Cap of all files together."),
    token_map: Path = typer.Option(None, "--token-map", help="Replace each secret by a stable token "
                                   "(REDACTED-nnnn, the same in every file) and write token -> secret here, "
                                   "outside the archive (mode 0600).", dir_okay=False),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be collected; collect and write "
                                 "nothing."),
    output: ListFormat = ListOutputOpt,
    output_file: Path = OutputFileOpt,
) -> None:
    import asyncio
    import platform
    import time

    from agentops.bundle.build import MIN_TOTAL_BYTES, BundleError, BundleSpec, check_writable, make_bundle
    from agentops.bundle.options import BundleOptions
    from agentops.bundle.sources import dry_run_rows, plan_collectors
    from agentops.core.config import load_config
    from agentops.core.units import parse_size

    since_s = seconds_arg(since, "--since")
    if since_s <= 0:
        fail("--since: give a duration back from now greater than 0 (30s, 10m, 2h)")
    try:
        file_cap, total_cap = parse_size(max_file), parse_size(max_total)
    except ValueError as exc:
        fail(f"--max-file/--max-total: {exc}")
    if file_cap < 1024 or total_cap < MIN_TOTAL_BYTES:
        fail(f"--max-file must be at least 1 KiB and --max-total at least {MIN_TOTAL_BYTES // 1024} KiB")
    if archive is None:
        archive = Path(f"agentops-bundle-{platform.node() or 'host'}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
                       ".tar.gz")
    if token_map is not None and token_map.resolve() == archive.resolve():
        fail("--token-map must not be the archive itself (the map holds the secrets)")
    cfg = load_config(config)
    from agentops.bundle.sources import register_config_secrets

    register_config_secrets(cfg)
    opts = BundleOptions(since_s=since_s, collector_timeout_s=collector_timeout, profile_s=profile_seconds,
                         max_file_bytes=file_cap, agent_types=split_csv(agent_type))
    collectors = plan_collectors(cfg, opts)
    out = Output(output, output_file)
    try:
        check_writable(archive)
        if token_map is not None:
            check_writable(token_map, "--token-map")
        if dry_run:
            out.listing("bundle.plan", {"archive": str(archive), "config": str(cfg.path) if cfg.path else None,
                                        "collectors": dry_run_rows(collectors)})
            return
        spec = BundleSpec(archive=archive, deadline_s=deadline, max_file_bytes=file_cap, max_total_bytes=total_cap,
                          token_map=token_map, options={"since_s": since_s, "collector_timeout_s": collector_timeout,
                                                        "profile_s": profile_seconds, "types": opts.agent_types})
        manifest = asyncio.run(make_bundle(collectors, spec))
    except BundleError as exc:
        fail(str(exc))
    out.listing("bundle", {"archive": str(archive), "archive_bytes": archive.stat().st_size,
                           "token_map": str(token_map) if token_map is not None else None, "manifest": manifest})
