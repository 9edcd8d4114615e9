"""`Database.transaction` with `direct_commit` (PostgreSQL, psycopg's own transactions, as
the services run): no SQLAlchemy transaction around the body, the COMMIT sent to psycopg
itself. One transaction still: SQLAlchemy's statements and those sent straight to psycopg
commit together or not at all, a failed body leaves nothing, the pooled connection comes
back clean, and colliding transactions still end in a ConcurrencyConflict."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import event, func, select, text

from kernel import eventstore_sql as sql
from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database, begun_driver, execute_alone
from kernel.errors import ConcurrencyConflict
from kernel.event_tables import events
from kernel.eventstore import EventStore, _row_to_event
from services.inventory.domain.commands import ReceiveStock
from tests.integration.kernel_fixtures import (
    POSITIONS,
    REGISTRY,
    count_effects,
    count_events,
    effects,
    eventually,
    migrated,
    receive,
    sent_to_postgres,
    stock_event,
    waiting_on_a_lock,
)


@pytest.fixture
async def direct(pg_url: str) -> AsyncIterator[Database]:
    database = await migrated(pg_url, pipelined_begin=False, pool_size=1)
    assert database.direct_commit
    yield database
    await database.dispose()


async def test_both_kinds_of_statement_commit_together(direct: Database) -> None:
    async with direct.transaction() as conn:
        await EventStore().append(conn, "s/1", 0, [stock_event()], ManualClock().now())
        await conn.execute(effects.insert().values(key="k"))
    assert await count_events(direct) == 1
    assert await count_effects(direct, "k") == 1


@pytest.mark.parametrize("sqlalchemy_first", [True, False])
async def test_a_failed_body_leaves_nothing(direct: Database, sqlalchemy_first: bool) -> None:
    with pytest.raises(RuntimeError):
        async with direct.transaction() as conn:
            if sqlalchemy_first:
                await conn.execute(effects.insert().values(key="k"))
            await EventStore().append(conn, "s/1", 0, [stock_event()], ManualClock().now())
            await conn.execute(effects.insert().values(key="k"))
            raise RuntimeError("fails after the writes")
    assert await count_events(direct) == 0
    assert await count_effects(direct) == 0
    # The pool's only connection came back idle: the next transaction is a new one.
    async with direct.transaction() as conn:
        status = (await conn.execute(text("SELECT count(*) FROM test_effects"))).scalar_one()
        assert status == 0
        await conn.execute(effects.insert().values(key="after"))
    assert await count_effects(direct, "after") == 1


async def test_a_command_on_a_cached_stream_sends_its_one_statement_only(
    direct: Database,
) -> None:
    """A command on a cached stream: the append and the command log in one statement, on
    its own (no BEGIN, no COMMIT); no ROLLBACK after it (returning the connection to the
    pool sends nothing)."""
    app = Application(direct, REGISTRY, ManualClock(datetime(2026, 11, 2, tzinfo=UTC)))
    await receive(app, "SZ01", "P-1", 1, request_id="r1")  # loads the stream into the cache
    sent = await sent_to_postgres(direct, receive(app, "SZ01", "P-1", 2, request_id="r2"))
    queries = [content.strip('"') for kind, content in sent if kind == "Query"]
    assert queries == []
    assert [kind for kind, _ in sent].count("Sync") == 1


async def test_colliding_transactions_end_in_a_conflict(direct: Database, pg_url: str) -> None:
    """Two transactions taking two rows in opposite order: PostgreSQL breaks the deadlock by
    failing one (40P01), which the kernel reports as a ConcurrencyConflict to retry."""
    other = await migrated(pg_url, pipelined_begin=False, pool_size=1)
    try:
        async with direct.transaction() as conn:
            await conn.execute(effects.insert(), [{"key": "a"}, {"key": "b"}])
        both_hold_one = asyncio.Barrier(2)

        async def take(db: Database, first: str, second: str) -> None:
            async with db.transaction() as conn:
                await conn.execute(
                    text("SELECT 1 FROM test_effects WHERE key = :k FOR UPDATE"), {"k": first}
                )
                await both_hold_one.wait()
                await conn.execute(
                    text("SELECT 1 FROM test_effects WHERE key = :k FOR UPDATE"), {"k": second}
                )

        outcomes = await asyncio.gather(
            take(direct, "a", "b"), take(other, "b", "a"), return_exceptions=True
        )
        assert sum(isinstance(o, ConcurrencyConflict) for o in outcomes) == 1
        assert sum(o is None for o in outcomes) == 1
        async with direct.transaction() as conn:  # both connections are usable again
            assert len((await conn.execute(select(effects.c.key))).all()) == 2
        async with other.transaction() as conn:
            assert len((await conn.execute(select(effects.c.key))).all()) == 2
    finally:
        await other.dispose()


async def test_a_command_cut_off_in_its_statement_on_its_own_leaves_nothing(
    direct: Database, pg_url: str
) -> None:
    """A deadline cancels a command whose one statement goes on its own (nothing sent
    before it, so on an autocommit connection of the read pool) while it waits for a
    lock: nothing of it stays, no pooled connection is left mid-statement or in a
    transaction, the engine's pool was never touched, and the command then succeeds."""
    other = await migrated(pg_url, pipelined_begin=False, pool_size=1)
    app = Application(direct, REGISTRY, ManualClock(datetime(2026, 11, 2, tzinfo=UTC)))
    stream = POSITIONS.stream_id("SZ01", "P-1")
    checkouts: list[object] = []
    event.listen(direct.engine.sync_engine, "checkout", lambda *args: checkouts.append(args))
    try:
        await receive(app, "SZ01", "P-1", 1, request_id="r1")  # cached: nothing to read
        checkouts.clear()
        async with other.transaction() as blocking:
            await blocking.execute(
                text("UPDATE streams SET version = version WHERE stream_id = :s"), {"s": stream}
            )
            command = asyncio.create_task(receive(app, "SZ01", "P-1", 2, request_id="r2"))
            await eventually(lambda: waiting_on_a_lock(other))
            command.cancel()
            with pytest.raises(asyncio.CancelledError):
                await command
        assert checkouts == []
        assert direct._reads is not None
        for idle, _ in direct._reads._idle:
            assert not idle.closed and idle.autocommit
            assert idle.info.transaction_status == TransactionStatus.IDLE
        assert await count_events(direct) == 1
        assert await receive(app, "SZ01", "P-1", 2, request_id="r2") == 3
        assert await count_events(direct) == 2
    finally:
        await other.dispose()


