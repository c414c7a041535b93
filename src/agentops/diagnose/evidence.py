"""Named evidence predicates over a diagnosis' judged results: what a failure mode requires and what rules it out.

Each failure mode in `knowledge.MODES` names, as data, the predicates that must hold for its verdict
(`requires`) and those that forbid it (`rules_out`); the verdict engine (`verdict._verdict`) gives a rule's
candidate only when `admission()` says so. A predicate reads only the judged results (status, reason, facts,
metrics), like the rules, so a verdict can be recomputed from a report. It answers True, False, or None when
the evidence that would tell was not gathered (a process, log or metrics endpoint not configured, a log level
too high): "not measured" is not "measured and absent", and the `unexplained` verdict says which evidence
would decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentops.core.model import Reason, Result, Status
from agentops.diagnose.engine import NOT_RUN, Evidence


@dataclass
class Subject:
    """What is being diagnosed."""

    to_type: str
    key: str
    from_type: str | None = None
    payload_type: str | None = None
    message_id: str | None = None
    address: str = ""


Test = Callable[[Evidence, "Subject | None"], "bool | None"]


@dataclass(frozen=True)
class Predicate:
    name: str
    says: str  # what it means when it holds, as an evidence line reads
    decide: str  # what would tell, when the evidence was not gathered
    test: Test


PREDICATES: dict[str, Predicate] = {}


def predicate(name: str, says: str, decide: str) -> Callable[[Test], Test]:
    def register(fn: Test) -> Test:
        PREDICATES[name] = Predicate(name, says, decide, fn)
        return fn
    return register


def holds(name: str, ev: Evidence, s: Subject | None) -> bool | None:
    return PREDICATES[name].test(ev, s)


@dataclass
class Admission:
    """Whether a mode's verdict follows from the evidence, and why not."""

    mode: str
    missing: list[str] = field(default_factory=list)  # required, measured and false
    unknown: list[str] = field(default_factory=list)  # required, not measured
    contrary: list[str] = field(default_factory=list)  # a rules_out predicate that holds

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unknown or self.contrary)

    def summary(self) -> str:
        parts = []
        if self.contrary:
            parts.append("ruled out by " + "; ".join(PREDICATES[n].says for n in self.contrary))
        if self.missing:
            parts.append("not seen: " + "; ".join(PREDICATES[n].says for n in self.missing))
        if self.unknown:
            parts.append("not measured: " + "; ".join(PREDICATES[n].says for n in self.unknown))
        return f"{self.mode} considered, " + ", ".join(parts)


def admission(mode_id: str, requires: Iterable[str], rules_out: Iterable[str], ev: Evidence,
              s: Subject | None) -> Admission:
    a = Admission(mode_id)
    for name in requires:
        value = holds(name, ev, s)
        if value is None:
            a.unknown.append(name)
        elif not value:
            a.missing.append(name)
    a.contrary = [name for name in rules_out if holds(name, ev, s)]
    return a


# --------------------------------------------------------------------------------------------- readers

def _failed(r: Result | None) -> bool:
    return r is not None and r.reason is not None


def signals(ev: Evidence, check_id: str, *, during_only: bool = False) -> list[dict[str, Any]]:
    """The log signals of a logs.* layer: those written during the diagnosis, and (unless `during_only`) the
    window's."""
    facts = ev.facts(check_id)
    found = list(facts.get("during_diagnosis", []))
    if not during_only:
        found += facts.get("recent", [])
    return found


def ping_outcome(ping: Result | None) -> str | None:
    """How the probe message ended: reply, error, no_reply, connect_failed; None when no ping was sent. A ping
    layer cut at its budget (the hard stop, on a machine too busy to let the ping's own deadline report first)
    carries no facts, yet no reply came within the budget: that is a no_reply, never "not measured" (which would
    let `healthy` be admitted against a CRITICAL ping). A layer the deadline left no time for sent nothing."""
    if ping is None or ping.facts.get(NOT_RUN):
        return None
    outcome = ping.facts.get("outcome")
    if outcome is None and ping.reason is Reason.TIMEOUT:
        return "no_reply"
    return outcome


def _outcome(ev: Evidence) -> str | None:
    return ping_outcome(ev.get("agent.ping"))


def _owner_row(ev: Evidence, s: Subject | None) -> dict[str, Any]:
    workers, proc = ev.get("cluster.workers"), ev.get("worker.process")
    rows = {row["worker"]: row for row in (workers.facts.get("workers", []) if workers else [])}
    if proc is not None and proc.target in rows:
        return rows[proc.target]
    to_type = s.to_type if s is not None else ""
    return next((row for row in rows.values() if to_type in row.get("agent_types", [])), {})


