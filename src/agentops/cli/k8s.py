"""`agentops k8s audit`: one read-only snapshot of the namespace(s), judged by the k8s command pack."""

from __future__ import annotations

from pathlib import Path

import typer

from agentops.cli.common import (
    ConfigOpt,
    FailOn,
    FailOnOpt,
    Output,
    OutputFileOpt,
    OutputFormat,
    OutputOpt,
    fail,
    split_csv,
)

HELP = "Kubernetes workloads of an AutoGen cluster, read-only."

AUDIT_HELP = """Audit the workloads: one read-only snapshot of the namespace(s), judged by the k8s pack's rules.

Generic rules (ready vs desired replicas, stuck rollouts, CrashLoopBackOff, OOMKilled and other last \
terminations, restarts, Pending/Unschedulable, requests/limits, probes, Services without ready endpoints, \
:latest images, missing Ingress TLS secrets, Warning events) and AutoGen ones (a gRPC probe on the AgentRpc \
host port, a worker with more than one replica, more than one host replica, a one-replica host without a \
PodDisruptionBudget, a gRPC probe on a worker, which serves no gRPC). With --scrape, it also measures what \
is served: each pod's prometheus.io port, the live AgentRpc host's owners against the Ready worker pods (a pod \
owning none of the agent types it declares in agentops.io/agent-types, a type with no live owner pod), and the \
days left on the certificate each Ingress TLS host serves; what cannot be reached is UNKNOWN, never OK. \
Thresholds and role selectors are data: checks/k8s.yaml, overridable by id from a \
k8s.yaml in the config's pack_dirs.

The cluster is found as kubectl finds it (--kubeconfig, $KUBECONFIG, ~/.kube/config, --context; inside a pod \
its service account). --from-bundle DIR runs the same rules offline on `kubectl get -o json` dumps (or YAML \
manifests). Secret values are never read (names only).

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN or bad flags (see --fail-on).

Examples:

  agentops k8s audit -n agents

  agentops k8s audit -A --context prod -o json --fail-on critical

  kubectl get deploy,sts,pods,svc,endpoints,events,ingress,pdb,hpa -n agents -o json > dump/agents.json
  agentops k8s audit --from-bundle dump/ -o junit

  agentops k8s audit -n agents --scrape --agentrpc-host 127.0.0.1:50051   # after kubectl port-forward
"""

app = typer.Typer(help=HELP, no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="k8s", help=HELP)


@app.command("audit", help=AUDIT_HELP)
def audit(
    config: str = ConfigOpt,
    kubeconfig: str = typer.Option(None, "--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG, "
                                   "~/.kube/config; none and inside a pod: the service account)."),
    context: str = typer.Option(None, "--context", help="Kubeconfig context (default: its current context)."),
    namespace: list[str] = typer.Option(None, "--namespace", "-n", help="Namespace(s) to audit (repeat or "
                                        "comma-separate; default: the context's)."),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="Audit every namespace."),
    from_bundle: Path = typer.Option(None, "--from-bundle", help="Audit `kubectl get -o json` dumps (and YAML "
                                     "manifests) in this directory instead of a live cluster.",
                                     file_okay=False),
    scrape: bool = typer.Option(False, "--scrape", help="Also measure what the pods and Ingresses serve, from "
                                "here: each pod's prometheus.io port, the AgentRpc host's registrations against "
                                "the worker pods, the certificate each Ingress TLS host serves (run where pod IPs "
                                "are reachable: inside the cluster, or a routed pod network)."),
    agentrpc_host: str = typer.Option(None, "--agentrpc-host", metavar="HOST:PORT", help="With --scrape: ask "
                                      "this AgentRpc host instead of the host pods' IP:port (a port-forward)."),
    ingress_address: str = typer.Option(None, "--ingress-address", metavar="HOST[:PORT]", help="With --scrape: "
                                        "connect here for every Ingress TLS host instead of its status.loadBalancer "
                                        "address (port 443 by default)."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, max=3600, help="Deadline of each API request "
                                  "(and of loading the kubeconfig, exec plugins included) and, with --scrape, "
                                  "of each connection."),
    output: OutputFormat = OutputOpt,
    output_file: Path = OutputFileOpt,
    fail_on: FailOn = FailOnOpt,
) -> None:
    import asyncio
    import time

    from agentops import STARTED_MONOTONIC, STARTED_WALL
    from agentops.core.config import load_config
    from agentops.core.format import utc_stamp
    from agentops.core.model import Observation, Report
    from agentops.core.packs import command_specs
    from agentops.core.target import split_host_port
    from agentops.k8s import audit as rules
    from agentops.k8s.snapshot import read_bundle

    if (agentrpc_host is not None or ingress_address is not None) and not scrape:
        fail("--agentrpc-host and --ingress-address take effect with --scrape only")
    overrides = (("--agentrpc-host", agentrpc_host, None), ("--ingress-address", ingress_address, 443))
    for flag, value, default_port in overrides:
        if value is not None:
            try:
                split_host_port(value, default_port, what=flag)
            except ValueError as exc:
                fail(str(exc))
    cfg = load_config(config)
    specs = command_specs("k8s", cfg)
    namespaces = split_csv(namespace)
    if from_bundle is not None:
        snap = read_bundle(from_bundle)
        if namespaces:
            snap.only(namespaces)
    else:
        from agentops.k8s.access import KubeAccess, KubeError
        from agentops.k8s.snapshot import read_api

        access = KubeAccess(kubeconfig=kubeconfig, context=context, all_namespaces=all_namespaces, timeout=timeout)
        try:
            snap = asyncio.run(read_api(access, namespaces or None))
        except KubeError as exc:
            results = rules.snapshot_failed(specs, "API server", Observation.failure(exc.reason, exc.message))
            data = {"source": "API server", "namespaces": namespaces or None, "objects": {}, "denied": []}
            snap = None
    if snap is not None:
        if scrape:
            from agentops.probes.k8s import measure_served

            asyncio.run(measure_served(snap, rules.role_params(specs), timeout, agentrpc_host, ingress_address))
        results = rules.audit(snap, specs)
        data = {"source": snap.source, "namespaces": snap.namespaces, "objects": snap.counts(),
                "denied": snap.denials()}
    report = Report(kind="k8s.audit", started_at=utc_stamp(STARTED_WALL),
                    duration_s=time.monotonic() - STARTED_MONOTONIC, results=results, data=data)
    Output(output, output_file, fail_on).report(report)
