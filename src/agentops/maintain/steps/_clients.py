"""Connections from a config Target to Redis and PostgreSQL for maintenance steps: the probes' own
connection options (address forms, TLS, secrets) and failure classification, so a step and a health check
reach a target the same way and explain a failure in the same words."""

from __future__ import annotations

from typing import Any

from agentops.core.config import Target
from agentops.core.yamlsrc import ConfigError
from agentops.maintain.step import StepOutcome


def redis_client(target: Target, timeout: float) -> Any:
    """A redis.asyncio client on one connection (the first command connects, within `timeout`)."""
    import redis.asyncio as aioredis

    from agentops.probes.redis import connection_options

    try:
        return aioredis.Redis(**connection_options(target, timeout))
    except ValueError as exc:  # a target the probe cannot reach either (bad URL scheme, db, TLS combination)
        raise TargetError(str(exc)) from None


def redis_failure(exc: BaseException, target: Target, stage: str, timeout: float) -> StepOutcome:
    from agentops.probes.redis import failure

    reason, message = failure(exc, stage, timeout, tls=target.tls.enabled,
                              has_password="password" in target.secret_sources)
    return StepOutcome.failure(reason, f"redis {target.name}: {message}")


async def pg_connect(target: Target, timeout: float) -> Any:
    """An autocommit psycopg AsyncConnection (VACUUM and REINDEX CONCURRENTLY refuse transaction blocks)."""
    import asyncio

    import psycopg

    from agentops.probes.postgres import connection_string

    try:
        conninfo = connection_string(target, timeout)
    except ValueError as exc:
        raise TargetError(str(exc)) from None
    return await asyncio.wait_for(psycopg.AsyncConnection.connect(conninfo, autocommit=True), timeout + 1)


def pg_failure(exc: BaseException, target: Target, stage: str) -> StepOutcome:
    from agentops.probes.postgres import failure

    reason, message = failure(exc, stage)
    return StepOutcome.failure(reason, f"postgres {target.name}: {message}")


class TargetError(ConfigError):
    """The target's config cannot be turned into a connection (the engine reports the step failed)."""
