"""Read-model rows a projector defers to the end of its command (`uow.upsert_at_end`):
written with the command log in one statement on PostgreSQL, one by one on SQLite; on
both, one row per key (the last write wins, `increment` columns add up), nothing written
when the command fails, a replayed request writes nothing again."""

from __future__ import annotations

import enum
import math
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    REAL,
    BigInteger,
    Column,
    Double,
    Enum,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    select,
    text,
)

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.command_writes import DeferredUpserts, UpsertShape, _casts, write
from kernel.db import Database, UtcDateTime, upsert_many
from kernel.eventstore import EventStore, RecordedEvent, command_log, timers
from services.inventory.domain.commands import ReceiveStock
from tests.integration.kernel_fixtures import (
    POSITIONS,
    REGISTRY,
    any_db,
    count_effects,
    count_events,
    db,
    effects,
    migrated,
    receive,
    stock_event,
)

__all__ = ["any_db", "db"]

view_metadata = MetaData()
tallies = Table(
    "test_tallies",
    view_metadata,
    Column("store_id", String(32), primary_key=True),
    Column("part_number", String(128), primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("receipts", BigInteger, nullable=False),
    Column("last_at", UtcDateTime(timezone=True), nullable=True),
    Column("notes", JSON, nullable=False),
)
KEYS = ["store_id", "part_number"]
# Every floating and decimal column type, for the combined statement against SQLAlchemy's.
measures = Table(
    "test_measures",
    view_metadata,
    Column("path", String(16), primary_key=True),
    Column("k", Integer, primary_key=True),
    Column("f", Float, nullable=True),
    Column("f24", Float(precision=24), nullable=True),
    Column("d", Double, nullable=True),
    Column("r", REAL, nullable=True),
    Column("fd", Float(asdecimal=True), nullable=True),
    Column("n", Numeric, nullable=True),
    Column("n4", Numeric(12, 4), nullable=True),
)
MEASURED = ("f", "f24", "d", "r", "fd", "n", "n4")


class Side(enum.Enum):
    LEFT = "l"
    RIGHT = "r"


async def tally(uow: UnitOfWork, event: Any, recorded: RecordedEvent, state: Any) -> None:
    """Twice per event on purpose: the deferred row must come out once, summed."""
    row = {
        "store_id": state.store_id,
        "part_number": state.part_number,
        "on_hand": state.on_hand,
        "receipts": 1,
        "last_at": recorded.recorded_at,
        "notes": {"last": recorded.stream_version, "refs": ["a", "b"]},
    }
    await uow.upsert_at_end(tallies, row, KEYS, increment=["receipts"])
    await uow.upsert_at_end(tallies, {**row, "receipts": 10}, KEYS, increment=["receipts"])


@pytest.fixture
async def views(any_db: Database) -> AsyncIterator[Database]:
    async with any_db.engine.begin() as conn:
        await conn.run_sync(view_metadata.create_all)
    yield any_db


@pytest.fixture
def tally_app(views: Database) -> Application:
    return Application(views, REGISTRY, ManualClock(datetime(2026, 11, 2, 8, tzinfo=UTC)), [tally])


async def rows(db: Database) -> list[Any]:
    async with db.connect() as conn:
        return list(await conn.execute(select(tallies).order_by(tallies.c.part_number)))


async def test_deferred_rows_are_written_once_per_key_with_the_command(
    tally_app: Application, views: Database
) -> None:
    assert await receive(tally_app, "SZ01", "P-1", 3, request_id="r1") == 3
    assert await receive(tally_app, "SZ01", "P-1", 2, request_id="r2") == 5
    assert await receive(tally_app, "SZ01", "P-2", 1) == 1
    got = await rows(views)
    assert [(r.part_number, r.on_hand, r.receipts) for r in got] == [
        ("P-1", 5, 22),
        ("P-2", 1, 11),
    ]
    assert got[0].notes == {"last": 2, "refs": ["a", "b"]}
    assert got[0].last_at == tally_app.clock.now()
    async with views.connect() as conn:
        logged = (await conn.execute(select(command_log.c.request_id))).scalars().all()
    assert sorted(logged) == ["r1", "r2"]


async def test_a_replayed_request_writes_its_rows_no_second_time(
    tally_app: Application, views: Database
) -> None:
    assert await receive(tally_app, "SZ01", "P-1", 3, request_id="r1") == 3
    assert await receive(tally_app, "SZ01", "P-1", 3, request_id="r1") == 3
    assert [(r.on_hand, r.receipts) for r in await rows(views)] == [(3, 11)]


async def test_a_failed_command_writes_none_of_its_deferred_rows(
    tally_app: Application, views: Database
) -> None:
    async def handler(uow: UnitOfWork) -> None:
        await uow.schedule("t-1", "test", tally_app.clock.now() + timedelta(hours=1), {})
        await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), _receipt(tally_app))
        raise RuntimeError("the handler fails after projecting")

    with pytest.raises(RuntimeError):
        await tally_app.handle(_receipt(tally_app), handler, request_id="r1")
    assert await rows(views) == []
    async with views.connect() as conn:
        assert (await conn.execute(select(timers))).first() is None
        assert (await conn.execute(select(command_log))).first() is None


