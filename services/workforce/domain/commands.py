"""What a store, its DMS or the collab saga asks of one technician; `at` is business time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.workforce.domain.capability import Certification, Level, TechnicianStatus


@dataclass(frozen=True, kw_only=True)
class WorkforceCommand:
    technician_id: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class RegisterTechnician(WorkforceCommand):
    store_id: str
    name: str
    level: Level
    specialties: tuple[str, ...] = ()
    certifications: tuple[Certification, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ChangeLevel(WorkforceCommand):
    level: Level


@dataclass(frozen=True, kw_only=True)
class AddSpecialty(WorkforceCommand):
    specialty: str


@dataclass(frozen=True, kw_only=True)
class RemoveSpecialty(WorkforceCommand):
    specialty: str


@dataclass(frozen=True, kw_only=True)
class RecordCertification(WorkforceCommand):
    certification: Certification


@dataclass(frozen=True, kw_only=True)
class TransferTechnician(WorkforceCommand):
    to_store_id: str


@dataclass(frozen=True, kw_only=True)
class ChangeStatus(WorkforceCommand):
    """Only ON_DUTY, OFF_DUTY and ON_LEAVE are reported; loans and departures have their own
    commands."""

    status: TechnicianStatus


@dataclass(frozen=True, kw_only=True)
class LeaveCompany(WorkforceCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class ScheduleLeave(WorkforceCommand):
    leave_id: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, kw_only=True)
class CancelLeave(WorkforceCommand):
    leave_id: str


@dataclass(frozen=True, kw_only=True)
class PlanShift(WorkforceCommand):
    day: date
    available_hours: float


@dataclass(frozen=True, kw_only=True)
class LogProductiveHours(WorkforceCommand):
    job_id: str
    day: date
    hours: float
    # What the technician's logs of `day` add up to so far: filled in by the service from
    # its read model in the command's own transaction (not part of the request).
    logged_that_day: float = 0.0


@dataclass(frozen=True, kw_only=True)
class PublishAvailability(WorkforceCommand):
    window_id: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, kw_only=True)
class WithdrawAvailability(WorkforceCommand):
    window_id: str


@dataclass(frozen=True, kw_only=True)
class HoldSupport(WorkforceCommand):
    support_id: str
    host_store_id: str
    specialty: str
    minimum_level: Level
    starts_at: datetime
    ends_at: datetime
    hold_expires_at: datetime
    urgent: bool = False
    # When the host store asked for the support (the lead time counts from it); None: `at`.
    requested_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ConfirmSupport(WorkforceCommand):
    support_id: str


@dataclass(frozen=True, kw_only=True)
class CheckInSupport(WorkforceCommand):
    support_id: str


@dataclass(frozen=True, kw_only=True)
class CompleteSupport(WorkforceCommand):
    support_id: str
    hours_worked: float
    fault_solved: bool


@dataclass(frozen=True, kw_only=True)
class CancelSupport(WorkforceCommand):
    support_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ExpireSupportHold(WorkforceCommand):
    """Sent by the durable timer at the hold's expiry; does nothing if the hold moved on."""

    support_id: str


@dataclass(frozen=True, kw_only=True)
class RateSupport(WorkforceCommand):
    support_id: str
    rated_by_store_id: str
    rating: int
    comment: str = ""


ProfileCommand = (
    RegisterTechnician
    | ChangeLevel
    | AddSpecialty
    | RemoveSpecialty
    | RecordCertification
    | TransferTechnician
    | ChangeStatus
    | LeaveCompany
    | ScheduleLeave
    | CancelLeave
    | PlanShift
    | LogProductiveHours
)

BookingCommand = (
    PublishAvailability
    | WithdrawAvailability
    | HoldSupport
    | ConfirmSupport
    | CheckInSupport
    | CompleteSupport
    | CancelSupport
    | ExpireSupportHold
    | RateSupport
)

TechnicianCommand = ProfileCommand | BookingCommand
