"""Text from logs, URLs and payloads is data, never Rich markup (issue 10, item 13): a `[/…]` once crashed the
table output with `internal error: MarkupError` (exit 3 instead of the real status) and `[bold]x` was
silently dropped; `[lab]` vanished from help text."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.common import assert_no_traceback, free_port, run_cli

LINES = [
    "2026-12-02 10:01:00,000 ERROR [worker] connection to [db] failed [/etc/x]",
    "2026-12-02 10:01:01,000 ERROR [bold]x broke [/]",
    "2026-12-02 10:01:02,000 ERROR [worker] connection to [db] failed [/etc/x]",
]


def test_log_text_with_closing_tags_is_shown_literally(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text("\n".join(LINES) + "\n")
    r = run_cli("logs", "analyze", str(log), "--min-count", "1")
    assert_no_traceback(r)
    assert "internal error" not in r.stderr, r.stderr
    assert r.code != 3, r
    assert "failed [/etc/x]" in r.stdout
    assert "[bold]x broke [/]" in r.stdout


def test_a_url_with_a_closing_tag_keeps_the_real_status(tmp_path: Path) -> None:
    cfg = tmp_path / "agentops.yaml"
    cfg.write_text(f"version: 1\npacks: [http]\ntargets:\n  - name: web\n    kind: http\n"
                   f"    address: 'http://127.0.0.1:{free_port()}/ok?x=[/a]&y=[bold]b'\n"
                   f"defaults: {{timeout: 2, retries: 0}}\n")
    r = run_cli("health", "-c", str(cfg))
    assert_no_traceback(r)
    assert "internal error" not in r.stderr, r.stderr
    assert r.code == 2, r  # refused: CRITICAL, as in every other format
    assert "[/a]" in r.stdout and "[bold]b" in r.stdout


def test_help_text_keeps_its_brackets() -> None:
    r = run_cli("lab", "--help")
    assert r.code == 0, r
    assert "[lab]" in r.stdout


# --- Kubernetes objects: names, event messages and annotations are anyone's text -----------------------------

HOSTILE_NAME = "evil-[bold]x-%s-{0}-\x1b[31mred\x1b[0m"
HOSTILE_EVENT = "[bold]boom[/] %s {0} \x1b[2J"
HOSTILE_TYPE = "[red]t%s{0}\x1b]0;title\x07"


def _hostile_objects() -> list[dict[str, object]]:
    from tests.fixtures import k8s_objects as k

    objs = k.healthy_namespace()
    pod = next(o for o in objs if o["kind"] == "Pod" and o["metadata"]["name"] == "agent-worker-1-5d8f-a")
    pod["metadata"]["name"] = HOSTILE_NAME
    pod["metadata"]["annotations"] = {"agentops.io/agent-types": HOSTILE_TYPE}
    pod["status"]["containerStatuses"][0]["restartCount"] = 20
    return [*objs, k.event(pod, "Bad[/]", HOSTILE_EVENT)]


def _shown(text: str) -> str:
    from agentops.render.escape import visible

    return visible(text)


def test_k8s_audit_table_shows_object_text_as_data(tmp_path: Path) -> None:
    import json

    (tmp_path / "dump.json").write_text(json.dumps({"kind": "List", "items": _hostile_objects()}))
    # --scrape against a host that refuses: the declared (hostile) agent type becomes a result's target
    r = run_cli("k8s", "audit", "--from-bundle", str(tmp_path), "--scrape", "--agentrpc-host",
                f"127.0.0.1:{free_port()}", "--timeout", "3", env={"COLUMNS": "400"})  # no wrapped cells
    assert_no_traceback(r)
    assert "internal error" not in r.stderr, r.stderr
    assert r.code == 2, r  # the restarts are CRITICAL, as in -o json
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert f"agents/pod/{_shown(HOSTILE_NAME)}" in r.stdout
    assert "latest Bad[/]: [bold]boom[/] %s {0}" in r.stdout
    assert f"agents/agent-type/{_shown(HOSTILE_TYPE)}" in r.stdout


def test_watch_screen_shows_k8s_object_text_as_data(tmp_path: Path) -> None:
    from tests.fixtures.kube_api import KubeApi

    with KubeApi(_hostile_objects()) as api:
        cfg = tmp_path / "agentops.yaml"
        cfg.write_text("version: 1\npacks: [kubernetes]\ntargets:\n  - name: agents\n    kind: kubernetes\n"
                       f"    options:\n      kubeconfig: {str(api.kubeconfig(tmp_path, namespace='agents'))!r}\n"
                       "      namespace: agents\n      timeout: 5\n")
        r = run_cli("watch", "-c", str(cfg), "--count", "1", "--interval", "0.1", "--only", "k8s.pod.*")
    assert_no_traceback(r)
    assert "internal error" not in r.stderr, r.stderr
    assert "\x1b" not in r.stdout
    assert f"agents/pod/{_shown(HOSTILE_NAME)}" in r.stdout, r.stdout
    assert r.code == 2, r  # the pod with 20 restarts, read by its (hostile) name from the API
