"""Capacity read models, kept in the same transaction as the events that change them.

- `capacity_stores`: the store directory (profile, location, the facts a day view needs);
- `capacity_days`: one row per store and day with the counts of its appointment book, so
  the whole network's capacity monitor is one query. Capacity, utilisation and colour are
  worked out when read, from the row's override or the store's current default, so a
  changed default shows at once on every day without an override. The row's walk-ins are
  also the history the forecast learns each weekday's walk-in pattern from.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
    Select,
    String,
    Table,
    and_,
    bindparam,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import UnitOfWork
from kernel.codec import from_json, to_json
from kernel.db import Migration, UtcDateTime, upsert
from kernel.eventstore import RecordedEvent
from services.capacity.domain.book_state import BookState, VisitStatus
from services.capacity.domain.forecast import DayWalkIns
from services.capacity.domain.opening_hours import OpeningHours, Weekday, hours_on, local_day
from services.capacity.domain.proximity import StoreLocation
from services.capacity.domain.stores import (
    StoreFacts,
    StoreProfile,
    StoreRegistered,
    StoreState,
)
from services.capacity.domain.utilisation import (
    StoreDay,
    bay_utilisation,
    day_view,
    status_colour,
    utilisation,
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
        await _project_day(uow.conn, state, recorded.recorded_at)


async def _project_store(conn: AsyncConnection, state: StoreState, event: Any) -> None:
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
        **{_hours_column(w).name: _hours(profile.opening_hours, w) for w in Weekday},
    }
    if isinstance(event, StoreRegistered):
        values["registered_on"] = local_day(event.occurred_at, profile.time_zone)
    await upsert(conn, stores_view, values, ["store_id"])


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


async def _project_day(conn: AsyncConnection, book: BookState, at: datetime) -> None:
    assert book.day is not None
    facts = _deciding_on.get()
    if facts is None or facts.store_id != book.store_id:
        facts = await store_facts(conn, book.store_id)
        assert facts is not None
    view = day_view(facts, book.day, book, at)
    completed_hours = sum(v.labour_hours for v in book.visits_in(VisitStatus.COMPLETED))
    await upsert(
        conn,
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


def _hours_column(weekday: Weekday) -> Any:
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


def _state(row: Any) -> StoreState:
    return StoreState(
        store_id=row.store_id, profile=from_json(row.profile, StoreProfile), closed=row.closed
    )


# Stores


async def get_store(conn: AsyncConnection, store_id: str) -> StoreState | None:
    row = (
        await conn.execute(select(stores_view).where(stores_view.c.store_id == store_id))
    ).first()
    return None if row is None else _state(row)


async def list_stores(
    conn: AsyncConnection, region: str, city: str, open_only: bool, after: str | None, limit: int
) -> list[StoreState]:
    s = stores_view.c
    query = select(stores_view).order_by(s.store_id).limit(limit)
    if region:
        query = query.where(s.region == region)
    if city:
        query = query.where(s.city == city)
    if open_only:
        query = query.where(s.closed.is_(False))
    if after is not None:
        query = query.where(s.store_id > after)
    return [_state(row) for row in await conn.execute(query)]


async def open_profiles(conn: AsyncConnection) -> list[tuple[str, StoreProfile]]:
    """Every open store's profile (peer groups are taken over them)."""
    s = stores_view.c
    query = select(s.store_id, s.profile).where(s.closed.is_(False))
    return [
        (row.store_id, from_json(row.profile, StoreProfile)) for row in await conn.execute(query)
    ]


@dataclass(frozen=True)
class LocatedStore:
    name: str
    location: StoreLocation
    closed: bool


async def locations(
    conn: AsyncConnection, store_ids: list[str] | None = None
) -> list[LocatedStore]:
    """Where stores are: the given ones, or every open store."""
    s = stores_view.c
    query = select(s.store_id, s.name, s.latitude, s.longitude, s.closed)
    query = query.where(s.store_id.in_(store_ids)) if store_ids else query.where(~s.closed)
    return [
        LocatedStore(
            row.name,
            StoreLocation(store_id=row.store_id, latitude=row.latitude, longitude=row.longitude),
            row.closed,
        )
        for row in await conn.execute(query)
    ]


