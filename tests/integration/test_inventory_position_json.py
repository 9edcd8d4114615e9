"""A position's row carries its reservations as the tuple itself (`_position_row`), no
longer as their `to_json` structure: every path that writes the row stores the very JSON
text it stored before, on PostgreSQL and SQLite. Each path writes the old row (the
reservations through `to_json`, as `_position_row` did) and the new one; the stored texts
must be equal byte for byte (PostgreSQL's json keeps the text as written)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, text

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.codec import to_json
from kernel.db import Database
from services.inventory.domain.stock import Reservation, StockPosition
from services.inventory.read_model import tables
from tests.integration.kernel_fixtures import REGISTRY, any_db, db

__all__ = ["any_db", "db"]

AT = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)
AWKWARD = 'a\tb\\c\nd\re "名字" \u2028 🚗'
KEYS = ["store_id", "part_number"]
Row = dict[str, Any]


def _positions(count: int) -> list[StockPosition]:
    """Held and empty positions, moments with and without microseconds, in UTC and
    another zone (a timer's expiry may come in one), awkward references."""
    zones = (UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30)))
    out = []
    for i in range(count):
        held = tuple(
            Reservation(
                f"R-{i}-{k}",
                k + 1,
                (AT + timedelta(minutes=i, microseconds=k * (i % 2))).astimezone(zones[k % 3]),
                AWKWARD if (i + k) % 4 == 0 else f"job {i}",
            )
            for k in range(i % 4)
        )
        out.append(StockPosition(f"S-{i % 3}", f"P-{i:03}", on_hand=10 + i, reservations=held))
    return out


def _old_row(p: StockPosition) -> Row:
    """What `_position_row` returned before: the reservations as their to_json list."""
    return {**tables._position_row(p), "reservations": to_json(p.reservations)}


async def _stored(db: Database) -> list[tuple[str, str, str]]:
    async with db.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT store_id, part_number, CAST(reservations AS TEXT) "
                "FROM inventory_positions ORDER BY store_id, part_number"
            )
        )
        return [(r[0], r[1], r[2]) for r in result]


Write = Callable[[Database, Sequence[Row]], Awaitable[None]]


async def _in_a_command(db: Database, rows: Sequence[Row]) -> None:
    """`uow.upsert_at_end` inside `handle`: at the command's end, by kernel.command_writes
    (PostgreSQL: in the closing statement up to 100 rows, an executemany past that)."""
    app = Application(db, REGISTRY, ManualClock(AT))

    async def handler(uow: UnitOfWork) -> int:
        for row in rows:
            await uow.upsert_at_end(tables.positions_view, row, KEYS)
        return len(rows)

    assert await app.handle(f"write {len(rows)}", handler) == len(rows)


async def _at_once(db: Database, rows: Sequence[Row]) -> None:
    """`uow.upsert_at_end` outside `handle` (timers, consumers): kernel.db.upsert."""
    app = Application(db, REGISTRY, ManualClock(AT))
    async with db.transaction() as conn:
        uow = app.unit_of_work(conn)
        for row in rows:
            await uow.upsert_at_end(tables.positions_view, row, KEYS)


async def _at_block_end(db: Database, rows: Sequence[Row]) -> None:
    """What `positions_written_at_end` sends as its block ends: one executemany."""
    async with db.transaction() as conn:
        await conn.execute(tables._UPSERT_POSITION, list(rows))


PATHS: dict[str, tuple[Write, int]] = {
    "closing statement": (_in_a_command, 40),
    "executemany of a large group": (_in_a_command, 130),
    "written at once": (_at_once, 40),
    "written at the block's end": (_at_block_end, 40),
}


@pytest.mark.parametrize("path", PATHS)
async def test_every_path_stores_the_json_the_to_json_row_stored(
    any_db: Database, path: str
) -> None:
    write, count = PATHS[path]
    await any_db.migrate("inventory", tables.MIGRATIONS)
    positions = _positions(count)
    await write(any_db, [_old_row(p) for p in positions])
    before = await _stored(any_db)
    async with any_db.transaction() as conn:
        await conn.execute(delete(tables.positions_view))
    await write(any_db, [tables._position_row(p) for p in positions])
    after = await _stored(any_db)

    assert len(after) == count
    assert after == before
    by_key = {(p.store_id, p.part_number): p for p in positions}
    for store_id, part_number, stored in after:
        assert json.loads(stored) == to_json(by_key[store_id, part_number].reservations)
    assert any(stored != "[]" for _, _, stored in after)


async def test_the_copy_lines_store_what_the_closing_statement_stored(db: Database) -> None:
    """PostgreSQL's batch path (`write_positions`, COPY text) against the old row through
    the closing statement."""
    await db.migrate("inventory", tables.MIGRATIONS)
    positions = _positions(40)
    await _in_a_command(db, [_old_row(p) for p in positions])
    before = await _stored(db)
    async with db.transaction() as conn:
        await conn.execute(delete(tables.positions_view))
    async with db.transaction() as conn:
        await tables.write_positions(conn, positions)
    assert await _stored(db) == before
