"""`agentops drill FAULT`: inject a fault for real, run the diagnosis, report whether it named the fault and
how long that took, undo the fault (library: agentops.drill)."""

from __future__ import annotations

from pathlib import Path

import typer

from agentops.cli.common import (
    FailOn,
    FailOnOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    fail,
    load_cluster_spec,
)

HELP = """Fault drill: break something for real, check that the diagnosis names it, put it back.

Faults: kill-worker, freeze-worker, restart-host, unregistered-type, oversized-message, slow-handler,
failing-handler, redis-down, postgres-down.

Against the lab in --lab (default ./lab-state; `agentops lab up` starts one) every fault can be undone: agentops
restarts the processes it started. Against another cluster (-c CONFIG) it refuses without --yes, and allows
only what it can undo exactly: freeze-worker (SIGCONT), unregistered-type, oversized-message, and kill-worker
with --undo-cmd (your command that starts the worker again). redis-down on a lab started with --with-redis
stops the lab's Redis that its store agent writes to; otherwise redis-down and postgres-down stop a throw-away
server the drill starts itself (detection only, not a cluster dependency) — never yours.

Exit code: 0 when the fault was named and undone, 2 when the diagnosis missed it or the undo failed, 3 when the
drill could not run.

Examples:

  agentops drill freeze-worker

  agentops drill kill-worker -c /etc/agentops/agentops.yaml --yes --type planner --undo-cmd 'systemctl start agents-w1'
"""


def register(root: typer.Typer) -> None:
    root.command("drill", help=HELP)(drill)


def drill(
    fault: str = typer.Argument(..., metavar="FAULT", help="The fault to inject (see above)."),
    lab: Path = typer.Option(Path("lab-state"), "--lab", "--lab-dir", help="The lab's state directory.",
                             file_okay=False),
    config: str = typer.Option(None, "--config", "-c", help="The cluster to drill, when it is not the lab in --lab "
                               "(needs --yes unless the file is a lab's own agentops.yaml)."),
    yes: bool = typer.Option(False, "--yes", help="Allow faults on a cluster that is not an agentops lab."),
    agent_type: str = typer.Option(None, "--type", help="The agent type to aim at (default: the lab's echo type, "
                                   "else the first configured worker's first type)."),
    undo_cmd: str = typer.Option(None, "--undo-cmd", help="kill-worker on a non-lab cluster: the shell command "
                                 "that starts the worker again."),
    deadline: float = typer.Option(5.0, "--deadline", min=0.5, max=120, help="The diagnosis deadline (seconds)."),
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    import asyncio

    from agentops.drill.faults import FAULTS, DrillRefused, DrillTarget, make_fault
    from agentops.drill.runner import run_drill

    if fault not in FAULTS:
        fail(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
    target = DrillTarget(agent_type=agent_type, undo_cmd=undo_cmd, deadline_s=deadline)
    needs_cluster = fault not in ("redis-down", "postgres-down")
    if config is not None:
        config_dir = Path(config).resolve().parent
        if (config_dir / "lab.json").is_file():
            target.lab_dir = config_dir
        elif not yes:
            fail(f"refusing to inject {fault} into the cluster of {config} without --yes (a drill breaks it for "
                 f"real, then undoes it)")
        if needs_cluster or target.lab_dir is not None:
            target.cluster = load_cluster_spec(config)
    elif needs_cluster or (fault == "redis-down" and (lab / "lab.json").is_file()):
        if not (lab / "lab.json").is_file():
            fail(f"no lab in {lab}: start one with `agentops lab up`, or name a cluster with -c CONFIG --yes")
        target.lab_dir = lab.resolve()
        target.cluster = load_cluster_spec(str(lab / "agentops.yaml"))
    if target.lab_dir is not None:
        manifest = _lab_manifest(target.lab_dir)
        target.lab_types = {t: b for w in manifest.workers for t, b in w.agent_types.items()}
        target.lab_redis = manifest.redis_address
    try:
        instance = make_fault(fault, target)
    except DrillRefused as exc:
        fail(str(exc))
    from agentops.core.config import load_config

    # The drill command pack may be overridden from the config's pack_dirs (the lab's own config for a lab).
    used = config if config is not None else (str(target.lab_dir / "agentops.yaml") if target.lab_dir else None)
    report = asyncio.run(run_drill(instance, load_config(used) if used else None))
    Output(output, output_file, fail_on).report(report)


def _lab_manifest(lab_dir: Path):  # type: ignore[no-untyped-def]
    from agentops.lab.layout import LabLayout, LabManifest

    try:
        return LabManifest.load(LabLayout(lab_dir).manifest)
    except (OSError, ValueError) as exc:
        fail(f"cannot read the lab manifest in {lab_dir}: {exc}")
