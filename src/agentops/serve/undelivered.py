"""Requests the cluster's logs show it could not deliver, counted incrementally: per agentrpc target, its host's
configured logs and its workers', each read on from the byte offset where the previous cycle stopped, at most
`ServeOptions.log_read_bytes` per file per cycle (a burst is caught up over the following cycles; the lag is
exported), labelled by whose log, agent type and kind:

    agent_not_found       host: "Agent <type> not found, failed to deliver message." (the type is not registered)
    client_not_found      host: "Agent client id not found for agent type <type>."
    subscriber_not_found  host: "Agent <type> and its client not found for topic <topic>." (a publish)
    unhandled_message     worker: "Unhandled message: …" (the payload type has no handler)

Reading and recognising records is not done here: serve (layer 3) is handed a `LogReader` by the CLI, which
is agentops.diagnose.undelivered (the diagnosis' own log signals over agentops.logs' one record parser). A file
seen for the first time is read from its end: counting starts when serve does, so a restart does not count a
file's history again. A file that shrank (rotated, truncated) is read again from its start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentops.core.cluster import ClusterSpec, expand_logs, host_spec
from agentops.core.config import Target

OTHER_TYPE = "_other"  # the agent type label once a target's series limit is reached


@dataclass
class LogChunk:
    """What one bounded read of a log found."""

    counts: dict[tuple[str, str], int]  # (agent type, kind) -> records in the chunk
    offset: int  # where the next read starts
    size: int  # the file's size when read (offset < size: a lag)
    problem: str | None = None  # the file is missing or unreadable


# (path, offset or None for "from its end", most bytes to read, the log's declared format) -> LogChunk
LogReader = Callable[[Path, int | None, int, str | None], LogChunk]


@dataclass
class UndeliveredCounts:
    """The cumulative counts of one agentrpc target (a counter per log, type and kind), and where each file was
    read to. Bounded: at most `max_series` (log, type, kind) keys; beyond, the type is OTHER_TYPE."""

    target: str
    max_series: int
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)
    lag_bytes: dict[str, int] = field(default_factory=dict)  # per log name
    problems: dict[str, str] = field(default_factory=dict)  # per file

    def add(self, log: str, chunk: LogChunk) -> None:
        for (agent_type, kind), n in chunk.counts.items():
            key = (log, agent_type, kind)
            if key not in self.counts and len(self.counts) >= self.max_series:
                key = (log, OTHER_TYPE, kind)
            self.counts[key] = self.counts.get(key, 0) + n

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target,
                "counts": [{"log": log, "agent_type": t, "kind": k, "count": n}
                           for (log, t, k), n in sorted(self.counts.items())],
                "lag_bytes": dict(sorted(self.lag_bytes.items())), "problems": dict(self.problems)}


def logs_of(target: Target, spec: ClusterSpec) -> list[tuple[str, list[str], str | None]]:
    """(whose log, its path patterns, its log_format) for the host and each of its configured workers."""
    host = host_spec(target)
    found = [(target.name, host.logs, host.log_format)]
    found += [(w.name, w.logs, w.log_format) for w in spec.workers_of(target.address or "")]
    return [entry for entry in found if entry[1]]


def read_cycle(state: UndeliveredCounts, target: Target, spec: ClusterSpec, reader: LogReader,
               read_bytes: int) -> None:
    """One bounded pass over the target's logs (blocking file reads: run it in a thread)."""
    lag: dict[str, int] = {}
    seen: set[str] = set()
    for log, patterns, log_format in logs_of(target, spec):
        lag.setdefault(log, 0)
        for path in expand_logs(patterns):
            key = str(path)
            seen.add(key)
            chunk = reader(path, state.offsets.get(key), read_bytes, log_format)
            if chunk.problem is not None:
                state.problems[key] = chunk.problem
                continue
            state.problems.pop(key, None)
            state.add(log, chunk)
            state.offsets[key] = chunk.offset
            lag[log] += max(0, chunk.size - chunk.offset)
    for known in (state.offsets, state.problems):  # files gone from the globs are forgotten
        for key in [k for k in known if k not in seen]:
            del known[key]
    state.lag_bytes = lag