def _live(processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in processes if p.get("state") not in ("Z", "X")]


# ------------------------------------------------------------------------------------------ the network

@predicate("dns-failed", "the host name does not resolve", "agentrpc.dns")
def _dns_failed(ev: Evidence, s: Subject | None) -> bool | None:
    for check_id in ("agentrpc.dns", "agentrpc.channel", "agentrpc.inventory"):
        r = ev.get(check_id)
        if r is not None and r.reason is Reason.DNS:
            return True
    return None if ev.get("agentrpc.dns") is None else False


@predicate("tcp-refused", "the host port refused the connection", "agentrpc.tcp")
def _tcp_refused(ev: Evidence, s: Subject | None) -> bool | None:
    tcp = ev.get("agentrpc.tcp")
    if tcp is None:
        return None
    return tcp.reason is Reason.CONNECT and "refused" in tcp.message


@predicate("tcp-unreachable", "the TCP connection timed out or the network is unreachable", "agentrpc.tcp")
def _tcp_unreachable(ev: Evidence, s: Subject | None) -> bool | None:
    tcp = ev.get("agentrpc.tcp")
    if tcp is None:
        return None
    return tcp.reason in (Reason.TIMEOUT, Reason.CONNECT) and not _tcp_refused(ev, s)


@predicate("host-silent", "the host accepts TCP but its gRPC service does not answer",
           "the gRPC channel and GetSubscriptions layers (agentrpc.channel, agentrpc.inventory)")
def _host_silent(ev: Evidence, s: Subject | None) -> bool | None:
    if _outcome(ev) == "connect_failed":
        return True
    layers = [ev.get("agentrpc.channel"), ev.get("agentrpc.inventory")]
    if all(r is None for r in layers):
        return None
    return any(r is not None and r.reason is not None and r.reason not in (Reason.PROTOCOL, Reason.DNS)
               for r in layers)


@predicate("host-speaks-other-protocol", "the address answers, but not as an AgentRpc host (UNIMPLEMENTED, "
           "not HTTP/2)", "the gRPC channel and GetSubscriptions layers")
def _not_agentrpc(ev: Evidence, s: Subject | None) -> bool | None:
    layers = [ev.get("agentrpc.channel"), ev.get("agentrpc.inventory")]
    if all(r is None for r in layers):
        return None
    return any(r is not None and r.reason is Reason.PROTOCOL for r in layers)


@predicate("host-answers", "the host answered GetSubscriptions", "the host's inventory (agentrpc.inventory)")
def _host_answers(ev: Evidence, s: Subject | None) -> bool | None:
    inv = ev.get("agentrpc.inventory")
    return None if inv is None else inv.reason is None


# --------------------------------------------------------------------------------- registration, workers

@predicate("type-owned", "a worker owns the type on the host", "the type's registration (agent.registration)")
def _type_owned(ev: Evidence, s: Subject | None) -> bool | None:
    reg = ev.get("agent.registration")
    if reg is None or "owned" not in reg.facts:
        return None
    return bool(reg.facts["owned"])


@predicate("type-not-owned", "no worker owns the type on the host", "the type's registration (agent.registration)")
def _type_not_owned(ev: Evidence, s: Subject | None) -> bool | None:
    owned = _type_owned(ev, s)
    return None if owned is None else not owned


@predicate("type-unroutable", "the host cannot route to the type (nobody owns it, or it logged 'Agent X not "
           "found' during the diagnosis)", "the type's registration and the host's log (options.logs)")
def _type_unroutable(ev: Evidence, s: Subject | None) -> bool | None:
    if any(sig["kind"] == "agent-not-found" for sig in signals(ev, "logs.host", during_only=True)):
        return True
    return _type_not_owned(ev, s)


@predicate("worker-orphaned", "the type's configured worker is alive with none of its types registered",
           "every configured worker's process (options.process) and the host's inventory (cluster.workers)")
def _orphaned(ev: Evidence, s: Subject | None) -> bool | None:
    workers = ev.get("cluster.workers")
    if workers is None:
        return None
    row = _owner_row(ev, s)
    if not row or "alive" not in row:
        return None
    return row["worker"] in workers.facts.get("orphans", [])


@predicate("host-started-after-worker", "the host's process started after the worker's",
           "the start times of the host's and the worker's processes (options.process of the agentrpc target "
           "and of the worker, on this machine)")
