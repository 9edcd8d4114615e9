"""Inventory's read model tables and their inline projector, kept in the same transaction
as the events that change them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import UnitOfWork
from kernel.bulk_append import copy_upsert_text
from kernel.bulk_rows import escaped
from kernel.codec import from_json, json_text
from kernel.db import Migration, UtcDateTime
from kernel.eventstore import RecordedEvent
from services.inventory.domain.catalogue import Part
from services.inventory.domain.events import (
    PartsIssued,
    ShortageRecorded,
)
from services.inventory.domain.stock import Reservation, StockPosition

metadata = MetaData()

parts_view = Table(
    "inventory_parts",
    metadata,
    Column("part_number", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(64), nullable=False, index=True),
    Column("unit", String(16), nullable=False),
    Column("unit_cost_fen", BigInteger, nullable=False),
)

positions_view = Table(
    "inventory_positions",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("part_number", String(128), primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("available", BigInteger, nullable=False),
    Column("in_transit_out", BigInteger, nullable=False),
    Column("in_transit_in", BigInteger, nullable=False),
    Column("last_movement_at", UtcDateTime(timezone=True), nullable=True),
    Column("reservations", JSON, nullable=False),
    Index("ix_inventory_positions_lookup", "part_number", "available"),
    Index("ix_inventory_positions_idle", "last_movement_at"),
)

usage_daily = Table(
    "inventory_usage_daily",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("part_number", String(128), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("filled", BigInteger, nullable=False),
    Column("issued_quantity", BigInteger, nullable=False),
    Index("ix_inventory_usage_day", "day"),
)

# What the daily stale close keeps of usage_daily, so that the network's stale stock is
# judged by a join instead of two probes of usage_daily per position (lookups.py: `_judged`;
# README "Stale stock"): per store, the day whose usage window it kept ...
usage_kept_on = Table(
    "inventory_usage_kept_on",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("day", Date, nullable=False),  # the window's last day
    Column("usage_days", Integer, nullable=False),
    Column("window_first", Date, nullable=False),  # its first day
)

# ... and per position the store ever asked for: its first request and its issues in
# that window. Derived from usage_daily alone; a position asked for after `day` has none.
usage_kept = Table(
    "inventory_usage_kept",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("part_number", String(128), primary_key=True),
    Column("first_asked", Date, nullable=False),
    Column("issued", BigInteger, nullable=False),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


def _create_usage_kept(conn: Connection) -> None:
    """The close's kept usage (a fresh database's first migration has it already); empty
    until the next close, so every store is judged by its live probes until then."""
    usage_kept_on.create(conn, checkfirst=True)
    usage_kept.create(conn, checkfirst=True)


MIGRATIONS = (
    Migration(1, "inventory read models", _create),
    Migration(2, "inventory: the stale close's kept usage figures", _create_usage_kept),
)


@dataclass(frozen=True)
class PartView:
    part_number: str
    name: str
    category: str
    unit: str
    unit_cost_fen: int


@dataclass(frozen=True)
class PositionView:
    store_id: str
    part_number: str
    on_hand: int
    reserved: int
    available: int
    in_transit_out: int
    in_transit_in: int
    last_movement_at: datetime | None
    reservations: tuple[Reservation, ...]

    @classmethod
    def of(cls, p: StockPosition) -> PositionView:
        return cls(
            p.store_id,
            p.part_number,
            p.on_hand,
            p.reserved,
            p.available,
            p.in_transit_out,
            p.in_transit_in,
            p.last_movement_at,
            p.reservations,
        )


async def project(uow: UnitOfWork, event: Any, recorded: RecordedEvent, state: Any) -> None:
    if isinstance(state, Part):
        await uow.upsert_at_end(
            parts_view,
            {
                "part_number": state.part_number,
                "name": state.name,
                "category": state.category,
                "unit": state.unit,
                "unit_cost_fen": state.unit_cost_fen,
            },
            ["part_number"],
        )
        return
    if not isinstance(state, StockPosition):
        return
    row = _position_row(state)
    pending = _written_at_end.get(id(uow))
    if pending is not None:
        pending[(state.store_id, state.part_number)] = row
    else:
        await uow.upsert_at_end(positions_view, row, ["store_id", "part_number"])
    if isinstance(event, PartsIssued | ShortageRecorded):
        issued = isinstance(event, PartsIssued)
        await uow.upsert_at_end(
            usage_daily,
            {
                "store_id": event.store_id,
                "part_number": event.part_number,
                "day": uow.clock.business_day(event.occurred_at),
                "requests": 1,
                "filled": 1 if issued else 0,
                "issued_quantity": event.quantity if isinstance(event, PartsIssued) else 0,
            },
            ["store_id", "part_number", "day"],
            increment=["requests", "filled", "issued_quantity"],
        )


def _position_row(state: StockPosition) -> dict[str, Any]:
    return {
        "store_id": state.store_id,
        "part_number": state.part_number,
        "on_hand": state.on_hand,
        "reserved": state.reserved,
        "available": state.available,
        "in_transit_out": state.in_transit_out,
        "in_transit_in": state.in_transit_in,
        "last_movement_at": state.last_movement_at,
        # The tuple itself: PostgreSQL's closing statement writes it with json_text,
        # every path through SQLAlchemy with codec.column_json (a to_json first was
        # a dict per reservation built for nothing on the first).
        "reservations": state.reservations,
    }


async def write_positions(conn: AsyncConnection, states: Sequence[StockPosition]) -> None:
    """The rows of positions a batch recorded (PostgreSQL), in one statement: what
    `project` writes for each, set-based (kernel/bulk_append.py's copy_upsert_text), each
    row formatted straight into COPY's text format (no dict, tuple or to_json per row)."""
    moments: dict[datetime, str] = {}
    lines = [_position_line(p, moments) for p in states]
    await copy_upsert_text(conn, positions_view, ("store_id", "part_number"), "".join(lines))


def _position_line(p: StockPosition, moments: dict[datetime, str]) -> str:
    """`_position_row(p)` as one line of COPY text (the columns in `positions_view`'s
    order); sums and JSON only for the tuples that hold something."""
    reserved = sum(r.quantity for r in p.reservations) if p.reservations else 0
    outbound = sum(s.quantity for s in p.outbound) if p.outbound else 0
    inbound = sum(s.quantity for s in p.inbound) if p.inbound else 0
    at = p.last_movement_at
    moment = "\\N" if at is None else moments.get(at) or moments.setdefault(at, at.isoformat())
    held = escaped(json_text(p.reservations)) if p.reservations else "[]"
    return (
        f"{escaped(p.store_id)}\t{escaped(p.part_number)}\t{p.on_hand}\t{reserved}\t"
        f"{p.on_hand - reserved}\t{outbound}\t{inbound}\t{moment}\t{held}\n"
    )


# Units of work (by id, while they run) whose position rows are written once at the end.
_written_at_end: dict[int, dict[tuple[str, str], dict[str, Any]]] = {}


@contextlib.asynccontextmanager
async def positions_written_at_end(uow: UnitOfWork) -> AsyncIterator[None]:
    """For a batch command recording hundreds of positions: each position's row is
    written once, all in one executemany as the block ends, instead of one upsert per
    event. Nothing in the block may read those rows back."""
    pending: dict[tuple[str, str], dict[str, Any]] = {}
    _written_at_end[id(uow)] = pending
    try:
        yield
        if pending:
            await uow.conn.execute(_UPSERT_POSITION, list(pending.values()))
    finally:
        _written_at_end.pop(id(uow), None)


_POSITION_COLUMNS = tuple(c.name for c in positions_view.columns)
_UPSERT_POSITION = text(
    f"INSERT INTO inventory_positions ({', '.join(_POSITION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _POSITION_COLUMNS)}) "
    "ON CONFLICT (store_id, part_number) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _POSITION_COLUMNS[2:])
).bindparams(*(bindparam(c, type_=positions_view.c[c].type) for c in _POSITION_COLUMNS))


def position_of_row(row: Any) -> PositionView:
    return PositionView(
        store_id=row.store_id,
        part_number=row.part_number,
        on_hand=row.on_hand,
        reserved=row.reserved,
        available=row.available,
        in_transit_out=row.in_transit_out,
        in_transit_in=row.in_transit_in,
        last_movement_at=row.last_movement_at,
        reservations=from_json(row.reservations, tuple[Reservation, ...]),
    )


def part_of_row(row: Any) -> PartView:
    return PartView(row.part_number, row.name, row.category, row.unit, row.unit_cost_fen)
