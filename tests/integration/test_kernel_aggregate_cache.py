"""The aggregate cache with a second replica on the same database: no lost update, no
answer from a stale state, nothing kept from a rolled-back transaction (PostgreSQL and
SQLite)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kernel.application import Application, Policy, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import RuleViolated
from kernel.timers import TimerRunner
from services.inventory.domain.commands import (
    AdjustStock,
    ExpireReservation,
    ReceiveStock,
    ReserveStock,
    ReturnParts,
)
from services.inventory.domain.events import StockReceived
from tests.integration.kernel_fixtures import (
    POSITIONS,
    REGISTRY,
    any_db,
    count_events,
    receive,
)

STREAM = POSITIONS.stream_id("SZ01", "P-1")


def replicas(db: Database, clock: ManualClock, **kw: Any) -> tuple[Application, Application]:
    """Two application objects on one database: two replicas, each with its own cache."""
    return Application(db, REGISTRY, clock, **kw), Application(db, REGISTRY, clock, **kw)


async def run(app: Application, command: Any, stream_id: str = STREAM) -> Any:
    async def handler(uow: UnitOfWork) -> Any:
        return (await uow.execute(POSITIONS, stream_id, command)).state

    return await app.handle(command, handler)


def reserve(app: Application, rid: str, quantity: int) -> ReserveStock:
    return ReserveStock("SZ01", "P-1", rid, quantity, timedelta(hours=1), "", app.clock.now())


async def test_a_second_command_decides_on_the_cached_state_without_loading_it(
    any_db: Database, clock: ManualClock
) -> None:
    app, _ = replicas(any_db, clock)
    await receive(app, "SZ01", "P-1", 5)
    hits = app.cache.hits

    assert await receive(app, "SZ01", "P-1", 2) == 7

    assert app.cache.hits == hits + 1
    entry = app.cache.get(STREAM)
    assert entry is not None and entry.version == 2 and entry.state.on_hand == 7


async def test_a_replica_writing_behind_the_cache_loses_no_update(
    any_db: Database, clock: ManualClock
) -> None:
    first, second = replicas(any_db, clock)
    assert await receive(first, "SZ01", "P-1", 5) == 5  # first caches version 1
    assert await receive(second, "SZ01", "P-1", 3) == 8

    # first decides on its stale version 1; the append's guard sends it to the store.
    assert await receive(first, "SZ01", "P-1", 2) == 10

    assert await count_events(any_db) == 3
    entry = first.cache.get(STREAM)
    assert entry is not None and entry.version == 3 and entry.state.on_hand == 10


async def test_a_refusal_decided_on_a_stale_entry_is_rechecked_on_fresh_state(
    any_db: Database, clock: ManualClock
) -> None:
    first, second = replicas(any_db, clock)
    await receive(first, "SZ01", "P-1", 1)  # first's cache: 1 available
    await receive(second, "SZ01", "P-1", 10)  # in truth: 11 available

    position = await run(first, reserve(first, "R-1", 5))

    assert position.available == 6 and position.reserved == 5
    assert await count_events(any_db) == 3


async def test_a_refusal_that_holds_on_fresh_state_is_still_refused(
    any_db: Database, clock: ManualClock
) -> None:
    first, second = replicas(any_db, clock)
    await receive(first, "SZ01", "P-1", 1)
    await receive(second, "SZ01", "P-1", 2)

    with pytest.raises(RuleViolated) as refused:
        await run(first, reserve(first, "R-1", 5))

    assert refused.value.metadata["available"] == "3"  # the store's figure, not the cache's
    assert await count_events(any_db) == 2


async def test_a_command_that_records_nothing_answers_from_the_current_state(
    any_db: Database, clock: ManualClock
) -> None:
    first, second = replicas(any_db, clock)
    await receive(first, "SZ01", "P-1", 5)  # first's cache: 5 on hand
    await run(second, AdjustStock("SZ01", "P-1", 3, "count", clock.now()))  # in truth: 3

    # On the cached state a count of 5 changes nothing and would answer 5 without an
    # append; on the store's state it is an adjustment from 3 to 5.
    position = await run(first, AdjustStock("SZ01", "P-1", 5, "count", clock.now()))

    assert position.on_hand == 5
    assert await count_events(any_db) == 3
    entry = first.cache.get(STREAM)
    assert entry is not None and entry.version == 3


async def test_an_unchanged_stream_read_from_the_cache_answers_without_an_append(
    any_db: Database, clock: ManualClock
) -> None:
    app, _ = replicas(any_db, clock)
    await receive(app, "SZ01", "P-1", 5)
    hits = app.cache.hits

    position = await run(app, AdjustStock("SZ01", "P-1", 5, "count", clock.now()))

    assert position.on_hand == 5
    assert app.cache.hits == hits + 1  # checked by its version, not loaded again
    assert await count_events(any_db) == 1


async def test_a_rolled_back_transaction_leaves_no_trace_in_the_cache(
    any_db: Database, clock: ManualClock
) -> None:
    app, _ = replicas(any_db, clock)
    await receive(app, "SZ01", "P-1", 5)

    async def handler(uow: UnitOfWork) -> None:
        await receive_in(uow, 100)
        raise RuntimeError("the handler fails after recording")

    with pytest.raises(RuntimeError):
        await app.handle(("failing", 1), handler)

    entry = app.cache.get(STREAM)
    assert entry is None or (entry.version, entry.state.on_hand) == (1, 5)
    assert await receive(app, "SZ01", "P-1", 1) == 6
    assert await count_events(any_db) == 2


async def receive_in(uow: UnitOfWork, quantity: int) -> None:
    command = ReceiveStock("SZ01", "P-1", quantity, "ref", uow.clock.now())
    await uow.execute(POSITIONS, STREAM, command)


MIRROR = POSITIONS.stream_id("SZ99", "P-1")
# Every receipt at any store is mirrored as a return at SZ99, in the same transaction.
MIRRORED = Policy(
    StockReceived,
    POSITIONS,
    lambda e: ReturnParts("SZ99", e.part_number, "RO-mirror", e.quantity, e.occurred_at),
    lambda command: MIRROR,
)


async def test_a_policy_on_a_stale_stream_rolls_back_both_streams_and_retries(
    any_db: Database, clock: ManualClock
) -> None:
    first, second = replicas(any_db, clock)
    first.add_policies(MIRRORED)
    await receive(first, "SZ01", "P-1", 5)  # first caches SZ01 and the mirror SZ99
    assert first.cache.get(MIRROR) is not None
    await run(second, ReturnParts("SZ99", "P-1", "RO-2", 3, clock.now()), MIRROR)

    assert await receive(first, "SZ01", "P-1", 2) == 7

    mirror = first.cache.get(MIRROR)
    assert mirror is not None and (mirror.version, mirror.state.on_hand) == (3, 10)
    assert await count_events(any_db) == 5


async def test_a_timer_writing_a_cached_stream_drops_it_and_the_next_command_sees_it(
    any_db: Database, clock: ManualClock
) -> None:
    app, _ = replicas(any_db, clock)
    await receive(app, "SZ01", "P-1", 5)
    command = reserve(app, "R-1", 5)

    async def reserve_and_arm(uow: UnitOfWork) -> None:
        await uow.execute(POSITIONS, STREAM, command)
        await uow.schedule("expire/R-1", "expire", command.expires_at, {"rid": "R-1"})

    await app.handle(command, reserve_and_arm)

    async def expire(uow: UnitOfWork, payload: Any) -> None:
        expiry = ExpireReservation("SZ01", "P-1", payload["rid"], uow.clock.now())
        await uow.execute(POSITIONS, STREAM, expiry)

    clock.advance(timedelta(hours=2))
    assert await TimerRunner(app, {"expire": expire}).run_due() == 1

    assert STREAM not in app.cache
    position = await run(app, reserve(app, "R-2", 5))
    assert position.reserved == 5 and position.available == 0
    assert await count_events(any_db) == 4


async def test_the_cache_holds_at_most_its_bound_of_streams(
    any_db: Database, clock: ManualClock
) -> None:
    app, _ = replicas(any_db, clock, cached_aggregates=2)
    for store in ("SZ01", "SZ02", "SZ03"):
        await receive(app, store, "P-1", 1)

    assert len(app.cache) == 2
    assert POSITIONS.stream_id("SZ01", "P-1") not in app.cache
    assert await receive(app, "SZ01", "P-1", 1) == 2  # evicted: loaded from the store
