"""A technician as its events leave it: profile, availability, planned leave and supports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum
from typing import assert_never

from services.workforce.domain.availability import TimeWindow
from services.workforce.domain.capability import Certification, Level, TechnicianStatus
from services.workforce.domain.events import (
    AvailabilityPublished,
    AvailabilityWithdrawn,
    CertificationRecorded,
    LeaveCancelled,
    LeaveScheduled,
    ProductiveHoursLogged,
    ShiftPlanned,
    SpecialtyAdded,
    SpecialtyRemoved,
    SupportCancelled,
    SupportCheckedIn,
    SupportCompleted,
    SupportConfirmed,
    SupportHeld,
    SupportHoldExpired,
    SupportRated,
    TechnicianEvent,
    TechnicianLeft,
    TechnicianLevelChanged,
    TechnicianRegistered,
    TechnicianStatusChanged,
    TechnicianTransferred,
)


class SupportStatus(IntEnum):
    HELD = 1
    CONFIRMED = 2
    CHECKED_IN = 3
    COMPLETED = 4
    CANCELLED = 5
    EXPIRED = 6


@dataclass(frozen=True)
class Support:
    """One support assignment of this technician at another store (SOP 2)."""

    support_id: str
    home_store_id: str
    host_store_id: str
    specialty: str
    minimum_level: Level
    window: TimeWindow
    hold_expires_at: datetime
    urgent: bool
    status: SupportStatus = SupportStatus.HELD
    checked_in_at: datetime | None = None
    hours_worked: float | None = None
    fault_solved: bool | None = None
    rated_by: tuple[str, ...] = ()

    def hold_lapsed(self, at: datetime) -> bool:
        """A hold is void from its expiry on, even before the timer records it."""
        return self.status is SupportStatus.HELD and at >= self.hold_expires_at

    def books_technician(self, at: datetime) -> bool:
        """Whether this support still claims the technician's time at business time `at`."""
        if self.status is SupportStatus.HELD:
            return not self.hold_lapsed(at)
        return self.status in (SupportStatus.CONFIRMED, SupportStatus.CHECKED_IN)


@dataclass(frozen=True)
class PublishedWindow:
    window_id: str
    window: TimeWindow


@dataclass(frozen=True)
class Leave:
    leave_id: str
    window: TimeWindow


@dataclass(frozen=True)
class TechnicianState:
    technician_id: str
    store_id: str
    name: str
    level: Level
    specialties: frozenset[str]
    certifications: tuple[Certification, ...]
    status: TechnicianStatus = TechnicianStatus.ON_DUTY
    availability: tuple[PublishedWindow, ...] = ()
    leaves: tuple[Leave, ...] = ()
    supports: tuple[Support, ...] = ()

    @property
    def subject(self) -> str:
        """What a refused rule is about, in RuleViolated.subject."""
        return f"technicians/{self.technician_id}"

    @property
    def has_left(self) -> bool:
        return self.status is TechnicianStatus.LEFT

    def support(self, support_id: str) -> Support | None:
        return next((s for s in self.supports if s.support_id == support_id), None)

    def published_window(self, window_id: str) -> PublishedWindow | None:
        return next((w for w in self.availability if w.window_id == window_id), None)

    def leave(self, leave_id: str) -> Leave | None:
        return next((leave for leave in self.leaves if leave.leave_id == leave_id), None)

    def leave_during(self, window: TimeWindow) -> Leave | None:
        return next((leave for leave in self.leaves if leave.window.overlaps(window)), None)

    def supports_booking(self, at: datetime) -> tuple[Support, ...]:
        return tuple(s for s in self.supports if s.books_technician(at))


def _support_changed(
    state: TechnicianState, support_id: str, change: Callable[[Support], Support]
) -> TechnicianState:
    supports = tuple(change(s) if s.support_id == support_id else s for s in state.supports)
    return replace(state, supports=supports)


