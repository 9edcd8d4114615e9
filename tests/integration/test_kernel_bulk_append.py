"""kernel/bulk_append.py on real PostgreSQL: a batch recorded by COPY leaves what
per-event appends leave (streams, versions, snapshots, outbox, request metadata); a stale
stream fails the whole batch and leaves nothing; a policy-driven event is refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, select

from kernel.application import Aggregate, Application, Policy, UnitOfWork
from kernel.bulk_append import StreamWrite, copy_upsert, record_many
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import ConcurrencyConflict
from kernel.eventstore import EventStore, NewEvent, RecordedEvent, snapshots
from kernel.load_many import load_many
from services.inventory.domain.commands import ReceiveStock
from services.inventory.domain.events import StockReceived
from services.inventory.domain.stock import StockPosition, stock
from tests.integration.kernel_fixtures import REGISTRY, count_events, db

store = EventStore()
STOCK = Aggregate("stock", stock, StockPosition, store_of=lambda e: e.store_id, snapshot_every=3)
PARTS = [f"P-{k}" for k in range(4)]
__all__ = ["db"]


async def _unpublished(db: Database) -> list[RecordedEvent]:
    async with db.transaction("test.outbox") as conn:
        return await store.read_unpublished(conn, 10_000)


def _receive(uow: UnitOfWork, clock: ManualClock, store_id: str) -> Any:
    async def decide_all() -> list[StreamWrite[StockPosition]]:
        ids = [STOCK.stream_id(store_id, p) for p in PARTS]
        loaded = await load_many(uow, STOCK, ids)
        writes = []
        for k, (part, stream_id) in enumerate(zip(PARTS, ids, strict=True)):
            command = ReceiveStock(store_id, part, k + 1, "delivery", clock.now())
            before = loaded[stream_id]
            new = list(STOCK.decider.decide(command, before.state))
            writes.append(StreamWrite(before, new, STOCK.decider.fold(new, before.state)))
        return writes

    return decide_all()


async def test_a_bulk_batch_leaves_what_per_event_appends_leave(db: Database) -> None:
    clock = ManualClock()
    app = Application(db, REGISTRY, clock)

    async def bulk(uow: UnitOfWork) -> int:
        return len(await record_many(uow, STOCK, await _receive(uow, clock, "B")))

    async def one_by_one(uow: UnitOfWork) -> int:
        for w in await _receive(uow, clock, "O"):
            await uow.record(STOCK, w.loaded, w.events)
        return len(PARTS)

    for _ in range(4):  # past a snapshot (every 3 events)
        clock.advance(timedelta(minutes=1))
        assert await app.handle(None, bulk, request_id=f"b-{clock.now()}") == len(PARTS)
        await app.handle(None, one_by_one)

    async with db.transaction() as conn:
        for part in PARTS:
            b = await store.read_stream(conn, STOCK.stream_id("B", part))
            o = await store.read_stream(conn, STOCK.stream_id("O", part))
            assert [e.stream_version for e in b] == [e.stream_version for e in o] == [1, 2, 3, 4]
            assert [_as_of_o(e) for e in b] == [REGISTRY.decode(e.event_type, e.payload) for e in o]
            assert await store.stream_version(conn, STOCK.stream_id("B", part)) == 4
            snapshot = await store.load_snapshot(conn, STOCK.stream_id("B", part))
            assert snapshot is not None and snapshot[0] == 3
            assert snapshot[1]["on_hand"] == 3 * (int(part[2:]) + 1)
    relayed = [e for e in await _unpublished(db) if e.stream_id.startswith("stock/B")]
    assert len(relayed) == 16
    assert [e.stream_version for e in relayed if e.stream_id.endswith("/P-0")] == [1, 2, 3, 4]
    assert all(e.metadata["request_id"].startswith("b-") for e in relayed)


def _as_of_o(e: RecordedEvent) -> Any:
    """Store B's event as store O's (the same receipts, recorded per event there)."""
    return replace(REGISTRY.decode(e.event_type, e.payload), store_id="O")


async def test_a_stale_stream_fails_the_whole_batch_and_leaves_nothing(db: Database) -> None:
    clock = ManualClock()
    app = Application(db, REGISTRY, clock)
    app.max_attempts = 1  # the conflict itself, not the retry that would follow
    await app.handle(None, lambda uow: record_many_of(uow, clock, "S"))
    before = await count_events(db)

    async def stale(uow: UnitOfWork) -> None:
        writes = await _receive(uow, clock, "S")
        # Another writer moves P-2 between this batch's load and its append.
        async with db.transaction() as other:
            sid = STOCK.stream_id("S", "P-2")
            event = REGISTRY.encode(StockReceived("S", "P-2", 1, "x", 4, clock.now()))
            await store.append(other, sid, 1, [NewEvent(*event, "S")], clock.now())
        await record_many(uow, STOCK, writes)

    with pytest.raises(ConcurrencyConflict) as conflict:
        await app.handle(None, stale)

    assert conflict.value.stream_id == STOCK.stream_id("S", "P-2")
    assert await count_events(db) == before + 1  # the other writer's event only
    async with db.transaction() as conn:
        assert await store.stream_version(conn, STOCK.stream_id("S", "P-0")) == 1


async def record_many_of(uow: UnitOfWork, clock: ManualClock, store_id: str) -> None:
    await record_many(uow, STOCK, await _receive(uow, clock, store_id))


async def test_an_event_a_policy_reacts_to_is_refused(db: Database) -> None:
    clock = ManualClock()
    policy = Policy(StockReceived, STOCK, lambda e: e, lambda c: "never")
    app = Application(db, REGISTRY, clock)
    app.add_policies(policy)

    with pytest.raises(ValueError, match="policy"):
        await app.handle(None, lambda uow: record_many_of(uow, clock, "R"))

    assert await count_events(db) == 0


async def test_copy_upsert_inserts_then_replaces_rows(db: Database) -> None:
    table: Table = snapshots  # any table with a key and a JSON column
    async with db.transaction() as conn:
        await copy_upsert(conn, table, ["stream_id"], [("a", 1, {"x": 1}), ("b", 1, [])])
    async with db.transaction() as conn:
        await copy_upsert(conn, table, ["stream_id"], [("a", 2, {"x": 2})])
    async with db.transaction() as conn:
        rows = (await conn.execute(select(table).order_by(table.c.stream_id))).all()
    assert [tuple(r) for r in rows] == [("a", 2, {"x": 2}), ("b", 1, [])]


async def test_copy_upsert_keeps_text_that_copy_must_escape(db: Database) -> None:
    """Rows go to COPY as one text buffer (kernel/bulk_rows.py): tabs, newlines,
    backslashes and JSON escapes come back as written, a row with a value that buffer
    does not format (a Decimal) still lands through psycopg's own dumpers."""
    table: Table = snapshots
    awkward = "a\tb\\c\nd\re 名字"
    state = {"text": awkward, "quote": '"', "list": [1, None, "\\"]}
    async with db.transaction() as conn:
        await copy_upsert(conn, table, ["stream_id"], [(awkward, 3, state)])
        await copy_upsert(conn, table, ["stream_id"], [("decimal", Decimal(1), {"x": 0.5})])
    async with db.transaction() as conn:
        rows = (await conn.execute(select(table).order_by(table.c.version))).all()
    assert [tuple(r) for r in rows] == [("decimal", 1, {"x": 0.5}), (awkward, 3, state)]


