"""`Database.read` / `Database.reader`: read statements compiled once, on PostgreSQL sent
straight to pooled autocommit psycopg connections. The rows are those SQLAlchemy gives,
nothing is remembered between reads (another replica's commit shows at once), and a
connection that failed, was cancelled or aged is not handed out again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select, text

from kernel.db import Database, UtcDateTime, any_of
from kernel.db_reads import ReadPool, ReadQuery
from kernel.errors import NotFound, Unavailable
from tests.integration.kernel_fixtures import any_db, migrated

metadata = MetaData()
things = Table(
    "test_read_things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("at", UtcDateTime(timezone=True), nullable=True),
)

BY_NAME = ReadQuery(
    select(things.c.id, things.c.name, things.c.at)
    .where(things.c.name == bindparam("name"))
    .order_by(things.c.id)
)
# A literal bound by the statement itself (LIMIT 2) beside a named parameter.
FIRST_TWO = ReadQuery(
    select(things.c.id).where(things.c.id > bindparam("after")).order_by(things.c.id).limit(2)
)
SLEEP = ReadQuery(text("SELECT pg_sleep(:seconds)"))
BACKEND = ReadQuery(text("SELECT pg_backend_pid()"))

AT = datetime(2026, 6, 1, 3, 4, 5, 123_456, tzinfo=timezone(timedelta(hours=8)))


async def _with_things(db: Database) -> Database:
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with db.transaction() as conn:
        await conn.execute(
            things.insert(),
            [
                {"id": 1, "name": "a", "at": AT},
                {"id": 2, "name": "b", "at": None},
                {"id": 3, "name": "a", "at": AT + timedelta(days=1)},
            ],
        )
    return db


@pytest.fixture
async def db(any_db: Database) -> Database:
    """kernel_fixtures' database (PostgreSQL, then SQLite) with the things to read."""
    return await _with_things(any_db)


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    db = await _with_things(await migrated(pg_url, pipelined_begin=False, pool_size=2))
    yield db
    await db.dispose()


async def test_rows_are_what_sqlalchemy_reads_as_tuples(db: Database) -> None:
    rows = await db.read(BY_NAME, {"name": "a"})

    async with db.transaction() as conn:
        expected = [tuple(r) for r in await conn.execute(BY_NAME.statement, {"name": "a"})]
    assert rows == expected == [(1, "a", AT), (3, "a", AT + timedelta(days=1))]
    assert all(type(row) is tuple for row in rows)
    assert rows[0][2].utcoffset() is not None  # aware on both databases
    assert await db.read(FIRST_TWO, {"after": 0}) == [(1,), (2,)]
    assert await db.read(FIRST_TWO, {"after": 2}) == [(3,)]
    assert await db.read(BY_NAME, {"name": "none"}) == []


async def test_several_reads_on_one_reader(db: Database) -> None:
    async with db.reader() as reader:
        assert len(await reader.rows(BY_NAME, {"name": "a"})) == 2
        assert await reader.rows(BY_NAME, {"name": "b"}) == [(2, "b", None)]


async def test_another_replicas_commit_is_read_at_once(pg: Database, pg_url: str) -> None:
    assert len(await pg.read(BY_NAME, {"name": "c"})) == 0
    other = Database(pg_url, pipelined_begin=False)
    try:
        async with other.transaction() as conn:
            await conn.execute(things.insert().values(id=4, name="c"))
        assert await pg.read(BY_NAME, {"name": "c"}) == [(4, "c", None)]
        async with other.transaction() as conn:
            await conn.execute(things.delete().where(things.c.id == 4))
        assert await pg.read(BY_NAME, {"name": "c"}) == []
    finally:
        await other.dispose()


async def test_the_connection_is_kept_and_reused(pg: Database) -> None:
    first = await pg.read(BACKEND, {})
    assert pg._reads is not None and pg._reads.idle == 1
    assert await pg.read(BACKEND, {}) == first
    async with pg.reader() as reader:  # a refusal between reads leaves it fit
        with pytest.raises(NotFound):
            await reader.rows(BACKEND, {})
            raise NotFound("thing", "x")
    assert await pg.read(BACKEND, {}) == first


