"""Which configured worker an AgentRpc client is. The host knows its clients only by the id each sent on
OpenChannel (a UUID); the config knows workers by name, process, logs and the agent types they register.
What ties the two, best first:

1. a worker's log names the client id (AutoGen's worker runtime logs nothing of the kind, but a worker can:
   the lab's log `worker w1 ready: client <id>` at start-up);
2. the agent types: every type the host says this client owns is listed under one and the same worker's
   `agent_types` (each type lives on exactly one worker). When they point at different workers, the config and
   the cluster disagree and no worker is named: a guess would send someone to the wrong process.

Used by `cluster inventory --owners` and by the diagnosis, so both name owners the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentops.autogen.workers import WorkerSpec

LOG_HEAD_BYTES = 256 * 1024  # where a worker logs its client id at start-up (the lab does)


@dataclass(frozen=True)
class Owner:
    client_id: str
    worker: str | None  # the configured worker's name; None when nothing known ties the client to one
    how: str  # what tied it (or why nothing did), for the evidence

    def label(self) -> str:
        return f"worker {self.worker}" if self.worker else f"client {self.client_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"worker": self.worker, "client_id": self.client_id, "how": self.how}


def worker_logging(workers: Sequence[WorkerSpec], client_id: str) -> WorkerSpec | None:
    """The configured worker whose log (its first LOG_HEAD_BYTES) names this client id."""
    needle = client_id.encode()
    for worker in workers:
        for path in worker.log_files():
            try:
                with path.open("rb") as fh:
                    if needle in fh.read(LOG_HEAD_BYTES):
                        return worker
            except OSError:
                continue
    return None


def name_owners(workers: Sequence[WorkerSpec], owners: Mapping[str, str | None]) -> dict[str, Owner]:
    """{agent type: Owner} for every owned type of `owners` ({agent type: owner client id or None})."""
    types_of: dict[str, list[str]] = {}
    for agent_type, client in owners.items():
        if client:
            types_of.setdefault(client, []).append(agent_type)
    named: dict[str, Owner] = {}
    for client, types in types_of.items():
        owner = _name(workers, client, sorted(types))
        named.update((t, owner) for t in types)
    return named


def name_owner(workers: Sequence[WorkerSpec], agent_type: str, client_id: str) -> Owner:
    return name_owners(workers, {agent_type: client_id})[agent_type]


def _name(workers: Sequence[WorkerSpec], client: str, types: list[str]) -> Owner:
    logged = worker_logging(workers, client)
    if logged is not None:
        return Owner(client, logged.name, f"client id {client} appears in {logged.name}'s log")
    listed = {t: next((w.name for w in workers if t in w.agent_types), None) for t in types}
    names = sorted({n for n in listed.values() if n})
    if len(names) == 1:
        unlisted = [t for t, n in listed.items() if n is None]
        extra = f" (it also owns {', '.join(unlisted)}, listed on no worker)" if unlisted else ""
        return Owner(client, names[0], f"the config lists {', '.join(t for t in types if listed[t])} under "
                                       f"{names[0]}'s agent_types{extra}")
    if names:
        where = "; ".join(f"{t} on {n}" for t, n in listed.items() if n)
        return Owner(client, None, f"client {client} owns types the config puts on different workers ({where})")
    return Owner(client, None, "no configured worker lists its types, nor does a worker's log name the client")
