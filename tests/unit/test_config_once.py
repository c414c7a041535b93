"""The config is loaded once per command: each command loads it at its edge and passes it down (the Cluster
carries it to the diagnosis' baseline, the performance diagnosis takes it from the cluster), so one run reads
one config even if the file changes under it. Counted in-process by wrapping core.config.parse_config."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentops.cli import main
from agentops.core import config
from tests.fixtures.common import free_port


@pytest.fixture
def cluster_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AGENTOPS_CONFIG", raising=False)
    path = tmp_path / "agentops.yaml"
    path.write_text(f"version: 1\nstate_dir: {tmp_path / 'state'}\ntargets:\n"
                    f"  - name: hub\n    kind: agentrpc\n    address: 127.0.0.1:{free_port()}\n")
    return path


def loads(monkeypatch: pytest.MonkeyPatch, *argv: str) -> list[str]:
    parsed: list[str] = []
    real = config.parse_config

    def counting(doc: object, path: str) -> config.Config:
        parsed.append(path)
        return real(doc, path)

    monkeypatch.setattr(config, "parse_config", counting)
    with pytest.raises(SystemExit):
        main.run(list(argv))
    return parsed


def test_diagnose_agent_reads_its_config_once(monkeypatch: pytest.MonkeyPatch, cluster_config: Path) -> None:
    parsed = loads(monkeypatch, "diagnose", "agent", "planner", "-c", str(cluster_config), "-o", "json",
                   "--error", "ModuleNotFoundError: No module named 'zz_nope'")
    assert parsed == [str(cluster_config)]


@pytest.mark.parametrize("argv", [("health", "--only", "none-such", "-o", "json"), ("checks", "list"),
                                  ("cluster", "inventory", "--timeout", "0.5", "-o", "json")])
def test_other_commands_read_their_config_once(monkeypatch: pytest.MonkeyPatch, cluster_config: Path,
                                               argv: tuple[str, ...]) -> None:
    parsed = loads(monkeypatch, *argv, "-c", str(cluster_config))
    assert parsed == [str(cluster_config)]
