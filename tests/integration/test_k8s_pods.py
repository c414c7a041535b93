"""k8s/pods.py against the stand-in API server (tests/fixtures/kube_api.py stands in for a cluster: no
kube-apiserver can run here): which pod a worker's `pod:` names, what is read beside it, and what is measured
when the pod is missing, replaced, or its API cannot be reached."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from agentops.core.cluster import PodRef
from agentops.core.model import Reason
from agentops.k8s.access import KubeError
from agentops.k8s.pods import measure_pod, read_pod
from tests.fixtures.common import free_port
from tests.fixtures.kube_api import KubeApi, unschedulable_pod

pytest.importorskip("kubernetes")


def _pod(name: str, created: str, state: dict[str, Any], last: dict[str, Any] | None = None,
         restarts: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"name": "worker", "state": state, "restartCount": restarts}
    if last:
        status["lastState"] = {"terminated": last}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "agents", "labels": {"app": "w1"},
                                        "creationTimestamp": created},
            "spec": {"containers": [{"name": "worker"}]},
            "status": {"phase": "Running", "containerStatuses": [status]}}


OLD = _pod("w1-old", "2026-01-01T09:00:00Z", {"terminated": {"exitCode": 137, "reason": "Error"}})
NEW = _pod("w1-new", "2026-01-01T10:00:00Z", {"running": {"startedAt": "2026-01-01T10:00:05Z"}},
           {"exitCode": 1, "reason": "Error", "finishedAt": "2026-01-01T10:00:03Z"}, restarts=1)


def _read(api: KubeApi, tmp: Path, **ref: Any) -> Any:
    ref = {"namespace": "agents", "kubeconfig": str(api.kubeconfig(tmp)), **ref}
    return asyncio.run(read_pod(PodRef(**ref), timeout=10, since_s=600))


def test_a_selector_reads_the_newest_pod_its_events_and_both_logs(tmp_path: Path) -> None:
    now = time.time()
    with KubeApi([OLD, NEW, *unschedulable_pod("other", namespace="agents")]) as api:
        api.state.logs[("agents", "w1-new", "worker", False)] = [(now - 5, "INFO started again")]
        api.state.logs[("agents", "w1-new", "worker", True)] = [(now - 30, "Traceback (most recent call last):"),
                                                                (now - 30, "ValueError: boom")]
        reading = _read(api, tmp_path, selector="app=w1")
        requests = list(api.state.requests)
    assert reading.pod["metadata"]["name"] == "w1-new" and reading.others == ["w1-old"]
    assert reading.logs == {"current": "INFO started again\n",
                            "previous": "Traceback (most recent call last):\nValueError: boom\n"}
    assert reading.events == []  # the other pod's FailedScheduling event is not this pod's
    assert any("fieldSelector=involvedObject.kind%3DPod%2CinvolvedObject.name%3Dw1-new" in r for r in requests)
    assert any("previous=true" in r and "sinceSeconds=600" in r for r in requests)
    obs = measure_pod(reading, now)
    assert obs.metrics["not_running"] == 0.0 and obs.metrics["restarts"] == 1
    assert obs.facts["last_termination"]["exit_code"] == 1 and obs.facts["other_pods"] == ["w1-old"]


def test_a_pod_that_never_ran_asks_for_no_log(tmp_path: Path) -> None:
    with KubeApi(unschedulable_pod("w2-0", namespace="agents")) as api:
        reading = _read(api, tmp_path, name="w2-0")
        assert not any("/log" in r for r in api.state.requests)
    obs = measure_pod(reading, time.time())
    assert obs.metrics["unschedulable"] == 1.0 and obs.metrics["failed_scheduling_events"] == 1.0
    assert obs.facts["state"] == "none" and "Insufficient memory" in obs.message


def test_a_missing_pod_is_a_worker_that_does_not_run(tmp_path: Path) -> None:
    with KubeApi([]) as api:
        by_name, by_selector = _read(api, tmp_path, name="gone-0"), _read(api, tmp_path, selector="app=gone")
    for reading in (by_name, by_selector):
        obs = measure_pod(reading, time.time())
        assert obs.metrics == {"not_running": 1.0} and obs.facts["pod_found"] is False, obs
    assert "no pod agents/gone-0" in measure_pod(by_name, 0).message


def test_an_api_that_refuses_or_rejects_is_a_reason(tmp_path: Path) -> None:
    with KubeApi([NEW], token="right") as api:
        path = api.kubeconfig(tmp_path, user={"token": "wrong"})
        with pytest.raises(KubeError) as err:
            asyncio.run(read_pod(PodRef(name="w1-new", namespace="agents", kubeconfig=str(path)), 10, 600))
    assert err.value.reason is Reason.AUTH and "right" not in err.value.message
    config = tmp_path / "closed"
    config.write_text(path.read_text().replace(api.url, f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(KubeError) as err:
        asyncio.run(read_pod(PodRef(name="w1-new", namespace="agents", kubeconfig=str(config)), 5, 600))
    assert err.value.reason is Reason.CONNECT
