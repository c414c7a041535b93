"""`agentops serve` /probe beside Debian's prometheus-blackbox-exporter, probing the same endpoints.

N TCP endpoints (listening sockets of this process, accepted and closed by a selector thread) are probed one
target per request, as Prometheus drives both exporters: serve with `/probe?target=ADDR&kind=tcp&pack=tcp` (a
one-check pack: net.tcp), blackbox_exporter with `/probe?module=tcp_connect&target=ADDR`. Rounds alternate
between the two so both see the same machine load; each round requests every endpoint with `--parallel`
requests in flight. Printed per exporter: CPU seconds per probe (the exporter process's user+system time over
the round, psutil; the system part apart) and the request latency median / p90; then the ratios
serve/blackbox (goal: CPU per probe no more than blackbox_exporter's).

Run: .venv/bin/python bench/bench_serve_probe.py [--targets 200] [--rounds 5] [--parallel 16]
"""

from __future__ import annotations

import argparse
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.common import free_port, stop_process, wait_for
from tests.fixtures.services import require_binary

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> float:
    t0 = time.perf_counter()
    with OPENER.open(url, timeout=30) as resp:
        body = resp.read().decode()
    took = time.perf_counter() - t0
    assert "probe_success 1" in body or 'agentops_check_status{kind="probe"' in body, body[:300]
    return took


def _endpoints(n: int) -> tuple[list[str], threading.Event]:
    sel = selectors.DefaultSelector()
    addrs = []
    for _ in range(n):
        s = socket.create_server(("127.0.0.1", 0), backlog=128)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        addrs.append(f"127.0.0.1:{s.getsockname()[1]}")
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.1):
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                    conn.close()
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return addrs, stop


def _ready(url: str) -> bool:
    try:
        with OPENER.open(url, timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--parallel", type=int, default=16)
    args = ap.parse_args()
    addrs, stop = _endpoints(args.targets)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "packs").mkdir()
        (d / "packs" / "tcp.yaml").write_text(yaml.safe_dump({"pack": "tcp", "checks": [
            {"id": "tcp.connect", "probe": "net.tcp", "target": "kind:tcp", "timeout": 5}]}))
        (d / "agentops.yaml").write_text(yaml.safe_dump({"version": 1, "packs": ["host"], "pack_dirs": ["packs"]}))
        (d / "blackbox.yml").write_text(yaml.safe_dump({"modules": {"tcp_connect": {"prober": "tcp",
                                                                                    "timeout": "5s"}}}))
        sport, bport = free_port(), free_port()
        serve = subprocess.Popen([sys.executable, "-m", "agentops", "serve", "-c", str(d / "agentops.yaml"),
                                  "--listen", f"127.0.0.1:{sport}", "--interval", "3600"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        blackbox = subprocess.Popen([require_binary("prometheus-blackbox-exporter", "prometheus-blackbox-exporter"),
                                     f"--config.file={d / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{bport}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sides = {
            "serve": (serve, lambda a: f"http://127.0.0.1:{sport}/probe?target={a}&kind=tcp&pack=tcp"),
            "blackbox": (blackbox, lambda a: f"http://127.0.0.1:{bport}/probe?module=tcp_connect&target={a}"),
        }
        try:
            wait_for(lambda: _ready(f"http://127.0.0.1:{sport}/"), timeout=60, what="serve")
            wait_for(lambda: _ready(f"http://127.0.0.1:{bport}/"), timeout=60, what="blackbox_exporter")
            cpu: dict[str, float] = {k: 0.0 for k in sides}
            sys_cpu: dict[str, float] = {k: 0.0 for k in sides}  # of which in the kernel (connect, send, close)
            lat: dict[str, list[float]] = {k: [] for k in sides}
            with ThreadPoolExecutor(args.parallel) as pool:
                for _name, (_, url) in sides.items():  # warm-up: imports, first connections
                    list(pool.map(lambda a, u=url: _get(u(a)), addrs[:20]))
                for _ in range(args.rounds):
                    for name, (proc, url) in sides.items():
                        p = psutil.Process(proc.pid)
                        before = p.cpu_times()
                        lat[name] += list(pool.map(lambda a, u=url: _get(u(a)), addrs))
                        after = p.cpu_times()
                        cpu[name] += after.user + after.system - before.user - before.system
                        sys_cpu[name] += after.system - before.system
            probes = args.rounds * len(addrs)
            for name in sides:
                q = statistics.quantiles(lat[name], n=10)
                print(f"{name:9s} cpu/probe {cpu[name] / probes * 1000:7.3f} ms (system "
                      f"{sys_cpu[name] / probes * 1000:.3f})  latency median "
                      f"{statistics.median(lat[name]) * 1000:6.2f} ms  p90 {q[8] * 1000:6.2f} ms")
            print(f"serve/blackbox: cpu per probe {cpu['serve'] / max(cpu['blackbox'], 1e-9):.2f}x, median latency "
                  f"{statistics.median(lat['serve']) / statistics.median(lat['blackbox']):.2f}x "
                  f"({probes} probes each, {args.parallel} in flight)")
        finally:
            stop_process(serve)
            stop_process(blackbox)
            stop.set()


if __name__ == "__main__":
    main()
