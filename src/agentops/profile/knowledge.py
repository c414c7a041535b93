"""What a profile's findings say: title, cause, fix and the evidence lines each always shows, as data.
`profile.analyze.process_findings` decides which apply and fills the {placeholders} with what was sampled."""

from __future__ import annotations

from agentops.core.knowledge import Explanation, FindingText

TEXTS: dict[str, FindingText] = {
    "profile.process_gone": FindingText(
        "{who} {gone}",
        Explanation(
            "the process ended (or became unreadable) while it was being profiled",
            "look at its log and exit status (crash, OOM kill: `dmesg | grep -i oom`), restart it"),
        ("sampled {samples} times before it went",)),
    "profile.leak": FindingText(
        "Memory leak suspected in {who}",
        Explanation(
            "resident memory climbs steadily while the process works: something keeps a reference to data per "
            "message (a growing list, dict or cache, unclosed sessions)",
            "compare two heap snapshots taken minutes apart (tracemalloc, or memray attach <pid>) and look for "
            "per-message growth; bound caches (maxsize/TTL); as a stopgap restart the worker before it reaches "
            "its memory limit"),
        ("{trend_why}", "RSS {rss_min} MB -> {rss_max} MB in {elapsed}s")),
    "profile.cpu_bound": FindingText(
        "{who} is CPU-bound",
        Explanation(
            "the worker's interpreter thread is busy nearly all the time: messages queue behind CPU work",
            "find the hot frames (--stacks) and move CPU-heavy work off the event loop (a process pool); if the "
            "work is legitimate, the worker is undersized: give it a core of its own or split its agent types "
            "across more workers"),
        ("CPU p95 {cpu_p95}% of one core, mean {cpu_mean}%, saturated in {saturated}% of samples",)),
    "profile.loop_blocked": FindingText(
        "The event loop of {who} is blocked by a handler",
        Explanation(
            "the asyncio loop spends most of its time inside callbacks while the CPU is mostly idle: a handler "
            "makes a blocking call (time.sleep, a synchronous HTTP/DB client, file IO) that stops every other "
            "message on this worker",
            "make the call asynchronous (an async client, asyncio.sleep) or move it off the loop with "
            "`await asyncio.to_thread(...)`"),
        ("loop thread {thread} busy in {busy}% of {loop_samples} samples, CPU mean {cpu_mean}%",
         "most often in: {top}")),
}
