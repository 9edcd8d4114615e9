"""The week, stores and events the workforce domain tests play in, and given / when over
the kernel's scenario helper for the technician aggregate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import cast

from kernel.testing.scenario import Given, Scenario
from services.workforce.domain.availability import PartOfDay, TimeWindow, window_on
from services.workforce.domain.capability import Level
from services.workforce.domain.commands import HoldSupport, TechnicianCommand
from services.workforce.domain.events import (
    AvailabilityPublished,
    SupportCheckedIn,
    SupportCompleted,
    SupportConfirmed,
    SupportHeld,
    TechnicianEvent,
    TechnicianRegistered,
    WorkforceEvent,
)
from services.workforce.domain.state import TechnicianState
from services.workforce.domain.technician import TechnicianDecider, technician

CHINA = timezone(timedelta(hours=8), "CST")
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # Monday 16:00 in China
WEDNESDAY = date(2026, 11, 4)
FRIDAY = date(2026, 11, 6)
FRIDAY_ALL_DAY = window_on(FRIDAY, PartOfDay.ALL_DAY, CHINA)
FRIDAY_MORNING = window_on(FRIDAY, PartOfDay.MORNING, CHINA)
FRIDAY_AFTERNOON = window_on(FRIDAY, PartOfDay.AFTERNOON, CHINA)

TECHNICIAN_ID = "T-100"
HOME = "SZ01"
HOST = "GZ01"


def given(*events: WorkforceEvent) -> TechnicianState | None:
    # A list of mixed events infers as list[WorkforceEvent]; each one is a TechnicianEvent.
    return Scenario(technician).given(*cast(Sequence[TechnicianEvent], events)).state


def when(
    state: TechnicianState | None,
    command: TechnicianCommand,
    decider: TechnicianDecider = technician,
) -> Sequence[TechnicianEvent]:
    """The new events; a refusal is raised."""
    return Given(decider, state).decide(command)


def registered(
    *,
    technician_id: str = TECHNICIAN_ID,
    store_id: str = HOME,
    level: Level = Level.T2,
    specialties: tuple[str, ...] = ("hv_ev", "diagnostics"),
) -> TechnicianRegistered:
    return TechnicianRegistered(
        store_id=store_id,
        technician_id=technician_id,
        occurred_at=NOW - timedelta(days=30),
        name="Li Wei",
        level=level,
        specialties=specialties,
        certifications=(),
    )


def published(
    window: TimeWindow, window_id: str = "W-1", *, technician_id: str = TECHNICIAN_ID
) -> AvailabilityPublished:
    return AvailabilityPublished(
        store_id=HOME,
        technician_id=technician_id,
        occurred_at=NOW - timedelta(days=1),
        window_id=window_id,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
    )


def held(
    window: TimeWindow = FRIDAY_AFTERNOON,
    support_id: str = "S-1",
    *,
    host_store_id: str = HOST,
    hold_expires_at: datetime = NOW + timedelta(hours=24),
    technician_id: str = TECHNICIAN_ID,
) -> SupportHeld:
    return SupportHeld(
        store_id=HOME,
        technician_id=technician_id,
        occurred_at=NOW - timedelta(hours=1),
        support_id=support_id,
        host_store_id=host_store_id,
        specialty="hv_ev",
        minimum_level=Level.T2,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        hold_expires_at=hold_expires_at,
        urgent=False,
    )


def confirmed(support_id: str = "S-1", *, host_store_id: str = HOST) -> SupportConfirmed:
    return SupportConfirmed(
        store_id=HOME,
        technician_id=TECHNICIAN_ID,
        occurred_at=NOW,
        support_id=support_id,
        host_store_id=host_store_id,
    )


def checked_in(at: datetime, support_id: str = "S-1") -> SupportCheckedIn:
    return SupportCheckedIn(
        store_id=HOME,
        technician_id=TECHNICIAN_ID,
        occurred_at=at,
        support_id=support_id,
        host_store_id=HOST,
    )


def completed(at: datetime, support_id: str = "S-1") -> SupportCompleted:
    return SupportCompleted(
        store_id=HOME,
        technician_id=TECHNICIAN_ID,
        occurred_at=at,
        support_id=support_id,
        host_store_id=HOST,
        hours_worked=5.0,
        fault_solved=True,
    )


def hold(
    window: TimeWindow = FRIDAY_AFTERNOON,
    support_id: str = "S-2",
    *,
    at: datetime = NOW,
    host_store_id: str = HOST,
    specialty: str = "hv_ev",
    minimum_level: Level = Level.T2,
    hold_expires_at: datetime | None = None,
    urgent: bool = False,
    requested_at: datetime | None = None,
) -> HoldSupport:
    return HoldSupport(
        technician_id=TECHNICIAN_ID,
        at=at,
        support_id=support_id,
        host_store_id=host_store_id,
        specialty=specialty,
        minimum_level=minimum_level,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        hold_expires_at=hold_expires_at or min(at + timedelta(hours=24), window.starts_at),
        urgent=urgent,
        requested_at=requested_at,
    )
