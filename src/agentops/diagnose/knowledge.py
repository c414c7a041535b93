"""The known ways a message to an AutoGen agent fails to arrive: cause, the evidence that identifies each,
and the fix an experienced operator would apply (core.knowledge's FindingText: one title + Explanation type
for every command's findings). Data only; `verdict.py` decides which one the evidence
supports and fills in the blanks ({to}, {worker}, {pid}, …).

Layers follow the usual fault taxonomy: infrastructure (name resolution, network, machines), runtime (the
AgentRpc host, workers, registrations), application (handlers, payloads), integration (the contract between
sender and receiver: sizes, ids, serializers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentops.core.knowledge import Explanation, FindingText
from agentops.core.model import Finding, Status


@dataclass(frozen=True)
class FailureMode:
    id: str
    layer: str
    status: Status
    text: FindingText  # the one-line verdict and its cause and fix, filled with what the rule learned
    look_for: tuple[str, ...]  # the evidence that identifies it (also what docs/diagnose.md lists)
    # A mode whose severity depends on how it showed: the rule names the case ("late_reply"), this table says
    # what that case weighs, so the severity stays data beside the mode's words.
    cases: Mapping[str, Status] = field(default_factory=dict)
    # The evidence its verdict follows from, as names of `diagnose.evidence.PREDICATES`: every one of
    # `requires` must hold and none of `rules_out` may, or the verdict engine gives the next rule's finding
    # (and, when none fits, `unexplained`, saying which evidence was missing). Empty by default so a mode added
    # elsewhere still loads; tests/unit/test_mode_evidence.py fails until it declares them.
    requires: tuple[str, ...] = ()
    rules_out: tuple[str, ...] = ()

    def finding(self, values: dict[str, Any], evidence: list[str], checks: list[str],
                case: str | None = None, judged: Status | None = None) -> Finding:
        # A finding that rests on one judged check takes that check's status (a user's pack may weigh it
        # otherwise); else the mode's own severity, or its case's.
        status = judged if judged is not None else self.status if case is None else self.cases[case]
        return self.text.finding(self.id, status, values, evidence=evidence, checks=checks)


def _mode(mode_id: str, layer: str, status: Status, title: str, cause: str, fix: str,
          look_for: tuple[str, ...], cases: Mapping[str, Status] | None = None, *,
          requires: tuple[str, ...] = (), rules_out: tuple[str, ...] = ()) -> FailureMode:
    return FailureMode(mode_id, layer, status, FindingText(title, Explanation(cause, fix)), look_for,
                       dict(cases or {}), requires, rules_out)


MODES: dict[str, FailureMode] = {m.id: m for m in (
    _mode(
        "healthy", "runtime", Status.OK,
        "messages to {to} arrive: {replier} answered in {rtt_ms} ms",
        "every layer answered: the host is up, {type} is registered and owned by a running worker, and a ping "
        "round trip succeeded",
        "nothing to fix; if a message still does not arrive, diagnose it with --message-id and the sender's "
        "--from type",
        ("ping reply within the deadline", "type registered and owned", "owning worker running"),
        requires=("host-answers", "type-owned"),
        # Not worker-absent: a reply proves the owner runs, whatever the configured process lookup found.
        rules_out=("ping-no-reply", "reply-late", "handler-error-seen", "worker-stopped"),
    ),
    _mode(
        "dns", "infrastructure", Status.CRITICAL,
        "the AgentRpc host name {hostname} does not resolve",
        "name resolution of {hostname} failed ({detail})",
        "fix the host name in the config / --host, or the DNS record or /etc/hosts entry it relies on",
        ("net.dns failure",),
        requires=("dns-failed",),
    ),
    _mode(
        "host-down", "infrastructure", Status.CRITICAL,
        "nothing listens on the AgentRpc host address {address}",
        "the TCP connection was refused: the host process is not running or listens on another port",
        "start the AgentRpc host (GrpcWorkerAgentRuntimeHost) on {address}, or fix the address; then restart "
        "the workers, which do not re-register by themselves",
        ("net.tcp refused",),
        requires=("tcp-refused",),
    ),
    _mode(
        "network", "infrastructure", Status.CRITICAL,
        "the network path to {address} is broken",
        "{detail}",
        "check routing and firewalls between this machine and {address} (a dropped SYN looks like a timeout)",
        ("net.tcp timeout or unreachable",),
        requires=("tcp-unreachable",),
    ),
    _mode(
        "host-unresponsive", "runtime", Status.CRITICAL,
        "the AgentRpc host at {address} accepts connections but does not answer{host_state}",
        "TCP connects (the kernel accepts) but the gRPC handshake or GetSubscriptions got no answer within the "
        "deadline: the host process is stopped, deadlocked or saturated",
        "{host_fix}",
        ("TCP ok", "gRPC channel or GetSubscriptions timeout", "host process state"),
        requires=("host-silent",),
        rules_out=("tcp-refused",),
    ),
    _mode(
        "not-agentrpc", "integration", Status.CRITICAL,
        "{address} is not an AutoGen AgentRpc host",
        "{detail}",
        "point the config's agentrpc target (or --host) at the GrpcWorkerAgentRuntimeHost's address",
        ("gRPC UNIMPLEMENTED or no HTTP/2",),
        requires=("host-speaks-other-protocol",),
    ),
    _mode(
        "host-restarted", "runtime", Status.CRITICAL,
        "the host restarted and the workers are orphaned: {worker} is alive but {type} is not registered",
        "worker {worker} (pid {pid}) is running{worker_since}, but none of its agent types ({expected}) are "
        "registered on the host{host_since}. AutoGen workers never re-register after the host restarts; their "
        "messages go nowhere",
        "restart the orphaned workers ({orphans}); to avoid it next time, restart workers whenever the host "
        "restarts (systemd PartOf=/BindsTo=, or a supervisor watching the host)",
        ("type not owned", "expected worker process alive", "all its types missing from the host"),
        requires=("type-not-owned", "worker-orphaned", "host-started-after-worker"),
        rules_out=("worker-absent",),
    ),
    _mode(
        "type-not-registered", "runtime", Status.CRITICAL,
        "agent type {type} is not registered on the host",
        "no worker owns {type} (RegisterAgent for it succeeded for a prober){expected_note}; the host drops every "
        "message to it with 'Agent {type} not found, failed to deliver message.' and the sender waits forever",
        "{register_fix}",
        ("RegisterAgent accepted the type", "host log 'Agent <type> not found'"),
        requires=("type-unroutable",),
        rules_out=("ping-replied",),
    ),
    _mode(
        "worker-dead", "runtime", Status.CRITICAL,
        "worker {worker}, which owns {type}, is not running",
        "{detail}; the host removed its agent types when the connection dropped, so messages to {type} are "
        "dropped ('Agent {type} not found')",
        "start worker {worker} again (and find out why it exited: its log, dmesg for the OOM killer, the "
        "service manager's status)",
        ("expected worker process absent or zombie", "host log 'Removing agent type'"),
        requires=("worker-absent",),
        rules_out=("ping-replied",),
    ),
    _mode(
        "worker-frozen", "runtime", Status.CRITICAL,
        "worker {worker} is frozen (process state {state}{stopped_for}); messages to {type} wait for it",
        "worker {worker} (pid {pid}) owns {type} and holds its connection to the host, but the process is "
        "stopped, so nothing is processed; the host has no liveness check and queues the messages",
        "resume it (kill -CONT {pid}) if it was stopped on purpose or by a debugger, or restart it; find who "
        "stopped it (a debugger, a job-control ^Z, a container freeze)",
        ("owning worker in state T", "ping no reply", "metrics endpoint not answering"),
        requires=("worker-stopped",),
        rules_out=("ping-replied",),
    ),
    _mode(
        "handler-raised", "application", Status.CRITICAL,
        "the handler of {type} raised: {error}",
        "the message arrives and the handler fails; the caller gets the error string and no result{error_cause}",
        "{error_fix}",
        ("ping answered with RpcResponse.error", "worker log traceback", "agent_errors metric"),
        requires=("handler-error-seen",),
        rules_out=("ping-replied",),
    ),
    _mode(
        "handler-no-reply", "application", Status.CRITICAL,
        "the handler of {type} runs but no reply can be sent: {detail}",
        "{cause_detail}",
        "{fix_detail}",
        ("ping no reply", "worker log 'Unknown type NoneType' / serializer error", "worker running"),
        requires=("ping-no-reply", "reply-unserializable-in-log"),
    ),
    _mode(
        "payload-invalid", "application", Status.CRITICAL,
        "the payload ({payload_type}) is not one {type} can handle: {detail}",
        "the worker could not decode or dispatch the message ({cause_detail}), so it never replies",
        "send the payload type the agent handles with the fields its message class declares (the lab's agents "
        "take Ping {{\"text\": str}}); check the sender's message class name and version",
        ("ping no reply", "worker log 'Unhandled message' / JSONDecodeError / TypeError"),
        requires=("ping-no-reply", "payload-rejected-in-log"),
    ),
    _mode(
        "message-too-large", "integration", Status.CRITICAL,
        "the message is {size} bytes, over the {limit}-byte gRPC limit",
        "gRPC's default maximum message size is 4 MiB; the host drops the sender's whole connection on a bigger "
        "message, so this message and every later one from that sender hang",
        "send large data by reference (object storage, Redis key, URL) instead of inline, or raise "
        "grpc.max_send_message_length/max_receive_message_length on the host and every worker",
        ("serialized size > 4 MiB",),
        requires=("payload-too-large",),
    ),
    _mode(
        "request-id-collision", "integration", Status.CRITICAL,
        "request ids collided on the host: replies were crossed or lost ({count} KeyError(s), last id {rid})",
        "two senders used the same request id toward the same worker; the host keeps one reply slot per (worker, "
        "request id), so one caller got the other's reply and the other none (microsoft/autogen#7016). The "
        "Python runtime numbers requests 1, 2, 3… per process, so two runtimes sending concurrently collide",
        "make request ids unique across callers (a uuid per request in custom clients), avoid several sender "
        "runtimes messaging one worker concurrently, or upgrade AutoGen once the host keys replies by caller",
        ("host log KeyError '<request id>' in _process_response",),
        # The verdict when the message asked about, or the ping, collided; only in the log window it is a
        # secondary finding beside another verdict.
        {"in_window": Status.WARNING},
        requires=("host-log-collision",),
    ),
    _mode(
        "overload", "runtime", Status.WARNING,
        "{type} on {worker} is too slow: {detail}",
        "the worker is running and the message reached the handler, but the answer {late}: {cause_detail}",
        "find what the handler waits on (agentops profile / py-spy dump --pid {pid}); move blocking calls off "
        "the event loop, add capacity (another worker for other types), or give senders a longer deadline",
        ("ping late or no reply with worker running", "queue size > 0", "p95 above the deadline", "CPU"),
        # A reply that came late still arrived; one that did not come within the deadline is a lost message.
        {"late_reply": Status.WARNING, "no_reply": Status.CRITICAL},
        requires=("reply-late-or-missing", "saturation-measured"),
        # A handler waiting on a type the host could not deliver to is a broken hop, not a saturated worker.
        rules_out=("handler-error-seen", "worker-stopped", "worker-absent", "other-type-failed-during-probe"),
    ),
    _mode(
        "sender-disconnected", "runtime", Status.CRITICAL,
        "the sender {from_type} is not registered on the host: messages from it go nowhere",
        "{from_type} is not registered{sender_note}. A worker whose connection the host dropped (a message over 4 "
        "MiB does that, and so does a host restart) loses its registrations, and every call it makes hangs",
        "restart the sender's worker{sender_worker}; if its log shows RESOURCE_EXHAUSTED or 'larger than max', stop "
        "sending oversized messages first",
        ("--from type not owned", "its worker alive", "RESOURCE_EXHAUSTED in its log"),
        requires=("sender-not-owned",),
    ),
    _mode(
        "agent-import-failed", "application", Status.CRITICAL,
        "{target} cannot be imported: {exception}",
        "{cause}",
        "{fix}",
        ("the import in a child process failed", "the exception's type and message"),
        requires=("import-failed",),
    ),
    _mode(
        "agent-error", "application", Status.CRITICAL,
        "the error means: {cause}",
        "{exception}: {message}",
        "{fix}",
        ("the pasted traceback's exception lines",),
        requires=("error-text-classified",),
    ),
    _mode(
        "publish-delivered", "runtime", Status.OK,
        "an event published to {topic} (source {source}) reaches {receivers}",
        "{count} subscription(s) match topic type {topic}: {matches}; each receiving type is owned by a running "
        "worker, so the host delivers the event to it (agent key = the source, {source})",
        "nothing to fix; if the event still has no effect, diagnose the receiver's handler with "
        "`agentops diagnose agent TYPE`",
        ("a TypeSubscription or TypePrefixSubscription matches", "receiving type owned", "its worker running"),
        requires=("topic-has-subscribers", "receivers-alive"),
        rules_out=("topic-has-no-subscribers",),
    ),
    _mode(
        "nobody-subscribes", "runtime", Status.CRITICAL,
        "nobody subscribes to topic {topic}: an event published to it is dropped without a word",
        "none of the host's {total} subscriptions matches topic type {topic} (no TypeSubscription with that "
        "topic type, no TypePrefixSubscription whose prefix it starts with){near}. AutoGen's host returns at "
        "once from such a publish, with no error and no log line",
        "subscribe the receiving agent to the topic (@type_subscription(topic_type=\"{topic}\"), "
        "@default_subscription only covers \"default\", or runtime.add_subscription(TypeSubscription("
        "\"{topic}\", \"<agent type>\"))) in the worker that registers it, or publish to the topic it "
        "subscribes to; `agentops cluster inventory` lists the topics",
        ("no subscription matches the topic type",),
        requires=("topic-has-no-subscribers",),
    ),
    _mode(
        "publish-receiver-unregistered", "runtime", Status.CRITICAL,
        "{type} subscribes to {topic}, but no worker owns {type}: its events are dropped",
        "the subscription ({subscription}) is still on the host, but no client has registered agent type "
        "{type}{expected_note}; the host logs 'Agent {type} and its client not found for topic' and skips it",
        "start the worker that registers {type}{worker_hint}, or remove the stale subscription",
        ("subscription matches", "RegisterAgent for the type accepted (not owned)"),
        requires=("receiver-not-owned",),
    ),
    _mode(
        "publish-receiver-dead", "runtime", Status.CRITICAL,
        "{type} would receive {topic} events, but its worker {worker} is {state}",
        "{detail}; an event the host routes to {type} is not processed. When the host sees the connection drop "
        "it removes the worker's types and subscriptions, and the topic loses this subscriber",
        "start worker {worker} again (or resume it: kill -CONT {pid}) and find out why it stopped: its log, "
        "dmesg for the OOM killer, the service manager's status",
        ("receiving type's worker process absent, zombie or stopped",),
        requires=("receiver-dead",),
    ),
    _mode(
        "publish-subscriber-gone", "runtime", Status.CRITICAL,
        "worker {worker} (agent types {types}) is not running: the subscriptions it held are gone",
        "the host removes a worker's registrations and subscriptions when its connection drops; if {worker} "
        "subscribed to {topic}, that is why nobody receives it now",
        "start worker {worker} again (it registers and subscribes at start) and find out why it exited",
        ("configured worker process absent", "no subscription matches the topic"),
        requires=("configured-worker-dead",),
        # With a live subscriber the event is delivered: a dead worker elsewhere (a second replica that exited at
        # start, say) did not take this topic's subscriptions with it.
        rules_out=("topic-has-subscribers",),
    ),
    _mode(
        "worker-start-failed", "runtime", Status.CRITICAL,
        "worker {worker}{for_type} exited {when}: {error}",
        "{case_cause}; {worker} is not running, so {type_note}. Its last error (from {source}, written {at}): "
        "{error_cause}",
        "{error_fix}; then start {worker} again (and read its stderr: a crash at start is printed there, not to "
        "its log file)",
        ("configured worker not running (a pid file naming a dead pid)", "the last traceback in its stderr or log",
         "the supervisor's exit status"),
        # How it showed (logs/worker_start.py CASES), for the owner of the type. Another configured worker that
        # exited (a second worker whose type another client serves) is a secondary finding weighed by its judged
        # `cluster.start` check.
        {"duplicate-registration": Status.CRITICAL, "import-error": Status.CRITICAL,
         "host-unreachable": Status.CRITICAL, "error": Status.CRITICAL},
        requires=("start-error-seen",),
    ),
    _mode(
        "worker-crash-loop", "runtime", Status.CRITICAL,
        "worker {worker}{for_type} is crash-looping: restarted {count} times ({counted_by})",
        "its supervisor keeps starting it and it keeps exiting{error_note}; while it is down, messages to its "
        "types are dropped ('Agent X not found'), and each start registers them again only until it exits",
        "{error_fix}; look at its stderr and log at the moment it exits (journalctl -u <unit> when systemd runs "
        "it) and stop the loop until it is fixed (systemctl stop, or the supervisor's own stop)",
        ("restart count: systemd NRestarts, or start records ('Connecting to host:') in its log in the window",),
        requires=("restarts-over-limit",),
    ),
    _mode(
        "worker-oom-killed", "runtime", Status.CRITICAL,
        "worker {worker}{for_type} was killed for memory: container {container} of pod {pod} OOMKilled (exit code "
        "{exit_code}) at {at}",
        "the container went over its memory limit ({limit}) and the kernel's OOM killer ended it; {now}. While it is "
        "down the host has no client for its types, so messages to {type} are dropped ('Agent {type} not found')",
        "raise the container's memory limit (resources.limits.memory, now {limit}) or find what grows in the worker "
        "(its memory metrics, agentops profile on a replica); `kubectl describe pod {pod} -n {namespace}` shows "
        "the termination",
        ("container last terminated OOMKilled, exit code 137", "container not running", "restart count"),
        requires=("pod-oom-killed", "worker-absent"),
        rules_out=("ping-replied",),
    ),
    _mode(
        "worker-not-scheduled", "runtime", Status.CRITICAL,
        "worker {worker}{for_type} never started: its pod {pod} cannot be scheduled",
        "the scheduler finds no node for pod {pod} ({detail}); it stays Pending and no container starts, so no "
        "client registers {type} and messages to it are dropped ('Agent {type} not found')",
        "make a node fit the pod: free or add capacity for its requests, or fix its nodeSelector, affinity, "
        "tolerations or volume claims; `kubectl describe pod {pod} -n {namespace}` lists the FailedScheduling "
        "events",
        ("pod Pending, PodScheduled=False Unschedulable", "FailedScheduling events", "no container started"),
        requires=("pod-not-scheduled",),
        rules_out=("ping-replied",),
    ),
    _mode(
        "downstream-broken", "runtime", Status.CRITICAL,
        "{hops}: {broken_title}",
        "{type} {late} because a call it makes does not come back ({found_by}); {downstream}, diagnosed in "
        "turn, is {broken_id}: {broken_cause}",
        "{broken_fix}. {type} itself needs no change: it answers once {downstream} does; calls already waiting "
        "on {downstream} may never return (AutoGen's send_message has no timeout), so restart {type}'s worker "
        "if they pile up",
        ("target ping late, no reply or error", "host log failures for other types during the ping",
         "the target's calls waiting or failed per type (agentops.instrument)", "the downstream's own verdict"),
        # The downstream's own verdict weighs the hop: a downstream that is only slow (WARNING) or unexplained
        # (UNKNOWN) does not make the chain a known outage.
        {"warning": Status.WARNING, "unknown": Status.UNKNOWN},
        requires=("downstream-verdict-broken",),
        rules_out=("worker-absent", "worker-stopped", "type-not-owned"),
    ),
    _mode(
        "unexplained", "runtime", Status.UNKNOWN,
        "{what} from {type}, and no failure mode's evidence holds",
        "no known failure mode has the evidence it requires: {detail}",
        "{decide}",
        (),
    ),
)}


def mode(mode_id: str) -> FailureMode:
    return MODES[mode_id]
