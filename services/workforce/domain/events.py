"""The facts the workforce service records, one protobuf message each, field by field.

Every event names the store it concerns in `store_id` (the technician's home store; the
store receiving support is `host_store_id`), which makes its subject
`workforce.v1.<store_id>.<EventType>`. Field types map 1:1 to protobuf: datetime is a
Timestamp, date an ISO-8601 string, IntEnum a proto enum with the same numbers, tuple a
repeated field, a nested dataclass a message, `X | None` an optional field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.workforce.domain.capability import Certification, Level, TechnicianStatus


@dataclass(frozen=True, kw_only=True)
class WorkforceEvent:
    store_id: str
    technician_id: str
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class TechnicianRegistered(WorkforceEvent):
    name: str
    level: Level
    specialties: tuple[str, ...]
    certifications: tuple[Certification, ...]


@dataclass(frozen=True, kw_only=True)
class TechnicianLevelChanged(WorkforceEvent):
    level: Level
    previous_level: Level


@dataclass(frozen=True, kw_only=True)
class SpecialtyAdded(WorkforceEvent):
    specialty: str


@dataclass(frozen=True, kw_only=True)
class SpecialtyRemoved(WorkforceEvent):
    specialty: str


@dataclass(frozen=True, kw_only=True)
class CertificationRecorded(WorkforceEvent):
    certification: Certification


@dataclass(frozen=True, kw_only=True)
class TechnicianTransferred(WorkforceEvent):
    """`store_id` is the new home store, so the store gaining the technician hears of it."""

    from_store_id: str


@dataclass(frozen=True, kw_only=True)
class TechnicianStatusChanged(WorkforceEvent):
    status: TechnicianStatus
    previous_status: TechnicianStatus


@dataclass(frozen=True, kw_only=True)
class TechnicianLeft(WorkforceEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class LeaveScheduled(WorkforceEvent):
    """Planned leave; `conflicting_support_ids` are supports it clashes with, for collab."""

    leave_id: str
    starts_at: datetime
    ends_at: datetime
    conflicting_support_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class LeaveCancelled(WorkforceEvent):
    leave_id: str


@dataclass(frozen=True, kw_only=True)
class ShiftPlanned(WorkforceEvent):
    """The hours a technician is planned to work on a day; a later plan replaces it."""

    day: date
    available_hours: float


@dataclass(frozen=True, kw_only=True)
class ProductiveHoursLogged(WorkforceEvent):
    job_id: str
    day: date
    hours: float


@dataclass(frozen=True, kw_only=True)
class AvailabilityPublished(WorkforceEvent):
    window_id: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, kw_only=True)
class AvailabilityWithdrawn(WorkforceEvent):
    window_id: str


@dataclass(frozen=True, kw_only=True)
class SupportEvent(WorkforceEvent):
    support_id: str
    host_store_id: str


@dataclass(frozen=True, kw_only=True)
class SupportHeld(SupportEvent):
    specialty: str
    minimum_level: Level
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime
    urgent: bool


@dataclass(frozen=True, kw_only=True)
class SupportConfirmed(SupportEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class SupportCheckedIn(SupportEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class SupportCompleted(SupportEvent):
    hours_worked: float
    fault_solved: bool


@dataclass(frozen=True, kw_only=True)
class SupportCancelled(SupportEvent):
    reason: str


@dataclass(frozen=True, kw_only=True)
class SupportHoldExpired(SupportEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class SupportRated(SupportEvent):
    """One store's rating of the other after a support: the host rates the technician's
    work, the home store rates the host."""

    rated_by_store_id: str
    rating: int
    comment: str


TechnicianEvent = (
    TechnicianRegistered
    | TechnicianLevelChanged
    | SpecialtyAdded
    | SpecialtyRemoved
    | CertificationRecorded
    | TechnicianTransferred
    | TechnicianStatusChanged
    | TechnicianLeft
    | LeaveScheduled
    | LeaveCancelled
    | ShiftPlanned
    | ProductiveHoursLogged
    | AvailabilityPublished
    | AvailabilityWithdrawn
    | SupportHeld
    | SupportConfirmed
    | SupportCheckedIn
    | SupportCompleted
    | SupportCancelled
    | SupportHoldExpired
    | SupportRated
)
