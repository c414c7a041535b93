"""Redis remedies: clear a cache prefix (SCAN + UNLINK, bounded: never a KEYS, never more than `max_keys`,
never past the step's deadline) and reset the connections of named clients (CLIENT KILL ID for each client
whose CLIENT SETNAME starts with `client_name`), for a worker stuck on a poisoned cache or a broken pool."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from agentops.core.config import Target
from agentops.heal.step import HealContext, HealStep, StepPlan
from agentops.maintain.step import Outcome, StepOutcome
from agentops.maintain.steps._clients import redis_client, redis_failure
from agentops.maintain.steps.redis import _int_param  # the maintenance steps' bounded-integer param check

_GLOB = re.compile(r"([*?\[\]\\])")


def _why(ctx: HealContext) -> str:
    v = ctx.target.verdict
    return f"{v.mode}: {v.title}" if v else "the diagnosis found it unhealthy"


class _RedisStep(HealStep):
    default_timeout = 60.0

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        if not isinstance(params.get("target"), str) or not params["target"]:
            raise ValueError("target: the name of a redis target in the config")

    def redis_target(self, ctx: HealContext) -> Target | None:
        t = ctx.config.targets.get(str(ctx.params["target"]))
        return t if t is not None and t.kind == "redis" else None

    def applicable(self, ctx: HealContext) -> str | None:
        return None if self.redis_target(ctx) else f"no redis target named {ctx.params['target']!r} in the config"


class ClearPrefixStep(_RedisStep):
    kind = "redis.clear_prefix"
    description = "delete the keys under a prefix with SCAN + UNLINK, at most max_keys"
    params_doc = {"target": "the redis target (its name in the config)",
                  "prefix": "the key prefix to clear (literal; glob characters are escaped)",
                  "max_keys": "delete at most this many keys (default 10000)",
                  "batch": "SCAN COUNT and UNLINK batch size (default 500)"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        if not isinstance(params.get("prefix"), str) or not params["prefix"]:
            raise ValueError("prefix: a non-empty key prefix (clearing a whole database is not a heal step)")
        _int_param(params, "max_keys", 10000, 1, 10_000_000)
        _int_param(params, "batch", 500, 1, 100_000)

    def plan(self, ctx: HealContext) -> StepPlan:
        return StepPlan(action=f"SCAN MATCH {ctx.params['prefix']}* and UNLINK at most "
                               f"{ctx.params.get('max_keys', 10000)} keys", why=_why(ctx),
                        to=f"redis {ctx.params['target']}")

    async def apply(self, ctx: HealContext) -> StepOutcome:
        target = self.redis_target(ctx)
        assert target is not None
        pattern = _GLOB.sub(r"\\\1", str(ctx.params["prefix"])) + "*"
        limit, batch = int(ctx.params.get("max_keys", 10000)), int(ctx.params.get("batch", 500))
        client = redis_client(target, max(0.5, ctx.remaining()))
        deleted, cursor, started = 0, 0, time.monotonic()
        try:
            while True:
                cursor, keys = await client.scan(cursor=cursor, match=pattern, count=batch)
                keys = keys[: limit - deleted]
                if keys:
                    deleted += int(await client.unlink(*keys))
                if cursor == 0 or deleted >= limit or ctx.remaining() <= 0:
                    break
        except Exception as exc:
            return redis_failure(exc, target, "scan", ctx.timeout)
        finally:
            await client.aclose()
        out = StepOutcome(Outcome.CHANGED if deleted else Outcome.OK, after={"deleted_keys": float(deleted)})
        if deleted:
            ctx.record_change(out, f"unlinked {deleted} keys matching {pattern} on redis {target.name}")
        stopped = "" if cursor == 0 else f" (stopped at {'max_keys' if deleted >= limit else 'the deadline'})"
        out.message = f"unlinked {deleted} keys in {time.monotonic() - started:.1f}s{stopped}"
        return out


class ResetConnectionsStep(_RedisStep):
    kind = "redis.reset_connections"
    description = "close the connections of clients named client_name* (CLIENT KILL ID), so pools reconnect"
    params_doc = {"target": "the redis target (its name in the config)",
                  "client_name": "the CLIENT SETNAME prefix of the connections to close",
                  "max_clients": "close at most this many (default 100)"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        if not isinstance(params.get("client_name"), str) or not params["client_name"]:
            raise ValueError("client_name: a non-empty client name prefix")
        _int_param(params, "max_clients", 100, 1, 100_000)

    def plan(self, ctx: HealContext) -> StepPlan:
        return StepPlan(action=f"CLIENT KILL ID each connection named {ctx.params['client_name']}*", why=_why(ctx),
                        to=f"redis {ctx.params['target']}")

    async def apply(self, ctx: HealContext) -> StepOutcome:
        target = self.redis_target(ctx)
        assert target is not None
        prefix, limit = str(ctx.params["client_name"]), int(ctx.params.get("max_clients", 100))
        client = redis_client(target, max(0.5, ctx.remaining()))
        out = StepOutcome(Outcome.OK)
        try:
            clients = [c for c in await client.client_list() if str(c.get("name", "")).startswith(prefix)]
            for c in clients[:limit]:
                await client.execute_command("CLIENT", "KILL", "ID", str(c["id"]))
                out.status = Outcome.CHANGED
                ctx.record_change(out, f"closed redis {target.name} connection {c['id']} ({c.get('name')}, "
                                       f"{c.get('addr')})")
        except Exception as exc:
            return redis_failure(exc, target, "client", ctx.timeout)
        finally:
            await client.aclose()
        out.message = f"closed {out.changes_total} connection{'s' if out.changes_total != 1 else ''}"
        return out
