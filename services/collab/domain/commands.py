"""What callers ask of collab, in the imperative, with `at`, the time they asked."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Urgency(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    CRITICAL = "critical"


class CourierProgress(enum.StrEnum):
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    LOST = "lost"


@dataclass(frozen=True)
class RequestTransfer:
    transfer_id: str
    store_id: str
    part_number: str
    quantity: int
    urgency: Urgency
    customer_waiting: bool
    repair_order: str
    at: datetime


@dataclass(frozen=True)
class ApproveTransfer:
    transfer_id: str
    approved_by: str
    at: datetime


@dataclass(frozen=True)
class RejectTransfer:
    transfer_id: str
    reason: str
    rejected_by: str
    at: datetime


@dataclass(frozen=True)
class ReportCourierProgress:
    transfer_id: str
    progress: CourierProgress
    freight_fen: int
    note: str
    at: datetime


# SOP 2, technician support


class SupportProgress(enum.StrEnum):
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CALLED_OFF = "called_off"


@dataclass(frozen=True)
class RequestSupport:
    support_id: str
    store_id: str
    specialty: str
    minimum_level: str
    starts_at: datetime
    ends_at: datetime
    fault: str
    urgent: bool
    at: datetime


@dataclass(frozen=True)
class ApproveSupport:
    support_id: str
    approved_by: str
    at: datetime


@dataclass(frozen=True)
class RejectSupport:
    support_id: str
    reason: str
    rejected_by: str
    at: datetime


@dataclass(frozen=True)
class ReportSupportProgress:
    support_id: str
    progress: SupportProgress
    hours_worked: float
    fault_solved: bool
    travel_and_lodging_fen: int
    note: str
    reported_by: str
    at: datetime


@dataclass(frozen=True)
class RateSupport:
    support_id: str
    rated_by_store_id: str
    rating: int
    comment: str
    at: datetime


# SOP 3, customer diversion


@dataclass(frozen=True)
class RequestDiversion:
    diversion_id: str
    store_id: str
    # The customer's appointment at the origin store today, moved if they accept.
    appointment_id: str
    day: str
    # An opaque reference: never a name or a phone number.
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    trigger: str
    at: datetime


@dataclass(frozen=True)
class AnswerDiversion:
    diversion_id: str
    accepted: bool
    note: str
    answered_by: str
    at: datetime
