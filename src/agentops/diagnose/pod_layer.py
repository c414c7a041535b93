"""The owning worker's pod, when its worker target names one (`options.pod`: a name or a label selector, in a
namespace, through a kubeconfig like `agentops k8s audit`): the layer `worker.pod` in place of
`worker.process`, since no process of a pod is visible from here.

Through the API (k8s/pods.py; every request in a thread under the layer's deadline) it reads the pod and its
container's state (running, waiting and why, the last termination's reason and exit code, the restart
count), the pod's events (FailedScheduling, BackOff), and the container's log, current and previous
(`previous=true`: the instance before the last restart), from the diagnosis' window (`sinceSeconds`). The
diagnose pack's `worker.pod` check judges the state; `breached` records which metrics it found out of bounds,
for the rules (diagnose/rules_pod.py).

The logs feed the same log evidence as a local worker's files: they are written to a private temporary
directory (removed when the diagnosis ends) and read by `logscan.scan` as the worker's log, so the one parser
(logs/records.py, its layout detection, the worker's `log_format`) reads them. What was read before the ping
is the window's history; during the ping the running container's log is followed (`follow`: polled from a
fixed `sinceTime`, the lines after those already known appended to the copy), so the ping's log watch
(layers.py `_watch_logs`) sees a handler's traceback as it would in a local file: it cuts the wait short and
is attributed to the probe's window by the copy's offsets, as a local log's lines are.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentops.core.cluster import Cluster, WorkerSpec
from agentops.core.model import Observation, Result
from agentops.core.packs import CheckSpec
from agentops.diagnose.engine import Evidence

if TYPE_CHECKING:
    from agentops.core.cluster import PodRef
    from agentops.k8s.access import KubeClient
    from agentops.k8s.pods import PodReading

POD_CAP_S = 2.5  # connect (an exec plugin may run), the pod, then its events and logs at once
POD_SHARE = 0.3  # under a longer --deadline, this share of it (a slow API server or exec plugin)
FOLLOW_EVERY_S = 0.25  # during the ping, the container's log is asked for again at most this often
FOLLOW_REQUEST_S = 2.0  # each of those requests' deadline (the ping's own deadline cancels it sooner)
FOLLOW_MAX_BYTES = 4 * 1024 * 1024  # what following may add to one copy, at most (a runaway log)


@dataclass
class _Follow:
    """One running container's log, followed during the ping."""

    ref: PodRef
    namespace: str
    pod: str
    container: str
    copy: Path  # the current log's copy, appended to
    since: float  # epoch s: each poll asks for the lines from here (sinceTime), a second before the first read
    known: list[str] = field(default_factory=list)  # the log's lines seen: the first read's, then each poll's new
    added: int = 0  # bytes appended to the copy
    next_at: float = 0.0  # monotonic: no poll before this
    polls: int = 0
    problem: str | None = None  # the request that failed: following stopped there


def preload(cluster: Cluster) -> None:
    """Import the kubernetes client before the diagnosis' clock starts when a worker runs in a pod (~1 s)."""
    if any(w.pod is not None for w in cluster.workers):
        try:
            import kubernetes.client
            import kubernetes.config  # noqa: F401
        except ImportError:  # the layer says so, with the reason `unsupported`
            return