async def test_the_recorded_events_handed_back_are_the_rows_stored(db: Database) -> None:
    """Event ids are drawn by PostgreSQL and matched back by position: what record_many
    returns (and puts in uow.recorded) is what the event store reads, field for field."""
    clock = ManualClock()
    app = Application(db, REGISTRY, clock)

    async def bulk(uow: UnitOfWork) -> list[RecordedEvent]:
        return await record_many(uow, STOCK, await _receive(uow, clock, "M"))

    handed: list[RecordedEvent] = []
    for _ in range(2):
        clock.advance(timedelta(minutes=1))
        handed += await app.handle(None, bulk)

    async with db.transaction() as conn:
        stored = [e for p in PARTS for e in await store.read_stream(conn, STOCK.stream_id("M", p))]
    assert sorted(handed, key=lambda e: e.position) == sorted(stored, key=lambda e: e.position)
    assert len({e.event_id for e in handed}) == len(handed) == 2 * len(PARTS)


async def test_load_many_sees_what_the_command_recorded_before_its_closing_statement(
    db: Database,
) -> None:
    """A command records a stream (its append waits for the closing statement), then loads
    it with others in bulk: it gets the recorded state and version, as UnitOfWork.load
    does, not the store's (which does not hold the event yet)."""
    clock = ManualClock()
    app = Application(db, REGISTRY, clock)
    first, second = (STOCK.stream_id("L", p) for p in PARTS[:2])

    async def record_then_load(uow: UnitOfWork) -> list[tuple[int, int]]:
        await uow.execute(STOCK, first, ReceiveStock("L", PARTS[0], 5, "d", clock.now()))
        loaded = await load_many(uow, STOCK, [first, second])
        return [(loaded[s].version, loaded[s].state.on_hand) for s in (first, second)]

    assert await app.handle(None, record_then_load) == [(1, 5), (0, 0)]
    assert await count_events(db) == 1


