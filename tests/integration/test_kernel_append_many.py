"""EventStore.append_many and UnitOfWork.appends_batched on real PostgreSQL and SQLite:
many streams in one statement, each at its expected version, positions in the order
given, the outbox filled, and a stale stream failing the whole batch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kernel.application import Aggregate, Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import ConcurrencyConflict
from kernel.eventstore import EventStore, RecordedEvent, StreamAppend
from kernel.load_many import load_many
from services.inventory.domain.commands import ReceiveStock
from services.inventory.domain.stock import StockPosition, stock
from tests.integration.kernel_fixtures import REGISTRY, any_db, count_events, stock_event

store = EventStore()
STOCK = Aggregate("stock", stock, StockPosition, store_of=lambda e: e.store_id, snapshot_every=3)
__all__ = ["any_db"]


async def _unpublished(db: Database) -> list[RecordedEvent]:
    async with db.transaction("test.outbox") as conn:
        return await store.read_unpublished(conn, 10_000)


async def test_many_streams_new_and_existing_in_one_call(any_db: Database) -> None:
    at = ManualClock().now()
    async with any_db.transaction() as conn:
        await store.append(conn, "s/old", 0, [stock_event(), stock_event()], at)
    async with any_db.transaction() as conn:
        done = await store.append_many(
            conn,
            [
                StreamAppend("s/new", 0, [stock_event(), stock_event(), stock_event()]),
                StreamAppend("s/old", 2, [stock_event()]),
                StreamAppend("s/empty", 0, []),
                StreamAppend("s/other", 0, [stock_event()]),
            ],
            at,
        )
    assert [[(e.stream_id, e.stream_version) for e in d] for d in done] == [
        [("s/new", 1), ("s/new", 2), ("s/new", 3)],
        [("s/old", 3)],
        [("s/other", 1)],
    ]
    positions = [e.position for d in done for e in d]
    assert positions == sorted(positions) and len(set(positions)) == 5
    async with any_db.transaction() as conn:
        assert [e.stream_version for e in await store.read_stream(conn, "s/new")] == [1, 2, 3]
        assert await store.stream_version(conn, "s/old") == 3
        assert await store.stream_version(conn, "s/empty") == 0
    queued = await _unpublished(any_db)
    assert [e.event_id for e in queued][2:] == [e.event_id for d in done for e in d]


@pytest.mark.parametrize("expected", [0, 2], ids=["created elsewhere", "stale version"])
async def test_one_stale_stream_fails_the_whole_batch(any_db: Database, expected: int) -> None:
    at = ManualClock().now()
    async with any_db.transaction() as conn:
        await store.append(conn, "s/a", 0, [stock_event()], at)
    before = await count_events(any_db)
    with pytest.raises(ConcurrencyConflict) as conflict:
        async with any_db.transaction() as conn:
            await store.append_many(
                conn,
                [
                    StreamAppend("s/b", 0, [stock_event()]),
                    StreamAppend("s/a", expected, [stock_event()]),
                    StreamAppend("s/c", 0, [stock_event()]),
                ],
                at,
            )
    assert conflict.value.stream_id == "s/a"
    assert await count_events(any_db) == before
    async with any_db.transaction() as conn:
        assert await store.stream_version(conn, "s/b") == 0
        assert await store.stream_version(conn, "s/a") == 1


async def test_one_stream_twice_in_a_batch_is_a_programming_error(any_db: Database) -> None:
    async with any_db.transaction() as conn:
        with pytest.raises(ValueError, match="one entry per stream"):
            await store.append_many(
                conn,
                [StreamAppend("s/x", 0, [stock_event()]), StreamAppend("s/x", 1, [stock_event()])],
                ManualClock().now(),
            )


async def test_a_batched_unit_of_work_records_what_one_by_one_would(any_db: Database) -> None:
    """The same receipts, batched and one by one: same streams, versions, snapshots,
    projected states and events handed to the relay."""
    clock = ManualClock()
    projected: list[tuple[str, int, int]] = []

    async def projector(uow: UnitOfWork, event: object, r: RecordedEvent, state: object) -> None:
        assert isinstance(state, StockPosition)
        projected.append((r.stream_id, r.stream_version, state.on_hand))

    app = Application(any_db, REGISTRY, clock, projectors=[projector])
    parts = [f"P-{k}" for k in range(4)]

    async def receive(uow: UnitOfWork, store_id: str) -> list[int]:
        ids = [STOCK.stream_id(store_id, p) for p in parts]
        loaded = await load_many(uow, STOCK, ids)
        on_hand = []
        for k, (part, stream_id) in enumerate(zip(parts, ids, strict=True)):
            command = ReceiveStock(store_id, part, k + 1, "delivery", clock.now())
            events = list(STOCK.decider.decide(command, loaded[stream_id].state))
            on_hand.append((await uow.record(STOCK, loaded[stream_id], events)).on_hand)
        return on_hand

    async def batched(uow: UnitOfWork) -> list[int]:
        async with uow.appends_batched():
            return await receive(uow, "B")

    async def one_by_one(uow: UnitOfWork) -> list[int]:
        return await receive(uow, "O")

    for _ in range(4):  # past a snapshot (every 3 events)
        clock.advance(timedelta(minutes=1))
        assert await app.handle(None, batched) == await app.handle(None, one_by_one)

    by_store = {
        s: [(i.split("/", 2)[2], v, h) for i, v, h in projected if i.startswith(f"stock/{s}/")]
        for s in "BO"
    }
    assert by_store["B"] == by_store["O"] and len(by_store["B"]) == 16
    async with any_db.transaction() as conn:
        for part in parts:
            b = await store.read_stream(conn, STOCK.stream_id("B", part))
            o = await store.read_stream(conn, STOCK.stream_id("O", part))
            assert [e.stream_version for e in b] == [e.stream_version for e in o] == [1, 2, 3, 4]
            assert (await store.load_snapshot(conn, STOCK.stream_id("B", part)) or (0,))[0] == 3
    relayed = [e.stream_id for e in await _unpublished(any_db) if e.stream_id.startswith("stock/B")]
    assert len(relayed) == 16
