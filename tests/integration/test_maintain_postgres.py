"""postgres.vacuum and postgres.reindex against a real PostgreSQL with a bloated table.

The server runs with autovacuum off, so the dead tuples stay until our step removes them (otherwise the
autovacuum launcher could clean them and the test would prove nothing). Every claim is checked from the
server's own catalogs, through a separate connection: n_dead_tup / vacuum_count in pg_stat_user_tables,
and each index's relfilenode (a REINDEX writes a new file, so the number changes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.common import run_cli, wait_for
from tests.fixtures.services import PostgresServer, PostgresTemplate, start_postgres

ROWS = 20000
DELETED = 8000


@pytest.fixture(scope="module")
def pg(postgres_template: PostgresTemplate) -> Iterator[PostgresServer]:
    server = start_postgres(postgres_template, settings={"autovacuum": "off"})
    yield server
    server.cleanup()


def table_stats(server: PostgresServer) -> tuple[int, int]:
    with server.connect() as conn:
        row = conn.execute("SELECT n_dead_tup, vacuum_count FROM pg_stat_user_tables "
                           "WHERE relname = 'bloat'").fetchone()
    return int(row[0]), int(row[1])


def filenodes(server: PostgresServer) -> dict[str, int]:
    with server.connect() as conn:
        rows = conn.execute("SELECT c.relname, c.relfilenode FROM pg_index i JOIN pg_class c "
                            "ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
                            "WHERE t.relname = 'bloat'").fetchall()
    return {name: int(node) for name, node in rows}


@pytest.fixture
def bloated(pg: PostgresServer) -> PostgresServer:
    with pg.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS bloat")
        conn.execute("CREATE TABLE bloat (id int PRIMARY KEY, n int, payload text)")
        conn.execute("CREATE INDEX bloat_n ON bloat (n)")
        conn.execute(f"INSERT INTO bloat SELECT g, g % 97, repeat('p', 80) FROM generate_series(1, {ROWS}) g")
        conn.execute(f"DELETE FROM bloat WHERE id <= {DELETED}")
        conn.execute("UPDATE bloat SET n = n + 1 WHERE id % 10 = 0")
        conn.execute("SELECT pg_stat_force_next_flush()")  # PG15+: publish this backend's counts now
    wait_for(lambda: table_stats(pg)[0] >= DELETED, timeout=20, what="dead tuples to show in pg_stat")
    return pg


@pytest.fixture
def cfg(tmp_path: Path, pg: PostgresServer) -> Path:
    path = tmp_path / "agentops.yaml"
    path.write_text(f"""
version: 1
targets:
  - name: db
    kind: postgres
    address: 127.0.0.1:{pg.port}
    username: {pg.user}
    password_env: TEST_PG_PASSWORD
    options: {{database: {pg.database}}}
""")
    return path


def run(cfg: Path, tmp_path: Path, pg: PostgresServer, *args: str):
    return run_cli("maintain", "run", "postgres", "-c", str(cfg), "--state-dir", str(tmp_path / "state"),
                   "-o", "json", *args, env={"TEST_PG_PASSWORD": pg.password})


def by_id(doc: dict, step: str) -> dict:
    return next(r for r in doc["results"] if r["id"] == step)


def test_check_mode_changes_nothing(bloated: PostgresServer, cfg: Path, tmp_path: Path) -> None:
    dead, vacuums = table_stats(bloated)
    nodes = filenodes(bloated)
    r = run(cfg, tmp_path, bloated, "--check")
    assert r.code == 0, r.stderr
    vac, rei = by_id(r.json(), "vacuum"), by_id(r.json(), "reindex")
    assert vac["facts"]["outcome"] == "changed" and vac["facts"]["vacuumed"] == ["public.bloat"]
    assert vac["facts"]["changes"] == [f"would vacuum public.bloat ({dead} dead tuples)"]
    assert rei["facts"]["outcome"] == "changed"
    assert sorted(rei["facts"]["indexes"]) == ["public.bloat_n", "public.bloat_pkey"]
    assert table_stats(bloated) == (dead, vacuums)
    assert filenodes(bloated) == nodes
    assert bloated.password not in r.stdout + r.stderr


def test_vacuum_removes_dead_tuples_and_reindex_rebuilds_concurrently(bloated: PostgresServer, cfg: Path,
                                                                     tmp_path: Path) -> None:
    dead, vacuums = table_stats(bloated)
    nodes = filenodes(bloated)
    r = run(cfg, tmp_path, bloated)
    assert r.code == 0, r.stderr
    vac, rei = by_id(r.json(), "vacuum"), by_id(r.json(), "reindex")
    assert vac["facts"]["outcome"] == "changed"
    assert vac["metrics"]["dead_tuples_before"] == dead
    assert vac["metrics"]["dead_tuples_after"] < dead
    dead_after, vacuums_after = table_stats(bloated)
    assert dead_after < dead and vacuums_after == vacuums + 1
    assert vac["metrics"]["dead_tuples_after"] == dead_after

    assert rei["facts"]["outcome"] == "changed" and rei["facts"]["concurrently"] is True
    new_nodes = filenodes(bloated)
    assert set(new_nodes) == set(nodes) and all(new_nodes[k] != nodes[k] for k in nodes)

    again = run(cfg, tmp_path, bloated)
    assert by_id(again.json(), "vacuum")["facts"]["outcome"] == "ok"  # nothing left above min_dead_tuples


def test_unreachable_server_fails_with_a_reason(tmp_path: Path, pg: PostgresServer) -> None:
    from tests.fixtures.common import free_port

    path = tmp_path / "down.yaml"
    path.write_text(f"version: 1\ntargets:\n  - {{name: db, kind: postgres, address: '127.0.0.1:{free_port()}'}}\n")
    r = run_cli("maintain", "run", "postgres", "-c", str(path), "--state-dir", str(tmp_path / "s"), "-o", "json")
    assert r.code == 2
    assert by_id(r.json(), "vacuum")["reason"] == "connect"