def evolve(state: TechnicianState | None, event: TechnicianEvent) -> TechnicianState | None:
    if isinstance(event, TechnicianRegistered):
        return TechnicianState(
            technician_id=event.technician_id,
            store_id=event.store_id,
            name=event.name,
            level=event.level,
            specialties=frozenset(event.specialties),
            certifications=event.certifications,
        )
    if state is None:
        raise ValueError(f"{type(event).__name__} before TechnicianRegistered")
    return _evolve_registered(state, event)


def _evolve_registered(state: TechnicianState, event: TechnicianEvent) -> TechnicianState:
    match event:
        case TechnicianRegistered():
            raise ValueError("a technician is registered once")
        case TechnicianLevelChanged(level=level):
            return replace(state, level=level)
        case SpecialtyAdded(specialty=specialty):
            return replace(state, specialties=state.specialties | {specialty})
        case SpecialtyRemoved(specialty=specialty):
            return replace(state, specialties=state.specialties - {specialty})
        case CertificationRecorded(certification=certification):
            return replace(state, certifications=(*state.certifications, certification))
        case TechnicianTransferred(store_id=store_id):
            return replace(state, store_id=store_id)
        case TechnicianStatusChanged(status=status):
            return replace(state, status=status)
        case TechnicianLeft():
            return replace(state, status=TechnicianStatus.LEFT)
        case LeaveScheduled(leave_id=leave_id, starts_at=starts_at, ends_at=ends_at):
            leave = Leave(leave_id, TimeWindow(starts_at, ends_at))
            return replace(state, leaves=(*state.leaves, leave))
        case LeaveCancelled(leave_id=leave_id):
            return replace(state, leaves=tuple(x for x in state.leaves if x.leave_id != leave_id))
        case ShiftPlanned() | ProductiveHoursLogged():
            return state
        case AvailabilityPublished(window_id=window_id, starts_at=starts_at, ends_at=ends_at):
            published = PublishedWindow(window_id, TimeWindow(starts_at, ends_at))
            return replace(state, availability=(*state.availability, published))
        case AvailabilityWithdrawn(window_id=window_id):
            kept = tuple(w for w in state.availability if w.window_id != window_id)
            return replace(state, availability=kept)
        case SupportHeld():
            support = Support(
                support_id=event.support_id,
                home_store_id=event.store_id,
                host_store_id=event.host_store_id,
                specialty=event.specialty,
                minimum_level=event.minimum_level,
                window=TimeWindow(event.starts_at, event.ends_at),
                hold_expires_at=event.hold_expires_at,
                urgent=event.urgent,
            )
            return replace(state, supports=(*state.supports, support))
        case SupportConfirmed(support_id=support_id):
            return _support_changed(
                state, support_id, lambda s: replace(s, status=SupportStatus.CONFIRMED)
            )
        case SupportCheckedIn(support_id=support_id, occurred_at=occurred_at):
            return _support_changed(
                state,
                support_id,
                lambda s: replace(s, status=SupportStatus.CHECKED_IN, checked_in_at=occurred_at),
            )
        case SupportCompleted(support_id=support_id, hours_worked=hours, fault_solved=solved):
            return _support_changed(
                state,
                support_id,
                lambda s: replace(
                    s, status=SupportStatus.COMPLETED, hours_worked=hours, fault_solved=solved
                ),
            )
        case SupportCancelled(support_id=support_id):
            return _support_changed(
                state, support_id, lambda s: replace(s, status=SupportStatus.CANCELLED)
            )
        case SupportHoldExpired(support_id=support_id):
            return _support_changed(
                state, support_id, lambda s: replace(s, status=SupportStatus.EXPIRED)
            )
        case SupportRated(support_id=support_id, rated_by_store_id=rater):
            return _support_changed(
                state, support_id, lambda s: replace(s, rated_by=(*s.rated_by, rater))
            )
        case _:
            assert_never(event)
