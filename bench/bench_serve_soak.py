"""`agentops serve` against the real AutoGen lab for a long run (default one hour), scraped every second: is RSS
bounded over time?

Starts the lab (host + two workers, agentops.lab) in a temp dir, then `agentops serve` on the lab's config (every
check of its packs, the AutoGen view with owners and pings, the undelivered-request count over the lab's logs;
with `--diagnose TYPE`, a `serve:` section diagnosing TYPE every `--diagnose-interval` seconds) with
`--interval 2 --cluster-interval 1`, and scrapes
/metrics every second (/report and /healthz every tenth second). The serve process's RSS (psutil) is sampled every
`--sample` seconds. Printed as it goes (one line per minute) and at the end: RSS first (after the warm-up), last,
max, the least-squares slope in MiB/hour over the samples after the warm-up, the check cycles and scrapes made,
failed scrapes, and the load average over the run (this machine is shared; the figures say how busy it was).

Run: .venv/bin/python bench/bench_serve_soak.py [--duration 3600] [--warmup 120] [--sample 10] [--diagnose echo]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.common import free_port, stop_process, wait_for
from tests.fixtures.serve import parse_samples

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> str:
    with OPENER.open(url, timeout=10) as resp:
        return resp.read().decode()


def _try(url: str) -> bool:
    try:
        _get(url)
        return True
    except OSError:
        return False


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per hour."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return float("nan") if var == 0 else sum((t - mx) * (v - my) for t, v in points) / var * 3600


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=3600, help="seconds of scraping")
    ap.add_argument("--warmup", type=float, default=120, help="seconds before the first RSS point counts")
    ap.add_argument("--sample", type=float, default=10, help="seconds between RSS samples")
    ap.add_argument("--interval", type=float, default=2.0, help="serve --interval")
    ap.add_argument("--diagnose", help="an agent type to diagnose periodically (the config's serve: section)")
    ap.add_argument("--diagnose-interval", type=float, default=10.0)
    args = ap.parse_args()

    from agentops.lab import manager

    with tempfile.TemporaryDirectory(prefix="agentops-soak-") as tmp:
        lab_dir = Path(tmp) / "lab"
        lab = manager.up(manager.LabOptions(dir=lab_dir))
        config = lab_dir / "agentops.yaml"
        if args.diagnose:
            import yaml

            doc = yaml.safe_load(config.read_text())
            doc["serve"] = {"diagnoses": [{"agent_type": args.diagnose, "interval": args.diagnose_interval}]}
            config = Path(tmp) / "agentops.yaml"
            config.write_text(yaml.safe_dump(doc, sort_keys=False))
        port = free_port()
        err = (Path(tmp) / "serve.stderr").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "agentops", "serve", "-c", str(config), "--listen",
                                 f"127.0.0.1:{port}", "--interval", str(args.interval), "--cluster-interval", "1",
                                 "--cluster-timeout", "3"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        base = f"http://127.0.0.1:{port}"
        print(f"lab host {lab.host_address}, serve pid {proc.pid} on {base}", flush=True)
        try:
            wait_for(lambda: _try(base + "/"), timeout=120, what="serve listening")
            rss = psutil.Process(proc.pid)
            t0 = time.monotonic()
            load_start = os.getloadavg()
            samples: list[tuple[float, float]] = []
            loads: list[float] = []
            scrapes = failed = 0
            last_text = ""
            next_sample = t0
            next_print = t0 + 60
            tick = 0
            while (now := time.monotonic()) - t0 < args.duration:
                if proc.poll() is not None:
                    raise SystemExit(f"serve exited with {proc.returncode}")
                paths = ["/metrics"] + (["/report", "/healthz"] if tick % 10 == 0 else [])
                for path in paths:
                    try:
                        text = _get(base + path)
                        if path == "/metrics":
                            last_text = text
                    except urllib.error.HTTPError as exc:  # /healthz 503 is an answer
                        if exc.code != 503:
                            failed += 1
                    except OSError:
                        failed += 1
                    scrapes += 1
                if now >= next_sample:
                    samples.append((now - t0, rss.memory_info().rss / 2**20))
                    loads.append(os.getloadavg()[0])
                    next_sample += args.sample
                if now >= next_print:
                    print(f"{now - t0:6.0f} s  rss {samples[-1][1]:7.1f} MiB  scrapes {scrapes}  failed {failed}  "
                          f"load {loads[-1]:.2f}", flush=True)
                    next_print += 60
                tick += 1
                time.sleep(max(0.0, t0 + tick - time.monotonic()))  # one scrape per second, paced by the clock
            counted = [(t, v) for t, v in samples if t >= args.warmup] or samples
            cycles = sum(v for _, v in parse_samples(last_text, "agentops_serve_check_runs_total"))
            diagnoses = sum(v for _, v in parse_samples(last_text, "agentops_diagnosis_runs_total"))
            print(f"duration {time.monotonic() - t0:.0f} s, check cycles {cycles:.0f}, diagnoses {diagnoses:.0f}, "
                  f"scrapes {scrapes}, failed {failed}")
            print(f"rss after warm-up {counted[0][1]:.1f} MiB, last {counted[-1][1]:.1f} MiB, "
                  f"max {max(v for _, v in counted):.1f} MiB, slope {slope_per_hour(counted):+.2f} MiB/h "
                  f"({len(counted)} samples)")
            print(f"load average: at start {load_start[0]:.2f}, mean over the run {sum(loads) / len(loads):.2f}, "
                  f"max {max(loads):.2f} ({os.cpu_count()} CPUs)")
        finally:
            stop_process(proc)
            err.close()
            manager.down(lab_dir, grace=3.0)


if __name__ == "__main__":
    main()
