"""A command's appends in its closing statement (PostgreSQL, `Application(appends_at_close)`):
the version claims, the events and their outbox rows, the check of streams read from the
cache, the timers, read-model rows and command log are one statement, which commits. Its
guard undoes the whole statement when any stream moved on: nothing of it stays, not even
the claims that succeeded, and the command retries as an append at once would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from kernel.application import Aggregate, Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.command_writes import CommandLogRow, StaleRead, TimerRow, write_with_appends
from kernel.db import Database
from kernel.errors import ConcurrencyConflict
from kernel.eventstore import (
    ANY_VERSION,
    EventStore,
    StreamAppend,
    command_log,
    events,
    outbox,
    timers,
)
from services.inventory.domain.commands import ReceiveStock
from services.inventory.domain.stock import StockPosition, stock
from tests.integration.kernel_fixtures import (
    POSITIONS,
    REGISTRY,
    count_events,
    effects,
    migrated,
    receive,
    stock_event,
)

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    database = await migrated(pg_url, pipelined_begin=False)
    yield database
    await database.dispose()


async def versions(db: Database) -> dict[str, int]:
    async with db.connect() as conn:
        rows = await conn.execute(text("SELECT stream_id, version FROM streams"))
        return {r.stream_id: r.version for r in rows}


async def counts(db: Database) -> tuple[int, int, int, int, int]:
    """Events, outbox rows, command-log rows, timers, effects."""
    async with db.connect() as conn:
        found = []
        for table in (events, outbox, command_log, timers, effects):
            found.append(int(await conn.scalar(select(func.count()).select_from(table)) or 0))
        return found[0], found[1], found[2], found[3], found[4]


async def close(db: Database, appends: list[StreamAppend]) -> list[int]:
    """write_with_appends with a timer, a log row and an effect row, in a transaction."""
    async with db.transaction() as conn:
        closed = await write_with_appends(
            conn,
            appends,
            [[AT] * len(a.events) for a in appends],
            {},
            [TimerRow("t-1", "kind", AT + timedelta(hours=1), {"n": 1})],
            CommandLogRow("req-1", "Test", "digest", {"ok": True}, AT),
        )
    return closed.positions


async def test_appends_of_several_streams_commit_with_the_rest_in_order(pg: Database) -> None:
    await close(pg, [StreamAppend("s/a", 0, [stock_event()])])
    async with pg.transaction() as conn:
        closed = await write_with_appends(
            conn,
            [
                StreamAppend("s/a", 1, [stock_event(), stock_event()]),
                StreamAppend("s/b", 0, [stock_event("SZ02")]),
            ],
            [[AT, AT], [AT]],
            {},
            [],
            CommandLogRow("req-2", "Test", "digest", None, AT),
        )
    assert closed.positions == sorted(closed.positions) and len(set(closed.positions)) == 3
    assert await versions(pg) == {"s/a": 3, "s/b": 1}
    async with pg.connect() as conn:
        stored = (
            await conn.execute(
                select(events.c.stream_id, events.c.stream_version, events.c.tx_id)
                .where(events.c.position.in_(closed.positions))
                .order_by(events.c.position)
            )
        ).all()
    assert [(r.stream_id, r.stream_version) for r in stored] == [("s/a", 2), ("s/a", 3), ("s/b", 1)]
    assert {r.tx_id for r in stored} == {closed.tx_id}
    assert await counts(pg) == (4, 4, 2, 1, 0)


async def test_a_stale_version_on_any_stream_leaves_nothing_of_the_statement(
    pg: Database,
) -> None:
    await close(pg, [StreamAppend("s/a", 0, [stock_event()])])
    before = await counts(pg)

    with pytest.raises(ConcurrencyConflict):
        async with pg.transaction() as conn:
            await write_with_appends(
                conn,
                [
                    StreamAppend("s/new", 0, [stock_event()]),  # would be claimed
                    StreamAppend("s/a", 0, [stock_event()]),  # exists: not claimed
                ],
                [[AT], [AT]],
                {},
                [TimerRow("t-2", "kind", AT, {})],
                CommandLogRow("req-2", "Test", "digest", None, AT),
            )

    assert await versions(pg) == {"s/a": 1}  # s/new's claim was undone with the rest
    assert await counts(pg) == before


async def test_a_moved_cached_read_leaves_nothing_and_names_the_stream(pg: Database) -> None:
    await close(pg, [StreamAppend("s/read", 0, [stock_event()])])
    before = await counts(pg)

    with pytest.raises(StaleRead) as refused:
        async with pg.transaction() as conn:
            await write_with_appends(
                conn,
                [StreamAppend("s/written", 0, [stock_event()])],
                [[AT]],
                {"s/read": 2, "s/never": 0},  # s/read is at 1
                [],
                CommandLogRow("req-2", "Test", "digest", None, AT),
            )

    assert refused.value.stream_ids == ("s/read", "s/never")
    assert await versions(pg) == {"s/read": 1}
    assert await counts(pg) == before
    # The same read at its true version (and a stream still absent) passes.
    async with pg.transaction() as conn:
        await write_with_appends(
            conn,
            [StreamAppend("s/written", 0, [stock_event()])],
            [[AT]],
            {"s/read": 1, "s/never": 0},
            [],
            CommandLogRow("req-2", "Test", "digest", None, AT),
        )
    assert await versions(pg) == {"s/read": 1, "s/written": 1}


async def test_a_replica_appending_behind_the_cache_makes_the_command_retry_on_the_store(
    pg: Database,
) -> None:
    """Two replicas, each with its aggregate cache: the second's command was decided on a
    cached version the first moved on, so the one statement is refused whole and the retry
    decides on the store's state; every receipt counts once."""
    clock = ManualClock(AT)
    first, second = Application(pg, REGISTRY, clock), Application(pg, REGISTRY, clock)
    assert await receive(second, "SZ01", "P-1", 1, request_id="r-0") == 1  # cached at 1
    assert await receive(first, "SZ01", "P-1", 10, request_id="r-1") == 11
    assert await receive(second, "SZ01", "P-1", 100, request_id="r-2") == 111
    assert await receive(second, "SZ01", "P-1", 100, request_id="r-2") == 111  # replayed
    assert await count_events(pg) == 3
    assert await versions(pg) == {POSITIONS.stream_id("SZ01", "P-1"): 3}


