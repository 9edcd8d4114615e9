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
