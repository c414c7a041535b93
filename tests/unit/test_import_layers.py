"""The layers docs/architecture.md draws, enforced: no package imports a higher layer, and there is no import
cycle between packages or between modules. Imports inside functions count (a lazy import is still an edge).
`if TYPE_CHECKING:` imports count for the layers and the package cycles (a type hint cannot hide an upward
edge), not for module cycles inside a package: they never run, and a parser and the model it fills may name
each other's types."""

from __future__ import annotations

import ast
from pathlib import Path

import agentops

ROOT = Path(agentops.__file__).parent
# Lower numbers are lower layers; a module may import its own package and any lower layer.
LAYERS = {
    "core": 0, "instrument": 0,  # instrument: runs inside a user's worker, imports nothing of agentops
    "render": 1, "autogen": 1, "k8s": 1,  # k8s: the Kubernetes client side (access, snapshot, audit rules)
    "probes": 2,
    "logs": 3, "maintain": 3, "profile": 3, "load": 3, "lab": 3, "serve": 3,
    "diagnose": 4,
    "drill": 5, "heal": 5,  # heal: acts on the diagnosis' verdicts (runbooks, steps, history)
    "cli": 6,
}
# Sideways edges between packages of one layer that are allowed (load reads profile's process sampler).
SIDEWAYS = {("load", "profile")}
TOP = {"agentops", "agentops.__main__"}  # the package itself and `python -m agentops` sit above everything


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = ["agentops", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            found |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return found


def _edges(mods: dict[str, Path], *, runtime_only: bool = False) -> set[tuple[str, str]]:
    """(importer, imported module) for every agentops import, resolved to a module of the tree."""
    edges = set()
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_only(tree) if runtime_only else set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                # `from agentops.core import registry` imports the module agentops.core.registry
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module for a in node.names]
            for target in targets:
                while target and target not in mods:  # `import agentops.core.config` etc.
                    target = target.rpartition(".")[0]
                if target.startswith("agentops") and target != name:
                    edges.add((name, target))
    return edges


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and module not in TOP else module


def _cycles(nodes: set[str], edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a != b:
            graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _explain(component: list[str], edges: set[tuple[str, str]]) -> str:
    inside = set(component)
    return ", ".join(f"{a} -> {b}" for a, b in sorted(edges) if a in inside and b in inside)


def test_every_package_has_a_layer() -> None:
    packages = {_package(m) for m in _modules()} - TOP
    assert packages - set(LAYERS) == set(), "a new package needs a row in LAYERS and in docs/architecture.md"


def test_no_import_reaches_up_a_layer() -> None:
    mods = _modules()
    upward = []
    for a, b in sorted(_edges(mods)):
        pa, pb = _package(a), _package(b)
        if pa == pb or a in TOP or b in TOP or (pa, pb) in SIDEWAYS:
            continue
        if LAYERS[pb] >= LAYERS[pa]:
            upward.append(f"{a} ({pa}, layer {LAYERS[pa]}) -> {b} ({pb}, layer {LAYERS[pb]})")
    assert not upward, "imports of a higher (or the same) layer:\n  " + "\n  ".join(upward)


def test_no_cycle_between_packages() -> None:
    mods = _modules()
    edges = {(_package(a), _package(b)) for a, b in _edges(mods)
             if a not in TOP and b not in TOP and _package(a) != _package(b)}
    cycles = _cycles({_package(m) for m in mods if m not in TOP}, edges)
    assert not cycles, "package cycles:\n  " + "\n  ".join(_explain(c, edges) for c in cycles)


def test_no_cycle_between_modules() -> None:
    mods = _modules()
    edges = _edges(mods, runtime_only=True)
    cycles = _cycles(set(mods), edges)
    assert not cycles, "module cycles:\n  " + "\n  ".join(_explain(c, edges) for c in cycles)


def test_the_checker_sees_an_upward_edge_and_a_cycle() -> None:
    """The test's own machinery on a made-up graph: a cycle is found, and so is each edge of it."""
    edges = {("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}
    assert _cycles({"a", "b", "c", "d"}, edges) == [["a", "b", "c"]]
    assert _explain(["a", "b", "c"], edges) == "a -> b, b -> c, c -> a"