async def test_recorded_events_get_their_positions_after_the_commit(pg: Database) -> None:
    app = Application(pg, REGISTRY, ManualClock(AT))
    seen: list[UnitOfWork] = []
    stream = POSITIONS.stream_id("SZ01", "P-1")

    async def twice(uow: UnitOfWork) -> None:
        seen.append(uow)
        for quantity in (1, 2):
            command = ReceiveStock("SZ01", "P-1", quantity, "ref", AT)
            await uow.execute(POSITIONS, stream, command)
        # Both waited for the closing statement; the second load saw the first's state.
        assert [r.position for r in uow.recorded] == [0, 0]

    await app.handle(("twice", 1), twice, request_id="r-twice")

    async with pg.transaction() as conn:
        stored = await EventStore().read_stream(conn, stream)
    assert [(r.position, r.tx_id) for r in seen[-1].recorded] == [
        (r.position, r.tx_id) for r in stored
    ]
    assert [r.stream_version for r in stored] == [1, 2]


async def test_a_raw_append_then_a_load_of_that_stream_is_refused(pg: Database) -> None:
    app = Application(pg, REGISTRY, ManualClock(AT))
    stream = POSITIONS.stream_id("SZ01", "P-1")

    async def raw_then_load(uow: UnitOfWork) -> None:
        await uow.append(stream, 0, [stock_event()])
        await uow.load(POSITIONS, stream)

    with pytest.raises(RuntimeError, match="raw append"):
        await app.handle(("raw", 1), raw_then_load)
    assert await count_events(pg) == 0


async def test_switched_off_the_append_goes_at_once(pg: Database) -> None:
    app = Application(pg, REGISTRY, ManualClock(AT), appends_at_close=False)
    positions: list[int] = []

    async def appended(uow: UnitOfWork) -> None:
        recorded = await uow.append("s/at-once", 0, [stock_event()])
        positions.extend(r.position for r in recorded)

    await app.handle(("at once", 1), appended, request_id="r-at-once")
    assert positions and positions[0] > 0


