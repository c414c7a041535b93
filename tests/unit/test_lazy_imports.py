"""The base tool never imports autogen, and a run pays for no network client and no output library it does not
use: `health -o json` imports no rich, a run of HTTP checks no redis/psycopg/grpc, a health table no presenter
module (it has none)."""

import os
import subprocess
import sys

HEAVY = ("autogen_core", "autogen_ext", "grpc", "redis", "psycopg", "httpx", "prometheus_client", "google.protobuf",
         "kubernetes", "yaml")


def imported_by(*args: str, env: dict[str, str] | None = None) -> set[str]:
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentops", *args], capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL, env=env)
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
    assert not {n for n in names if n == "rich" or n.startswith("rich.")}, "JSON output needs no rich"


def test_a_health_table_imports_no_presenter_module():
    names = imported_by("health", env={**os.environ, "NO_COLOR": "1"})
    assert "rich.table" in names  # the generic results view is what it draws
    assert not {n for n in names if n.startswith("agentops.render.presenters.")}


def test_http_checks_import_their_client_and_no_other(tmp_path):
    config = tmp_path / "agentops.yaml"
    # Port 9 (discard) on loopback: nothing answers, the check fails fast; what matters is what it imported.
    config.write_text("version: 1\npacks: []\ntargets:\n  - {name: web, kind: http, address: 'http://127.0.0.1:9/'}\n"
                      "checks:\n  - {id: web.up, probe: http, target: web, timeout: 2}\n")
    names = imported_by("health", "-c", str(config), "-o", "json")
    assert "httpx" in names
    assert heavy_in(names, allowed=("yaml", "httpx")) == set()
    assert not {n for n in names if n == "rich" or n.startswith("rich.")}


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