async def test_a_command_that_reads_first_commits_its_closing_statement_in_its_transaction(
    direct: Database,
) -> None:
    """A command whose stream is not cached reads it first, on the engine's connection:
    its closing statement then goes in that transaction (never on a connection of its
    own, which would commit apart from what the command read under its lock), and the
    commit ends it; the pool gets the connection back idle."""
    app = Application(direct, REGISTRY, ManualClock(datetime(2026, 11, 2, tzinfo=UTC)))
    assert await receive(app, "SZ01", "P-1", 1, request_id="r1") == 1  # nothing cached
    sent = await sent_to_postgres(direct, receive(app, "SZ02", "P-1", 4, request_id="r2"))
    kinds = [kind for kind, _ in sent]
    queries = [content.strip('"') for kind, content in sent if kind == "Query"]
    assert "BEGIN" in queries[0] and "COMMIT" in queries[-1]  # psycopg's, around both
    assert kinds.count("Sync") >= 2  # the read, then the closing statement
    assert await count_events(direct) == 2
    async with direct.transaction() as conn:
        driver = await begun_driver(conn)  # the pool's one connection, back idle
        assert not driver.autocommit
        assert driver.info.transaction_status == TransactionStatus.IDLE


async def test_the_relay_reads_back_what_was_appended_field_for_field(direct: Database) -> None:
    """read_unpublished goes straight to psycopg on PostgreSQL: the events it hands the
    relay equal those the append returned and those SQLAlchemy reads (types included), and
    mark_published takes exactly the positions given out of the outbox."""
    at = ManualClock().now()
    store = EventStore()
    async with direct.transaction() as conn:
        first = await store.append(conn, "s/1", 0, [stock_event(), stock_event()], at)
        second = await store.append(conn, "s/2", 0, [stock_event()], at)
    async with direct.transaction() as conn:
        read = await store.read_unpublished(conn, 10)
        through_sqlalchemy = [
            _row_to_event(row) for row in await conn.execute(sql.UNPUBLISHED, {"limit": 10})
        ]
    assert read == through_sqlalchemy == [*first, *second]
    assert [type(getattr(read[0], f)) for f in ("event_id", "payload", "metadata")] == [
        type(first[0].event_id),
        bytes,
        dict,
    ]
    assert read[0].recorded_at == at
    async with direct.transaction() as conn:
        await store.mark_published(conn, [read[0].position, read[2].position])
        assert await store.read_unpublished(conn, 10) == [read[1]]


