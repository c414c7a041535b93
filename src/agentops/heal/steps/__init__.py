"""The built-in heal steps (registered in pyproject.toml and core.registry.BUILTIN_HEAL_STEPS)."""
