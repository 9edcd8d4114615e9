"""What callers ask of collab, in the imperative, with `at`, the time they asked."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Urgency(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    CRITICAL = "critical"


class TransferReason(enum.StrEnum):
    EMERGENCY = "emergency"
    REVITALISATION = "revitalisation"


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
    reason: TransferReason = TransferReason.EMERGENCY
    # Revitalisation: the store giving its stale stock, and the loss HQ bears.
    source_store_id: str = ""
    write_down_fen: int = 0
    # The waiting customer, if named (sealed before it is recorded).
    customer_ref: str = ""
    customer_name: str = ""
    customer_phone: str = ""


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


@dataclass(frozen=True)
class Customer:
    """A waiting customer as a store names them (personal data: sealed when recorded)."""

    customer_ref: str
    name: str
    phone: str


@dataclass(frozen=True)
class ForgetCustomer:
    customer_ref: str
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
