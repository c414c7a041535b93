"""What a load run's findings say: title, cause, fix (and the evidence lines every one of them shows), as
data. `load.run.findings` decides which apply and fills the {placeholders} with what the run measured."""

from __future__ import annotations

from agentops.core.knowledge import Explanation, FindingText

TEXTS: dict[str, FindingText] = {
    "load.missing_replies": FindingText(
        "{missing} of {sent} requests to {target} got no reply within {timeout}s",
        Explanation(
            "AutoGen gives the caller no error for most failures: an unregistered type, a handler that returns "
            "nothing or has no serializer for its result, a payload the agent cannot decode, a dead or frozen "
            "worker, or replies slower than the deadline",
            "run `agentops diagnose message --to {target}` to find which; raise --timeout if the agent is simply "
            "slower than {timeout}s"),
        ("{missing} missing, {ok} ok, {late} replies arrived after their deadline",)),
    "load.handler_errors": FindingText(
        "The handler of {target} raised on {errors} of {sent} requests",
        Explanation(
            "the agent's message handler raised; the caller received the exception text",
            "see the worker's log for the traceback (`agentops logs analyze`) and fix the handler, or the payload "
            "it cannot handle")),
    "load.in_flight_limit": FindingText(
        "{refused} requests were not sent: {max_in_flight} already in flight",
        Explanation(
            "the target answers slower than the offered rate, so requests pile up",
            "the target is saturated at this rate: lower --rate, or find its bottleneck with "
            "`agentops diagnose performance`"),
        ("offered {rate}/s, achieved {throughput}/s",)),
    "load.generator_lag": FindingText(
        "The load generator fell behind its schedule (p99 send lag {lag_p99})",
        Explanation(
            "this machine could not send at the asked rate (CPU, or the stream's flow control pushing back); "
            "latencies still count from the intended send times, so they include the lag",
            "run the generator on another machine, or lower --rate"),
        ("asked {rate}/s over {window}s; send lag p99 {lag_p99}, max {lag_max}",)),
    "load.stream_closed": FindingText(
        "The connection to the host ended during the run",
        Explanation(
            "the host closed the stream (host restarted or killed, a message over 4 MiB, a network drop)",
            "check the host (`agentops diagnose message --to <type>`) and rerun"),
        ("{stopped}", "{lost} requests lost with it")),
}
