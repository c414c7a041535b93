"""The one duration field of heal's YAML (runbooks, the `heal:` policy, a worker's `options.heal`): a number of
seconds or a text like 30s / 5m / 1h, bounded, its error naming file, line and field."""

from __future__ import annotations

from agentops.core.units import parse_duration
from agentops.core.yamlsrc import Fields

DAY_S = 86400.0


def duration_field(f: Fields, key: str, *, zero_ok: bool = False, most_days: float = 1) -> float | None:
    """The field's seconds, or None when it is absent."""
    raw = f.get(key, (str, int, float))
    if raw is None:
        return None
    try:
        value = parse_duration(raw)
    except ValueError as exc:
        raise f.error(key, str(exc)) from None
    if value < 0 or (value == 0 and not zero_ok) or value > most_days * DAY_S:
        lower = "0 or more" if zero_ok else "more than 0"
        raise f.error(key, f"must be {lower} and at most {most_days:g}d, got {raw}")
    return value