async def test_record_many_refuses_a_stream_the_command_recorded_one_by_one(
    db: Database,
) -> None:
    """Appended at once by COPY, a bulk write would land before the claim the closing
    statement makes for the same stream: refused, and nothing of the command stays."""
    clock = ManualClock()
    app = Application(db, REGISTRY, clock)

    async def record_then_bulk(uow: UnitOfWork) -> None:
        stream = STOCK.stream_id("R1", PARTS[0])
        await uow.execute(STOCK, stream, ReceiveStock("R1", PARTS[0], 5, "d", clock.now()))
        await record_many(uow, STOCK, await _receive(uow, clock, "R1"))

    with pytest.raises(ValueError, match="closing statement"):
        await app.handle(None, record_then_bulk)
    assert await count_events(db) == 0


async def test_a_bulk_batch_decides_on_the_cache_and_a_stale_entry_costs_a_retry(
    db: Database,
) -> None:
    """What record_many recorded is kept in the aggregate cache as UnitOfWork.record keeps
    it, and load_many answers from it: another replica's receipt since then makes the
    cached version stale, the append conflicts, and the retry decides on the store."""
    clock = ManualClock()
    here, there = Application(db, REGISTRY, clock), Application(db, REGISTRY, clock)
    await here.handle(None, lambda uow: record_many_of(uow, clock, "C"))
    ids = [STOCK.stream_id("C", p) for p in PARTS]
    assert all(i in here.cache for i in ids)
    moved = ids[2]
    await there.handle(
        None, lambda uow: _one(uow, moved, ReceiveStock("C", PARTS[2], 7, "x", clock.now()))
    )

    seen: list[dict[str, int]] = []

    async def bulk_again(uow: UnitOfWork) -> None:
        writes = await _receive(uow, clock, "C")
        seen.append({w.loaded.stream_id: w.loaded.version for w in writes})
        await record_many(uow, STOCK, writes)

    await here.handle(None, bulk_again)

    assert seen[0][moved] == 1 and seen[-1][moved] == 2  # the cache's, then the store's
    assert here.cache.hits >= len(PARTS)
    async with db.transaction() as conn:
        versions = [await store.stream_version(conn, i) for i in ids]
    assert versions == [2, 2, 3, 2]
    assert [here.cache.get(i).version for i in ids] == versions  # type: ignore[union-attr]


async def test_a_stale_cached_stream_a_bulk_load_only_read_is_read_again(db: Database) -> None:
    """A stream load_many answered from the cache and the command did not append to is
    re-checked as it closes: moved on, the command runs again on the store's state."""
    clock = ManualClock()
    here, there = Application(db, REGISTRY, clock), Application(db, REGISTRY, clock)
    await here.handle(None, lambda uow: record_many_of(uow, clock, "U"))
    stream = STOCK.stream_id("U", PARTS[0])
    await there.handle(
        None, lambda uow: _one(uow, stream, ReceiveStock("U", PARTS[0], 7, "x", clock.now()))
    )

    async def on_hand(uow: UnitOfWork) -> int:
        return (await load_many(uow, STOCK, [stream]))[stream].state.on_hand

    assert await here.handle(None, on_hand) == 8


async def _one(uow: UnitOfWork, stream_id: str, command: ReceiveStock) -> None:
    await uow.execute(STOCK, stream_id, command)