def _host_after_worker(ev: Evidence, s: Subject | None) -> bool | None:
    host_started = ev.facts("cluster.workers").get("host_started_at")
    worker_started = _owner_row(ev, s).get("started_at")
    if not host_started or not worker_started:
        return None
    return bool(host_started > worker_started)  # ISO-8601 UTC stamps of one format order as times


def pod_breached(ev: Evidence) -> set[str] | None:
    """Which metrics of the owning worker's pod (`worker.pod`, diagnose/pod_layer.py) the pack judged out of
    bounds; None when the pod was not read."""
    pod = ev.get("worker.pod")
    if pod is None or not pod.metrics:
        return None
    return set(pod.facts.get("breached", []))


@predicate("worker-absent", "the owning worker's process is not running (absent or a zombie; in a pod: its "
           "container not running)", "the owning worker's process (options.process of the worker) or pod (options.pod)")
def _worker_absent(ev: Evidence, s: Subject | None) -> bool | None:
    proc = ev.get("worker.process")
    if proc is not None and "processes" in proc.facts:
        return not _live(proc.facts["processes"])
    pod = pod_breached(ev)
    if pod is not None:
        return "not_running" in pod
    row = _owner_row(ev, s)
    return None if "alive" not in row else row["alive"] is False


@predicate("worker-stopped", "the owning worker's process is stopped (state T)",
           "the owning worker's process (options.process of the worker)")
def _worker_stopped(ev: Evidence, s: Subject | None) -> bool | None:
    proc = ev.get("worker.process")
    if proc is None or ("state" not in proc.facts and "processes" not in proc.facts):
        return None
    return proc.facts.get("state") in ("T", "t")


@predicate("sender-not-owned", "the --from type is not registered on the host", "--from and its registration")
def _sender_gone(ev: Evidence, s: Subject | None) -> bool | None:
    sender = ev.get("sender.registration")
    if sender is None or "owned" not in sender.facts:
        return None
    return not sender.facts["owned"]


# ----------------------------------------------------------------------------------------- the message

@predicate("payload-too-large", "the serialized message is over gRPC's limit", "the payload (message.payload)")
def _too_large(ev: Evidence, s: Subject | None) -> bool | None:
    payload = ev.get("message.payload")
    return None if payload is None else bool(payload.facts.get("too_large"))


@predicate("ping-replied", "the probe message got a reply", "a ping (a payload for the type: worker options.ping)")
def _replied(ev: Evidence, s: Subject | None) -> bool | None:
    outcome = _outcome(ev)
    return None if outcome is None else outcome == "reply"


@predicate("ping-no-reply", "the probe message got no reply within the deadline",
           "a ping (a payload for the type: worker options.ping)")
def _no_reply(ev: Evidence, s: Subject | None) -> bool | None:
    outcome = _outcome(ev)
    return None if outcome is None else outcome == "no_reply"


@predicate("reply-late", "the reply came, later than the agent.ping check allows",
           "a ping (a payload for the type: worker options.ping)")
def _late(ev: Evidence, s: Subject | None) -> bool | None:
    ping = ev.get("agent.ping")
    if ping is None or _outcome(ev) is None:
        return None
    return _outcome(ev) == "reply" and ping.status is Status.WARNING


@predicate("reply-late-or-missing", "the reply came late or not at all",
           "a ping (a payload for the type: worker options.ping)")
def _late_or_missing(ev: Evidence, s: Subject | None) -> bool | None:
    late, none = _late(ev, s), _no_reply(ev, s)
    return None if late is None and none is None else bool(late or none)


@predicate("handler-error-seen", "the handler failed: the ping's error reply, or a traceback in the owning "
           "worker's log during the probe", "a ping and the worker's log (options.logs)")
def _handler_error(ev: Evidence, s: Subject | None) -> bool | None:
    if _outcome(ev) == "error":
        return True
    if any(sig["kind"].startswith("exception:") for sig in signals(ev, "logs.worker", during_only=True)):
        return True
    return None if ev.get("agent.ping") is None and ev.get("logs.worker") is None else False


_PAYLOAD_KINDS = ("unhandled-message", "exception:payload-malformed", "exception:payload-fields",
                  "exception:payload-type-unknown")


@predicate("payload-rejected-in-log", "the worker's log shows it could not decode or dispatch the payload",
           "the owning worker's log (options.logs)")
def _payload_rejected(ev: Evidence, s: Subject | None) -> bool | None:
    if ev.get("logs.worker") is None:
        return None
    return any(sig["kind"] in _PAYLOAD_KINDS for sig in signals(ev, "logs.worker", during_only=True))


@predicate("reply-unserializable-in-log", "the worker's log shows the handler's result could not be serialized "
           "(it returned None, or a type without a serializer)", "the owning worker's log (options.logs)")
