"""200 HTTP checks against 200 local endpoints that each answer after 200 ms, through `agentops health`, beside
bare asyncio and Prometheus' blackbox_exporter doing the same requests, in one run.

One child process (this script with --serve) listens on 200 loopback ports with asyncio and answers every
request after the delay. A generated config names the 200 endpoints as http targets and one check that
expands over all of them. Beside it, in the same run, interleaved round by round:

- floor: the same 200 requests at once with bare asyncio streams in this process (no HTTP library, no
  process start): the machine's own floor for the run time.
- blackbox_exporter (Debian's prometheus-blackbox-exporter, when installed; `scripts/system-deps.sh --bench`):
  one exporter process, asked for the 200 probes at once (/probe?module=http_2xx&target=...); its run time,
  and its CPU per check from /proc (user+system ticks over the round, divided by the checks).
- agentops health, one check (`--only bench.http@t000`): the process's fixed cost, taken off the 200-check
  run's CPU to give agentops' CPU per check: (CPU of 200 checks - CPU of 1 check) / 199.
- a bare-asyncio GET probe through agentops' own runner, pacing gate and judge (measurement only, in place
  of the http probe): what a hand-written HTTP/1.1 path could cost at best.
- with AGENTOPS_BENCH_BASELINE=/path/to/other/src (e.g. `git archive` of main), the same rows for that tree
  (PYTHONPATH), so before and after are measured in the same run.

Goals (issue 16): the 200-check run <= 1.2x the asyncio floor; CPU per check <= 1x blackbox_exporter's.

Run: .venv/bin/python bench/bench_parallel_checks.py [runs] [endpoints] [delay_s]
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentops.core.config import Defaults
from agentops.core.probe import Probe
from tests.fixtures.common import stop_process

CONCURRENCY_DEFAULT = Defaults.concurrency
BLACKBOX = "prometheus-blackbox-exporter"
BLACKBOX_CONFIG = """modules:
  http_2xx:
    prober: http
    timeout: 5s
    http: {preferred_ip_protocol: ip4, ip_protocol_fallback: false}
"""

# ------------------------------------------------------------------------------------ the 200 endpoints

async def serve(count: int, delay: float) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(delay)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                         b"Connection: close\r\n\r\nok\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(answer, "127.0.0.1", 0, backlog=64) for _ in range(count)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps(ports), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


# ------------------------------------------------------------------------------------------ the bench

def write_config(path: Path, ports: list[int], concurrency: int) -> None:
    lines = ["version: 1", "packs: []", f"defaults: {{concurrency: {concurrency}, retries: 0}}", "targets:"]
    lines += [f"  - {{name: t{i:03d}, kind: http, address: 'http://127.0.0.1:{p}/'}}" for i, p in enumerate(ports)]
    lines += ["checks:", "  - {id: bench.http, probe: http, target: 'kind:http', timeout: 5}"]
    path.write_text("\n".join(lines) + "\n")


def run_health(config: Path, src: str | None, *extra: str) -> tuple[float, float, int, float]:
    """(process wall s, report duration_s, number of OK results, CPU s) of one `agentops health` run; `src`:
    another source tree to run instead of the installed one (PYTHONPATH)."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("AGENTOPS_CONFIG", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed tool has its byte-code compiled
    if src:
        env["PYTHONPATH"] = src
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "agentops", "health", "-c", str(config), "-o", "json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    out, err = proc.communicate(timeout=120)
    wall = time.perf_counter() - t0
    try:
        report = json.loads(out)
    except ValueError:
        raise SystemExit(f"agentops health exited {proc.returncode} without a report: {err.decode().strip()}") from None
    ok = sum(1 for r in report["results"] if r["status"] == "OK")
    return wall, report["duration_s"], ok, _child_cpu()


_last_children = [0.0]


