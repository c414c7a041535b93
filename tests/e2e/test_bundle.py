"""`agentops bundle` on the real lab: a bundle of a broken lab (a worker SIGKILLed) holds the verdict and its
evidence, holds no planted secret in any file (every member read, gzip members too), keeps to its size caps
with head and tail, finishes with one collector hanging (a /metrics socket that accepts and never answers,
recorded as timed out); --dry-run writes nothing; bad input is one line and exit 3. Other commands read the
bundle back (`logs analyze` on its logs directory; `k8s audit --from-bundle` on its Kubernetes directory,
taken from the stand-in API server of tests/fixtures/kube_api.py: no kube-apiserver can run on these
machines)."""

from __future__ import annotations

import gzip
import json
import signal
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.common import assert_no_traceback, free_port, run_cli

SCHEMA = Path(__file__).parents[2] / "src" / "agentops" / "schemas" / "report.schema.json"
REDIS_PW = "PLANTED-redis-9d41c7"
PG_PW = "PLANTED-pg-51e0aa"
HEADER_TOKEN = "PLANTED-token-77b2f0"
LOG_SECRET = "PLANTED-logkey-3c8e21"
SECRETS = [REDIS_PW, PG_PW, HEADER_TOKEN, LOG_SECRET]
# The deadline the hanging-collector bundle is given, and each collector's timeout.
DEADLINE_S, COLLECTOR_TIMEOUT_S = 60.0, 6.0