async def test_rows_and_timers_go_together_in_one_command(
    tally_app: Application, views: Database
) -> None:
    due = tally_app.clock.now() + timedelta(hours=1)

    async def handler(uow: UnitOfWork) -> int:
        done = await uow.execute(POSITIONS, POSITIONS.stream_id("SZ01", "P-1"), _receipt(tally_app))
        await uow.schedule("t-1", "test", due, {"k": "v"})
        return done.state.on_hand

    assert await tally_app.handle(_receipt(tally_app), handler) == 4
    async with views.connect() as conn:
        timer = (await conn.execute(select(timers))).one()
    assert (timer.timer_id, timer.due_at, timer.payload) == ("t-1", due, {"k": "v"})
    assert [(r.on_hand, r.receipts) for r in await rows(views)] == [(4, 11)]


async def test_many_rows_of_one_shape_go_in_an_executemany(
    tally_app: Application, views: Database
) -> None:
    """Past the statement's share of rows (a batch command), the rows still all land."""

    async def handler(uow: UnitOfWork) -> int:
        for i in range(250):
            await uow.upsert_at_end(
                tallies,
                {
                    "store_id": "SZ01",
                    "part_number": f"P-{i:03}",
                    "on_hand": i,
                    "receipts": 1,
                    "last_at": None,
                    "notes": [],
                },
                KEYS,
            )
        return 250

    assert await tally_app.handle("batch", handler, request_id="b1") == 250
    got = await rows(views)
    assert len(got) == 250
    assert (got[7].part_number, got[7].on_hand, got[7].last_at) == ("P-007", 7, None)


async def test_outside_a_command_the_row_is_written_at_once(
    tally_app: Application, views: Database
) -> None:
    """Timers, consumers and sagas have no command log to ride on: they write in place,
    so what they write is readable in their transaction."""
    async with views.transaction() as conn:
        uow = tally_app.unit_of_work(conn)
        await uow.upsert_at_end(
            tallies,
            {
                "store_id": "SZ01",
                "part_number": "P-9",
                "on_hand": 9,
                "receipts": 1,
                "last_at": None,
                "notes": {},
            },
            KEYS,
        )
        seen = (await conn.execute(select(tallies.c.on_hand))).scalar_one()
    assert seen == 9


# Float and Numeric columns in the combined statement, as SQLAlchemy would have written them

_ODD_NUMBERS: list[Any] = [
    0.1,
    1 / 3,
    -0.0,
    1e308,
    5e-324,
    -2.5e-7,
    math.inf,
    -math.inf,
    math.nan,
    0,  # an int, as sum() of no hours is
    2**53 + 1,
    Decimal("12345678.123456789"),
    Decimal("-0.00005"),
    None,
]


def _measure(path: str, k: int, value: Any) -> dict[str, Any]:
    """A row of `value` in every column that can hold it, 1.5 in those that cannot (REAL
    and FLOAT(24) are float4: no 1e308 or 5e-324; NUMERIC(12, 4): no infinity or 1e308)."""
    number = None if value is None else float(value)
    float4 = number is None or not math.isfinite(number) or 1e-30 < abs(number) < 1e30
    numeric4 = number is None or (math.isfinite(number) and abs(number) < 1e8)
    return {
        "path": path,
        "k": k,
        **{c: value for c in MEASURED},
        **{c: value if float4 or number == 0 else 1.5 for c in ("f24", "r")},
        "n4": value if numeric4 else 1.5,
    }


async def _as_text(conn: Any, path: str) -> list[tuple[Any, ...]]:
    """The stored values as PostgreSQL prints them (exact: NaN, -0, every digit)."""
    columns = ", ".join(f"{c}::text" for c in MEASURED)
    result = await conn.execute(
        text(f"SELECT k, {columns} FROM test_measures WHERE path = :path ORDER BY k"),
        {"path": path},
    )
    return [tuple(row) for row in result]


