"""Workforce queries on the read models: the capability map, match candidates, history, hours."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.codec import from_json
from kernel.db_reads import Reader, ReadQuery, reader_of
from kernel.store_directory import store_directory, store_status
from services.workforce.domain.availability import TimeWindow
from services.workforce.domain.capability import Level, TechnicianStatus
from services.workforce.domain.matching import FreeCandidate, StoreLocation
from services.workforce.domain.state import SupportStatus, TechnicianState
from services.workforce.read_model.tables import (
    SupportView,
    availability,
    leaves,
    ratings,
    specialties,
    supports,
    technicians,
    work_days,
)

# Supports that count as "lent" for fairness: agreed, under way or done.
LENT = (int(SupportStatus.CONFIRMED), int(SupportStatus.CHECKED_IN), int(SupportStatus.COMPLETED))
_BOOKED = (int(SupportStatus.CONFIRMED), int(SupportStatus.CHECKED_IN))


def _constants(values: Iterable[int]) -> list[ColumnElement[Any]]:
    """Status codes written into the SQL (`IN (2, 3)`), not expanded bind parameters: a
    `ReadQuery` is compiled once and cannot expand IN lists."""
    return [literal_column(str(int(v))) for v in values]


@dataclass(frozen=True)
class MapFilter:
    """The capability map's filters; empty ones do not narrow."""

    store_id: str = ""
    region: str = ""
    specialty: str = ""
    minimum_level: Level | None = None
    status: TechnicianStatus | None = None
    free_in: TimeWindow | None = None


def free_in(window: TimeWindow, now: datetime) -> list[ColumnElement[bool]]:
    """Free to be lent for all of `window`: what `refusal_for_window` checks, in SQL."""
    return _free_between(window.starts_at, window.ends_at, now)


def _free_between(starts_at: Any, ends_at: Any, now: Any) -> list[ColumnElement[bool]]:
    """free_in over values or bind parameters (for a statement built once)."""
    t, a, lv, s = technicians.c, availability.c, leaves.c, supports.c
    covered = exists().where(
        a.technician_id == t.technician_id,
        a.starts_at <= starts_at,
        a.ends_at >= ends_at,
    )
    on_leave = exists().where(
        lv.technician_id == t.technician_id,
        lv.starts_at < ends_at,
        lv.ends_at > starts_at,
    )
    booked = exists().where(
        s.technician_id == t.technician_id,
        s.starts_at < ends_at,
        s.ends_at > starts_at,
        or_(
            s.status.in_(_constants(_BOOKED)),
            and_(s.status == int(SupportStatus.HELD), s.hold_expires_at > now),
        ),
    )
    return [t.status != int(TechnicianStatus.LEFT), covered, ~on_leave, ~booked]


def _with_specialty(specialty: Any) -> ColumnElement[bool]:
    sp = specialties.c
    return exists().where(
        sp.technician_id == technicians.c.technician_id, sp.specialty == specialty
    )


async def technician_state(
    conn: AsyncConnection, technician_id: str
) -> tuple[TechnicianState, str] | None:
    """The technician's current state and home region, or None if never registered."""
    t, d = technicians.c, store_directory.c
    row = (
        await conn.execute(
            select(t.state, d.region)
            .select_from(technicians.outerjoin(store_directory, d.store_id == t.store_id))
            .where(t.technician_id == technician_id)
        )
    ).first()
    if row is None:
        return None
    return from_json(row.state, TechnicianState), row.region or ""


async def host_of(conn: AsyncConnection, technician_id: str, support_id: str) -> str | None:
    """The store a support of the technician is for, whatever its status; None if unknown."""
    s = supports.c
    found = await conn.scalar(
        select(s.host_store_id).where(s.technician_id == technician_id, s.support_id == support_id)
    )
    return None if found is None else str(found)


async def capability_map(
    conn: AsyncConnection, f: MapFilter, now: datetime, after: str | None, limit: int
) -> list[tuple[TechnicianState, str]]:
    """Technicians matching every filter, by technician id, with their home region."""
    t, d = technicians.c, store_directory.c
    query = select(t.state, d.region).select_from(
        technicians.outerjoin(store_directory, d.store_id == t.store_id)
    )
    if f.store_id:
        query = query.where(t.store_id == f.store_id)
    if f.region:
        query = query.where(d.region == f.region)
    if f.specialty:
        query = query.where(_with_specialty(f.specialty))
    if f.minimum_level is not None:
        query = query.where(t.level >= int(f.minimum_level))
    if f.status is not None:
        query = query.where(t.status == int(f.status))
    if f.free_in is not None:
        query = query.where(*free_in(f.free_in, now))
    if after is not None:
        query = query.where(t.technician_id > after)
    query = query.order_by(t.technician_id).limit(limit)
    return [
        (from_json(row.state, TechnicianState), row.region or "")
        for row in await conn.execute(query)
    ]


