"""The reads over capacity's read model (tables.py): stores, their locations, the
network's day and the walk-in history the forecast learns from."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Select,
    and_,
    bindparam,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.codec import from_json
from services.capacity.domain.book_state import BookState
from services.capacity.domain.forecast import DayWalkIns
from services.capacity.domain.opening_hours import Weekday
from services.capacity.domain.proximity import StoreLocation
from services.capacity.domain.stores import (
    StoreFacts,
    StoreProfile,
    StoreState,
)
from services.capacity.domain.utilisation import (
    StoreDay,
    bay_utilisation,
    status_colour,
    utilisation,
)
from services.capacity.read_model.tables import (
    days_view,
    hours_column,
    stores_view,
)


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
            hours_column(weekday),
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


async def days_booked(conn: AsyncConnection, store_id: str, since: date) -> list[date]:
    """The store's days from `since` on whose book holds appointments still standing."""
    d = days_view.c
    rows = await conn.execute(
        select(d.day)
        .where(and_(d.store_id == store_id, d.day >= since, d.booked > 0))
        .order_by(d.day)
    )
    return [row.day for row in rows]