async def test_a_snapshot_due_joins_the_statement_and_loads_back(pg: Database) -> None:
    """A snapshot falls due mid-command: it is written with the appends (version 2 of 3),
    and a replica without a cache folds it and the event after it into the same state."""
    often = Aggregate(
        "stock", stock, StockPosition, store_of=lambda e: e.store_id, snapshot_every=2
    )
    stream = often.stream_id("SZ01", "P-1")
    app = Application(pg, REGISTRY, ManualClock(AT))

    async def three(uow: UnitOfWork) -> int:
        for quantity in (1, 2, 4):
            done = await uow.execute(often, stream, ReceiveStock("SZ01", "P-1", quantity, "r", AT))
        return int(done.state.on_hand)

    assert await app.handle(("three", 1), three, request_id="r-three") == 7
    async with pg.connect() as conn:
        saved = (await conn.execute(text("SELECT version FROM snapshots"))).scalars().all()
    assert saved == [2]
    cold = Application(pg, REGISTRY, ManualClock(AT), cached_aggregates=0)

    async def read(uow: UnitOfWork) -> int:
        return int((await uow.load(often, stream)).state.on_hand)

    assert await cold.handle(("read", 1), read) == 7


async def test_an_append_of_no_events_appends_nothing(pg: Database) -> None:
    """As `EventStore.append` and `append_many`: no events, nothing written. Queued for
    the closing statement, its claim alone would create the stream at version 0 (no
    append at 0 could claim it after), or, the only append, leave a statement with no
    event rows."""
    app = Application(pg, REGISTRY, ManualClock(AT))

    async def nothing_then_one(uow: UnitOfWork) -> None:
        assert await uow.append("s/empty", 0, []) == []
        await uow.append("s/full", 0, [stock_event()])

    async def nothing(uow: UnitOfWork) -> None:
        assert await uow.append("s/empty", 0, []) == []

    await app.handle(("nothing then one", 1), nothing_then_one, request_id="r-1")
    await app.handle(("nothing", 1), nothing, request_id="r-2")
    assert await versions(pg) == {"s/full": 1}

    async def first(uow: UnitOfWork) -> None:
        await uow.append("s/empty", 0, [stock_event()])

    await app.handle(("first", 1), first, request_id="r-3")
    assert await versions(pg) == {"s/full": 1, "s/empty": 1}


async def test_a_load_after_a_raw_append_to_a_recorded_stream_is_refused(pg: Database) -> None:
    """The state kept for a later load is the last record()'s: a raw append after it moves
    the version on without that state knowing its events, so the load must be refused
    (as after a raw append first), not answered with a state that misses events."""
    app = Application(pg, REGISTRY, ManualClock(AT))
    stream = POSITIONS.stream_id("SZ01", "P-1")

    async def record_raw_then_load(uow: UnitOfWork) -> int:
        await uow.execute(POSITIONS, stream, ReceiveStock("SZ01", "P-1", 1, "ref", AT))
        await uow.append(stream, 1, [stock_event(quantity=5)])
        return (await uow.load(POSITIONS, stream)).state.on_hand

    with pytest.raises(RuntimeError, match="raw append"):
        await app.handle(("record raw", 1), record_raw_then_load)
    assert await count_events(pg) == 0


async def test_an_append_at_any_version_appends_after_the_stream_as_it_is(pg: Database) -> None:
    """ANY_VERSION, as `EventStore.append` takes it: after whatever the stream holds (in
    this unit of work too). Queued as an expected version it claimed no stream (there is
    no version -1) and every attempt ended in a conflict."""
    app = Application(pg, REGISTRY, ManualClock(AT))

    async def any_version(uow: UnitOfWork) -> list[int]:
        first = await uow.append("s/any", ANY_VERSION, [stock_event()])
        second = await uow.append("s/any", ANY_VERSION, [stock_event()])
        return [r.stream_version for r in first + second]

    assert await app.handle(("any", 1), any_version, request_id="r-1") == [1, 2]
    assert await app.handle(("any", 2), any_version, request_id="r-2") == [3, 4]
    assert await versions(pg) == {"s/any": 4}
    assert await count_events(pg) == 4


@pytest.mark.parametrize("first", ["SZ09", "SZ01"])
async def test_positions_follow_the_order_recorded_across_streams(pg: Database, first: str) -> None:
    """Cause before effect: the stream recorded first takes the lower positions, whatever
    the streams' names."""
    app = Application(pg, REGISTRY, ManualClock(AT))
    second = "SZ01" if first == "SZ09" else "SZ09"

    async def both(uow: UnitOfWork) -> None:
        for store in (first, second):
            command = ReceiveStock(store, "P-1", 1, "ref", AT)
            await uow.execute(POSITIONS, POSITIONS.stream_id(store, "P-1"), command)

    await app.handle(("both", first), both, request_id=f"r-{first}")
    async with pg.connect() as conn:
        stored = (await conn.execute(select(events.c.store_id).order_by(events.c.position))).all()
    assert [r.store_id for r in stored] == [first, second]