async def test_a_failed_statement_closes_its_connection(pg: Database) -> None:
    first = await pg.read(BACKEND, {})
    with pytest.raises(psycopg.errors.UndefinedTable):
        await pg.read(ReadQuery(text("SELECT * FROM no_such_table")), {})
    assert await pg.read(BACKEND, {}) != first


async def test_a_dropped_connection_fails_one_read_unavailable_then_is_replaced(
    pg: Database, pg_url: str
) -> None:
    ((pid,),) = await pg.read(BACKEND, {})
    async with pg.transaction() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(Unavailable):
        await pg.read(BACKEND, {})
    ((again,),) = await pg.read(BACKEND, {})
    assert again != pid


async def test_a_read_cancelled_midway_does_not_hand_its_connection_out(pg: Database) -> None:
    ((pid,),) = await pg.read(BACKEND, {})
    task = asyncio.create_task(pg.read(SLEEP, {"seconds": 30}))
    for _ in range(10_000):  # until the sleep runs on the server (no deadline)
        if await _state(pg, pid) == "active":
            break
    else:
        raise AssertionError("the read never started")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ((after,),) = await pg.read(BACKEND, {})
    assert after != pid
    assert await pg.read(BY_NAME, {"name": "b"}) == [(2, "b", None)]


async def _state(db: Database, pid: int) -> str | None:
    async with db.transaction() as conn:
        return await conn.scalar(  # type: ignore[no-any-return]
            text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )


async def test_at_most_twice_the_pool_size_open_and_the_pool_size_kept(pg_url: str) -> None:
    opened: list[psycopg.AsyncConnection[object]] = []

    async def connect() -> psycopg.AsyncConnection[object]:
        opened.append(await psycopg.AsyncConnection.connect(_libpq(pg_url), autocommit=True))
        return opened[-1]

    pool = ReadPool(connect, 2)
    try:
        held = [await pool.acquire() for _ in range(4)]
        waiting = asyncio.create_task(pool.acquire())
        for _ in range(5):
            await asyncio.sleep(0)  # a fifth acquire past the bound would open at once
        assert len(opened) == 4 and not waiting.done()
        await pool.release(held[0], True)
        assert await waiting is held[0]  # handed the connection given back
        for conn in [*held[1:], held[0]]:
            await pool.release(conn, True)
        assert pool.idle == 2 and sum(conn.closed for conn in opened) == 2
    finally:
        await pool.close()
    assert all(conn.closed for conn in opened)


async def test_a_drained_pool_refuses_after_its_wait_instead_of_waiting_for_ever(
    pg_url: str,
) -> None:
    """Every connection held (closing statements waiting on row locks, say): the next
    caller gets Unavailable (retryable) after the pool's wait, and the pool still works
    when one comes back."""
    pool = ReadPool(
        lambda: psycopg.AsyncConnection.connect(_libpq(pg_url), autocommit=True), 1, wait=0.05
    )
    try:
        held = [await pool.acquire(), await pool.acquire()]
        with pytest.raises(Unavailable, match="no database connection free"):
            await pool.acquire()
        await pool.release(held[0], True)
        assert await pool.acquire() is held[0]
        for conn in held:
            await pool.release(conn, True)
    finally:
        await pool.close()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


async def test_an_aged_connection_is_replaced(pg_url: str) -> None:
    now = [0.0]
    opened: list[psycopg.AsyncConnection[object]] = []

    async def connect() -> psycopg.AsyncConnection[object]:
        conn = await psycopg.AsyncConnection.connect(_libpq(pg_url), autocommit=True)
        opened.append(conn)
        return conn

    pool = ReadPool(connect, 1, recycle=60.0, clock=lambda: now[0])
    try:
        first = await pool.acquire()
        await pool.release(first, True)
        now[0] = 59.0
        assert await pool.acquire() is first
        await pool.release(first, True)
        now[0] = 60.0
        second = await pool.acquire()
        assert second is not first and first.closed
        await pool.release(second, True)
    finally:
        await pool.close()
    assert all(conn.closed for conn in opened)


