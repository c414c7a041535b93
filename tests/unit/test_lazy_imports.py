"""The base tool never imports autogen, and the default run pays for no network client it does not use."""

import subprocess
import sys

HEAVY = ("autogen_core", "autogen_ext", "grpc", "redis", "psycopg", "httpx", "prometheus_client", "google.protobuf",
         "kubernetes", "yaml")


def imported_by(*args: str) -> set[str]:
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentops", *args], capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    names = set()
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def heavy_in(names: set[str], allowed: tuple[str, ...] = ()) -> set[str]:
    return {n for n in names for h in HEAVY if (n == h or n.startswith(h + ".")) and h not in allowed}


def test_help_imports_no_client():
    names = imported_by("--help")
    assert names, "importtime output missing"
    assert heavy_in(names, allowed=("yaml",)) == set()


def test_default_health_imports_no_client(tmp_path):
    names = imported_by("health", "-o", "json")
    # yaml may load on the first run (a pack-cache miss); nothing else heavy may
    assert heavy_in(names, allowed=("yaml",)) == set()


def test_nothing_in_the_base_tool_imports_autogen():
    for args in (["--help"], ["health", "-o", "json"], ["checks", "list"], ["config", "validate"]):
        assert not {n for n in imported_by(*args) if n.startswith("autogen")}, args


def test_the_kubernetes_client_is_paid_only_by_runs_that_talk_to_a_cluster():
    # a health run with no Kubernetes target, and an offline audit of a dump, never import the client
    from pathlib import Path

    seed = Path(__file__).parents[1] / "fixtures" / "k8s" / "seed"
    for args in (["health", "-o", "json"], ["k8s", "audit", "--from-bundle", str(seed), "-o", "json"]):
        names = imported_by(*args)
        assert "agentops.core.config" in names, args  # the run happened
        assert not {n for n in names if n == "kubernetes" or n.startswith("kubernetes.")}, args