def _child_cpu() -> float:
    """CPU of the child just reaped by communicate(): the growth of RUSAGE_CHILDREN since the last call (the
    server and the exporter, still running, are not in it until they are reaped at the end)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ru.ru_utime + ru.ru_stime
    cpu, _last_children[0] = total - _last_children[0], total
    return cpu


class RawGetProbe(Probe):
    """(--inproc CONFIG --raw) A stand-in for the http probe, for measurement only: a bare asyncio GET through
    the same runner, pacing gate, judge and report, to size what a hand-written HTTP/1.1 path could save. It
    checks the status line and nothing else, so it is no replacement for the probe."""

    kind = "http"
    target_kinds = ("http",)

    async def measure(self, target, params, timeout):
        from urllib.parse import urlsplit

        from agentops.core.model import Observation, Reason
        from agentops.probes._errors import yield_to_other_checks

        url = urlsplit(target.address)
        await yield_to_other_checks(timeout)
        t0 = time.perf_counter()
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(url.hostname, url.port)
            writer.write(f"GET {url.path or '/'} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n".encode())
            body = await reader.read()
            writer.close()
        status = int(body[9:12]) if body.startswith(b"HTTP/1.") else 0
        if status != 200:
            return Observation.failure(Reason.PROTOCOL, f"status {status}")
        return Observation(metrics={"status_code": float(status), "latency_ms": (time.perf_counter() - t0) * 1000,
                                    "body_bytes": float(len(body))})


def in_process(config: str, raw: bool = False) -> None:
    """(--inproc CONFIG, in a child) One warm-up run of the plan, then one timed: prints its wall time, its CPU
    and the OK count as JSON. The checks alone, with the interpreter up and the imports done: what the floor,
    also in-process, is compared with."""
    from agentops.core import registry
    from agentops.core.config import load_config
    from agentops.core.packs import load_specs, plan
    from agentops.core.runner import run_plan

    if raw:
        registry.BUILTIN_PROBES["http"] = "__main__:RawGetProbe"
    cfg = load_config(config)
    checks = plan(cfg, load_specs(cfg))
    asyncio.run(run_plan(checks, concurrency=cfg.defaults.concurrency))
    t0, c0 = time.perf_counter(), time.process_time()
    results = asyncio.run(run_plan(checks, concurrency=cfg.defaults.concurrency))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps([wall, sum(r.status.value == 0 for r in results), cpu]))


def run_in_process(config: Path, src: str | None, *extra: str) -> tuple[float, float, int, float]:
    """(wall s, wall s, OK results, CPU s) of the plan run in a child (in_process), shaped as run_health's."""
    env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
    out = subprocess.run([sys.executable, __file__, "--inproc", str(config), *extra], capture_output=True, text=True,
                         env=env, stdin=subprocess.DEVNULL, timeout=120, check=True).stdout
    _child_cpu()  # not a health run: keep its CPU out of the next one's
    wall, ok, cpu = json.loads(out)
    return wall, wall, ok, cpu


async def floor(ports: list[int]) -> tuple[float, float]:
    """The machine's own floor: the same requests, all at once, with bare asyncio streams in this process
    (no agentops, no httpx, no process start): (seconds, CPU seconds per request). Its CPU per request is
    also what a hand-written HTTP/1.1 GET on asyncio streams could cost at best."""
    async def one(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(p) for p in ports))
    return time.perf_counter() - t0, (time.process_time() - c0) / len(ports)


# ------------------------------------------------------------------------------------ blackbox_exporter

