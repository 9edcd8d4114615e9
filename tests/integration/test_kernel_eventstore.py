"""The event store on real PostgreSQL (and SQLite): expected versions, the outbox handing
out every event once with transactions that commit out of order, snapshots, versioned
migrations."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from kernel.application import Aggregate, Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database, schema_migrations
from kernel.errors import ConcurrencyConflict
from kernel.eventstore import (
    ANY_VERSION,
    KERNEL_MIGRATIONS,
    EventStore,
    RecordedEvent,
    events,
    snapshots,
)
from services.inventory.domain.commands import (
    ReceiveStock,
    ReleaseReservation,
    RequestParts,
    ReserveStock,
)
from services.inventory.domain.stock import StockPosition, stock
from tests.integration.kernel_fixtures import (
    REGISTRY,
    any_db,
    count_events,
    db,
    migrated,
    stock_event,
    take_unpublished,
)

store = EventStore()


async def _take(db: Database, limit: int = 500) -> list[RecordedEvent]:
    """One relay pass without NATS: read the unpublished events and mark them published."""
    async with db.transaction("test.outbox") as conn:
        batch = await store.read_unpublished(conn, limit)
        await store.mark_published(conn, [e.position for e in batch])
    return batch


# Append with expected version


async def test_append_with_expected_version_numbers_the_stream(db: Database) -> None:
    async with db.transaction() as conn:
        first = await store.append(
            conn, "s/1", 0, [stock_event(), stock_event()], ManualClock().now()
        )
    async with db.transaction() as conn:
        second = await store.append(conn, "s/1", 2, [stock_event()], ManualClock().now())
    async with db.transaction() as conn:
        stream = await store.read_stream(conn, "s/1")
        assert await store.stream_version(conn, "s/1") == 3
        tail = await store.read_stream(conn, "s/1", after_version=2)
    assert [e.stream_version for e in stream] == [1, 2, 3]
    assert [e.event_id for e in stream] == [e.event_id for e in first + second]
    assert [e.stream_version for e in tail] == [3]


async def test_stale_expected_version_raises_conflict_and_appends_nothing(db: Database) -> None:
    async with db.transaction() as conn:
        await store.append(conn, "s/1", 0, [stock_event(), stock_event()], ManualClock().now())
    for stale in (0, 1, 3):
        with pytest.raises(ConcurrencyConflict):
            async with db.transaction() as conn:
                await store.append(conn, "s/1", stale, [stock_event()], ManualClock().now())
    assert await count_events(db) == 2
    async with db.transaction() as conn:
        assert await store.stream_version(conn, "s/1") == 2


async def test_concurrent_appenders_to_one_stream_exactly_one_wins(db: Database) -> None:
    async with db.transaction() as conn:
        await store.append(conn, "s/race", 0, [stock_event()], ManualClock().now())
    contenders = 6
    barrier = asyncio.Barrier(contenders)

    async def contender(expected: int) -> str:
        try:
            async with db.transaction() as conn:
                await conn.execute(text("SELECT 1"))  # the transaction is open
                await asyncio.wait_for(barrier.wait(), 10)
                await store.append(conn, "s/race", expected, [stock_event()], ManualClock().now())
            return "won"
        except ConcurrencyConflict:
            return "conflict"

    outcomes = await asyncio.gather(*(contender(1) for _ in range(contenders)))
    assert sorted(outcomes) == ["conflict"] * (contenders - 1) + ["won"]
    assert await count_events(db) == 2

    # Brand-new streams (expected version 0) race the same way.
    barrier = asyncio.Barrier(contenders)

    async def creator() -> str:
        try:
            async with db.transaction() as conn:
                await conn.execute(text("SELECT 1"))
                await asyncio.wait_for(barrier.wait(), 10)
                await store.append(conn, "s/new", 0, [stock_event()], ManualClock().now())
            return "won"
        except ConcurrencyConflict:
            return "conflict"

    outcomes = await asyncio.gather(*(creator() for _ in range(contenders)))
    assert outcomes.count("won") == 1
    assert await count_events(db) == 3


# Gap safety: transactions that commit out of order of their positions


async def test_outbox_does_not_skip_an_event_committed_after_a_higher_position(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        seeded = await store.append(
            conn, "s/seed", 0, [stock_event() for _ in range(3)], ManualClock().now()
        )
    batch = await take_unpublished(db, 3)
    assert [e.event_id for e in batch] == [e.event_id for e in seeded]

    async with db.engine.connect() as conn_a, db.engine.connect() as conn_b:
        tx_a = await conn_a.begin()
        (a_event,) = await store.append(conn_a, "s/a", 0, [stock_event()], ManualClock().now())
        tx_b = await conn_b.begin()
        (b_event,) = await store.append(conn_b, "s/b", 0, [stock_event()], ManualClock().now())
        assert a_event.position < b_event.position
        await tx_b.commit()

        # B is committed, A (lower position) is not: B may go, A must stay for later.
        early = await _take(db)
        assert [e.event_id for e in early] == [b_event.event_id]

        await tx_a.commit()

    late = await take_unpublished(db, 1)
    assert [e.event_id for e in late] == [a_event.event_id]
    assert await _take(db) == []


async def test_outbox_hands_out_a_lower_position_committed_after_a_higher_one(
    db: Database,
) -> None:
    """B takes its transaction id first but appends last; A appends first, commits last."""
    async with db.engine.connect() as conn_a, db.engine.connect() as conn_b:
        tx_b = await conn_b.begin()
        await conn_b.execute(text("SELECT pg_current_xact_id()"))  # B's id is the older one
        tx_a = await conn_a.begin()
        (a_event,) = await store.append(conn_a, "s/a", 0, [stock_event()], ManualClock().now())
        (b_event,) = await store.append(conn_b, "s/b", 0, [stock_event()], ManualClock().now())
        assert a_event.position < b_event.position
        await tx_b.commit()

        first = await _take(db)
        assert a_event.event_id not in {e.event_id for e in first}

        await tx_a.commit()

    rest = await take_unpublished(db, 2 - len(first))
    seen = [e.event_id for e in first + rest]
    assert sorted(seen) == sorted([a_event.event_id, b_event.event_id])
    assert len(seen) == 2


async def test_many_concurrent_writers_reader_sees_every_event_exactly_once(
    db: Database,
) -> None:
    writers, appends = 8, 50
    rng = random.Random(20261102)
    written: list[RecordedEvent] = []
    done = asyncio.Event()

    async def writer(n: int) -> None:
        for version in range(appends):
            async with db.transaction() as conn:
                await asyncio.sleep(rng.random() * 0.002)
                written.extend(
                    await store.append(
                        conn, f"w/{n}", version, [stock_event()], ManualClock().now()
                    )
                )
                await asyncio.sleep(rng.random() * 0.003)  # commit order != position order

    seen: list[RecordedEvent] = []

    async def reader() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            caught_up = done.is_set() and len(seen) >= writers * appends
            batch = await _take(db, limit=37)
            seen.extend(batch)
            if caught_up and not batch:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"reader saw {len(seen)} of {writers * appends} events in time")

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(writers)))
    done.set()
    await asyncio.wait_for(reading, 60)

    ids = [e.event_id for e in seen]
    assert len(written) == writers * appends
    assert len(ids) == len(set(ids)), "an event was read twice"
    assert set(ids) == {e.event_id for e in written}, "an event was skipped"
    for n in range(writers):
        versions = [e.stream_version for e in seen if e.stream_id == f"w/{n}"]
        assert versions == list(range(1, appends + 1))


# SQLite, the embedded default


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await migrated(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}")
    yield database
    await database.dispose()


async def test_sqlite_appends_with_expected_version_and_hands_out_events_in_order(
    sqlite_db: Database,
) -> None:
    now = ManualClock().now()
    async with sqlite_db.transaction() as conn:
        a = await store.append(conn, "s/a", 0, [stock_event(), stock_event()], now)
    async with sqlite_db.transaction() as conn:
        b = await store.append(conn, "s/b", 0, [stock_event()], now)
    async with sqlite_db.transaction() as conn:
        a += await store.append(conn, "s/a", ANY_VERSION, [stock_event()], now)
    with pytest.raises(ConcurrencyConflict):
        async with sqlite_db.transaction() as conn:
            await store.append(conn, "s/a", 2, [stock_event()], now)
    with pytest.raises(ConcurrencyConflict):
        async with sqlite_db.transaction() as conn:
            await store.append(conn, "s/b", 0, [stock_event()], now)

    async with sqlite_db.transaction() as conn:
        stream = await store.read_stream(conn, "s/a")
        assert await store.stream_version(conn, "s/a") == 3
    assert [e.stream_version for e in stream] == [1, 2, 3]
    assert [e.event_id for e in stream] == [e.event_id for e in a]
    assert stream[0].payload == stock_event().payload

    everything = [e.event_id for e in a[:2] + b + a[2:]]
    first = await _take(sqlite_db, limit=2)
    rest = await _take(sqlite_db)
    assert [e.event_id for e in first + rest] == everything
    assert await _take(sqlite_db) == []
    assert await count_events(sqlite_db) == 4


# Snapshots

SNAPSHOTTED = Aggregate(
    "stock", stock, StockPosition, store_of=lambda e: e.store_id, snapshot_every=5
)


async def test_snapshot_loads_the_same_state_as_a_full_replay(any_db: Database) -> None:
    clock = ManualClock()
    app = Application(any_db, REGISTRY, clock)
    stream_id = SNAPSHOTTED.stream_id("SZ01", "P-1")
    at = clock.now
    commands = [
        *(ReceiveStock("SZ01", "P-1", 3, f"r{i}", at()) for i in range(6)),
        *(
            ReserveStock("SZ01", "P-1", f"res-{i}", 2, timedelta(hours=i + 1), "T-1", at())
            for i in range(3)
        ),
        ReleaseReservation("SZ01", "P-1", "res-0", at()),
        RequestParts("SZ01", "P-1", "RO-1", 4, True, at()),
        RequestParts("SZ01", "P-1", "RO-2", 400, False, at()),
    ]
    for command in commands:
        clock.advance(timedelta(minutes=7))

        async def handler(uow: UnitOfWork, command: object = command) -> None:
            await uow.execute(SNAPSHOTTED, stream_id, command)

        await app.handle(command, handler)

    async with any_db.transaction() as conn:
        snapshot = await store.load_snapshot(conn, stream_id)
        uow = app.unit_of_work(conn)
        with_snapshot = await uow.load(SNAPSHOTTED, stream_id)
        recorded = await store.read_stream(conn, stream_id)
        await conn.execute(snapshots.delete())
        without_snapshot = await uow.load(SNAPSHOTTED, stream_id)

    assert snapshot is not None and snapshot[0] == 10, "a snapshot is due every 5 events"
    assert len(recorded) == len(commands) == 12
    replayed = stock.fold(REGISTRY.decode(r.event_type, r.payload) for r in recorded)
    assert with_snapshot.version == without_snapshot.version == 12
    assert with_snapshot.state == replayed
    assert without_snapshot.state == replayed
    assert replayed.on_hand == 18 - 4
    assert [r.reservation_id for r in replayed.reservations] == ["res-1", "res-2"]


# Versioned migrations


async def test_migrations_apply_once_when_replicas_start_together(pg_url: str) -> None:
    replicas = [Database(pg_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(r.migrate("kernel", KERNEL_MIGRATIONS) for r in replicas))
        assert sorted(applied) == [[], [], [1, 2, 3]]
        assert await replicas[0].migrate("kernel", KERNEL_MIGRATIONS) == []
        async with replicas[0].connect() as conn:
            rows = await conn.scalar(select(func.count()).select_from(schema_migrations))
        assert rows == 3
    finally:
        for r in replicas:
            await r.dispose()


async def test_outbox_migration_queues_what_the_old_checkpoint_had_not_published(
    pg_url: str,
) -> None:
    """A database of the (tx_id, position) relay: what its checkpoint passed is on JetStream
    already; everything after it must go out through the outbox."""
    old = Database(pg_url)
    try:
        await old.migrate("kernel", KERNEL_MIGRATIONS[:1])
        async with old.transaction() as conn:
            await conn.execute(text("DROP TABLE outbox"))  # version 1 had none
        for version in range(1, 6):  # as version 1 appended: events only
            async with old.transaction() as conn:
                new = stock_event()
                await conn.execute(
                    events.insert().values(
                        stream_id="s/old",
                        stream_version=version,
                        event_id=new.event_id,
                        event_type=new.event_type,
                        store_id=new.store_id,
                        payload=new.payload,
                        metadata={},
                        recorded_at=ManualClock().now(),
                    )
                )
        async with old.transaction() as conn:
            written = await store.read_stream(conn, "s/old")
            published = written[2]
            await conn.execute(
                text(
                    "INSERT INTO checkpoints (name, tx_id, position) "
                    "VALUES ('relay', :tx_id, :position)"
                ),
                {"tx_id": published.tx_id, "position": published.position},
            )
        assert await old.migrate("kernel", KERNEL_MIGRATIONS) == [2, 3]
        queued = await _take(old)
        assert [e.event_id for e in queued] == [e.event_id for e in written[3:]]
    finally:
        await old.dispose()
