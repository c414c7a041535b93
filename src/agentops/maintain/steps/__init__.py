"""Built-in maintenance step types (registered in core.registry.BUILTIN_STEPS and pyproject.toml)."""
