"""`agentops diagnose message|agent`: a verdict naming the cause, with evidence and a fix.

The `diagnose` group is `app`; other modules add their own subcommands to it from their `register(root)`
(e.g. `diagnose performance`: `from agentops.cli.diagnose import app; app.command("performance")(fn)`), as long
as they are listed after this module in main.GROUPS.
"""

from __future__ import annotations

from pathlib import Path

import typer

from agentops.cli.common import (
    FailOn,
    FailOnOpt,
    HostConfigOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    fail,
    load_cluster_spec,
    load_config_and_cluster,
    read_arg,
    seconds_arg,
)

app = typer.Typer(help="Diagnose why a message does not arrive or an agent does not work: a verdict with "
                       "evidence and a fix.", no_args_is_help=True)

HostOpt = typer.Option(None, "--host", help="The AgentRpc host as HOST:PORT (default: the config's agentrpc target).")
DeadlineOpt = typer.Option(5.0, "--deadline", min=0.5, max=120,
                           help="Seconds for the whole diagnosis; every network call runs under it.")
SinceOpt = typer.Option("10m", "--since", help="How far back the logs are read for recent failures (30s, 10m, 2h).")
PayloadTypeOpt = typer.Option(None, "--payload-type", help="The message class name the agent handles (e.g. Ping); "
                              "default: the config's ping for the type.")
PayloadOpt = typer.Option(None, "--payload", help="The message body as JSON, or @file. Sent as given, even if "
                          "malformed (to test a payload).")

MESSAGE_HELP = """Why does a message to TYPE not arrive? Follows the message's path — DNS, TCP, gRPC, host alive,
type registered and owned, the owning worker's process (running, stopped, connected), payload size, a ping under
the deadline, host and worker logs, the worker's metrics, its machine — and names the most likely cause.

Examples:

  agentops diagnose message --to echo -c lab-state/agentops.yaml

  agentops diagnose message --to planner/session-42 --host 10.0.0.5:50051 --payload-type Task --payload @task.json

  agentops diagnose message --to echo --message-id 17 -o json
"""

AGENT_HELP = """Can agent type TYPE work? On the cluster: registered, owned, its worker alive, a ping answered.
With --import module:Class, imports the class in a child process (with --python, the workers' interpreter) and
classifies a failure (missing module → the package to install, …). With --error, classifies a pasted traceback.

Examples:

  agentops diagnose agent echo -c lab-state/agentops.yaml

  agentops diagnose agent planner --import my_agents.planner:PlannerAgent --python /srv/agents/.venv/bin/python

  agentops diagnose agent planner --error @crash.txt
"""


PUBLISH_HELP = """Who would receive an event published to topic TOPIC? Matches the host's subscriptions the way the
host does (a TypeSubscription's topic type equals TOPIC; a TypePrefixSubscription's prefix starts it;
@default_subscription is the topic type "default"), names each receiving agent type (its agent id: TYPE/SOURCE),
the worker that owns it and whether that worker is alive. "nobody-subscribes" is a verdict of its own: AutoGen
drops such an event without an error or a log line. Nothing is published: the diagnosis only reads.

Examples:

  agentops diagnose publish --topic orders.created -c lab-state/agentops.yaml

  agentops diagnose publish --topic orders.created --source shop-7 --host 10.0.0.5:50051 -o json
"""


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="diagnose")


@app.command("message", help=MESSAGE_HELP)
def message(
    to: str = typer.Option(..., "--to", help="The receiving agent: TYPE or TYPE/KEY."),
    from_type: str = typer.Option(None, "--from", help="The sending agent type (checked for registration; "
                                  "the ping's source)."),
    payload_type: str = PayloadTypeOpt,
    payload: str = PayloadOpt,
    message_id: str = typer.Option(None, "--message-id", help="A message/request id to look for in the logs "
                                   "(e.g. from a sender's log)."),
    host: str = HostOpt,
    config: str = HostConfigOpt,
    deadline: float = DeadlineOpt,
    since: str = SinceOpt,
    hops: int = typer.Option(None, "--hops", min=0, max=5, help="How many calls deep to follow when the type "
                             "answers late, never or with an error because a type it calls does (0: never; "
                             "default: agentops.diagnose.hop.DEFAULT_HOP_DEPTH, 2)."),
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    import asyncio

    from agentops.diagnose.message import MessageQuery, diagnose_message, parse_to

    try:
        agent_type, key = parse_to(to)
    except ValueError as exc:
        fail(str(exc))
    if payload is not None and not payload_type:
        fail("--payload needs --payload-type (the message class name the agent handles)")
    query = MessageQuery(to_type=agent_type, key=key, from_type=from_type, payload_type=payload_type,
                         payload=read_arg(payload, "--payload"), message_id=message_id, deadline_s=deadline,
                         since_s=seconds_arg(since, "--since"))
    if hops is not None:
        query.hop_depth = hops
    report = asyncio.run(diagnose_message(load_cluster_spec(config, host), query))
    Output(output, output_file, fail_on).report(report)


@app.command("agent", help=AGENT_HELP)
def agent(
    agent_type: str = typer.Argument(..., metavar="TYPE", help="The agent type."),
    import_target: str = typer.Option(None, "--import", help="module:Class to import in a child process."),
    error: str = typer.Option(None, "--error", help="A traceback or error line to classify, or @file."),
    python: str = typer.Option(None, "--python", help="Interpreter for --import (default: agentops' own)."),
    payload_type: str = PayloadTypeOpt,
    payload: str = PayloadOpt,
    host: str = HostOpt,
    config: str = HostConfigOpt,
    deadline: float = DeadlineOpt,
    since: str = SinceOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    import asyncio
    import sys

    from agentops.diagnose.agent import AgentQuery, diagnose_agent, validate_import_target

    if import_target is not None:
        try:
            validate_import_target(import_target)
        except ValueError as exc:
            fail(str(exc))
    if payload is not None and not payload_type:
        fail("--payload needs --payload-type (the message class name the agent handles)")
    if python is not None:
        import shutil

        if shutil.which(python) is None:
            fail(f"--python: {python} is not an executable interpreter")
    offline = import_target is not None or error is not None
    cfg, cluster = load_config_and_cluster(config, host, required=not offline)
    query = AgentQuery(agent_type=agent_type, import_target=import_target, error_text=read_arg(error, "--error"),
                       python=python or sys.executable, payload_type=payload_type,
                       payload=read_arg(payload, "--payload"), deadline_s=deadline,
                       since_s=seconds_arg(since, "--since"))
    report = asyncio.run(diagnose_agent(cluster, query, cfg))
    Output(output, output_file, fail_on).report(report)


@app.command("publish", help=PUBLISH_HELP)
def publish(
    topic: str = typer.Option(..., "--topic", help="The topic type the event is published to."),
    source: str = typer.Option("default", "--source", help="The topic source (the receiving agent's key); "
                               "AutoGen's DefaultTopicId uses \"default\"."),
    host: str = HostOpt,
    config: str = HostConfigOpt,
    deadline: float = DeadlineOpt,
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    import asyncio

    from agentops.diagnose.publish import PublishQuery, diagnose_publish

    if not topic.strip():
        fail("--topic must not be empty")
    query = PublishQuery(topic=topic, source=source, deadline_s=deadline)
    report = asyncio.run(diagnose_publish(load_cluster_spec(config, host), query))
    Output(output, output_file, fail_on).report(report)