def _unserializable(ev: Evidence, s: Subject | None) -> bool | None:
    if ev.get("logs.worker") is None:
        return None
    return any(sig["kind"] in ("exception:handler-returned-none", "exception:serializer-missing")
               for sig in signals(ev, "logs.worker", during_only=True))


@predicate("host-log-collision", "the host's log shows a request-id KeyError in _process_response",
           "the host's log (options.logs of the agentrpc target)")
def _collision(ev: Evidence, s: Subject | None) -> bool | None:
    if ev.get("logs.host") is None:
        return None
    return any(sig["kind"].endswith("request-id-collision") for sig in signals(ev, "logs.host"))


@predicate("other-type-failed-during-probe", "the host logged failures for other agent types while the probe "
           "was out (the diagnosed agent may be waiting on one of them: a broken downstream hop)",
           "the host's log (options.logs of the agentrpc target)")
def _downstream(ev: Evidence, s: Subject | None) -> bool | None:
    host = ev.get("logs.host")
    if host is None:
        return None
    return bool(host.facts.get("other_types_during_probe"))


def saturation(ev: Evidence, s: Subject | None) -> list[tuple[str, Result | None]]:
    """What was measured to be saturated, each with the result that shows it: the worker's queue or p95, its
    CPU (as its check judged it), the cluster's processes starved of CPU, or the worker taking the probe's
    request and logging no error (still in the handler)."""
    metrics, cpu, machine = ev.get("worker.metrics"), ev.get("worker.cpu"), ev.get("machine.starvation")
    ping = ev.get("agent.ping")
    m = metrics.metrics if metrics is not None else {}
    timeout = (ping.facts.get("timeout_s") if ping is not None else 0) or 0
    found: list[tuple[str, Result | None]] = []
    if m.get("queue_size", 0) > 0:
        found.append((f"{m['queue_size']:.0f} message(s) in the worker's queue or in handlers", metrics))
    p95 = m.get("p95_s")
    # Half the probe's own deadline: the handler's usual time, not a threshold on the worker.
    if isinstance(p95, float) and p95 == p95 and p95 > max(timeout, 1.0) * 0.5:
        found.append((f"the handler's p95 is {p95:.2f} s", metrics))
    if cpu is not None and cpu.reason is Reason.THRESHOLD:
        found.append((f"the worker used {cpu.metrics['cpu_percent']:.0f}% of a core", cpu))
    if machine is not None and machine.reason is Reason.THRESHOLD:
        found.append((f"the cluster's processes were starved of CPU ({machine.message})", machine))
    if _no_reply(ev, s) and ev.facts("logs.worker").get("probe_delivered") \
            and not _handler_error(ev, s):
        who = f"{s.to_type}/{s.key}" if s is not None else "the type"
        found.append((f"the worker took the request (its log: 'Processing request … to {who}') and logged no "
                      "error: the handler was still running", ev.get("logs.worker")))
    return found


@predicate("saturation-measured", "saturation of the worker or host (its queue, p95, CPU, CPU starvation, or "
           "the request taken and still in its handler)",
           "the worker's metrics (options.metrics_url), its process (options.process: CPU, starvation) or its "
           "log at INFO (options.logs: 'Processing request')")
def _saturated(ev: Evidence, s: Subject | None) -> bool | None:
    if saturation(ev, s):
        return True
    # A handler that awaits (a slow call, a lock) burns no CPU: only the worker's queue/latency metrics or its
    # INFO log line can show it busy. Without either, "not saturated" was not measured, whatever the CPU says.
    metrics = ev.get("worker.metrics")
    delivered_known = ev.facts("logs.worker").get("probe_delivered") is not None
    if (metrics is None or metrics.reason is not None) and not delivered_known:
        return None
    return False


# --------------------------------------------------------------------------------- diagnose agent, publish

@predicate("import-failed", "importing the agent class in a child process failed", "--import module:Class")
def _import_failed(ev: Evidence, s: Subject | None) -> bool | None:
    r = ev.get("agent.import")
    return None if r is None else _failed(r)


@predicate("error-text-classified", "the --error text is a known failure", "--error TEXT")
def _error_known(ev: Evidence, s: Subject | None) -> bool | None:
    r = ev.get("agent.error")
    return None if r is None else _failed(r)


@predicate("topic-has-no-subscribers", "no subscription on the host matches the topic",
           "the host's subscriptions (publish.subscribers)")
def _no_subscribers(ev: Evidence, s: Subject | None) -> bool | None:
    subs = ev.get("publish.subscribers")
    return None if subs is None else subs.status is not Status.OK


