"""Collab's domain events: each step of a transfer, as partners and the read model see it.

Every event names the store it is addressed to (`store_id`, its subject): the source store
for what it must act on or what touched its stock, the requesting store for the progress
its customer follows. The saga builds most of them from its data with `of(transfer, reply)`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from kernel.saga.steps import Reply
from services.collab.domain.settlement import response_time, within_sla
from services.collab.domain.step_events import ResolvedByOperator

if TYPE_CHECKING:
    from services.collab.domain.transfer import Transfer


class _Step:
    """Built from the transfer's data when the saga reaches the step."""

    # Whom the event is for: "source" (the store asked to give) or "requester".
    addressed: ClassVar[str] = "source"

    @classmethod
    def of(cls, t: Transfer, reply: Reply) -> Any:
        store = t.source_store_id if cls.addressed == "source" else t.requesting_store_id
        values: dict[str, Any] = {
            "transfer_id": t.transfer_id,
            "store_id": store,
            "source_store_id": t.source_store_id,
            "occurred_at": reply.at,
        }
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if "reason" in names:
            values["reason"] = reply.reason or t.reason
        values.update(cls.extra(t, reply))
        return cls(**values)

    @classmethod
    def extra(cls, t: Transfer, reply: Reply) -> dict[str, Any]:
        return {}


class _ToRequester(_Step):
    addressed = "requester"


@dataclass(frozen=True)
class TransferRequested:
    transfer_id: str
    store_id: str
    source_store_id: str
    requesting_store_id: str
    part_number: str
    quantity: int
    urgency: str
    customer_waiting: bool
    repair_order: str
    # The ranked sources, best first.
    candidate_store_ids: tuple[str, ...]
    approval_deadline_seconds: int
    occurred_at: datetime
    # emergency or revitalisation (services/collab/domain/revitalisation.py).
    reason: str = "emergency"
    write_down_fen: int = 0
    # The waiting customer: name and phone sealed (kernel/personal_data.py), never clear.
    customer_ref: str = ""
    customer_name: str = ""
    customer_phone: str = ""


@dataclass(frozen=True)
class SourceReserved(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class SourceRefused(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class SourceUnanswered(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ApprovalRequested(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    requesting_store_id: str
    part_number: str
    quantity: int
    urgency: str
    customer_waiting: bool
    due_at: datetime
    occurred_at: datetime

    @classmethod
    def extra(cls, t: Transfer, reply: Reply) -> dict[str, Any]:
        return {
            "requesting_store_id": t.requesting_store_id,
            "part_number": t.part_number,
            "quantity": t.quantity,
            "urgency": t.urgency,
            "customer_waiting": t.customer_waiting,
            "due_at": reply.at + timedelta(seconds=t.approval_deadline_seconds),
        }


@dataclass(frozen=True)
class TransferApproved:
    transfer_id: str
    store_id: str
    source_store_id: str
    approved_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class TransferRejected:
    transfer_id: str
    store_id: str
    source_store_id: str
    reason: str
    rejected_by: str
    occurred_at: datetime


@dataclass(frozen=True)
class ApprovalExpired(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class PickupRequested(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ShipmentPickedUp:
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class PickupFailed:
    transfer_id: str
    store_id: str
    source_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class PickupOverdue(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class TransferShipped(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ShipmentRefused(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class ShipmentUnanswered(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ShipmentLossReported(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class TransferArriving(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ShipmentDelivered:
    transfer_id: str
    store_id: str
    source_store_id: str
    freight_fen: int
    occurred_at: datetime


@dataclass(frozen=True)
class ShipmentLost:
    transfer_id: str
    store_id: str
    source_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class DeliveryOverdue(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class TransferReceived(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class ReceiptRefused(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class ReservationReleased(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class NextSourceChosen:
    transfer_id: str
    store_id: str
    source_store_id: str
    previous_store_id: str
    reason: str
    occurred_at: datetime

    @classmethod
    def of(cls, t: Transfer, reply: Reply) -> NextSourceChosen:
        following = t.candidate_store_ids[t.source + 1]
        return cls(t.transfer_id, following, following, t.source_store_id, t.reason, reply.at)


@dataclass(frozen=True)
class TransferCompleted(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    response_seconds: int
    within_sla: bool
    freight_fen: int
    occurred_at: datetime

    @classmethod
    def extra(cls, t: Transfer, reply: Reply) -> dict[str, Any]:
        taken = response_time(t.requested_at, reply.at)
        return {
            "response_seconds": int(taken.total_seconds()),
            "within_sla": within_sla(taken),
            "freight_fen": t.freight_fen,
        }


@dataclass(frozen=True)
class NoSourceLeft(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    part_number: str
    quantity: int
    repair_order: str
    reason: str
    occurred_at: datetime

    @classmethod
    def extra(cls, t: Transfer, reply: Reply) -> dict[str, Any]:
        return {
            "part_number": t.part_number,
            "quantity": t.quantity,
            "repair_order": t.repair_order,
            "reason": t.reason or reply.reason,
        }


@dataclass(frozen=True)
class TransferStuck(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class ContributionRecorded:
    store_id: str
    act: str
    points: int
    saga: str
    saga_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class CollaborationCostRecorded:
    store_id: str
    kind: str
    amount_fen: int
    saga: str
    saga_id: str
    month: str
    occurred_at: datetime


# ---- Operator actions (the admin command line, kernel/saga/admin.py) ----


@dataclass(frozen=True)
class TransferStepRetried(_Step):
    transfer_id: str
    store_id: str
    source_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class TransferCancelled(_ToRequester):
    transfer_id: str
    store_id: str
    source_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class TransferResolvedByHand(ResolvedByOperator, _ToRequester):
    """The transfer's end when an operator set right by hand what its stuck call could not
    do: neither received through the saga nor undone. A part already delivered is settled
    with it (domain/resolved.py): the giver's point and the freight, no response time."""

    transfer_id: str
    store_id: str
    source_store_id: str
    operator: str
    reason: str
    occurred_at: datetime


EVENT_TYPES: tuple[type[Any], ...] = (
    TransferRequested,
    SourceReserved,
    SourceRefused,
    SourceUnanswered,
    ApprovalRequested,
    TransferApproved,
    TransferRejected,
    ApprovalExpired,
    PickupRequested,
    ShipmentPickedUp,
    PickupFailed,
    PickupOverdue,
    TransferShipped,
    ShipmentRefused,
    ShipmentUnanswered,
    ShipmentLossReported,
    TransferArriving,
    ShipmentDelivered,
    ShipmentLost,
    DeliveryOverdue,
    TransferReceived,
    ReceiptRefused,
    ReservationReleased,
    NextSourceChosen,
    TransferCompleted,
    NoSourceLeft,
    TransferStuck,
    ContributionRecorded,
    CollaborationCostRecorded,
    # Operator actions
    TransferStepRetried,
    TransferCancelled,
    TransferResolvedByHand,
)
