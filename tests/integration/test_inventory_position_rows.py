"""The positions' read-model rows a bulk SyncStockCounts writes (`write_positions`, COPY
text formatted per position) are the rows the one-by-one path writes (`project`'s
`_position_row` through the per-row upsert), column for column, on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from kernel.db import Database
from services.inventory.domain.stock import Reservation, Shipment, StockPosition
from services.inventory.read_model import tables
from tests.integration.kernel_fixtures import db

__all__ = ["db"]

AT = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)
AWKWARD = 'a\tb\\c\nd\re "名字"'


def _positions() -> list[StockPosition]:
    held = (
        Reservation("R-1", 2, AT + timedelta(hours=1), AWKWARD),
        Reservation("R-2", 5, AT, "job 7"),
    )
    out = (Shipment("T-1", "S-2", 3),)
    into = (Shipment("T-2", "S-3", 4), Shipment("T-3", "S\t4", 1))
    return [
        StockPosition("S-1", "P-plain", on_hand=10, last_movement_at=AT),
        StockPosition("S-1", "P-never-moved", on_hand=0),
        StockPosition("S-1", "P-negative", on_hand=-3, last_movement_at=AT),
        StockPosition("S-1", "P-held", on_hand=9, reservations=held, last_movement_at=AT),
        StockPosition(
            "S-1", "P-moving", on_hand=7, outbound=out, inbound=into, last_movement_at=AT
        ),
        StockPosition("S\\1", AWKWARD, on_hand=1, reservations=held[:1], last_movement_at=AT),
    ]


async def _rows(db: Database) -> list[tuple[Any, ...]]:
    view = tables.positions_view
    async with db.transaction() as conn:
        result = await conn.execute(select(view).order_by(view.c.store_id, view.c.part_number))
        return [tuple(r) for r in result.all()]


async def test_bulk_rows_equal_the_one_by_one_rows(db: Database) -> None:
    await db.migrate("inventory", tables.MIGRATIONS)
    positions = _positions()
    async with db.transaction() as conn:
        for p in positions:
            await conn.execute(tables._UPSERT_POSITION, [tables._position_row(p)])
    one_by_one = await _rows(db)
    async with db.transaction() as conn:
        await conn.execute(delete(tables.positions_view))
    async with db.transaction() as conn:
        await tables.write_positions(conn, positions)
    bulk = await _rows(db)

    assert len(one_by_one) == len(positions)
    assert bulk == one_by_one
    # ...and replacing rows that exist (a recount) lands the same values too.
    moved = [StockPosition(p.store_id, p.part_number, on_hand=p.on_hand + 1) for p in positions]
    async with db.transaction() as conn:
        await tables.write_positions(conn, moved)
    replaced = await _rows(db)
    async with db.transaction() as conn:
        for p in moved:
            await conn.execute(tables._UPSERT_POSITION, [tables._position_row(p)])
    assert replaced == await _rows(db)
    assert replaced != bulk