def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_blackbox(work: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    exe = shutil.which(BLACKBOX)
    if exe is None:
        return None
    (work / "blackbox.yml").write_text(BLACKBOX_CONFIG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, f"--config.file={work / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                return None
            time.sleep(0.05)
    proc.kill()
    return None


async def blackbox_round(bb_port: int, ports: list[int]) -> tuple[float, int]:
    """(seconds, probes that succeeded) for the 200 probes asked of the exporter at once."""
    async def one(port: int) -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", bb_port)
        writer.write(f"GET /probe?module=http_2xx&target=http://127.0.0.1:{port}/ HTTP/1.0\r\n"
                     f"Host: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        body = await reader.read()
        writer.close()
        return b"\nprobe_success 1" in body

    t0 = time.perf_counter()
    ok = await asyncio.gather(*(one(p) for p in ports))
    return time.perf_counter() - t0, sum(ok)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.2
    baseline = os.environ.get("AGENTOPS_BENCH_BASELINE")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(count), str(delay)],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    work = Path(tempfile.mkdtemp(prefix="agentops-bench-"))
    bb = None
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        limit = max(count, CONCURRENCY_DEFAULT)
        config = work / "c.yaml"
        write_config(config, ports, limit)
        trees = {"agentops": None, **({"baseline": baseline} if baseline else {})}
        for src in trees.values():
            run_health(config, src)  # byte-code and page-cache warm-up
        bb = start_blackbox(work)
        if bb is None:
            print(f"blackbox_exporter: not installed ({BLACKBOX}; scripts/system-deps.sh --bench) - row skipped")
        samples: dict[str, list[tuple[float, ...]]] = {"floor": [], "blackbox": []}
        for name in trees:
            samples[f"{name} 1"], samples[f"{name} {count}"] = [], []
        for _ in range(runs):  # interleaved, so a burst of load elsewhere hits every row alike
            samples["floor"].append(asyncio.run(floor(ports)))
            if bb is not None:
                before = _proc_cpu(bb[0].pid)
                took, ok = asyncio.run(blackbox_round(bb[1], ports))
                if ok != count:
                    raise SystemExit(f"blackbox_exporter: only {ok} of {count} probes succeeded")
                samples["blackbox"].append((took, (_proc_cpu(bb[0].pid) - before) / count))
            for name, src in trees.items():
                samples[f"{name} 1"].append(run_health(config, src, "--only", "bench.http@t000"))
                samples[f"{name} {count}"].append(run_health(config, src))
                samples.setdefault(f"{name} in-process", []).append(run_in_process(config, src))
            samples.setdefault("raw GET in-process", []).append(run_in_process(config, None, "--raw"))
        for name, rows in samples.items():
            expected = 1 if name.endswith(" 1") else count  # the floor's and blackbox's rows are checked above
            bad = [s[2] for s in rows if len(s) == 4 and s[2] != expected]
            if bad:  # a fast run that failed its checks is not a result
                raise SystemExit(f"{name}: only {bad[0]} of {expected} checks were OK")

        def med(name: str, i: int) -> float:
            return statistics.median(s[i] for s in samples[name])

        f = med("floor", 0)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{count} http checks, each endpoint answering after {delay * 1000:.0f} ms; median of {runs} "
              f"interleaved rounds; {os.cpu_count()} CPUs, load average {load}")
        print(f"{'':40} {'wall':>8} {'run':>8} {'run/floor':>10} {'CPU/check':>10} {'/blackbox':>10}")
        bb_cpu = med("blackbox", 1) if samples["blackbox"] else None
        f_cpu = med("floor", 1)
        print(f"{'floor: bare asyncio, same requests':40} {'':>8} {f * 1000:6.0f}ms {1:10.2f} {f_cpu * 1000:8.2f}ms "
              + (f"{f_cpu / bb_cpu:10.2f}" if bb_cpu else ""))
        if bb_cpu is not None:
            bb_run = med("blackbox", 0)
            print(f"{'blackbox_exporter, same probes':40} {'':>8} {bb_run * 1000:6.0f}ms {bb_run / f:10.2f} "
                  f"{bb_cpu * 1000:8.2f}ms {1:10.2f}")
        for name in trees:
            wall, cpu = med(f"{name} in-process", 0), med(f"{name} in-process", 3)
            ratio = f"{cpu / count / bb_cpu:10.2f}" if bb_cpu else f"{'-':>10}"
            print(f"{name + f': {count} checks in-process':40} {'':>8} {wall * 1000:6.0f}ms {wall / f:10.2f} "
                  f"{cpu / count * 1000:8.2f}ms {ratio}")
        wall, cpu = med("raw GET in-process", 0), med("raw GET in-process", 3)
        ratio = f"{cpu / count / bb_cpu:10.2f}" if bb_cpu else f"{'-':>10}"
        print(f"{'bare-asyncio GET probe, same runner':40} {'':>8} {wall * 1000:6.0f}ms {wall / f:10.2f} "
              f"{cpu / count * 1000:8.2f}ms {ratio}  (measurement only)")
        for name in trees:
            one, many = samples[f"{name} 1"], samples[f"{name} {count}"]
            per_check = statistics.median((m[3] - o[3]) / (count - 1) for o, m in zip(one, many, strict=True))
            run = med(f"{name} {count}", 1)
            ratio = f"{per_check / bb_cpu:10.2f}" if bb_cpu else f"{'-':>10}"
            print(f"{name + ': health, 1 check':40} {med(f'{name} 1', 0) * 1000:6.0f}ms "
                  f"{med(f'{name} 1', 1) * 1000:6.0f}ms")
            print(f"{name + f': health, {count} checks':40} {med(f'{name} {count}', 0) * 1000:6.0f}ms "
                  f"{run * 1000:6.0f}ms {run / f:10.2f} {per_check * 1000:8.2f}ms {ratio}")
        run = med("agentops in-process", 0)
        print(f"goal: {count} checks in-process <= 1.2x the floor: {run / f:.2f}x -> "
              f"{'met' if run <= 1.2 * f else 'NOT met'}. 'run' of a health process is its report's duration_s, "
              "counted from the process's start (imports, config and plan included); CPU/check of a health "
              "process is (CPU of N checks - CPU of 1) / (N - 1), in-process it is the run's CPU / N")
    finally:
        if bb is not None:
            bb[0].terminate()
            bb[0].wait(timeout=5)
        stop_process(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(int(sys.argv[2]), float(sys.argv[3])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--inproc":
        in_process(sys.argv[2], raw="--raw" in sys.argv[3:])
    else:
        main()
