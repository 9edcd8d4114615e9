"""SOP 3's events: each step of a customer diversion, as partners and the read model see it.

`store_id` is the store the event is addressed to: the ORIGIN store (whose customer is
offered the choice, and which answers) or the RECEIVING store (which holds a bay and then
welcomes the customer as VIP). The customer appears only as `customer_ref`, an opaque
reference: never a name or a phone number. Money is fen, paid by HQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kernel.saga.steps import Reply
from services.collab.domain.step_events import Built, ResolvedByOperator


class _ToOrigin(Built):
    addressed = "origin_store_id"


class _ToReceiver(Built):
    addressed = "receiving_store_id"


@dataclass(frozen=True)
class DiversionRequested:
    """The origin store is overloaded: its customer may go to another store (nearest
    first)."""

    diversion_id: str
    store_id: str
    origin_store_id: str
    origin_appointment_id: str
    origin_day: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    trigger: str
    candidate_store_ids: tuple[str, ...]
    candidate_distances_km: tuple[float, ...]
    offer_deadline_seconds: int
    compensation_fen: int
    transport_voucher_fen: int
    occurred_at: datetime


@dataclass(frozen=True)
class SlotReserved(_ToReceiver):
    """A bay is held at the receiving store while the customer chooses."""

    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    origin_store_id: str
    hold_id: str
    day: str
    slot_at: datetime
    occurred_at: datetime

    @classmethod
    def extra(cls, d: Any, reply: Reply) -> dict[str, Any]:
        return {"day": str(reply.response.get("day", ""))}


@dataclass(frozen=True)
class SlotRefused(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class SlotUnanswered(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    occurred_at: datetime


@dataclass(frozen=True)
class SlotReleased(_ToReceiver):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    occurred_at: datetime


@dataclass(frozen=True)
class DiversionOffered(_ToOrigin):
    """Tell the customer honestly and offer the choice: wait, or go to the receiving store."""

    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    distance_km: float
    compensation_fen: int
    transport_voucher_fen: int
    slot_at: datetime
    due_at: datetime
    occurred_at: datetime

    @classmethod
    def extra(cls, d: Any, reply: Reply) -> dict[str, Any]:
        return {"due_at": reply.at + timedelta(seconds=d.offer_deadline_seconds)}


@dataclass(frozen=True)
class DiversionAccepted:
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    answered_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class DiversionDeclined:
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    reason: str
    answered_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class DiversionOfferExpired(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    occurred_at: datetime


@dataclass(frozen=True)
class DiversionBooked(_ToReceiver):
    """The customer is coming: an appointment at the receiver, diverted from the origin (VIP)."""

    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    origin_store_id: str
    appointment_id: str
    day: str
    slot_at: datetime
    vehicle: str
    service_type: str
    occurred_at: datetime

    @classmethod
    def extra(cls, d: Any, reply: Reply) -> dict[str, Any]:
        return {"appointment_id": d.diversion_id}


@dataclass(frozen=True)
class BookingRefused(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class BookingUnanswered(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    occurred_at: datetime


@dataclass(frozen=True)
class OriginAppointmentCancelled(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    origin_appointment_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class OriginCancelRefused(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class NextReceiverChosen:
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    previous_store_id: str
    reason: str
    occurred_at: datetime

    @classmethod
    def of(cls, d: Any, reply: Reply) -> NextReceiverChosen:
        following = d.candidate_store_ids[d.candidate + 1]
        return cls(
            d.diversion_id,
            d.origin_store_id,
            following,
            d.customer_ref,
            d.receiving_store_id,
            d.reason,
            reply.at,
        )


@dataclass(frozen=True)
class DiversionCompleted(_ToOrigin):
    """Moved with the customer's consent; the visit counts for the receiving store."""

    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    origin_store_id: str
    compensation_fen: int
    transport_voucher_fen: int
    occurred_at: datetime


@dataclass(frozen=True)
class DiversionNotMade(_ToOrigin):
    """The customer stays (declined, silent) or no store could take them: nothing moved."""

    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class DiversionStuck(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    reason: str
    occurred_at: datetime


# Operator actions (the admin command line, kernel/saga/admin.py): addressed to the origin,
# which owns the case, as DiversionStuck is; `reason` says who acted, and why.


@dataclass(frozen=True)
class DiversionStepRetried(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class DiversionCancelled(_ToOrigin):
    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class DiversionResolvedByHand(ResolvedByOperator, _ToOrigin):
    """The diversion's end when an operator set right by hand the bay capacity would not
    release: nobody was moved by it, and nothing is settled for it."""

    diversion_id: str
    store_id: str
    receiving_store_id: str
    customer_ref: str
    operator: str
    reason: str
    occurred_at: datetime


DIVERSION_EVENT_TYPES: tuple[type[Any], ...] = (
    DiversionRequested,
    SlotReserved,
    SlotRefused,
    SlotUnanswered,
    SlotReleased,
    DiversionOffered,
    DiversionAccepted,
    DiversionDeclined,
    DiversionOfferExpired,
    DiversionBooked,
    BookingRefused,
    BookingUnanswered,
    OriginAppointmentCancelled,
    OriginCancelRefused,
    NextReceiverChosen,
    DiversionCompleted,
    DiversionNotMade,
    DiversionStuck,
    DiversionStepRetried,
    DiversionCancelled,
    DiversionResolvedByHand,
)
