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
(logs/records.py, its layout detection, the worker's `log_format`) reads them. They are read once, before
the ping, so everything in them counts as the window's history ("recent"); what the worker logs during the
ping is not read from the API (the ping's own reply still is), and the ping's wait is not cut short by them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentops.core.cluster import Cluster, WorkerSpec
from agentops.core.model import Observation, Result
from agentops.core.packs import CheckSpec
from agentops.diagnose.engine import Evidence

if TYPE_CHECKING:
    from agentops.k8s.pods import PodReading

POD_CAP_S = 2.5  # connect (an exec plugin may run), the pod, then its events and logs at once
POD_SHARE = 0.3  # under a longer --deadline, this share of it (a slow API server or exec plugin)


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

    async def view(self, owner: WorkerSpec, mapped_by: str, since: float) -> Result:
        """The `worker.pod` layer of the owning worker (its pod: state, events, logs since `since`, epoch s)."""
        from agentops.core.evaluate import metric_verdicts
        from agentops.k8s.access import KubeError
        from agentops.k8s.pods import measure_pod, read_pod

        assert owner.pod is not None
        ref = owner.pod
        spec = self.spec("worker.pod")

        async def measure(timeout: float) -> Observation:
            try:
                reading = await read_pod(ref, timeout, since_s=max(1.0, time.time() - since))
            except KubeError as exc:
                return Observation.failure(exc.reason, f"{ref.describe()}: {exc.message}")
            self._keep_logs(owner.name, reading)
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
            self.ev.note(f"worker {owner.name}'s log was read from the API (pods/{pod}/log: the {' and '.join(read)} "
                         "container's) before the ping: what it logs during the ping is not read")
        return result

    def _keep_logs(self, worker: str, reading: PodReading) -> None:
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
                files.append(path)
        self._files[worker] = files

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
        """Where each copy ends: all of it was written before the ping (the window's history)."""
        return {str(p): p.stat().st_size for p in self.log_files(worker)}

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
