"""A stream a command read from the aggregate cache and did not append to is proved current
as the command ends; on PostgreSQL in the round trip of its last writes (timers, deferred
read-model rows, command log), which a stale read rolls back with the attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.eventstore import command_log, timers
from services.inventory.domain.commands import ReceiveStock
from tests.integration.kernel_fixtures import (
    POSITIONS,
    REGISTRY,
    any_db,
    count_events,
    effects,
    migrated,
    receive,
    sent_to_postgres,
)

__all__ = ["any_db"]

READ = POSITIONS.stream_id("SZ01", "P-1")
WRITTEN = POSITIONS.stream_id("SZ02", "P-1")


@pytest.fixture
async def direct(pg_url: str) -> AsyncIterator[Database]:
    """Production's PostgreSQL transactions (psycopg begins, the kernel commits), one
    connection, so its trace holds every message a command sends."""
    database = await migrated(pg_url, pipelined_begin=False, pool_size=1)
    yield database
    await database.dispose()


async def mirror(uow: UnitOfWork) -> int:
    """Reads READ (from the cache when it can), records its figure on WRITTEN, arms a
    timer and defers a read-model row that name the figure too."""
    read = await uow.load(POSITIONS, READ)
    seen = read.state.on_hand
    now = uow.clock.now()
    await uow.execute(POSITIONS, WRITTEN, ReceiveStock("SZ02", "P-1", seen, "mirror", now))
    await uow.schedule("mirror-timer", "mirror", now + timedelta(hours=1), {"seen": seen})
    await uow.upsert_at_end(effects, {"id": 1, "key": f"seen {seen}", "note": ""}, ["id"])
    return int(seen)


async def rows(db: Database, statement: object) -> list[tuple[object, ...]]:
    async with db.transaction() as conn:
        return [tuple(r) for r in await conn.execute(statement)]  # type: ignore[call-overload]


async def test_writes_sent_with_a_stale_check_are_rolled_back_and_the_retry_decides_afresh(
    any_db: Database, clock: ManualClock
) -> None:
    first, second = Application(any_db, REGISTRY, clock), Application(any_db, REGISTRY, clock)
    await receive(first, "SZ01", "P-1", 5)  # first caches READ at 5
    await receive(second, "SZ01", "P-1", 3)  # in truth 8

    assert await first.handle(("mirror", 1), mirror, request_id="r-1") == 8

    assert await count_events(any_db) == 3  # two receipts on READ, one on WRITTEN
    assert await rows(any_db, select(effects.c.key)) == [("seen 8",)]
    assert await rows(any_db, select(timers.c.payload)) == [({"seen": 8},)]
    logged = select(func.count()).select_from(command_log)
    assert await rows(any_db, logged) == [(1,)]
    entry = first.cache.get(READ)
    assert entry is not None and (entry.version, entry.state.on_hand) == (2, 8)


async def test_the_check_and_the_last_writes_share_one_round_trip(direct: Database) -> None:
    app = Application(direct, REGISTRY, ManualClock(datetime(2026, 11, 2, tzinfo=UTC)))
    await receive(app, "SZ01", "P-1", 5)  # both streams in the cache
    await receive(app, "SZ02", "P-1", 1)

    sent = await sent_to_postgres(direct, app.handle(("mirror", 1), mirror, request_id="r-1"))

    queries = [content.strip('"') for kind, content in sent if kind == "Query"]
    assert queries == []  # no BEGIN, no COMMIT: the one statement is the transaction
    # The append of WRITTEN, the check of READ, the timer, the row and the log: one
    # statement, one Sync.
    statements = [content for kind, content in sent if kind in ("Parse", "Sync")]
    assert len(statements) == 2
    assert "UPDATE streams" in statements[0] and "LEFT JOIN streams" in statements[0]
    assert "INSERT INTO timers" in statements[0] and "INSERT INTO command_log" in statements[0]
    assert statements[1] == ""