class PodLayer:
    """One diagnosis' pod reads; `close()` removes the logs' local copies."""

    def __init__(self, ev: Evidence, spec: Callable[[str], CheckSpec]) -> None:
        self.ev, self.spec = ev, spec
        self._dir: Path | None = None
        self._files: dict[str, list[Path]] = {}  # worker name -> the copies of its pod's logs
        self._sizes: dict[str, int] = {}  # copy -> its size when read before the ping (the window's history)
        self._follows: dict[str, _Follow] = {}  # worker name -> its running container's log, followed
        self._clients: dict[PodRef, KubeClient] = {}  # one connection per pod reference, for the follows

    async def view(self, owner: WorkerSpec, mapped_by: str, since: float) -> Result:
        """The `worker.pod` layer of the owning worker (its pod: state, events, logs since `since`, epoch s)."""
        from agentops.core.evaluate import metric_verdicts
        from agentops.k8s.access import KubeError
        from agentops.k8s.discovery import OWNER_CHOICES
        from agentops.k8s.pods import measure_pod, read_pod

        assert owner.pod is not None
        ref = owner.pod
        spec = self.spec("worker.pod")
        chosen = OWNER_CHOICES.get(owner.name)  # a worker pod a kind: kubernetes source found
        if chosen:
            mapped_by = f"discovered by its source: {chosen}"
            self.ev.note(f"{owner.name} is the owner diagnosed: {chosen}")

        async def measure(timeout: float) -> Observation:
            read_started = time.time()
            try:
                reading = await read_pod(ref, timeout, since_s=max(1.0, time.time() - since))
            except KubeError as exc:
                return Observation.failure(exc.reason, f"{ref.describe()}: {exc.message}")
            self._keep_logs(owner.name, reading, read_started)
            obs = measure_pod(reading, time.time())
            obs.facts.update(worker=owner.name, mapped_by=mapped_by)
            ended = self._ended_with(owner.name, obs)
            if ended is not None:
                obs.facts["last_error"] = ended
            return obs

        cap = max(POD_CAP_S, POD_SHARE * self.ev.deadline.total_s)
        result = await self.ev.layer(spec, owner.name, measure, cap=cap)
        result.facts["breached"] = sorted(metric_verdicts(spec, result.metrics))
        pod, read = result.facts.get("pod"), result.facts.get("logs_read") or []
        if owner.name not in self._files:
            self.ev.note(f"worker {owner.name}'s pod has no container log to read (never started, or not read)")
        else:
            follow = " and followed during the ping" if owner.name in self._follows else ""
            self.ev.note(f"worker {owner.name}'s log was read from the API (pods/{pod}/log: the {' and '.join(read)} "
                         f"container's) before the ping{follow}")
        return result

    def _keep_logs(self, worker: str, reading: PodReading, read_at: float) -> None:
        if not reading.logs:
            return
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="agentops-pod-logs-"))  # mode 0700: only this user
            # Also when nobody calls close() (a hop's Layers is never closed): at the latest when the process ends.
            weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        pod = reading.pod or {}
        name = str((pod.get("metadata") or {}).get("name") or "pod")
        files = []
        for kind in ("previous", "current"):  # in the order they were written
            if kind in reading.logs:
                path = self._dir / f"{reading.namespace}.{name}.{reading.container}.{kind}.log"
                path.write_text(reading.logs[kind], encoding="utf-8")
                self._sizes[str(path)] = path.stat().st_size
                files.append(path)
        self._files[worker] = files
        from agentops.k8s.pods import container_status

        running = (container_status(pod, reading.container).get("state") or {}).get("running") is not None
        if running and "current" in reading.logs:  # a container that runs may write during the ping
            self._follows[worker] = _Follow(reading.ref, reading.namespace, name, reading.container, files[-1],
                                            since=math.floor(read_at) - 1.0,
                                            known=reading.logs["current"].splitlines(keepends=True))

    def _ended_with(self, worker: str, obs: Observation) -> dict[str, Any] | None:
        """The traceback the instance that ended last ends its log with (an uncaught exception is the last
        thing a container writes), read as a local worker's stderr is (logs/worker_start.last_error)."""
        from agentops.logs.worker_start import last_error

        f = obs.facts
        ended = f.get("terminated") or f.get("last_termination")
        if not ended:
            return None
        # Running again: the instance that ended is the previous one. Terminated, or waiting to be restarted
        # (CrashLoopBackOff): the API serves the instance that ended last as the current log.
        kind = "previous" if f.get("state") == "running" else "current"
        copy = next((p for p in self._files.get(worker, []) if p.name.endswith(f".{kind}.log")), None)
        err = last_error(copy) if copy is not None else None
        if err is None:
            return None
        doc = err.to_dict()
        # The copy was written just now; the error was written when that container ended.
        doc.update(source=f"the {kind} container's log", written_at=ended.get("finished_at") or "?")
        return doc

    def log_files(self, worker: WorkerSpec) -> list[Path]:
        return self._files.get(worker.name, [])

    def offsets(self, worker: WorkerSpec) -> dict[str, int]:
        """Where each copy ended when it was read, before the ping: what follows was followed during it."""
        return {str(p): self._sizes.get(str(p), 0) for p in self.log_files(worker)}

    async def follow(self, worker: WorkerSpec, *, now: bool = False) -> None:
        """One poll of the worker's running container's log (at most every FOLLOW_EVERY_S unless `now`): the
        lines written since the last one appended to its copy, where the ping's log watch and the log layer
        read them. Bounded: each request by FOLLOW_REQUEST_S, the copy's growth by FOLLOW_MAX_BYTES. A request
        that fails stops the following (noted once); what was read stands."""
        from agentops.k8s.access import KubeClient, KubeError
        from agentops.k8s.pods import access_for, lines_after

        f = self._follows.get(worker.name)
        if f is None or f.problem is not None or f.added >= FOLLOW_MAX_BYTES:
            return
        if not now and time.monotonic() < f.next_at:
            return
        f.next_at = time.monotonic() + FOLLOW_EVERY_S
        try:
            client = self._clients.get(f.ref)
            if client is None:
                client = self._clients[f.ref] = await KubeClient.connect(access_for(f.ref, FOLLOW_REQUEST_S))
            text = await client.log(f.namespace, f.pod, container=f.container or None, since_time=f.since)
        except KubeError as exc:
            f.problem = exc.message
            self.ev.note(f"worker {worker.name}'s log stopped being followed after {f.polls} polls: {exc.message}")
            return
        f.polls += 1
        new = lines_after(f.known, text.splitlines(keepends=True))
        if not new:
            return
        f.known += new
        data = "".join(new).encode("utf-8")[:FOLLOW_MAX_BYTES - f.added]
        with open(f.copy, "ab") as out:
            out.write(data)
        f.added += len(data)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