async def test_a_closing_statement_refused_on_its_own_keeps_its_connection(
    direct: Database, pg_url: str
) -> None:
    """A replica appends behind this one's cache: the command's closing statement, on its
    own, is refused by its guard (a conflict: nothing of it stays) and the command retries
    on the store's state. The refusal leaves the autocommit connection idle, so the pool
    keeps it rather than paying a new connection for every conflict."""
    replica = await migrated(pg_url, pipelined_begin=False, pool_size=1)
    clock = ManualClock(datetime(2026, 11, 2, tzinfo=UTC))
    app, other = Application(direct, REGISTRY, clock), Application(replica, REGISTRY, clock)
    try:
        assert await receive(app, "SZ01", "P-1", 1, request_id="r1") == 1
        await direct.autocommit("SELECT 1", {})  # the read pool's one idle connection
        assert direct._reads is not None
        (kept, _), *more = direct._reads._idle
        assert more == []
        assert await receive(other, "SZ01", "P-1", 10, request_id="r2") == 11
        refused: list[int] = []
        event.listen(direct.engine.sync_engine, "checkout", lambda *a: refused.append(1))
        assert await receive(app, "SZ01", "P-1", 100, request_id="r3") == 111
        assert refused  # the retry read the stream afresh, on the engine's connection
        assert [conn for conn, _ in direct._reads._idle] == [kept]
        assert not kept.closed
        assert await count_events(direct) == 3
    finally:
        await replica.dispose()


async def test_nothing_follows_a_closing_statement_sent_on_its_own(direct: Database) -> None:
    app = Application(direct, REGISTRY, ManualClock(datetime(2026, 11, 2, tzinfo=UTC)))
    assert await receive(app, "SZ01", "P-1", 1, request_id="r1") == 1
    after: list[Exception] = []

    async def then_more(uow: UnitOfWork) -> None:
        command = ReceiveStock("SZ01", "P-1", 2, "ref", app.clock.now())
        await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), command)
        await app._finish(uow, None)  # the closing statement, sent on its own
        try:
            await uow.conn.execute(effects.insert().values(key="late"))
        except RuntimeError as exc:
            after.append(exc)
            raise

    with pytest.raises(RuntimeError, match="ended with its closing statement"):
        await app.handle(("then more", 1), then_more)
    assert len(after) == 1
    assert await count_effects(direct) == 0


async def test_a_second_statement_on_its_own_after_the_closing_one_is_refused(
    direct: Database,
) -> None:
    """`execute_alone` ends the transaction: after a closing statement sent on its own, a
    second one must not go out on the read pool as a transaction of its own (it would
    commit although the body then fails), as nothing else may follow either."""
    app = Application(direct, REGISTRY, ManualClock(datetime(2026, 11, 2, tzinfo=UTC)))
    assert await receive(app, "SZ01", "P-1", 1, request_id="r1") == 1

    async def twice(uow: UnitOfWork) -> None:
        command = ReceiveStock("SZ01", "P-1", 2, "ref", app.clock.now())
        await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), command)
        await app._finish(uow, None)  # the closing statement, sent on its own
        late = "INSERT INTO test_effects (key, note) VALUES ('late', '')"
        await execute_alone(uow.conn, late, {})
        raise RuntimeError("the body fails after")

    with pytest.raises(RuntimeError, match="ended with its closing statement"):
        await app.handle(("twice", 1), twice)
    assert await count_effects(direct) == 0


async def test_a_closing_statement_after_a_write_commits_in_that_transaction(
    direct: Database,
) -> None:
    """A command on a cached stream that first wrote through SQLAlchemy (so its connection
    was taken): its closing statement goes in that transaction, not on a connection of its
    own. The events carry the transaction's id."""
    app = Application(direct, REGISTRY, ManualClock(datetime(2026, 11, 2, tzinfo=UTC)))
    assert await receive(app, "SZ01", "P-1", 1, request_id="r1") == 1
    seen: list[tuple[int, UnitOfWork]] = []

    async def write_first(uow: UnitOfWork) -> None:
        await uow.conn.execute(effects.insert().values(key="first"))
        tx_id = await uow.conn.scalar(text("SELECT pg_current_xact_id()::text::bigint"))
        command = ReceiveStock("SZ01", "P-1", 2, "ref", app.clock.now())
        await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), command)
        seen.append((tx_id, uow))

    await app.handle(("write first", 1), write_first)
    (tx_id, uow), *_ = seen
    assert [r.tx_id for r in uow.recorded] == [tx_id]
    async with direct.connect() as conn:
        stored = await conn.scalar(select(func.max(events.c.tx_id)))
    assert stored == tx_id
    assert await count_effects(direct, "first") == 1
