"""`agentops lab up | status | down`: a real AutoGen cluster on loopback (the library: agentops.lab.manager)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from agentops.cli.common import (
    FailOn,
    FailOnOpt,
    JsonOpt,
    ListFormat,
    ListOutputOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    fail,
    note,
)
from agentops.core.format import utc_stamp

HELP = """A real AutoGen distributed cluster on this machine, for demos, tests and fault drills.

One GrpcWorkerAgentRuntimeHost and two GrpcWorkerAgentRuntime workers, each its own process on loopback:
w1 hosts echo, slow and leak, w2 hosts failing, none and echo2 (each answers payload type Ping,
{"text": "…"}). JSON logs, a Prometheus /metrics per worker, and an agentops.yaml for the lab in its state
directory. Needs the [lab] extra: pip install './[lab]' in a clone of agentops.

Examples:

  agentops lab up && agentops health -c lab-state/agentops.yaml

  agentops lab status -o json

  agentops lab down
"""

app = typer.Typer(help=HELP, no_args_is_help=True)

# --lab-dir is the spelling profile and drill use too.
DirOpt = typer.Option(Path("lab-state"), "--dir", "-d", "--lab-dir",
                      help="The lab's state directory (pid, port and log files, lab.json, agentops.yaml).",
                      file_okay=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="lab", help=HELP)


def _run(action: Any) -> Any:
    from agentops.lab.manager import LabError

    try:
        return action()
    except LabError as exc:
        fail(str(exc), exc.exit_code)
    except OSError as exc:
        fail(f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}")


@app.command("up", help="Start the lab and wait until every worker's agent types are registered.\n\n"
             "Exit codes: 0 started, 2 started but not ready (stopped again), 3 refused (the [lab] extra is "
             "missing, a lab already runs in --dir, or --port is in use).")
def up(
    directory: Path = DirOpt,
    port: int = typer.Option(None, "--port", min=1, max=65535, help="The AgentRpc host port (default: a free "
                             "one). Refused if something listens there."),
    slow_seconds: float = typer.Option(2.0, "--slow-seconds", min=0, max=3600, help="How long the slow agent "
                                       "sleeps per Ping."),
    leak_kib: int = typer.Option(1024, "--leak-kib", min=0, max=1024 * 1024, help="Memory the leak agent keeps "
                                 "per Ping."),
    log_level: str = typer.Option("INFO", "--log-level", help="Level of the processes' logs."),
    log_format: str = typer.Option("json", "--log-format", help="How the processes log: json (one object per "
                                   "line, with agent, message and trace ids) or text (AutoGen's plain lines, as "
                                   "a service using logging.basicConfig writes them)."),
    timeout: float = typer.Option(60.0, "--timeout", min=1, max=3600, help="Seconds to wait for readiness."),
    with_redis: bool = typer.Option(False, "--with-redis", help="Also start a lab-owned redis-server (needs it "
                                    "installed) and a `store` agent on w2 that writes to it; the config gets a "
                                    "redis target (the redis-down drill stops this server)."),
    output: ListFormat = ListOutputOpt,
    output_file: Path = OutputFileOpt,
    as_json: bool = JsonOpt,
) -> None:
    from agentops.core.cluster import LOG_FORMATS
    from agentops.lab.manager import LabOptions
    from agentops.lab.manager import up as lab_up

    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail(f"--log-level {log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
    if log_format not in LOG_FORMATS:
        fail(f"--log-format {log_format!r}: expected {' or '.join(LOG_FORMATS)}")
    out = Output.of(output, output_file, as_json=as_json)
    opts = LabOptions(dir=directory, port=port, slow_seconds=slow_seconds, leak_kib=leak_kib,
                      log_level=log_level.upper(), log_format=log_format, ready_timeout=timeout,
                      with_redis=with_redis)
    if out.format is ListFormat.table and sys.stderr.isatty():  # a refusal must stay one line for scripts
        note(f"starting a lab in {opts.dir.resolve()} …")
    manifest = _run(lambda: lab_up(opts))
    fields = manifest.to_dict()
    # The manifest's own schema names the lab.json format; the listing document has its own.
    fields["manifest_schema"] = fields.pop("schema")
    out.listing("lab.up", {**fields, "config": str(Path(manifest.dir) / "agentops.yaml")})


@app.command("status", help="Each lab process (pid, alive, state R/S/T, ports, memory) and whether the host "
             "lists every worker's agent types.\n\nExit codes: 0 all running and registered, 2 a process is "
             "gone or stopped or a type is missing, 3 no lab in --dir.")
def status(
    directory: Path = DirOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
    as_json: bool = JsonOpt,
) -> None:
    import time

    from agentops.core.model import Report
    from agentops.lab.manager import status as lab_status
    from agentops.lab.status import status_results

    started_at = utc_stamp()
    t0 = time.perf_counter()
    processes = _run(lambda: lab_status(directory))
    results = status_results(directory, processes)
    report = Report(kind="lab.status", started_at=started_at, duration_s=time.perf_counter() - t0,
                    results=results, data={"dir": str(directory.resolve()),
                                           "processes": [p.to_dict() for p in processes]})
    Output.of(output, output_file, fail_on, as_json=as_json).report(report)


@app.command("down", help="Stop exactly the processes `lab up` started (each verified by its command line "
             "before any signal): SIGTERM, then SIGKILL after --grace.\n\nExit codes: 0 stopped (or already "
             "gone), 3 no lab in --dir.")
def down(
    directory: Path = DirOpt,
    grace: float = typer.Option(5.0, "--grace", min=0, max=600, help="Seconds between SIGTERM and SIGKILL."),
    output: ListFormat = ListOutputOpt,
    output_file: Path = OutputFileOpt,
    as_json: bool = JsonOpt,
) -> None:
    from agentops.lab.manager import down as lab_down

    out = Output.of(output, output_file, as_json=as_json)
    results = _run(lambda: lab_down(directory, grace))
    out.listing("lab.down", {"dir": str(directory.resolve()), "processes": [r.__dict__ for r in results]})
