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
