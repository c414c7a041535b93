"""`agentops k8s audit` of a 500-pod namespace snapshot: wall time and peak RSS, offline (--from-bundle, a
`kubectl get -o json` dump) and live (against the stand-in API server, tests/fixtures/kube_api.py), each beside
an anchor run in the same loop: a Python that only reads the same dump with json.load (the floor of any tool
that reads it). And the import cost of the `kubernetes` client, paid only by runs that talk to a cluster:
`import kubernetes` alone, and whether `agentops health` (no Kubernetes target) imports it.

Run: .venv/bin/python bench/bench_k8s_audit.py [runs]
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fixtures import k8s_objects as k  # noqa: E402 - after the path is set
from tests.fixtures.kube_api import KubeApi  # noqa: E402

PODS = 500


def namespace(pods: int = PODS) -> list[dict[str, Any]]:
    """50 worker Deployments of 10 pods each (one crash-looping pod in ten), their Services and Endpoints, a
    Warning event per crash-looping pod."""
    base = k.healthy_namespace()
    pod_proto = next(o for o in base if o["kind"] == "Pod" and o["metadata"]["name"].startswith("agent-worker-1"))
    dep_proto = next(o for o in base if o["kind"] == "Deployment" and o["metadata"]["name"] == "agent-worker-1")
    out = [o for o in base if o["kind"] in ("Deployment", "Service", "Endpoints", "Ingress", "Secret",
                                            "PodDisruptionBudget") and "worker" not in o["metadata"]["name"]]
    for d in range(pods // 10):
        dep = copy.deepcopy(dep_proto)
        dep["metadata"]["name"] = f"worker-{d}"
        dep["spec"]["replicas"] = 10
        dep["status"]["readyReplicas"] = 9
        out.append(dep)
        for i in range(10):
            p = copy.deepcopy(pod_proto)
            p["metadata"]["name"] = f"worker-{d}-{i}"
            if i == 0:
                p["status"]["containerStatuses"][0].update(restartCount=7,
                                                           state={"waiting": {"reason": "CrashLoopBackOff"}})
                out.append(k.event(p, "BackOff", "Back-off restarting failed container", count=7))
            out.append(p)
        out.append(k.service(f"worker-{d}", {"app": f"worker-{d}"}, [{"port": 9100}]))
        out.append(k.endpoints(f"worker-{d}", [f"10.2.{d}.{i}" for i in range(1, 10)], port=9100))
    return out


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1, 2):
        raise SystemExit(f"{argv} exited {code}")
    return time.perf_counter() - t0, usage.ru_maxrss


def side_by_side(label: str, argv: list[str], anchor: list[str], env: dict[str, str], runs: int) -> None:
    mine, base, rss = [], [], 0
    for _ in range(runs):
        t, r = timed(argv, env)
        mine.append(t)
        rss = max(rss, r)
        base.append(timed(anchor, env)[0])
    m, b = statistics.median(mine), statistics.median(base)
    print(f"{label:<34} {m * 1000:8.0f} ms   anchor {b * 1000:6.0f} ms   ratio {m / b:5.2f}   "
          f"peak RSS {rss / 1024:6.1f} MiB")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    work = Path(tempfile.mkdtemp(prefix="agentops-bench-k8s-"))
    objs = namespace()
    bundle = work / "bundle"
    bundle.mkdir()
    dump = bundle / "agents.json"
    dump.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    env = {**os.environ, "NO_COLOR": "1", "XDG_CACHE_HOME": str(work / "cache")}
    env.pop("AGENTOPS_CONFIG", None)
    py = sys.executable
    anchor = [py, "-c", f"import json; json.load(open({str(dump)!r}))"]
    pods = sum(o["kind"] == "Pod" for o in objs)
    print(f"{pods} pods, {len(objs)} objects, dump {dump.stat().st_size / 1e6:.1f} MB, {runs} runs each (median)")
    side_by_side("audit --from-bundle -o json", [py, "-m", "agentops", "k8s", "audit", "--from-bundle", str(bundle),
                                                 "-o", "json"], anchor, env, runs)
    with KubeApi(objs) as api:
        kc = api.kubeconfig(work, namespace=k.NS)
        live = [py, "-m", "agentops", "k8s", "audit", "--kubeconfig", str(kc), "-o", "json"]
        side_by_side("audit (live, stand-in) -o json", live, anchor, env, runs)
        # what the live run itself spent importing the client (cumulative, as -X importtime reports it)
        paid = [kubernetes_import_ms([py, "-X", "importtime", *live[1:]], env) for _ in range(runs)]
    print(f"{'  of which importing kubernetes':<34} {statistics.median(paid):8.0f} ms   (-X importtime, cumulative)")
    side_by_side("import kubernetes", [py, "-c", "import kubernetes.client, kubernetes.config"],
                 [py, "-c", "pass"], env, runs)
    health = kubernetes_import_ms([py, "-X", "importtime", "-m", "agentops", "health", "-o", "json"], env)
    print(f"agentops health (no Kubernetes target) imports kubernetes: {health > 0} ({health:.0f} ms)")


def kubernetes_import_ms(argv: list[str], env: dict[str, str]) -> float:
    """Milliseconds the top-level `kubernetes` package's import took in that run (0: never imported)."""
    r = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=600)
    total = 0.0
    for line in r.stderr.splitlines():  # "import time: self [us] | cumulative | imported package"
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == "kubernetes":
            total += int(parts[1]) / 1000
    return total


if __name__ == "__main__":
    main()
