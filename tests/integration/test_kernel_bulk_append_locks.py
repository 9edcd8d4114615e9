"""Two bulk appends over overlapping streams at once (two replicas syncing one store) wait
for each other and never deadlock: kernel/bulk_append.py locks the streams of a batch in
one order, the stream ids' (a deadlock costs PostgreSQL's deadlock_timeout and a retry of
a whole batch of thousands of positions)."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy import text

from kernel.application import Aggregate, Application, UnitOfWork
from kernel.bulk_append import StreamWrite, record_many
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import ConcurrencyConflict
from kernel.load_many import load_many
from services.inventory.domain.commands import ReceiveStock
from services.inventory.domain.stock import StockPosition, stock
from tests.integration.kernel_fixtures import REGISTRY, db

STOCK = Aggregate("stock", stock, StockPosition, store_of=lambda e: e.store_id, snapshot_every=50)
PARTS = [f"P-{k:03d}" for k in range(300)]
IDS = [STOCK.stream_id("L", p) for p in PARTS]
__all__ = ["db"]


async def _writes(
    uow: UnitOfWork, clock: ManualClock, parts: list[str], each: int
) -> list[StreamWrite[StockPosition]]:
    """`each` receipts on every part's position, the writes in the order of `parts`."""
    loaded = await load_many(uow, STOCK, [STOCK.stream_id("L", p) for p in parts])
    writes = []
    for part in parts:
        before = loaded[STOCK.stream_id("L", part)]
        state, new = before.state, []
        for k in range(each):
            events = STOCK.decider.decide(ReceiveStock("L", part, k + 1, "d", clock.now()), state)
            new.extend(events)
            state = STOCK.decider.fold(events, state)
        writes.append(StreamWrite(before, new, state))
    return writes


async def _bulk(app: Application, clock: ManualClock, parts: list[str], each: int) -> int:
    async with app.db.transaction("test.bulk") as conn:
        uow = app.unit_of_work(conn)
        return len(await record_many(uow, STOCK, await _writes(uow, clock, parts, each)))


async def _waiting_on_locks(db: Database) -> int:
    async with db.transaction("test.waiting") as conn:
        rows = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return int(rows.scalar_one())


async def _until_waiting(db: Database, count: int, task: asyncio.Task[int]) -> None:
    """Until `count` transactions wait for a lock (the one `task` runs among them)."""
    while await _waiting_on_locks(db) < count:
        assert not task.done(), task
        await asyncio.sleep(0.01)


def _deadlocked(outcome: Any) -> bool:
    return isinstance(outcome, ConcurrencyConflict) and isinstance(
        outcome.__cause__, psycopg.errors.DeadlockDetected
    )


async def test_two_bulk_appends_over_the_same_streams_wait_and_never_deadlock(
    db: Database,
) -> None:
    """A third transaction holds the middle stream; one batch starts and waits for it,
    then the other starts and waits too: batches locking in different orders (here they
    list the streams in opposite orders, the second with two events a stream) could
    deadlock (seen before the fix); in one order, one batch waits for the other, then
    finds the streams moved on (a plain conflict: Application.handle decides it again)."""
    clock = ManualClock()
    app = Application(db, REGISTRY, clock)
    assert await _bulk(app, clock, PARTS, 1) == len(PARTS)  # every stream exists
    clock.advance(timedelta(minutes=1))
    middle = sorted(IDS)[len(IDS) // 2]

    async with db.transaction("test.blocker") as blocker:
        await blocker.execute(
            text("SELECT version FROM streams WHERE stream_id = :id FOR UPDATE"), {"id": middle}
        )
        forward = asyncio.create_task(_bulk(app, clock, PARTS, 1))
        await _until_waiting(db, 1, forward)
        backward = asyncio.create_task(_bulk(app, clock, PARTS[::-1], 2))
        await _until_waiting(db, 2, backward)
    outcomes = await asyncio.gather(forward, backward, return_exceptions=True)

    assert not [o for o in outcomes if _deadlocked(o)], outcomes
    landed = [o for o in outcomes if isinstance(o, int)]
    assert landed in ([len(PARTS)], [2 * len(PARTS)])
    assert [type(o) for o in outcomes if not isinstance(o, int)] == [ConcurrencyConflict]


async def test_a_batch_locks_its_streams_in_stream_id_order(db: Database) -> None:
    """What makes the above hold whatever the orders: while a batch waits for a stream
    another transaction holds, it holds exactly the streams before that one in id order
    (created and listed in shuffled orders, so neither the table's nor the batch's order
    is the ids')."""
    clock = ManualClock()
    app = Application(db, REGISTRY, clock)
    shuffled = PARTS[:]
    random.Random(7).shuffle(shuffled)
    for first in range(0, len(shuffled), 30):
        await _bulk(app, clock, shuffled[first : first + 30], 1)
    clock.advance(timedelta(minutes=1))
    ordered = sorted(IDS)
    middle = ordered[len(ordered) // 3]

    async with db.transaction("test.blocker") as blocker:
        await blocker.execute(
            text("SELECT version FROM streams WHERE stream_id = :id FOR UPDATE"), {"id": middle}
        )
        batch = asyncio.create_task(_bulk(app, clock, shuffled[::-1], 1))
        await _until_waiting(db, 1, batch)
        async with db.transaction("test.probe") as probe:
            free = await probe.execute(
                text(
                    "SELECT stream_id FROM streams WHERE stream_id LIKE 'stock/L/%' "
                    "FOR UPDATE SKIP LOCKED"
                )
            )
            held = set(IDS) - {row.stream_id for row in free} - {middle}
    assert await batch == len(PARTS)

    assert held == set(ordered[: ordered.index(middle)])
