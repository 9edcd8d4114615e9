"""Workforce read models, kept in the same transaction as the events that change them.

The capability map (one row per technician), merged availability spans, planned leave and
supports are shaped so that "free to be lent in [start, end)" is one indexed SQL filter;
each technician row also keeps its current state (what ended is pruned) so that the match
query can hand candidates to the domain's own ranking without replaying streams.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    Text,
    and_,
    delete,
    update,
)

from kernel.application import UnitOfWork
from kernel.codec import to_json
from kernel.db import Migration, UtcDateTime, upsert
from kernel.eventstore import RecordedEvent
from services.workforce.domain.availability import merged
from services.workforce.domain.capability import Certification, Level, TechnicianStatus
from services.workforce.domain.events import (
    AvailabilityPublished,
    AvailabilityWithdrawn,
    LeaveCancelled,
    LeaveScheduled,
    ProductiveHoursLogged,
    ShiftPlanned,
    SpecialtyAdded,
    SpecialtyRemoved,
    SupportCancelled,
    SupportCompleted,
    SupportEvent,
    SupportRated,
    TechnicianRegistered,
)
from services.workforce.domain.state import (
    Leave,
    PublishedWindow,
    Support,
    SupportStatus,
    TechnicianState,
)
from services.workforce.domain.subsidy import Subsidy

metadata = MetaData()

technicians = Table(
    "workforce_technicians",
    metadata,
    Column("technician_id", String(128), primary_key=True),
    Column("store_id", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("level", Integer, nullable=False),
    Column("status", Integer, nullable=False),
    Column("state", JSON, nullable=False),
    Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_workforce_technicians_store", "store_id", "technician_id"),
)

specialties = Table(
    "workforce_specialties",
    metadata,
    Column("technician_id", String(128), primary_key=True),
    Column("specialty", String(40), primary_key=True),
    Index("ix_workforce_specialties_lookup", "specialty", "technician_id"),
)

# Published availability joined where windows touch: "covers [start, end)" is then one
# span with starts_at <= start and ends_at >= end.
availability = Table(
    "workforce_availability",
    metadata,
    Column("technician_id", String(128), primary_key=True),
    Column("starts_at", UtcDateTime(timezone=True), primary_key=True),
    Column("ends_at", UtcDateTime(timezone=True), nullable=False),
    Index("ix_workforce_availability_ends", "ends_at", "starts_at"),
)

leaves = Table(
    "workforce_leaves",
    metadata,
    Column("technician_id", String(128), primary_key=True),
    Column("leave_id", String(128), primary_key=True),
    Column("starts_at", UtcDateTime(timezone=True), nullable=False),
    Column("ends_at", UtcDateTime(timezone=True), nullable=False),
)

supports = Table(
    "workforce_supports",
    metadata,
    Column("technician_id", String(128), primary_key=True),
    Column("support_id", String(128), primary_key=True),
    Column("home_store_id", String(32), nullable=False),
    Column("host_store_id", String(32), nullable=False),
    Column("specialty", String(40), nullable=False),
    Column("minimum_level", Integer, nullable=False),
    Column("starts_at", UtcDateTime(timezone=True), nullable=False),
    Column("ends_at", UtcDateTime(timezone=True), nullable=False),
    Column("hold_expires_at", UtcDateTime(timezone=True), nullable=False),
    Column("urgent", Boolean, nullable=False),
    Column("status", Integer, nullable=False),
    Column("checked_in_at", UtcDateTime(timezone=True), nullable=True),
    Column("completed_at", UtcDateTime(timezone=True), nullable=True),
    Column("hours_worked", Float, nullable=True),
    Column("fault_solved", Boolean, nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("rated_by", JSON, nullable=False),
    Index("ix_workforce_supports_technician", "technician_id", "starts_at"),
    Index("ix_workforce_supports_host", "host_store_id", "starts_at"),
)

ratings = Table(
    "workforce_support_ratings",
    metadata,
    Column("technician_id", String(128), primary_key=True),
    Column("support_id", String(128), primary_key=True),
    Column("rated_by_store_id", String(32), primary_key=True),
    Column("host_store_id", String(32), nullable=False),
    Column("rating", Integer, nullable=False),
    Column("comment", Text, nullable=False),
    Column("rated_at", UtcDateTime(timezone=True), nullable=False),
)

# Planned (available) and productive hours per technician and day; store_id is the home
# store of the latest fact of that day.
work_days = Table(
    "workforce_work_days",
    metadata,
    Column("technician_id", String(128), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("store_id", String(32), nullable=False),
    Column("available_hours", Float, nullable=False),
    Column("productive_hours", Float, nullable=False),
    Index("ix_workforce_work_days_store", "store_id", "day"),
)


def _create(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS = (Migration(1, "workforce read models", _create),)


@dataclass(frozen=True)
class SupportView:
    support_id: str
    technician_id: str
    home_store_id: str
    host_store_id: str
    specialty: str
    minimum_level: Level
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime
    urgent: bool
    status: SupportStatus
    checked_in_at: datetime | None
    hours_worked: float | None
    fault_solved: bool | None
    rated_by: tuple[str, ...]
    distance_km: float | None = None
    subsidy: Subsidy | None = None

    @classmethod
    def of(cls, technician_id: str, s: Support) -> SupportView:
        return cls(
            support_id=s.support_id,
            technician_id=technician_id,
            home_store_id=s.home_store_id,
            host_store_id=s.host_store_id,
            specialty=s.specialty,
            minimum_level=s.minimum_level,
            starts_at=s.window.starts_at,
            ends_at=s.window.ends_at,
            hold_expires_at=s.hold_expires_at,
            urgent=s.urgent,
            status=s.status,
            checked_in_at=s.checked_in_at,
            hours_worked=s.hours_worked,
            fault_solved=s.fault_solved,
            rated_by=s.rated_by,
        )


@dataclass(frozen=True)
class TechnicianView:
    """A capability-map row with what is ahead: open windows, leave and bookings."""

    technician_id: str
    store_id: str
    region: str
    name: str
    level: Level
    specialties: tuple[str, ...]
    certifications: tuple[Certification, ...]
    status: TechnicianStatus
    availability: tuple[PublishedWindow, ...]
    leaves: tuple[Leave, ...]
    bookings: tuple[SupportView, ...]

    @classmethod
    def of(cls, state: TechnicianState, region: str, now: datetime) -> TechnicianView:
        current = current_part(state, now)
        return cls(
            technician_id=current.technician_id,
            store_id=current.store_id,
            region=region,
            name=current.name,
            level=current.level,
            specialties=tuple(sorted(current.specialties)),
            certifications=current.certifications,
            status=current.status,
            availability=tuple(sorted(current.availability, key=lambda w: w.window.starts_at)),
            leaves=current.leaves,
            bookings=tuple(
                SupportView.of(current.technician_id, s) for s in current.supports_booking(now)
            ),
        )


def current_part(state: TechnicianState, now: datetime) -> TechnicianState:
    """The state as it matters from `now` on: what has ended or stopped booking is dropped.

    Every rule about a window after `now` (refusal_to_hold) answers the same on it.
    """
    return replace(
        state,
        availability=tuple(w for w in state.availability if w.window.ends_at > now),
        leaves=tuple(x for x in state.leaves if x.window.ends_at > now),
        supports=tuple(
            s
            for s in state.supports
            if s.status in (SupportStatus.HELD, SupportStatus.CONFIRMED, SupportStatus.CHECKED_IN)
        ),
    )


async def project(uow: UnitOfWork, event: Any, recorded: RecordedEvent, state: Any) -> None:
    if not isinstance(state, TechnicianState):
        return
    conn = uow.conn
    tid = state.technician_id
    await upsert(
        conn,
        technicians,
        {
            "technician_id": tid,
            "store_id": state.store_id,
            "name": state.name,
            "level": int(state.level),
            "status": int(state.status),
            "state": to_json(current_part(state, recorded.recorded_at)),
            "updated_at": recorded.recorded_at,
        },
        ["technician_id"],
    )
    if isinstance(event, TechnicianRegistered | SpecialtyAdded | SpecialtyRemoved):
        await conn.execute(delete(specialties).where(specialties.c.technician_id == tid))
        if state.specialties:
            await conn.execute(
                specialties.insert(),
                [{"technician_id": tid, "specialty": s} for s in sorted(state.specialties)],
            )
    elif isinstance(event, AvailabilityPublished | AvailabilityWithdrawn):
        await conn.execute(delete(availability).where(availability.c.technician_id == tid))
        spans = merged(w.window for w in state.availability)
        if spans:
            await conn.execute(
                availability.insert(),
                [
                    {"technician_id": tid, "starts_at": s.starts_at, "ends_at": s.ends_at}
                    for s in spans
                ],
            )
    elif isinstance(event, LeaveScheduled):
        await upsert(
            conn,
            leaves,
            {
                "technician_id": tid,
                "leave_id": event.leave_id,
                "starts_at": event.starts_at,
                "ends_at": event.ends_at,
            },
            ["technician_id", "leave_id"],
        )
    elif isinstance(event, LeaveCancelled):
        await conn.execute(
            delete(leaves).where(
                and_(leaves.c.technician_id == tid, leaves.c.leave_id == event.leave_id)
            )
        )
    elif isinstance(event, ShiftPlanned):
        await _work_day(uow, tid, event.day, event.store_id, event.available_hours, 0.0)
    elif isinstance(event, ProductiveHoursLogged):
        await _work_day(uow, tid, event.day, event.store_id, None, event.hours)
    elif isinstance(event, SupportEvent):
        await _project_support(uow, event, state)


async def _project_support(uow: UnitOfWork, event: SupportEvent, state: TechnicianState) -> None:
    support = state.support(event.support_id)
    if support is None:
        return
    tid = state.technician_id
    values: dict[str, Any] = {
        "technician_id": tid,
        "support_id": support.support_id,
        "home_store_id": support.home_store_id,
        "host_store_id": support.host_store_id,
        "specialty": support.specialty,
        "minimum_level": int(support.minimum_level),
        "starts_at": support.window.starts_at,
        "ends_at": support.window.ends_at,
        "hold_expires_at": support.hold_expires_at,
        "urgent": support.urgent,
        "status": int(support.status),
        "checked_in_at": support.checked_in_at,
        "hours_worked": support.hours_worked,
        "fault_solved": support.fault_solved,
        "rated_by": list(support.rated_by),
    }
    await upsert(uow.conn, supports, values, ["technician_id", "support_id"])
    key = and_(supports.c.technician_id == tid, supports.c.support_id == support.support_id)
    if isinstance(event, SupportCompleted):
        await uow.conn.execute(update(supports).where(key).values(completed_at=event.occurred_at))
    elif isinstance(event, SupportCancelled):
        await uow.conn.execute(update(supports).where(key).values(cancel_reason=event.reason))
    elif isinstance(event, SupportRated):
        await upsert(
            uow.conn,
            ratings,
            {
                "technician_id": tid,
                "support_id": event.support_id,
                "rated_by_store_id": event.rated_by_store_id,
                "host_store_id": event.host_store_id,
                "rating": event.rating,
                "comment": event.comment,
                "rated_at": event.occurred_at,
            },
            ["technician_id", "support_id", "rated_by_store_id"],
        )


async def _work_day(
    uow: UnitOfWork,
    technician_id: str,
    day: date,
    store_id: str,
    available_hours: float | None,
    productive_hours: float,
) -> None:
    """A planned shift replaces the day's available hours; productive hours add up."""
    values = {
        "technician_id": technician_id,
        "day": day,
        "store_id": store_id,
        "available_hours": available_hours or 0.0,
        "productive_hours": productive_hours,
    }
    increment = ["productive_hours"]
    if available_hours is None:
        increment.append("available_hours")  # adding 0 keeps the planned hours
    await upsert(uow.conn, work_days, values, ["technician_id", "day"], increment=increment)