async def test_dispose_closes_the_idle_connections(pg_url: str) -> None:
    db = Database(pg_url, pipelined_begin=False)
    async with db.reader() as reader:
        await reader.rows(BACKEND, {})
    async with db.reader() as reader:
        await reader.rows(BACKEND, {})
        async with db.reader() as nested:
            await nested.rows(BACKEND, {})
    assert db._reads is not None
    idle = [conn for conn, _ in db._reads._idle]
    assert len(idle) == 2 and not any(conn.closed for conn in idle)
    await db.dispose()
    assert all(conn.closed for conn in idle)


def test_an_expanding_in_list_is_refused_at_compile_time() -> None:
    db = Database("postgresql+psycopg://u@127.0.0.1/none")
    query = ReadQuery(select(things.c.id).where(things.c.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="ANY"):
        query.compiled(db.engine.dialect)


async def test_autocommit_runs_one_statement_atomically_without_a_transaction(
    pg: Database,
) -> None:
    """`Database.autocommit`: a data-modifying statement commits by itself (another
    connection sees it at once) and hands back its rows; one that fails changes nothing
    and its connection is not reused."""
    moved = await pg.autocommit(
        "WITH gone AS (DELETE FROM test_read_things WHERE id = %(gone)s RETURNING id) "
        "UPDATE test_read_things SET name = %(name)s WHERE id = %(id)s"
        " RETURNING id, (SELECT count(*) FROM gone)",
        {"gone": 2, "name": "renamed", "id": 1},
    )
    assert moved == [(1, 1)]
    async with pg.connect() as conn:
        names = dict((await conn.execute(text("SELECT id, name FROM test_read_things"))).all())
    assert names == {1: "renamed", 3: "a"}
    assert await pg.autocommit("UPDATE test_read_things SET name = 'x' WHERE id = -1", {}) == []

    idle = pg._reads.idle if pg._reads is not None else -1
    with pytest.raises(psycopg.errors.NotNullViolation):
        # The first row's update would pass; the second's fails: neither is kept.
        await pg.autocommit(
            "UPDATE test_read_things SET name = CASE WHEN id = 3 THEN NULL ELSE 'y' END", {}
        )
    assert pg._reads is not None and pg._reads.idle == idle - 1
    async with pg.connect() as conn:
        names = dict((await conn.execute(text("SELECT id, name FROM test_read_things"))).all())
    assert names == {1: "renamed", 3: "a"}


async def test_autocommit_is_postgresql_only(any_db: Database) -> None:
    if any_db.is_postgres:
        assert await any_db.autocommit("SELECT 1", {}) == [(1,)]
    else:
        with pytest.raises(RuntimeError, match="PostgreSQL"):
            await any_db.autocommit("SELECT 1", {})


async def test_a_lost_server_closes_every_idle_connection_not_one_read_each(
    pg: Database,
) -> None:
    """After a restart or failover the pooled connections are all dead: the first read
    that finds out fails (Unavailable) and the others are closed, so the next read
    connects afresh instead of failing on the next dead one."""
    assert pg._reads is not None
    await asyncio.gather(*(pg.autocommit("SELECT pg_sleep(0.05)", {}) for _ in range(2)))
    pids = [conn.info.backend_pid for conn, _ in pg._reads._idle]
    assert len(pids) == 2
    async with await psycopg.AsyncConnection.connect(
        **pg.engine.dialect.create_connect_args(pg.engine.url)[1], autocommit=True
    ) as admin:
        for pid in pids:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    failures = 0
    for _ in range(3):
        try:
            await pg.read(BACKEND, {})
        except Unavailable:
            failures += 1
    assert failures == 1
    assert pg._reads.idle == 1


async def test_any_of_a_list_is_one_array_parameter_on_postgresql_and_an_in_list_elsewhere(
    db: Database,
) -> None:
    query = select(things.c.id).where(any_of(things.c.name, "names", db.engine.dialect))
    async with db.transaction() as conn:
        found = await conn.execute(query, {"names": ["a", "x"]})
        assert sorted(found.scalars()) == [1, 3]
        assert list((await conn.execute(query, {"names": []})).scalars()) == []
    sql = str(query.compile(dialect=db.engine.dialect))
    if db.is_postgres:
        assert "ANY" in sql and "POSTCOMPILE" not in sql
    else:
        assert "POSTCOMPILE" in sql