@functools.cache
def _match_query() -> ReadQuery:
    """The candidate statement, built once with bind parameters: building and keying a
    statement of five subqueries per call cost more CPU than PostgreSQL spent on it. It
    also brings the requesting store's location (an init plan, run once), which spares
    a round trip."""
    t, d, s = technicians.c, store_directory.c, supports.c
    lent = (
        select(func.count())
        .where(
            s.technician_id == t.technician_id,
            s.status.in_(_constants(LENT)),
            s.starts_at >= bindparam("lent_since"),
        )
        .scalar_subquery()
        .label("lent")
    )
    host = store_directory.alias("host")
    at_host = host.c.store_id == bindparam("requesting_store_id")
    return ReadQuery(
        select(
            t.technician_id,
            t.store_id,
            t.name,
            t.level,
            d.latitude,
            d.longitude,
            lent,
            select(host.c.latitude).where(at_host).scalar_subquery().label("host_latitude"),
            select(host.c.longitude).where(at_host).scalar_subquery().label("host_longitude"),
        )
        .select_from(technicians.outerjoin(store_directory, d.store_id == t.store_id))
        .where(
            _with_specialty(bindparam("specialty")),
            t.level >= bindparam("minimum_level"),
            t.store_id != bindparam("requesting_store_id"),
            # A closed store takes part in nothing: its technicians are no lenders.
            or_(d.closed.is_(None), d.closed.is_(False)),
            *_free_between(bindparam("starts_at"), bindparam("ends_at"), bindparam("now")),
        )
    )


@dataclass(frozen=True)
class MatchCandidates:
    """The free technicians, and where the requesting store is when the store directory
    knows it and anyone was found (None otherwise: ask `requesting_store`)."""

    candidates: list[FreeCandidate]
    requesting_store: StoreLocation | None


async def match_candidates(
    source: Reader | AsyncConnection,
    *,
    specialty: str,
    minimum_level: Level,
    window: TimeWindow,
    requesting_store_id: str,
    now: datetime,
    lent_since: datetime,
) -> MatchCandidates:
    """Technicians outside the requesting store (and outside closed stores) who could be
    held for the need, each with the location of their home store and the supports they
    were lent since `lent_since`.

    The filter is `refusal_to_hold` in SQL (level, specialty, home store, departure, leave,
    availability, bookings), so one indexed query finds them among 20,000 technicians
    without rebuilding anyone's state.
    """
    reader = reader_of(source)
    rows = await reader.rows(
        _match_query(),
        {
            "specialty": specialty,
            "minimum_level": int(minimum_level),
            "requesting_store_id": requesting_store_id,
            "starts_at": window.starts_at,
            "ends_at": window.ends_at,
            "now": now,
            "lent_since": lent_since,
        },
    )
    return MatchCandidates(
        [
            FreeCandidate(
                technician_id=technician_id,
                store_id=store_id,
                name=name,
                level=Level(level),
                home_store=_location(latitude, longitude),
                recent_supports=int(lent),
            )
            for technician_id, store_id, name, level, latitude, longitude, lent, _, _ in rows
        ],
        _location(rows[0][7], rows[0][8]) if rows else None,
    )


async def requesting_store(
    conn: AsyncConnection, store_id: str
) -> tuple[bool, StoreLocation | None]:
    """(known, location) of a store asking for support, as the store directory has it."""
    d = store_directory.c
    row = (
        await conn.execute(select(d.latitude, d.longitude).where(d.store_id == store_id))
    ).first()
    if row is not None:
        return True, _location(row.latitude, row.longitude)
    known, _ = await store_status(conn, store_id)
    return known, None


def _location(latitude: float | None, longitude: float | None) -> StoreLocation | None:
    if latitude is None or longitude is None:
        return None
    return StoreLocation(latitude, longitude)


