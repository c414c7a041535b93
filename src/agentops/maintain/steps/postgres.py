"""PostgreSQL maintenance: VACUUM (ANALYZE) of tables with dead tuples, REINDEX (CONCURRENTLY when the
server has it, PostgreSQL >= 12).

Every statement runs under a statement_timeout equal to the time the step has left, so a step that runs
out of time is stopped by the server, not abandoned mid-statement.

Dead-tuple figures come from pg_stat_user_tables. They lag: a backend's own counts reach the shared
statistics only when it flushes them (PostgreSQL 15: at most once a second, or at once with
pg_stat_force_next_flush()), and a reader sees a snapshot per transaction. VACUUM reports its result
straight to the shared statistics, so the figures after a vacuum are re-read in a fresh snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentops.core import format as fmt
from agentops.core.model import Reason
from agentops.core.units import parse_size
from agentops.maintain.step import Outcome, Step, StepContext, StepOutcome
from agentops.maintain.steps._clients import pg_connect, pg_failure


@dataclass
class TableStat:
    schema: str
    table: str
    dead: int
    live: int

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def _names(params: Mapping[str, Any], key: str) -> list[str]:
    value = params.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{key}: expected a list of names (table or schema.table)")
    return list(value)


def _split(name: str) -> tuple[str | None, str]:
    schema, dot, rel = name.partition(".")
    return (schema, rel) if dot else (None, name)


async def _with_session(ctx: StepContext, stage: str,
                        body: Callable[[Any, StepContext], Awaitable[StepOutcome]]) -> StepOutcome:
    """Connect, run `body` on the connection, close; a client error at any point is a failed outcome."""
    assert ctx.target is not None
    try:
        conn = await pg_connect(ctx.target, min(10.0, ctx.timeout))
    except Exception as exc:
        return pg_failure(exc, ctx.target, "connect")
    try:
        await _bound(conn, ctx)
        return await body(conn, ctx)
    except Exception as exc:
        return pg_failure(exc, ctx.target, stage)
    finally:
        await conn.close()


async def _bound(conn: Any, ctx: StepContext) -> None:
    ms = max(1000, int(ctx.remaining() * 1000) - 500)
    await conn.execute(f"SET statement_timeout = {ms}")


async def _table_stats(conn: Any) -> dict[str, TableStat]:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    cur = await conn.execute("SELECT schemaname, relname, n_dead_tup, n_live_tup FROM pg_stat_user_tables")
    return {f"{s}.{t}": TableStat(s, t, int(d or 0), int(n or 0)) for s, t, d, n in await cur.fetchall()}


def _resolve(names: list[str], known: dict[str, Any], key: Any, out: StepOutcome) -> list[str]:
    """Map user names (table or schema.table) to known qualified names; unknown ones are warnings."""
    picked: list[str] = []
    for name in names:
        schema, rel = _split(name)
        found = [q for q, v in known.items() if key(v) == rel and (schema is None or q.startswith(f"{schema}."))]
        if not found:
            out.warnings.append(f"{name}: no such table or index")
        elif len(found) > 1:
            out.warnings.append(f"{name}: ambiguous ({', '.join(sorted(found))}); qualify it with a schema")
        else:
            picked.append(found[0])
    return picked


class PostgresVacuumStep(Step):
    kind = "postgres.vacuum"
    description = "VACUUM (ANALYZE) tables holding dead tuples; dead tuples before and after"
    target_kinds = ("postgres",)
    default_timeout = 1800.0
    params_doc = {
        "tables": "tables to consider (table or schema.table); default every user table",
        "min_dead_tuples": "vacuum a table only when it has at least this many dead tuples (default 1000)",
        "analyze": "VACUUM (ANALYZE) rather than plain VACUUM (default true)",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        _names(params, "tables")
        m = params.get("min_dead_tuples", 1000)
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise ValueError(f"min_dead_tuples: expected an integer >= 0, got {m!r}")
        if not isinstance(params.get("analyze", True), bool):
            raise ValueError("analyze: expected true or false")

    async def run(self, ctx: StepContext) -> StepOutcome:
        return await _with_session(ctx, self.kind, self._vacuum)

    async def _vacuum(self, conn: Any, ctx: StepContext) -> StepOutcome:
        from psycopg import sql

        minimum = int(ctx.params.get("min_dead_tuples", 1000))
        analyze = bool(ctx.params.get("analyze", True))
        out = StepOutcome(Outcome.OK)
        stats = await _table_stats(conn)
        names = _names(ctx.params, "tables")
        chosen = _resolve(names, stats, lambda s: s.table, out) if names else sorted(stats)
        todo = [stats[n] for n in chosen if stats[n].dead >= minimum]
        out.before = {"dead_tuples": sum(stats[n].dead for n in chosen), "tables": len(chosen)}
        verb = "would vacuum" if ctx.check else "vacuumed"
        for t in todo:
            if not ctx.check:
                await _bound(conn, ctx)
                options = sql.SQL("(ANALYZE)" if analyze else "")
                await conn.execute(sql.SQL("VACUUM {} {}").format(options, sql.Identifier(t.schema, t.table)))
            ctx.record_change(out, f"{verb} {t.name} ({t.dead} dead tuples)")
        if ctx.check:
            after_dead = {n: (0 if stats[n] in todo else stats[n].dead) for n in chosen}
        else:
            after = await _after_vacuum(conn, todo, stats)
            after_dead = {n: after[n].dead if n in after else 0 for n in chosen}
        out.after = {"dead_tuples": sum(after_dead.values()), "tables": len(chosen)}
        out.facts = {"vacuumed": [t.name for t in todo],
                     "dead_tuples": {n: {"before": stats[n].dead, "after": after_dead[n]} for n in chosen
                                     if stats[n].dead or after_dead[n]}}
        if todo:
            out.status = Outcome.CHANGED
            stuck = [n for n in (t.name for t in todo) if not ctx.check and after_dead[n] >= stats[n].dead > 0]
            if stuck:
                out.warnings.append(f"dead tuples not removed from {', '.join(stuck)}: an old open transaction "
                                    f"or replication slot holds them (see pg_stat_activity.backend_xmin)")
        out.message = (f"{verb} {len(todo)} of {len(chosen)} tables; dead tuples {out.before['dead_tuples']:.0f}"
                       f" → {out.after['dead_tuples']:.0f}")
        return out


async def _after_vacuum(conn: Any, todo: list[TableStat], before: dict[str, TableStat]) -> dict[str, TableStat]:
    """Re-read the statistics; give them a moment when a vacuumed table still shows its old count."""
    after = await _table_stats(conn)
    for _ in range(10):
        if all(after.get(t.name, t).dead < t.dead for t in todo if t.dead):
            break
        await asyncio.sleep(0.1)
        after = await _table_stats(conn)
    return after


@dataclass
class IndexInfo:
    schema: str
    name: str
    table: str
    size: int
    valid: bool
    exclusion: bool

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


INDEX_QUERY = """
SELECT n.nspname, c.relname, t.relname, pg_relation_size(c.oid), i.indisvalid,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid AND k.contype = 'x')
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND n.nspname NOT LIKE 'pg_temp%'
"""


class PostgresReindexStep(Step):
    kind = "postgres.reindex"
    description = "REINDEX indexes (CONCURRENTLY on PostgreSQL >= 12); index size before and after"
    target_kinds = ("postgres",)
    default_timeout = 3600.0
    params_doc = {
        "tables": "rebuild the indexes of these tables (table or schema.table)",
        "indexes": "rebuild these indexes (index or schema.index)",
        "min_size": "skip indexes smaller than this (default 0); with neither tables nor indexes: all user indexes",
        "concurrently": "auto (default: when the server supports it), true (fail if it cannot), false",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        super().validate_params(params)
        _names(params, "tables")
        _names(params, "indexes")
        parse_size(params.get("min_size", 0))
        if params.get("concurrently", "auto") not in ("auto", True, False):
            raise ValueError("concurrently: expected auto, true or false")

    async def run(self, ctx: StepContext) -> StepOutcome:
        return await _with_session(ctx, self.kind, self._reindex)

    async def _reindex(self, conn: Any, ctx: StepContext) -> StepOutcome:
        from psycopg import sql

        assert ctx.target is not None
        out = StepOutcome(Outcome.OK)
        version = int((await (await conn.execute("SHOW server_version_num")).fetchone())[0])
        mode = ctx.params.get("concurrently", "auto")
        concurrent = version >= 120000 and mode is not False
        if mode is True and version < 120000:
            return StepOutcome.failure(Reason.UNSUPPORTED, f"REINDEX CONCURRENTLY needs PostgreSQL 12 or later "
                                       f"(server is {version})")
        indexes = await _indexes(conn)
        chosen = self._choose(ctx.params, indexes, out)
        for ix in indexes.values():
            if not ix.valid:
                hint = " (left by an interrupted REINDEX CONCURRENTLY: drop it)" if "_ccnew" in ix.name or \
                    "_ccold" in ix.name else ""
                out.warnings.append(f"index {ix.qualified} is invalid{hint}")
        minimum = parse_size(ctx.params.get("min_size", 0))
        todo = [indexes[q] for q in chosen if indexes[q].valid and indexes[q].size >= minimum]
        if not concurrent and todo:
            out.warnings.append(f"server {version} < 12 or concurrently=false: REINDEX blocks writes to the "
                                f"tables while it runs")
        out.before = {"index_bytes": sum(ix.size for ix in todo), "indexes": len(todo)}
        verb = "would rebuild" if ctx.check else "rebuilt"
        done = 0
        for ix in todo:
            use_concurrent = concurrent and not ix.exclusion
            line = f"{verb} {ix.qualified} on {ix.table} ({fmt.size(ix.size)})"
            if ctx.check:
                ctx.record_change(out, line + ("" if use_concurrent else ", blocking writes"))
                continue
            await _bound(conn, ctx)
            stmt = sql.SQL("REINDEX INDEX {}{}").format(sql.SQL("CONCURRENTLY " if use_concurrent else ""),
                                                        sql.Identifier(ix.schema, ix.name))
            try:
                await conn.execute(stmt)
            except Exception as exc:
                out.warnings.append(pg_failure(exc, ctx.target, f"reindex {ix.qualified}").message)
                continue
            done += 1
            ctx.record_change(out, line)
        if ctx.check:
            out.after = dict(out.before)
        else:
            after = await _indexes(conn)
            out.after = {"index_bytes": sum(after[ix.qualified].size for ix in todo if ix.qualified in after),
                         "indexes": done}
        out.facts = {"server_version_num": version, "concurrently": concurrent,
                     "indexes": [ix.qualified for ix in todo]}
        if todo and not ctx.check and done == 0:
            out.status = Outcome.FAILED
            out.message = f"no index could be rebuilt ({len(todo)} tried)"
            return out
        if todo:
            out.status = Outcome.CHANGED
        out.message = (f"{verb} {done if not ctx.check else len(todo)} indexes"
                       f"{' concurrently' if concurrent else ''}; size {fmt.size(out.before['index_bytes'])}"
                       f" → {fmt.size(out.after['index_bytes'])}")
        return out

    @staticmethod
    def _choose(params: Mapping[str, Any], indexes: dict[str, IndexInfo], out: StepOutcome) -> list[str]:
        tables, names = _names(params, "tables"), _names(params, "indexes")
        if not tables and not names:
            return sorted(indexes)
        chosen = _resolve(names, indexes, lambda ix: ix.name, out)
        by_table = {f"{ix.schema}.{ix.table}": ix.table for ix in indexes.values()}
        for q in _resolve(tables, by_table, lambda t: t, out):
            chosen += [k for k, ix in indexes.items() if f"{ix.schema}.{ix.table}" == q]
        return list(dict.fromkeys(chosen))


async def _indexes(conn: Any) -> dict[str, IndexInfo]:
    cur = await conn.execute(INDEX_QUERY)
    rows = await cur.fetchall()
    return {f"{s}.{n}": IndexInfo(s, n, t, int(size or 0), bool(valid), bool(excl))
            for s, n, t, size, valid, excl in rows}

