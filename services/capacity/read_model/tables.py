"""Capacity's read model tables and their inline projector, kept in the same transaction
as the events that change them.

- `capacity_stores`: the store directory (profile, location, the facts a day view needs);
- `capacity_days`: one row per store and day with the counts of its appointment book, so
  the whole network's capacity monitor is one query. Capacity, utilisation and colour are
  worked out when read, from the row's override or the store's current default, so a
  changed default shows at once on every day without an override. The row's walk-ins are
  also the history the forecast learns each weekday's walk-in pattern from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import UnitOfWork
from kernel.codec import to_json
from kernel.db import Migration, UtcDateTime, upsert
from kernel.eventstore import RecordedEvent
from services.capacity.domain.book_state import BookState, VisitStatus
from services.capacity.domain.opening_hours import OpeningHours, Weekday, hours_on, local_day
from services.capacity.domain.stores import (
    StoreFacts,
    StoreRegistered,
    StoreState,
)
from services.capacity.domain.utilisation import (
    day_view,
)

metadata = MetaData()

stores_view = Table(
    "capacity_stores",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("city", String(200), nullable=False, index=True),
    Column("region", String(200), nullable=False, index=True),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("bays", Integer, nullable=False),
    Column("default_daily_capacity", Integer, nullable=False),
    Column("availability_factor", Float, nullable=False),
    Column("wait_threshold_minutes", Integer, nullable=False),
    Column("time_zone", String(64), nullable=False),
    # [[weekday, opens_minute, closes_minute], ...]: the store's facts for its book.
    Column("opening_hours", JSON, nullable=False),
    # Open hours of each weekday (0: closed), so the network view reads scalars only.
    *(Column(f"open_hours_{w.name.lower()[:3]}", Float, nullable=False) for w in Weekday),
    Column("profile", JSON, nullable=False),
    Column("closed", Boolean, nullable=False),
    Column("registered_on", Date, nullable=True),
)

days_view = Table(
    "capacity_days",
    metadata,
    Column("store_id", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("capacity_override", Integer, nullable=True),
    Column("booked", Integer, nullable=False),
    Column("walk_ins", Integer, nullable=False),
    Column("arrived", Integer, nullable=False),
    Column("waiting", Integer, nullable=False),
    Column("in_service", Integer, nullable=False),
    Column("completed", Integer, nullable=False),
    Column("abandoned", Integer, nullable=False),
    Column("no_shows", Integer, nullable=False),
    Column("live_holds", Integer, nullable=False),
    # Actual labour hours of the completed visits: the bay utilisation's numerator.
    Column("labour_hours", Float, nullable=False),
    Column("estimated_wait_minutes", Integer, nullable=False),
    Column("wait_threshold_exceeded", Boolean, nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_capacity_days_day", "day"),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = (Migration(1, "capacity read models: stores and store days", _create),)


async def project(uow: UnitOfWork, event: Any, recorded: RecordedEvent, state: Any) -> None:
    if isinstance(state, StoreState):
        await _project_store(uow.conn, state, event)
    elif isinstance(state, BookState):
        await _project_day(uow, state, recorded.recorded_at)


def store_row(state: StoreState, registered_on: date | None = None) -> dict[str, Any]:
    """The `capacity_stores` row of a store's state (registered_on: only once, on its
    StoreRegistered); the bench seeds the table with the same rows."""
    profile = state.profile
    assert profile is not None
    values: dict[str, Any] = {
        "store_id": state.store_id,
        "name": profile.name,
        "city": profile.city,
        "region": profile.region,
        "latitude": profile.latitude,
        "longitude": profile.longitude,
        "bays": profile.bays,
        "default_daily_capacity": profile.default_daily_capacity,
        "availability_factor": profile.availability_factor,
        "wait_threshold_minutes": profile.wait_threshold_minutes,
        "time_zone": profile.time_zone,
        "opening_hours": [
            [int(h.weekday), h.opens_minute, h.closes_minute] for h in profile.opening_hours
        ],
        "profile": to_json(profile),
        "closed": state.closed,
        **{hours_column(w).name: _hours(profile.opening_hours, w) for w in Weekday},
    }
    if registered_on is not None:
        values["registered_on"] = registered_on
    return values


async def _project_store(conn: AsyncConnection, state: StoreState, event: Any) -> None:
    registered_on = None
    if isinstance(event, StoreRegistered):
        assert state.profile is not None
        registered_on = local_day(event.occurred_at, state.profile.time_zone)
    await upsert(conn, stores_view, store_row(state, registered_on), ["store_id"])


# The facts the book command in progress decided on, set only around its execute: its
# day row is projected from the same facts, read once in the same transaction.
_deciding_on: ContextVar[StoreFacts | None] = ContextVar("capacity_deciding_on", default=None)


@contextmanager
def deciding_on(facts: StoreFacts) -> Iterator[None]:
    token = _deciding_on.set(facts)
    try:
        yield
    finally:
        _deciding_on.reset(token)


async def _project_day(uow: UnitOfWork, book: BookState, at: datetime) -> None:
    """The day's row, written as the command ends (with its command log, in one statement):
    every event of a command rewrites the whole row, so the last state is the one kept, and
    no command reads its own day rows back."""
    facts = _deciding_on.get()
    if facts is None or facts.store_id != book.store_id:
        facts = await store_facts(uow.conn, book.store_id)
        assert facts is not None
    await write_day_at_end(uow, facts, book, at)


async def write_day_at_end(
    uow: UnitOfWork, facts: StoreFacts, book: BookState, at: datetime
) -> None:
    """A day's `capacity_days` row as its book stands (`at`: when its last event was
    recorded), written as the command ends: the projection of each book event, and of a
    batch that records a day's events at once and projects only its last state."""
    assert book.day is not None
    view = day_view(facts, book.day, book, at)
    completed_hours = sum(v.labour_hours for v in book.visits_in(VisitStatus.COMPLETED))
    await uow.upsert_at_end(
        days_view,
        {
            "store_id": book.store_id,
            "day": book.day,
            "capacity_override": book.capacity_override,
            "booked": view.booked,
            "walk_ins": view.walk_ins,
            "arrived": view.arrived,
            "waiting": view.waiting,
            "in_service": view.in_service,
            "completed": view.completed,
            "abandoned": view.abandoned,
            "no_shows": view.no_shows,
            "live_holds": view.live_holds,
            "labour_hours": completed_hours,
            "estimated_wait_minutes": view.estimated_wait_minutes,
            "wait_threshold_exceeded": view.wait_threshold_exceeded,
            "updated_at": at,
        },
        ["store_id", "day"],
    )