# The capacity monitor


def _day_capacity(override: int | None, default: int, open_hours: float) -> int:
    """The book's rule: the day's override, else the default on open weekdays, else 0."""
    if override is not None:
        return override
    return default if open_hours > 0 else 0


_COUNTS = (
    "booked",
    "walk_ins",
    "arrived",
    "waiting",
    "in_service",
    "completed",
    "abandoned",
    "no_shows",
    "live_holds",
    "labour_hours",
    "estimated_wait_minutes",
)


@functools.cache
def _network_day_query(weekday: Weekday, by_region: bool) -> Select[Any]:
    """The monitor's one statement for a weekday, built once: only its values change."""
    s, d = stores_view.c, days_view.c
    query = (
        select(
            s.store_id,
            s.bays,
            s.default_daily_capacity,
            s.availability_factor,
            _hours_column(weekday),
            d.capacity_override,
            *(func.coalesce(d[name], 0) for name in _COUNTS),
            func.coalesce(d.wait_threshold_exceeded, False),
        )
        .select_from(
            stores_view.outerjoin(
                days_view, and_(d.store_id == s.store_id, d.day == bindparam("day", type_=Date))
            )
        )
        .where(~s.closed)
        .order_by(s.store_id)
    )
    return query.where(s.region == bindparam("region")) if by_region else query


async def network_day(conn: AsyncConnection, day: date, region: str) -> list[StoreDay]:
    """Every open store's day (of a region), by store id: one query for the whole network.

    The ratios and colour come from the domain's policies. A StoreDay per row, not a
    DayView: the network has thousands of stores, and building them was most of the call.
    """
    query = _network_day_query(Weekday.of(day), bool(region))
    rows = (await conn.execute(query, {"day": day, "region": region})).tuples().all()
    views: list[StoreDay] = []
    append = views.append
    for (
        store_id,
        bays,
        default_capacity,
        availability_factor,
        open_hours,
        override,
        booked,
        walk_ins,
        arrived,
        waiting,
        in_service,
        completed,
        abandoned,
        no_shows,
        live_holds,
        labour_hours,
        wait_minutes,
        wait_exceeded,
    ) in rows:
        capacity = _day_capacity(override, default_capacity, open_hours)
        append(
            StoreDay(
                store_id,
                day,
                capacity,
                booked,
                walk_ins,
                arrived,
                waiting,
                in_service,
                completed,
                abandoned,
                no_shows,
                live_holds,
                utilisation(booked, capacity),
                status_colour(booked, capacity),
                bay_utilisation(
                    served_vehicles=completed,
                    hours_per_vehicle=labour_hours / completed if completed else 0.0,
                    bays=bays,
                    open_hours=open_hours,
                    availability_factor=availability_factor,
                ),
                wait_minutes,
                wait_exceeded,
            )
        )
    return views


async def walk_in_history(
    conn: AsyncConnection, store: StoreFacts, since: date, until: date
) -> list[DayWalkIns]:
    """Walk-ins of every day from `since` up to (not including) `until` the store was open
    and registered, zero where nobody walked in."""
    registered_on = await conn.scalar(
        select(stores_view.c.registered_on).where(stores_view.c.store_id == store.store_id)
    )
    d = days_view.c
    rows = {
        row.day: row
        for row in await conn.execute(
            select(d.day, d.walk_ins, d.capacity_override).where(
                and_(d.store_id == store.store_id, d.day >= since, d.day < until)
            )
        )
    }
    history = []
    day = max(since, registered_on or since)
    while day < until:
        row = rows.get(day)
        book = BookState(capacity_override=None if row is None else row.capacity_override)
        if book.capacity(store, day) > 0:
            history.append(DayWalkIns(day=day, walk_ins=0 if row is None else row.walk_ins))
        day += timedelta(days=1)
    return history
