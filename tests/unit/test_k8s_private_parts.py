"""Outside k8s/, nothing uses the package's private parts (`from agentops.k8s.x import _name`, or a private
attribute of its client such as `._api`/`._request`): heal writes through k8s/write.py, the public door."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "agentops"
PRIVATE_ATTRS = {"_api", "_request", "_request_blocking", "_get", "_get_blocking"}


def _offences(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agentops.k8s"):
            out += [f"{path}:{node.lineno} imports {a.name}" for a in node.names if a.name.startswith("_")]
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRS:
            out.append(f"{path}:{node.lineno} uses .{node.attr}")
    return out


def test_no_module_outside_k8s_uses_its_private_parts() -> None:
    # the attribute names are common words: only modules that use the k8s package are scanned for them
    files = [p for p in SRC.rglob("*.py") if SRC / "k8s" not in p.parents and "agentops.k8s" in p.read_text()]
    assert files
    assert [o for p in files for o in _offences(p)] == []


def test_the_scan_sees_an_offence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from agentops.k8s.access import _within\n\ndef f(c):\n    return c._api\n")
    assert len(_offences(bad)) == 2