def hours_column(weekday: Weekday) -> Any:
    return stores_view.c[f"open_hours_{weekday.name.lower()[:3]}"]


def _hours(week: tuple[OpeningHours, ...], weekday: Weekday) -> float:
    hours = hours_on(week, weekday)
    return 0.0 if hours is None else hours.hours


def _week(raw: list[list[int]]) -> tuple[OpeningHours, ...]:
    return tuple(
        OpeningHours(weekday=Weekday(w), opens_minute=opens, closes_minute=closes)
        for w, opens, closes in raw
    )


def facts_of(row: Any) -> StoreFacts:
    """The facts of a store as its directory row holds them."""
    return StoreFacts(
        store_id=row.store_id,
        open=not row.closed,
        bays=row.bays,
        opening_hours=_week(row.opening_hours),
        availability_factor=row.availability_factor,
        default_daily_capacity=row.default_daily_capacity,
        wait_threshold_minutes=row.wait_threshold_minutes,
        time_zone=row.time_zone,
    )


_FACTS = select(
    stores_view.c.store_id,
    stores_view.c.closed,
    stores_view.c.bays,
    stores_view.c.opening_hours,
    stores_view.c.availability_factor,
    stores_view.c.default_daily_capacity,
    stores_view.c.wait_threshold_minutes,
    stores_view.c.time_zone,
).where(stores_view.c.store_id == bindparam("store_id"))


async def store_facts(conn: AsyncConnection, store_id: str) -> StoreFacts | None:
    """A store's facts as its directory row holds them (None: never registered).

    The row is projected from the store's events in their own transaction, so it is the
    store stream's state, read in one statement of the few columns a book needs.
    """
    row = (await conn.execute(_FACTS, {"store_id": store_id})).first()
    return None if row is None else facts_of(row)
