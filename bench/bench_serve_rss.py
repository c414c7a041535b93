"""`agentops serve` memory over many check cycles and scrapes: is RSS flat?

Starts `agentops serve` (a child process) with the shipped host pack plus N tcp checks against a listener on
this machine and one against a silent listener (accepts, never answers: its check times out every cycle),
every check on a short interval, and scrapes /metrics, /healthz and /report in a loop. RSS of the serve
process (psutil) is read after a warm-up and then at each report point; printed: cycles run (sum of
agentops_serve_check_runs_total), scrapes made, RSS at each point and the ratio last/warm-up (goal: ~1.0,
i.e. flat).

Run: .venv/bin/python bench/bench_serve_rss.py [--cycles 10000] [--targets 20] [--interval 0.05]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.common import SilentListener, free_port, stop_process, wait_for
from tests.fixtures.serve import parse_samples

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> str:
    with OPENER.open(url, timeout=10) as resp:
        return resp.read().decode()


def _accept_forever(sock: socket.socket) -> None:
    while True:
        try:
            conn, _ = sock.accept()
            conn.close()
        except OSError:
            return


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=10000, help="check runs to reach, over all checks")
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()

    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_accept_forever, args=(listener,), daemon=True).start()
    silent = SilentListener()
    port = listener.getsockname()[1]
    targets = [{"name": f"t{i}", "kind": "tcp", "address": f"127.0.0.1:{port}"} for i in range(args.targets)]
    targets.append({"name": "silent", "kind": "http", "address": f"http://127.0.0.1:{silent.port}/"})
    checks = [{"id": "tcp.connect", "probe": "net.tcp", "target": "kind:tcp", "timeout": 1},
              {"id": "silent.http", "probe": "http", "target": "silent", "timeout": 0.2}]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "agentops.yaml"
        config.write_text(yaml.safe_dump({"version": 1, "packs": ["host"], "targets": targets, "checks": checks}))
        serve_port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "agentops", "serve", "-c", str(config), "--listen",
                                 f"127.0.0.1:{serve_port}", "--interval", str(args.interval), "--jitter", "0.1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
        base = f"http://127.0.0.1:{serve_port}"
        try:
            wait_for(lambda: _try(base), timeout=60, what="serve listening")
            rss = psutil.Process(proc.pid)
            scrapes = 0

            def cycles() -> float:
                return sum(v for _, v in parse_samples(_get(f"{base}/metrics"), "agentops_serve_check_runs_total"))

            points = [args.cycles // 10, args.cycles // 4, args.cycles // 2, args.cycles]
            warm = None
            t0 = time.monotonic()
            for point in points:
                while (done := cycles()) < point:
                    for path in ("/metrics", "/report"):
                        _get(base + path)
                        scrapes += 1
                mb = rss.memory_info().rss / 2**20
                warm = warm or mb
                print(f"cycles {done:8.0f}  scrapes {scrapes:7d}  rss {mb:7.1f} MiB  ({time.monotonic() - t0:5.0f} s)")
            print(f"rss ratio last/first point: {mb / warm:.3f}  (goal: flat, ~1.0)")
        finally:
            stop_process(proc)
            silent.close()
            listener.close()


def _try(base: str) -> bool:
    try:
        _get(base + "/")
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
