"""SOP 1, the emergency transfer, as a saga: the steps read as domain.md tells them.

    reserve at the best source          (inventory ReserveStock, undone by ReleaseReservation)
    ask the source to approve           (10 minutes, configurable)
    wait for the courier's pickup       (1 hour)
    ship: the stock leaves the source   (inventory ShipTransfer, undone by ReportShipmentLost)
    wait for the delivery               (2 hours)
    receive into the requester's stock  (inventory ReceiveTransfer)

A refusal, silence past a deadline or a lost shipment undoes what this source did, in
reverse order, and the next candidate is asked; with none left the transfer ends with the
shortage recorded (NoSourceLeft). The stock only leaves the source's books when the
courier picks it up, so a pickup that never happens releases the reservation instead of
writing stock off as lost.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kernel.saga.definition import Saga
from kernel.saga.steps import Await, Call, Invoke, Retry
from services.collab.domain import reasons
from services.collab.domain.commands import (
    ApproveTransfer,
    CourierProgress,
    RejectTransfer,
    ReportCourierProgress,
    RequestTransfer,
)
from services.collab.domain.events import (
    ApprovalExpired,
    ApprovalRequested,
    CollaborationCostRecorded,
    ContributionRecorded,
    DeliveryOverdue,
    NextSourceChosen,
    NoSourceLeft,
    PickupFailed,
    PickupOverdue,
    PickupRequested,
    ReceiptRefused,
    ReservationReleased,
    ShipmentDelivered,
    ShipmentLossReported,
    ShipmentLost,
    ShipmentPickedUp,
    ShipmentRefused,
    ShipmentUnanswered,
    SourceRefused,
    SourceReserved,
    SourceUnanswered,
    TransferApproved,
    TransferArriving,
    TransferCancelled,
    TransferCompleted,
    TransferReceived,
    TransferRejected,
    TransferRequested,
    TransferResolvedByHand,
    TransferShipped,
    TransferStuck,
)
from services.collab.domain.settlement import (
    FREIGHT,
    TRANSFER_ACT,
    TRANSFER_POINTS,
    settlement_month,
)

SAGA = "transfer"
INVENTORY = "inventory"
# Stock set aside at a source outlives the approval and pickup deadlines with margin, so it
# never expires under a transfer that is still waiting for the courier.
RESERVATION_TTL = timedelta(hours=3)


@dataclass(frozen=True)
class Deadlines:
    reserve: timedelta = timedelta(minutes=5)
    approval: timedelta = timedelta(minutes=10)
    pickup: timedelta = timedelta(hours=1)
    delivery: timedelta = timedelta(hours=2)


DEFAULT_DEADLINES = Deadlines()


@dataclass(frozen=True)
class Transfer:
    """What the saga knows of one transfer: a fold of its stream."""

    transfer_id: str
    requesting_store_id: str
    part_number: str
    quantity: int
    urgency: str
    customer_waiting: bool
    repair_order: str
    candidate_store_ids: tuple[str, ...]
    approval_deadline_seconds: int
    requested_at: datetime
    source: int = 0
    # Why the current source dropped out (or the last one did).
    reason: str = ""
    freight_fen: int = 0
    received_at: datetime | None = None

    @property
    def source_store_id(self) -> str:
        return self.candidate_store_ids[self.source]

    @property
    def has_next_source(self) -> bool:
        return self.source + 1 < len(self.candidate_store_ids)


# What each drop-out records as the reason, when the event carries none.
_SILENT = {
    SourceUnanswered: reasons.SOURCE_UNANSWERED,
    ApprovalExpired: reasons.APPROVAL_EXPIRED,
    PickupOverdue: reasons.PICKUP_OVERDUE,
    ShipmentUnanswered: reasons.SHIPMENT_UNANSWERED,
    DeliveryOverdue: reasons.DELIVERY_OVERDUE,
}
_SAID = (
    SourceRefused,
    TransferRejected,
    PickupFailed,
    ShipmentRefused,
    ShipmentLost,
    ReceiptRefused,
    # The operator's who and why, as the end's reason.
    TransferResolvedByHand,
)


def transfer(data: Transfer | None, event: Any) -> Transfer:
    if isinstance(event, TransferRequested):
        return Transfer(
            event.transfer_id,
            event.requesting_store_id,
            event.part_number,
            event.quantity,
            event.urgency,
            event.customer_waiting,
            event.repair_order,
            event.candidate_store_ids,
            event.approval_deadline_seconds,
            event.occurred_at,
        )
    assert data is not None
    if isinstance(event, _SAID):
        return dataclasses.replace(data, reason=event.reason)
    if isinstance(event, TransferCancelled):
        # The operator's who and why, unless the transfer is already being undone for a
        # reason of its own (a rejection, a loss), which its end keeps.
        return dataclasses.replace(data, reason=data.reason or event.reason)
    if type(event) in _SILENT:
        return dataclasses.replace(data, reason=_SILENT[type(event)])
    if isinstance(event, NextSourceChosen):
        return dataclasses.replace(data, source=data.source + 1, reason="", freight_fen=0)
    if isinstance(event, ShipmentDelivered):
        return dataclasses.replace(data, freight_fen=event.freight_fen)
    if isinstance(event, TransferReceived):
        return dataclasses.replace(data, received_at=event.occurred_at)
    return data


# The calls, as inventory's API names them. The transfer id is the reservation id too,
# one per transfer at each source.


def reserve_at_source(t: Transfer) -> Call:
    return Call(
        INVENTORY,
        "ReserveStock",
        {
            "store_id": t.source_store_id,
            "part_number": t.part_number,
            "reservation_id": t.transfer_id,
            "quantity": t.quantity,
            "ttl_seconds": int(RESERVATION_TTL.total_seconds()),
            "reference": t.transfer_id,
        },
    )


def release_reservation(t: Transfer) -> Call:
    return Call(
        INVENTORY,
        "ReleaseReservation",
        {
            "store_id": t.source_store_id,
            "part_number": t.part_number,
            "reservation_id": t.transfer_id,
        },
    )


def ship_to_requester(t: Transfer) -> Call:
    return Call(
        INVENTORY,
        "ShipTransfer",
        {
            "store_id": t.source_store_id,
            "part_number": t.part_number,
            "transfer_id": t.transfer_id,
            "reservation_id": t.transfer_id,
            "destination_store_id": t.requesting_store_id,
        },
    )


def report_shipment_lost(t: Transfer) -> Call:
    return Call(
        INVENTORY,
        "ReportShipmentLost",
        {
            "store_id": t.source_store_id,
            "part_number": t.part_number,
            "transfer_id": t.transfer_id,
            "reason": t.reason or reasons.DELIVERY_OVERDUE,
        },
    )


def receive_at_requester(t: Transfer) -> Call:
    return Call(
        INVENTORY,
        "ReceiveTransfer",
        {
            "store_id": t.requesting_store_id,
            "part_number": t.part_number,
            "transfer_id": t.transfer_id,
        },
    )


def transfer_saga(deadlines: Deadlines = DEFAULT_DEADLINES) -> Saga[Transfer]:
    return Saga(
        name=SAGA,
        started_by=TransferRequested,
        evolve_data=transfer,
        steps=(
            Invoke(
                "reserve",
                call=reserve_at_source,
                done=SourceReserved,
                refused=SourceRefused,
                undo=release_reservation,
                undone=ReservationReleased,
                deadline=deadlines.reserve,
                expired=SourceUnanswered,
            ),
            Await(
                "approval",
                ask=ApprovalRequested,
                done=TransferApproved,
                refused=TransferRejected,
                deadline=deadlines.approval,
                expired=ApprovalExpired,
            ),
            Await(
                "pickup",
                ask=PickupRequested,
                done=ShipmentPickedUp,
                refused=PickupFailed,
                deadline=deadlines.pickup,
                expired=PickupOverdue,
            ),
            Invoke(
                "ship",
                call=ship_to_requester,
                done=TransferShipped,
                refused=ShipmentRefused,
                undo=report_shipment_lost,
                undone=ShipmentLossReported,
                expired=ShipmentUnanswered,
            ),
            Await(
                "delivery",
                ask=TransferArriving,
                done=ShipmentDelivered,
                refused=ShipmentLost,
                deadline=deadlines.delivery,
                expired=DeliveryOverdue,
            ),
            Invoke(
                "receive",
                call=receive_at_requester,
                done=TransferReceived,
                refused=ReceiptRefused,
                # The part is at the requester: never reported lost and asked again.
                stops_on_failure=True,
            ),
        ),
        completed=TransferCompleted,
        compensated=NoSourceLeft,
        failed=TransferStuck,
        retry=Retry(NextSourceChosen, when=lambda t: t.has_next_source),
    )


# Commands into events.


def requested(
    command: RequestTransfer, candidates: tuple[str, ...], deadlines: Deadlines
) -> TransferRequested:
    return TransferRequested(
        command.transfer_id,
        command.store_id,
        candidates[0],
        command.store_id,
        command.part_number,
        command.quantity,
        command.urgency.value,
        command.customer_waiting,
        command.repair_order,
        candidates,
        int(deadlines.approval.total_seconds()),
        command.at,
    )


def approved(t: Transfer, command: ApproveTransfer) -> TransferApproved:
    return TransferApproved(
        t.transfer_id, t.source_store_id, t.source_store_id, command.approved_by, command.at
    )


def rejected(t: Transfer, command: RejectTransfer) -> TransferRejected:
    return TransferRejected(
        t.transfer_id,
        t.source_store_id,
        t.source_store_id,
        command.reason,
        command.rejected_by,
        command.at,
    )


def courier_reported(t: Transfer, step: str, command: ReportCourierProgress) -> Any:
    """The event a courier's report is at the step the transfer waits in; a report that
    fits no waiting step is the saga's to refuse (TRANSFER_NOT_AWAITING)."""
    requester, source, at = t.requesting_store_id, t.source_store_id, command.at
    # A note of blanks is none: it is the write-off's reason, which inventory requires.
    lost = command.note.strip() or "lost in transit"
    match command.progress, step:
        case CourierProgress.PICKED_UP, _:
            return ShipmentPickedUp(t.transfer_id, requester, source, at)
        case CourierProgress.LOST, "pickup":
            return PickupFailed(t.transfer_id, requester, source, lost, at)
        case CourierProgress.DELIVERED, _:
            return ShipmentDelivered(t.transfer_id, requester, source, command.freight_fen, at)
        case _:
            return ShipmentLost(t.transfer_id, requester, source, lost, at)


def settled(t: Transfer, at: datetime) -> list[Any]:
    """Settlement once received (or once resolved by hand after the delivery): a point to
    the giver, the freight on HQ's ledger."""
    entries: list[Any] = [
        ContributionRecorded(
            t.source_store_id,
            TRANSFER_ACT,
            TRANSFER_POINTS,
            SAGA,
            t.transfer_id,
            at,
        )
    ]
    if t.freight_fen > 0:
        entries.append(
            CollaborationCostRecorded(
                t.requesting_store_id,
                FREIGHT,
                t.freight_fen,
                SAGA,
                t.transfer_id,
                settlement_month(at),
                at,
            )
        )
    return entries