async def store_locations(
    conn: AsyncConnection, store_ids: Iterable[str]
) -> dict[str, StoreLocation]:
    """Locations the store directory knows, by store id; unknown stores are left out."""
    d = store_directory.c
    wanted = sorted(set(store_ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(d.store_id, d.latitude, d.longitude).where(
            d.store_id.in_(wanted), d.latitude.is_not(None), d.longitude.is_not(None)
        )
    )
    return {row.store_id: StoreLocation(row.latitude, row.longitude) for row in rows}


async def region_of(conn: AsyncConnection, store_id: str) -> str:
    d = store_directory.c
    return str(await conn.scalar(select(d.region).where(d.store_id == store_id)) or "")


@dataclass(frozen=True)
class RatingView:
    rated_by_store_id: str
    rating: int
    comment: str
    rated_at: datetime


@dataclass(frozen=True)
class SupportRecordView:
    support: SupportView
    ratings: tuple[RatingView, ...]
    completed_at: datetime | None
    cancel_reason: str


@dataclass(frozen=True)
class HistoryTotals:
    supports_given: int
    hours_worked: float
    faults_solved: int
    ratings_received: int
    average_rating: float | None


async def history_totals(conn: AsyncConnection, technician_id: str) -> HistoryTotals:
    s, r = supports.c, ratings.c
    given, hours, solved = (
        await conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(s.hours_worked), 0.0),
                func.coalesce(func.sum(case((s.fault_solved.is_(True), 1), else_=0)), 0),
            ).where(s.technician_id == technician_id, s.status == int(SupportStatus.COMPLETED))
        )
    ).one()
    received, average = (
        await conn.execute(
            select(func.count(), func.avg(r.rating)).where(
                r.technician_id == technician_id, r.rated_by_store_id == r.host_store_id
            )
        )
    ).one()
    return HistoryTotals(
        supports_given=int(given),
        hours_worked=float(hours),
        faults_solved=int(solved),
        ratings_received=int(received),
        average_rating=None if average is None else float(average),
    )


async def support_records(
    conn: AsyncConnection,
    technician_id: str,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[SupportRecordView]:
    """The technician's supports, newest start first."""
    s = supports.c
    query = select(supports).where(s.technician_id == technician_id)
    if after is not None:
        starts_at, support_id = after
        query = query.where(
            or_(
                s.starts_at < starts_at,
                and_(s.starts_at == starts_at, s.support_id > support_id),
            )
        )
    query = query.order_by(s.starts_at.desc(), s.support_id).limit(limit)
    rows = (await conn.execute(query)).all()
    given = await _ratings_of(conn, technician_id, [row.support_id for row in rows])
    return [
        SupportRecordView(
            support=SupportView(
                support_id=row.support_id,
                technician_id=row.technician_id,
                home_store_id=row.home_store_id,
                host_store_id=row.host_store_id,
                specialty=row.specialty,
                minimum_level=Level(row.minimum_level),
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                hold_expires_at=row.hold_expires_at,
                urgent=row.urgent,
                status=SupportStatus(row.status),
                checked_in_at=row.checked_in_at,
                hours_worked=row.hours_worked,
                fault_solved=row.fault_solved,
                rated_by=tuple(row.rated_by),
            ),
            ratings=given.get(row.support_id, ()),
            completed_at=row.completed_at,
            cancel_reason=row.cancel_reason or "",
        )
        for row in rows
    ]


async def _ratings_of(
    conn: AsyncConnection, technician_id: str, support_ids: list[str]
) -> dict[str, tuple[RatingView, ...]]:
    if not support_ids:
        return {}
    r = ratings.c
    found: dict[str, list[RatingView]] = {}
    rows = await conn.execute(
        select(ratings)
        .where(r.technician_id == technician_id, r.support_id.in_(support_ids))
        .order_by(r.rated_at, r.rated_by_store_id)
    )
    for row in rows:
        found.setdefault(row.support_id, []).append(
            RatingView(row.rated_by_store_id, row.rating, row.comment, row.rated_at)
        )
    return {k: tuple(v) for k, v in found.items()}


async def hours_between(
    conn: AsyncConnection, *, technician_id: str, store_id: str, first: date, last: date
) -> tuple[float, float]:
    """(productive, available) hours of a technician or a store over first..last."""
    w = work_days.c
    query = select(
        func.coalesce(func.sum(w.productive_hours), 0.0),
        func.coalesce(func.sum(w.available_hours), 0.0),
    ).where(w.day >= first, w.day <= last)
    query = query.where(
        w.technician_id == technician_id if technician_id else w.store_id == store_id
    )
    productive, available = (await conn.execute(query)).one()
    return float(productive), float(available)
