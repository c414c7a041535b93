"""Redis maintenance: reap expired keys with SCAN, and give freed allocator pages back with MEMORY PURGE.

Why a SCAN reaps: Redis deletes an expired key lazily when a command looks it up, and SCAN itself looks up
each key it is about to return and drops (deletes) the expired ones; keys that expire between a SCAN reply
and now are reaped by the pipelined EXISTS that follows each batch. Neither touches a live key's value,
TTL or LRU clock (EXISTS does not update the access time). The background expiry cycle does the same job
by random sampling, which leaves many expired keys holding memory when most keys have no TTL.

Check mode must not reap, yet every way of asking Redis about one key reaps it. KEYS is the exception (it
skips expired keys without deleting them), so on a database of at most `check_exact_limit` keys and the
default match the count is exact (DBSIZE minus the live keys KEYS returns); above that, or with a pattern,
check mode reports the number of keys carrying a TTL as an upper bound (INFO keyspace) and says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from agentops.core import format as fmt
from agentops.core.units import parse_size
from agentops.maintain.step import Outcome, Step, StepContext, StepOutcome
from agentops.maintain.steps._clients import redis_client, redis_failure

CONNECT_TIMEOUT_S = 10.0


def _int_param(params: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{key}: expected an integer from {lo} to {hi}, got {value!r}")
    return value


def _num_param(params: Mapping[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValueError(f"{key}: expected a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


class RedisExpireScanStep(Step):
    kind = "redis.expire_scan"
    description = "reap expired keys with a bounded SCAN (live keys untouched)"
    target_kinds = ("redis",)
    default_timeout = 300.0
    params_doc = {
        "match": "SCAN MATCH pattern (default '*': every key)",
        "batch": "SCAN COUNT per call (default 1000)",
        "max_seconds": "stop scanning after this long (default 60); the next run starts over",
        "pause_ms": "sleep between batches to stay gentle on a busy server (default 0)",
        "check_exact_limit": "check mode counts exactly (with KEYS) up to this many keys (default 100000)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        self._opts(params)

    def _opts(self, params: Mapping[str, Any]) -> dict[str, Any]:
        match = params.get("match", "*")
        if not isinstance(match, str) or not match:
            raise ValueError("match: expected a glob-style pattern")
        return {"match": match, "batch": _int_param(params, "batch", 1000, 1, 100_000),
                "max_seconds": _num_param(params, "max_seconds", 60, 0.1, 86400),
                "pause_ms": _num_param(params, "pause_ms", 0, 0, 60_000),
                "check_exact_limit": _int_param(params, "check_exact_limit", 100_000, 0, 10_000_000)}

    async def run(self, ctx: StepContext) -> StepOutcome:
        assert ctx.target is not None
        o = self._opts(ctx.params)
        io_timeout = min(CONNECT_TIMEOUT_S, ctx.timeout)
        client = redis_client(ctx.target, io_timeout)
        try:
            return await (self._check(client, o) if ctx.check else self._reap(client, o, ctx))
        except Exception as exc:
            return redis_failure(exc, ctx.target, "expire scan", io_timeout)
        finally:
            await client.aclose()

    @staticmethod
    async def _counts(client: Any) -> tuple[int, int, int]:
        """(keys in the db incl. expired-unreaped, keys with a TTL, server-wide expired_keys counter)."""
        dbsize = int(await client.dbsize())
        keyspace = await client.info("keyspace")
        db = client.connection_pool.connection_kwargs.get("db", 0)
        expires = int((keyspace.get(f"db{db}") or {}).get("expires", 0))
        stats = await client.info("stats")
        return dbsize, expires, int(stats.get("expired_keys", 0))

    async def _check(self, client: Any, o: dict[str, Any]) -> StepOutcome:
        dbsize, expires, _ = await self._counts(client)
        out = StepOutcome(Outcome.OK, before={"keys": dbsize, "keys_with_ttl": expires})
        if o["match"] == "*" and dbsize <= o["check_exact_limit"]:
            live = len(await client.keys("*"))  # KEYS skips expired keys without deleting them
            would = dbsize - live
            out.facts = {"exact": True, "would_reap": would}
            out.after = {"keys": live}
            out.message = f"would reap {would} expired keys of {dbsize} (exact count)"
        else:
            would = expires
            why = "a match pattern is set" if o["match"] != "*" else f"more than {o['check_exact_limit']} keys"
            out.facts = {"exact": False, "would_reap_at_most": expires}
            out.message = (f"would reap up to {expires} keys (those carrying a TTL; {why}, and counting expired "
                           f"keys exactly would reap them)")
        if would:
            out.status = Outcome.CHANGED
            out.add_change(f"reap {'' if out.facts['exact'] else 'up to '}{would} expired keys")
        return out

    async def _reap(self, client: Any, o: dict[str, Any], ctx: StepContext) -> StepOutcome:
        dbsize0, expires0, expired0 = await self._counts(client)
        stop_at = min(time.monotonic() + o["max_seconds"], ctx.deadline - 1.0)
        cursor, scanned, batches, vanished, complete = 0, 0, 0, 0, False
        t0 = time.monotonic()
        while True:
            cursor, keys = await client.scan(cursor=cursor, match=o["match"], count=o["batch"])
            batches += 1
            scanned += len(keys)
            if keys:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.exists(key)
                vanished += sum(1 for n in await pipe.execute() if not n)
            if int(cursor) == 0:
                complete = True
                break
            if time.monotonic() >= stop_at:
                break
            if o["pause_ms"]:
                await asyncio.sleep(o["pause_ms"] / 1000)
        dbsize1, expires1, expired1 = await self._counts(client)
        reaped = max(0, expired1 - expired0)
        out = StepOutcome(Outcome.CHANGED if reaped else Outcome.OK,
                          before={"keys": dbsize0, "keys_with_ttl": expires0},
                          after={"keys": dbsize1, "keys_with_ttl": expires1})
        out.facts = {"reaped": reaped, "scanned": scanned, "batches": batches, "complete": complete,
                     "vanished_after_scan": vanished, "seconds": round(time.monotonic() - t0, 3)}
        out.message = f"reaped {reaped} expired keys; scanned {scanned} live keys in {batches} batches"
        if reaped:
            ctx.record_change(out, f"reaped {reaped} expired keys")
        if not complete:
            out.warnings.append(f"scan stopped after {o['max_seconds']:g}s before covering the keyspace "
                                f"(raise max_seconds or batch)")
        return out


class RedisMemoryPurgeStep(Step):
    kind = "redis.memory_purge"
    description = "MEMORY PURGE: return dirty allocator pages to the OS (jemalloc only)"
    target_kinds = ("redis",)
    default_timeout = 60.0
    params_doc = {"min_purgeable": "do nothing when less than this is purgeable (default 1MiB)"}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        parse_size(params.get("min_purgeable", "1MiB"))

    async def run(self, ctx: StepContext) -> StepOutcome:
        assert ctx.target is not None
        threshold = parse_size(ctx.params.get("min_purgeable", "1MiB"))
        io_timeout = min(CONNECT_TIMEOUT_S, ctx.timeout)
        client = redis_client(ctx.target, io_timeout)
        try:
            before = await client.info("memory")
            allocator = str(before.get("mem_allocator", ""))
            if not allocator.startswith("jemalloc"):
                return StepOutcome.skipped(f"MEMORY PURGE needs jemalloc; this server uses {allocator or 'unknown'}")
            figures0 = _memory_figures(before)
            purgeable = figures0.get("allocator_rss_bytes", 0)
            out = StepOutcome(Outcome.OK, before=figures0)
            if purgeable < threshold:
                out.message = f"{fmt.size(purgeable)} purgeable, below {fmt.size(threshold)}: nothing to do"
                return out
            out.status = Outcome.CHANGED
            if ctx.check:
                ctx.record_change(out, f"purge about {fmt.size(purgeable)} of dirty allocator pages")
                out.message = f"would purge about {fmt.size(purgeable)}"
                return out
            await client.execute_command("MEMORY PURGE")
            out.after = _memory_figures(await client.info("memory"))
            freed = figures0["used_memory_rss"] - out.after["used_memory_rss"]
            out.facts = {"rss_freed_bytes": freed}
            rss = f"rss {fmt.size(figures0['used_memory_rss'])} → {fmt.size(out.after['used_memory_rss'])}"
            ctx.record_change(out, f"purged allocator pages: {rss}")
            out.message = rss
            return out
        except Exception as exc:
            return redis_failure(exc, ctx.target, "memory purge", io_timeout)
        finally:
            await client.aclose()


def _memory_figures(info: dict[str, Any]) -> dict[str, float]:
    keys = ("used_memory", "used_memory_rss", "allocator_resident", "allocator_active", "allocator_rss_bytes",
            "allocator_frag_bytes")
    return {k: float(info[k]) for k in keys if isinstance(info.get(k), int | float)}