async def test_float_and_numeric_rows_in_the_statement_match_sqlalchemys(db: Database) -> None:
    shape = UpsertShape(measures, tuple(c.name for c in measures.c), ("path", "k"))
    assert _casts(shape) is not None  # the combined statement, not SQLAlchemy, writes these
    async with db.engine.begin() as conn:
        await conn.run_sync(view_metadata.create_all)
    for path in ("statement", "sqlalchemy"):
        async with db.transaction() as conn:
            rows = [_measure(path, k, v) for k, v in enumerate(_ODD_NUMBERS)]
            if path == "sqlalchemy":
                await upsert_many(conn, measures, rows, ("path", "k"))
                continue
            deferred = DeferredUpserts()
            for row in rows:
                deferred.add(shape, row)
            await write(conn, [], None, deferred)
    async with db.connect() as conn:
        ours, theirs = await _as_text(conn, "statement"), await _as_text(conn, "sqlalchemy")
    assert len(ours) == len(_ODD_NUMBERS)
    assert ours == theirs
    assert ours[0][1:4] == ("0.1", "0.1", "0.1")  # float8 kept exactly, not via numeric
    assert ours[8][1] == "NaN" and ours[13][1:] == (None,) * len(MEASURED)


def test_an_enum_column_is_left_to_sqlalchemy() -> None:
    """An Enum is a String to isinstance, but SQLAlchemy binds its members its own way."""
    shelves = Table(
        "test_shelves",
        MetaData(),
        Column("k", Integer, primary_key=True),
        Column("side", Enum(Side, values_callable=lambda members: [m.value for m in members])),
    )
    assert _casts(UpsertShape(shelves, ("k", "side"), ("k",))) is None
    assert _casts(UpsertShape(shelves, ("k",), ("k",))) is not None


async def test_float_increments_add_up_in_the_statement(db: Database) -> None:
    """An `increment` float column adds what is there to what comes, as float8."""
    async with db.engine.begin() as conn:
        await conn.run_sync(view_metadata.create_all)
    shape = UpsertShape(measures, ("path", "k", "d"), ("path", "k"), increment=("d",))
    for hours in (0.1, 0.2):
        async with db.transaction() as conn:
            deferred = DeferredUpserts()
            deferred.add(shape, {"path": "sum", "k": 1, "d": hours})
            await write(conn, [], None, deferred)
    async with db.connect() as conn:
        stored = (await conn.execute(select(measures.c.d))).scalar_one()
    assert stored == 0.1 + 0.2  # 0.30000000000000004: summed in float8 as in Python


def _receipt(app: Application) -> Any:
    return ReceiveStock("SZ01", "P-1", 4, "ref", app.clock.now())


# PostgreSQL: BEGIN sent with the first statement, COMMIT with the last


async def test_a_transaction_begun_by_sqlalchemy_still_rolls_back(db: Database) -> None:
    """psycopg runs in autocommit mode; the kernel's BEGIN must precede SQLAlchemy's
    first statement, or that statement would stay when the transaction fails."""
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute(effects.insert().values(key="k"))
            raise RuntimeError("fails after a write")
    assert await count_effects(db) == 0


async def test_a_transaction_begun_by_an_append_still_rolls_back(db: Database) -> None:
    """The append goes straight to psycopg, with the BEGIN in its pipeline."""
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await EventStore().append(conn, "s/1", 0, [stock_event()], ManualClock().now())
            await conn.execute(effects.insert().values(key="k"))
            raise RuntimeError("fails after two writes")
    assert await count_events(db) == 0
    assert await count_effects(db) == 0


async def test_a_command_on_a_cached_stream_takes_one_round_trip(pg_url: str) -> None:
    """The append, the projection, timer and command log in one statement on its own (no
    BEGIN, no COMMIT). Counted in libpq's trace of the connection: one Sync message per
    round trip."""
    db = await migrated(pg_url, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(view_metadata.create_all)
        app = Application(db, REGISTRY, ManualClock(datetime(2026, 11, 2, tzinfo=UTC)), [tally])
        await receive(app, "SZ01", "P-1", 1, request_id="r1")  # loads the stream
        async with db.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        with tempfile.TemporaryFile("w+") as trace:
            driver.pgconn.trace(trace.fileno())
            try:
                assert await receive(app, "SZ01", "P-1", 2, request_id="r2") == 3
            finally:
                driver.pgconn.untrace()
            trace.seek(0)
            sent = [line.split("\t")[3].strip() for line in trace if line.split("\t")[1] == "F"]
        assert sent.count("Sync") == 1
        assert "Query" not in sent  # no BEGIN or COMMIT
        assert [(r.on_hand, r.receipts) for r in await rows(db)] == [(3, 22)]
    finally:
        await db.dispose()
