"""Built-ins use the same door as plugins: pyproject's entry points and the registry's fast path agree."""

import tomllib

from agentops.core import registry
from tests.fixtures.common import REPO


def test_builtin_tables_match_entry_points():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    eps = project.get("entry-points", {})
    assert eps.get("agentops.probes", {}) == registry.BUILTIN_PROBES
    assert eps.get("agentops.steps", {}) == registry.BUILTIN_STEPS
    assert eps.get("agentops.heal_steps", {}) == registry.BUILTIN_HEAL_STEPS


def test_every_builtin_probe_loads_and_describes_itself():
    for kind in registry.BUILTIN_PROBES:
        probe = registry.probe(kind)
        assert probe.kind == kind
        assert probe.target_kinds and probe.description


def test_installed_entry_points_resolve():
    """The installed distribution's metadata (what a plugin sees) lists every built-in."""
    from importlib.metadata import entry_points

    installed = {ep.name for ep in entry_points(group="agentops.probes")}
    assert set(registry.BUILTIN_PROBES) <= installed
