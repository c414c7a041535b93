"""`agentops emergency TYPE`: detect an incident, plan or apply its protective runbook, save the state, notify
(the library: agentops.heal.emergency; docs/emergency.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from agentops.cli.common import (
    EXIT_LOCKED,
    ConfigOpt,
    FailOn,
    FailOnOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    fail,
    load_config_and_cluster,
)

WEBHOOK_ENV = "AGENTOPS_EMERGENCY_WEBHOOK"

HELP = f"""Emergency response for an incident type: detect it, then (when it is on) its protective runbook.

Types: cascade (several agent types failing within a window -> isolate their workers), overflow (a worker's
runtime_message_queue_size over its limit -> backpressure flag), memory (the machine's memory or a worker's
RSS over its limit -> cleanup playbook), partition (the AgentRpc host unreachable while the local workers are
up -> degraded-local-mode flag). Limits: checks/emergency.yaml; steps: runbooks/emergency/TYPE.yaml.

A plan by default: what each step would do, why, to what; nothing changes. --apply acts, with heal's consent
(a TTY prompt, --yes, or `heal: {{unattended: true}}` in the config): the state (the detection report) is saved
first, then every step runs and is verified, then the webhook (--webhook or ${WEBHOOK_ENV}) is notified.

Exit codes: 0 no emergency, 1 a warning level, 2 the emergency is on (also after its protective steps: they
contain an incident, they do not end it), 3 bad input, no consent, or a detection that could not measure
(the host does not answer, a metrics endpoint is down), 4 another emergency run of the same type
holds the lock.

Examples:

  agentops emergency cascade -c agentops.yaml

  agentops emergency overflow -c agentops.yaml --apply --yes --webhook http://alertmanager:9093/api/v2/alerts

  agentops emergency partition -c agentops.yaml --apply --yes --webhook-format json -o json
"""


def register(root: typer.Typer) -> None:
    root.command("emergency", help=HELP)(emergency)


def emergency(
    incident: str = typer.Argument(..., metavar="TYPE", help="cascade | overflow | memory | partition"),
    apply: bool = typer.Option(False, "--apply", help="Act: run the runbook's protective steps (needs consent)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Consent to --apply without a TTY prompt."),
    webhook: str = typer.Option(None, "--webhook", metavar="URL", help=f"Where to POST the notification (default: "
                                f"${WEBHOOK_ENV}). Only scheme, host and port are ever shown."),
    webhook_format: str = typer.Option("alertmanager", "--webhook-format", metavar="FORMAT",
                                       help="alertmanager (the webhook v4 payload) or json (a plain document)."),
    webhook_deadline: float = typer.Option(10.0, "--webhook-deadline", min=0.1, max=300, metavar="SECONDS",
                                           help="The whole delivery, retries included."),
    webhook_retries: int = typer.Option(2, "--webhook-retries", min=0, max=10),
    external_url: str = typer.Option("", "--external-url", metavar="URL",
                                     help="The alert's externalURL / generatorURL (a dashboard, a runbook page)."),
    host: str = typer.Option(None, "--host", metavar="HOST:PORT", help="The AgentRpc host, when the config has "
                             "several."),
    state_dir: str = typer.Option(None, "--state-dir", help="Snapshots, flags, the failure window, locks and "
                                  "history. Default as `maintain`: $AGENTOPS_STATE_DIR, the config's state_dir…"),
    wait: float = typer.Option(0.0, "--wait", min=0, max=3600, metavar="SECONDS",
                               help="Wait up to SECONDS for another run of the same type to finish."),
    config: str = ConfigOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    from agentops.heal.emergency import TYPES, EmergencyOptions, run_emergency
    from agentops.heal.emergency_notify import FORMATS, Delivery, WebhookError, check_url
    from agentops.heal.engine import ConsentRequired
    from agentops.maintain.lock import LockBusy
    from agentops.maintain.state import ensure_state_dir, state_dir_for

    if incident not in TYPES:
        fail(f"unknown emergency type {incident!r} (known: {', '.join(TYPES)})")
    if webhook_format not in FORMATS:
        fail(f"--webhook-format: {webhook_format!r} is not one of {', '.join(FORMATS)}")
    url = webhook or os.environ.get(WEBHOOK_ENV) or None
    delivery = None
    if url:
        try:
            delivery = Delivery(url=check_url(url), format=webhook_format, deadline_s=webhook_deadline,
                                attempt_timeout_s=min(5.0, webhook_deadline), retries=webhook_retries)
        except WebhookError as exc:
            fail(str(exc))
    cfg, cluster = load_config_and_cluster(config, host)
    state = state_dir_for(cfg, state_dir)
    ensure_state_dir(state)
    opts = EmergencyOptions(state_dir=state, apply=apply, assume_yes=yes, interactive=sys.stdin.isatty(),
                            confirm=_confirm, webhook=delivery, external_url=external_url, lock_wait=wait)
    try:
        report = run_emergency(incident, cfg, cluster, opts)
    except ConsentRequired as exc:
        fail(str(exc))
    except LockBusy as exc:
        fail(str(exc), code=EXIT_LOCKED)
    Output(output, output_file, fail_on).report(report)


def _confirm(actions: list[str]) -> bool:
    sys.stderr.write("Protective steps will run:\n" + "".join(f"  {a}\n" for a in actions))
    return typer.confirm("Go ahead?", default=False, err=True)