def bundle(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
    out = run_cli("bundle", *args, "-o", "json", timeout=300, cwd=cwd, env=env)
    assert_no_traceback(out)
    return out, (out.json() if out.stdout.strip() else {})


def members(archive: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(archive, "r:gz") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]


def by_path(archive: Path) -> dict[str, bytes]:
    """Members by their path under the archive's one top directory."""
    found = members(archive)
    tops = {name.split("/", 1)[0] for name, _ in found}
    assert len(tops) == 1, tops
    return {name.split("/", 1)[1]: data for name, data in found}


def now_stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"


def log_line(message: str, level: str = "ERROR") -> str:
    return json.dumps({"timestamp": now_stamp(), "level": level, "logger": "test", "message": message,
                       "process": "w1"}) + "\n"


def planted_config(lab: Any, tmp_path: Path, extra_targets: list[dict[str, Any]] | None = None,
                   checks: list[dict[str, Any]] | None = None) -> Path:
    """The lab's config plus targets and checks of the test's own."""
    doc = yaml.safe_load(lab.config.read_text())
    doc["targets"] += extra_targets or []
    if checks:
        doc["checks"] = checks
    path = tmp_path / "agentops.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=200))
    return path


@pytest.mark.lab
def test_a_bundle_of_a_killed_worker_holds_the_verdict_its_evidence_and_no_secret(fresh_lab, tmp_path,
                                                                                 silent_listener) -> None:
    import jsonschema

    closed = free_port()
    cfg = planted_config(fresh_lab, tmp_path, [
        {"name": "cache", "kind": "redis", "address": f"redis://default:{REDIS_PW}@127.0.0.1:{closed}/0"},
        {"name": "db", "kind": "postgres", "address": f"postgresql://agent:{PG_PW}@127.0.0.1:{closed}/agents"},
        {"name": "web", "kind": "http", "address": f"http://127.0.0.1:{closed}"},
        {"name": "hung", "kind": "metrics", "address": f"http://127.0.0.1:{silent_listener.port}/metrics"},
    ], checks=[{"id": "web.auth", "probe": "http", "target": "web",
                "params": {"path": "/status", "headers": {"Authorization": f"Bearer {HEADER_TOKEN}"}}}])
    owner = fresh_lab.owner("echo")
    fresh_lab.signal(owner, signal.SIGKILL)
    with fresh_lab.log(owner).open("a", encoding="utf-8") as fh:  # what the worker logged before it died
        fh.write(log_line(f"redis reconnect failed: redis://default:{REDIS_PW}@127.0.0.1:{closed}/0"))
        fh.write(log_line(f"calling the billing API with api_key={LOG_SECRET}"))
        fh.write(log_line(f"retrying with the bare password {REDIS_PW} (it is registered by value)"))
        fh.write(log_line(f"upstream rejected token {HEADER_TOKEN}"))  # bare: the check's header names it
    archive, token_map = tmp_path / "out" / "incident.tar.gz", tmp_path / "tokens.json"
    archive.parent.mkdir()
    out, doc = bundle("-c", str(cfg), "-f", str(archive), "--since", "1h", "--deadline", str(DEADLINE_S),
                      "--collector-timeout", str(COLLECTOR_TIMEOUT_S), "--profile-seconds", "1",
                      "--token-map", str(token_map))
    assert out.code == 0, out.stderr
    jsonschema.validate(doc, {"$defs": json.loads(SCHEMA.read_text())["$defs"], "$ref": "#/$defs/listing"})
    found = members(archive)
    names = [name.split("/", 1)[1] for name, _ in found]
    assert names[:2] == ["SUMMARY.md", "manifest.json"], names  # the summary at the top
    files = by_path(archive)
    manifest = json.loads(files["manifest.json"])

    # The verdict and its evidence, at the top and in the diagnosis document the command itself writes.
    verdict = manifest["verdict"]
    assert (verdict["agent_type"], verdict["id"]) == ("echo", "worker-dead"), manifest["verdicts"]
    assert owner in verdict["title"]
    summary = files["SUMMARY.md"].decode()
    assert "worker-dead" in summary.split("## Collectors")[0]
    assert verdict["evidence"] and all(line in summary for line in verdict["evidence"])
    diagnosis = json.loads(files["diagnose/echo.json"])
    jsonschema.validate(diagnosis, json.loads(SCHEMA.read_text()))
    assert diagnosis["kind"] == "diagnose.agent" and diagnosis["verdict"]["id"] == "worker-dead"
    assert {v["agent_type"]: v["id"] for v in manifest["verdicts"]}["echo2"] == "healthy"  # w2 still answers
    health = json.loads(files["health.json"])
    assert health["kind"] == "health" and health["status"] == "CRITICAL"
    outcomes = {c["name"]: c for c in manifest["collectors"]}
    assert outcomes["profile"]["outcome"] == "collected" and any(owner in n for n in outcomes["profile"]["notes"])
    assert json.loads(files["cluster/inventory.json"])["kind"] == "cluster.inventory"
    # py-spy stacks: the dead worker's collector says why it has none; the live one's threads are there.
    other = fresh_lab.owner("echo2")
    dead, alive = outcomes[f"stacks/{owner}"], outcomes[f"stacks/{other}"]
    assert dead["outcome"] == "failed" and "no live process" in dead["error"], dead
    assert alive["outcome"] == "collected" and b"MainThread" in files[f"stacks/{other}.txt"], alive

    # The hanging collector: cut off at its own timeout and said so; the bundle ended by its deadline.
    hung = outcomes["metrics/hung"]
    assert hung["outcome"] == "timed-out" and "timeout" in hung["error"], hung
    assert hung["duration_s"] >= hung["timeout_s"] and hung["timeout_s"] <= COLLECTOR_TIMEOUT_S
    assert manifest["duration_s"] <= DEADLINE_S
    assert outcomes["metrics/w2-metrics"]["outcome"] == "collected" and "metrics/w2-metrics.prom" in files

    # No planted secret anywhere: not in any member, not in the compressed stream, not on stdout/stderr;
    # gzip members (none expected) are opened too.
    raw = archive.read_bytes()
    stream = gzip.decompress(raw)
    for name, data in found:
        datas = [data, gzip.decompress(data)] if data[:2] == b"\x1f\x8b" else [data]
        for blob in datas:
            for secret in SECRETS:
                assert secret.encode() not in blob, (name, secret)
    for secret in SECRETS:
        assert secret.encode() not in raw and secret.encode() not in stream, secret
        assert secret not in out.stdout + out.stderr
    # The planted lines are there, masked by stable tokens: one secret, one token, in every file.
    log = files[f"logs/{owner}/{fresh_lab.log(owner).name}"].decode()
    assert "redis reconnect failed" in log and "api_key=REDACTED-" in log
    tokens = json.loads(token_map.read_text())
    # The map, outside the archive, holds them (a header's value may be masked whole: "Bearer <token>").
    assert all(any(secret in value for value in tokens.values()) for secret in SECRETS), tokens
    redis_token = next(t for t, s in tokens.items() if s == REDIS_PW)
    assert log.count(redis_token) == 2 and redis_token in files["config/agentops.yaml"].decode()
    report = json.loads(files["redaction-report.json"])
    rules = {(row["file"], row["rule"]) for row in report["files"]}
    assert {("config/agentops.yaml", "registered-secret"), (f"logs/{owner}/{fresh_lab.log(owner).name}",
                                                            "registered-secret")} <= rules, rules
    assert report["masked"] >= 6 and manifest["redaction"]["masked"] == report["masked"]

    # Read back by another command: `logs analyze` on the bundle's logs directory.
    extracted = tmp_path / "extracted"
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(extracted, filter="data")
    top = next(extracted.iterdir())
    analyzed = run_cli("logs", "analyze", str(top / "logs"), "-o", "json", timeout=120)
    assert_no_traceback(analyzed)
    adoc = analyzed.json()
    assert adoc["kind"] == "logs.analyze", adoc["kind"]
    assert {src["status"] for src in adoc["data"]["inputs"]["sources"]} == {"read"}, adoc["data"]["inputs"]
    assert adoc["data"]["counts"]["errors"] >= 3  # the planted ERROR lines, read back from the bundle


@pytest.mark.lab
def test_a_bundle_of_a_frozen_worker_names_it_and_its_silent_endpoint_times_out(fresh_lab, tmp_path) -> None:
    owner = fresh_lab.owner("echo")
    archive = tmp_path / "frozen.tar.gz"
    fresh_lab.signal(owner, signal.SIGSTOP)
    try:
        out, doc = bundle("-c", str(fresh_lab.config), "-f", str(archive), "--type", "echo,echo2",
                          "--collector-timeout", str(COLLECTOR_TIMEOUT_S), "--profile-seconds", "1")
    finally:
        fresh_lab.signal(owner, signal.SIGCONT)
    assert out.code == 0, out.stderr
    manifest = json.loads(by_path(archive)["manifest.json"])
    assert manifest == doc["manifest"]  # what -o json says is what the archive holds
    assert (manifest["verdict"]["agent_type"], manifest["verdict"]["id"]) == ("echo", "worker-frozen")
    outcomes = {c["name"]: c for c in manifest["collectors"]}
    # A stopped process's /metrics accepts (the kernel does) and never answers: cut off at its timeout.
    assert outcomes[f"metrics/{owner}-metrics"]["outcome"] == "timed-out", outcomes[f"metrics/{owner}-metrics"]
    assert outcomes["diagnose/echo2"]["outcome"] == "collected"
    # py-spy reads a stopped process's stacks without resuming it: where it stood when it froze.
    assert outcomes[f"stacks/{owner}"]["outcome"] == "collected"
    assert b"MainThread" in by_path(archive)[f"stacks/{owner}.txt"]


@pytest.mark.lab
def test_size_caps_keep_head_and_tail_per_file_and_in_total(lab, tmp_path) -> None:
    bulk = tmp_path / "bulk.log"
    lines = [log_line(f"bulk record {i:06d} " + "x" * 200, "INFO") for i in range(12000)]  # ~3 MiB
    bulk.write_text("".join(lines))
    cfg = planted_config(lab, tmp_path, [{"name": "bulk", "kind": "worker",
                                          "options": {"logs": [str(bulk)], "log_format": "json"}}])
    archive = tmp_path / "caps.tar.gz"
    # The excerpt is looked for in the last 2 x --max-file bytes: here the whole file, cut to 2 MiB.
    max_file, max_total = 2 * 1024 * 1024, 8 * 1024 * 1024
    out, _ = bundle("-c", str(cfg), "-f", str(archive), "--since", "1h", "--profile-seconds", "0",
                    "--type", "echo", "--max-file", "2MiB", "--max-total", "8MiB")
    assert out.code == 0, out.stderr
    files = by_path(archive)
    assert all(len(data) <= max_file for data in files.values()), {p: len(d) for p, d in files.items()}
    assert sum(len(data) for data in files.values()) <= max_total
    excerpt = files["logs/bulk/bulk.log"].decode()
    assert excerpt.startswith(lines[0]) and excerpt.endswith(lines[-1])  # the head and the tail are kept
    assert "bytes cut here (per-file cap" in excerpt
    manifest = json.loads(files["manifest.json"])
    row = next(f for f in manifest["files"] if f["path"] == "logs/bulk/bulk.log")
    assert row["cut_bytes"] > 0 and row["bytes"] == len(files["logs/bulk/bulk.log"])
    assert row["original_bytes"] >= len("".join(lines)) * 0.9

    # A total cap smaller than the files share it out: every file keeps some head and tail.
    archive2 = tmp_path / "total.tar.gz"
    out, _ = bundle("-c", str(cfg), "-f", str(archive2), "--since", "1h", "--profile-seconds", "0",
                    "--type", "echo", "--max-total", "256KiB")
    assert out.code == 0, out.stderr
    files = by_path(archive2)
    assert sum(len(data) for data in files.values()) <= 256 * 1024
    excerpt = files["logs/bulk/bulk.log"].decode()
    assert excerpt.startswith(lines[0]) and excerpt.endswith(lines[-1]) and "(total cap" in excerpt


@pytest.mark.lab
def test_dry_run_lists_the_collectors_and_writes_nothing(lab, tmp_path) -> None:
    out, doc = bundle("-c", str(lab.config), "--dry-run", cwd=tmp_path)
    assert out.code == 0, out.stderr
    assert doc["kind"] == "bundle.plan"
    names = {c["name"] for c in doc["collectors"]}
    assert {"config", "health", "diagnose/echo", "cluster/inventory", "profile", "logs/w1",
            "metrics/w1-metrics"} <= names, names
    assert list(tmp_path.iterdir()) == []  # no archive, no partial file
    table = run_cli("bundle", "-c", str(lab.config), "--dry-run", cwd=tmp_path)
    assert table.code == 0 and "dry run" in table.stdout and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "needle"), [
    (["-f", "/nonexistent-dir/b.tar.gz"], "does not exist"),
    (["-f", "/proc/agentops-bundle.tar.gz"], "archive /proc/agentops-bundle.tar.gz"),
    (["--since", "soon"], "--since"),
    (["--since", "-5m"], "--since"),
    (["--max-file", "lots"], "--max-file"),
])
def test_bad_input_is_one_line_and_exit_3(tmp_path, args: list[str], needle: str) -> None:
    out = run_cli("bundle", *args, "--profile-seconds", "0", cwd=tmp_path, timeout=120)
    assert_no_traceback(out)
    assert out.code == 3, (out.code, out.stdout, out.stderr)
    assert needle in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stdout == "" and list(tmp_path.iterdir()) == []