@predicate("topic-has-subscribers", "a subscription on the host matches the topic",
           "the host's subscriptions (publish.subscribers)")
def _subscribers(ev: Evidence, s: Subject | None) -> bool | None:
    none = _no_subscribers(ev, s)
    return None if none is None else not none


def _receivers(ev: Evidence) -> list[Result]:
    return [r for r in ev.results if r.id == "publish.receiver"]


@predicate("receiver-not-owned", "a receiving type is owned by no worker", "the receivers' registration")
def _receiver_unowned(ev: Evidence, s: Subject | None) -> bool | None:
    rs = [r for r in _receivers(ev) if "owned" in r.facts]
    return None if not rs else any(not r.facts["owned"] for r in rs)


@predicate("receiver-dead", "a receiving type's worker is not running or stopped",
           "the receiving workers' processes (options.process)")
def _receiver_dead(ev: Evidence, s: Subject | None) -> bool | None:
    rs = [r for r in _receivers(ev) if "alive" in r.metrics or "stopped" in r.metrics]
    return None if not rs else any(r.metrics.get("alive") == 0.0 or r.metrics.get("stopped") == 1.0 for r in rs)


@predicate("receivers-alive", "every receiving type is owned by a running worker", "the receivers' layers")
def _receivers_ok(ev: Evidence, s: Subject | None) -> bool | None:
    rs = _receivers(ev)
    return None if not rs and ev.get("publish.subscribers") is None else all(r.status is Status.OK for r in rs)


@predicate("configured-worker-dead", "a configured worker's process is not running",
           "every configured worker's process (cluster.workers)")
def _configured_dead(ev: Evidence, s: Subject | None) -> bool | None:
    workers = ev.get("cluster.workers")
    return None if workers is None else bool(workers.facts.get("dead"))


# ------------------------------------------------------------------------------------------ worker starts

def _starts(ev: Evidence) -> list[Result]:
    """The judged start layers: the owner's (`worker.start`) and the other configured workers' (`cluster.start`);
    and the owner's pod (`worker.pod`), whose restarts the kubelet counts."""
    return [r for r in ev.results if r.id in ("worker.start", "cluster.start", "worker.pod")]


@predicate("start-error-seen", "a worker's stderr or log ends in the error it exited with, written since its "
           "start, and the pack judged that exit out of bounds",
           "the worker's stderr and log (options.stderr, options.logs) and its pid file")
def _start_error(ev: Evidence, s: Subject | None) -> bool | None:
    starts = _starts(ev)
    if not starts:
        return None
    return any(r.facts.get("last_error") and set(r.facts.get("breached", [])) & {"exit_error", "duplicate_registration"}
               for r in starts)


@predicate("restarts-over-limit", "a worker's supervisor restarted it more often than the pack allows (in a pod: "
           "its restart count, or CrashLoopBackOff)",
           "the worker's systemd unit (options.unit), its stderr and log (start records in the window), or its pod")
def _restarts(ev: Evidence, s: Subject | None) -> bool | None:
    starts = _starts(ev)
    if not starts:
        return None
    return any({"restarts", "crash_looping_containers"} & set(r.facts.get("breached", [])) for r in starts)


@predicate("pod-oom-killed", "the owning worker's container was last ended by the OOM killer (OOMKilled)",
           "the owning worker's pod (options.pod of the worker)")
def _pod_oom(ev: Evidence, s: Subject | None) -> bool | None:
    pod = pod_breached(ev)
    return None if pod is None else "oom_killed_containers" in pod


@predicate("pod-not-scheduled", "the owning worker's pod cannot be scheduled (PodScheduled=False Unschedulable, "
           "FailedScheduling events)", "the owning worker's pod (options.pod of the worker)")
def _pod_unschedulable(ev: Evidence, s: Subject | None) -> bool | None:
    pod = pod_breached(ev)
    return None if pod is None else bool({"unschedulable", "failed_scheduling_events"} & pod)


# ------------------------------------------------------------------------------------------- the hops

@predicate("downstream-verdict-broken", "a type the target calls was diagnosed, and its own verdict is not healthy",
           "the types the target calls (hop.calls: the host's log, or the target's outgoing-call metrics from "
           "agentops.instrument)")
def _downstream_broken(ev: Evidence, s: Subject | None) -> bool | None:
    hops = [r for r in ev.results if r.id == "hop.downstream" and (s is None or r.facts.get("caller") == s.to_type)]
    if not hops:
        return None if ev.get("hop.calls") is None else False
    return any(r.reason is not None for r in hops)