def test_an_archive_path_that_is_a_directory_is_refused(tmp_path) -> None:
    out = run_cli("bundle", "-f", str(tmp_path), cwd=tmp_path, timeout=120)
    assert out.code == 3 and "is a directory" in out.stderr, out.stderr


def test_kubernetes_objects_and_pod_logs_read_back_by_k8s_audit(tmp_path) -> None:
    from tests.fixtures import k8s_objects as k
    from tests.fixtures.kube_api import KubeApi

    objects = k.healthy_namespace()
    worker = next(o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"].startswith("agent-worker-1"))
    worker["status"]["containerStatuses"] = [{"name": "worker", "ready": False, "restartCount": 7,
                                              "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
    with KubeApi(objects) as api:
        api.state.logs[(k.NS, worker["metadata"]["name"], "worker", False)] = [
            (time.time(), f"connecting to redis://default:{REDIS_PW}@redis:6379/0"),
            (time.time(), "ERROR handler failed"),
        ]
        kc = api.kubeconfig(tmp_path, namespace=k.NS)
        cfg = tmp_path / "agentops.yaml"
        cfg.write_text(f"version: 1\ntargets:\n  - name: agents\n    kind: kubernetes\n    options:\n"
                       f"        kubeconfig: {str(kc)!r}\n        namespace: {k.NS}\n")
        archive = tmp_path / "k8s.tar.gz"
        out, doc = bundle("-c", str(cfg), "-f", str(archive), "--profile-seconds", "0")
        assert out.code == 0, out.stderr
        live = run_cli("k8s", "audit", "--kubeconfig", str(kc), "-n", k.NS, "-o", "json", timeout=120)
    outcome = next(c for c in doc["manifest"]["collectors"] if c["name"] == "k8s/agents")
    assert outcome["outcome"] == "collected", outcome
    files = by_path(archive)
    assert {"k8s/agents/pod.json", "k8s/agents/deployment.json", "k8s/agents/event.json"} <= set(files), list(files)
    pod_log = files[f"k8s/agents/logs/{k.NS}/{worker['metadata']['name']}/worker.log"]
    assert b"ERROR handler failed" in pod_log and REDIS_PW.encode() not in pod_log
    assert all(REDIS_PW.encode() not in data for data in files.values())
    extracted = tmp_path / "extracted"
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(extracted, filter="data")
    top = next(extracted.iterdir())
    offline = run_cli("k8s", "audit", "--from-bundle", str(top / "k8s" / "agents"), "-o", "json", timeout=120)
    assert_no_traceback(offline)

    def judged(r: Any) -> set[tuple[str, str, str]]:
        # k8s.snapshot names its source (the API server, the bundle): the one result that must differ.
        return {(x["id"], x["target"], x["status"]) for x in r.json()["results"] if x["id"] != "k8s.snapshot"}

    # The same rules on the bundle's dump judge what they judged live: the crash-looping pod included.
    assert judged(offline) == judged(live), judged(offline) ^ judged(live)
    assert any(t.endswith(worker["metadata"]["name"]) and status != "OK" for _i, t, status in judged(offline))
