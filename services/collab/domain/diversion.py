"""SOP 3, customer diversion, as a saga: the steps read as domain.md tells them.

    hold a bay at the nearest store that can take the car   (capacity HoldSlot, 5 min;
                                                             undone by ReleaseSlotHold)
    offer the customer the choice, honestly                 (AnswerDiversion, 15 min)
    book the held slot, diverted from the origin            (capacity ConfirmSlotHold)
    cancel the customer's appointment at the origin         (capacity CancelAppointment)

The customer chooses and is never moved without saying yes: a decline or silence past
the offer's deadline releases the hold and ends the diversion (DiversionNotMade), no
points, no cost. A store that cannot hold a bay (full since the ranking, or silent) is
released and the next nearest asked, until the customer has been offered a choice. On
acceptance the completion settles in the same transaction: the transport voucher and the
compensation on HQ's ledger, 2 contribution points to the receiving store; the visit
counts for the receiving store through capacity's diverted_from_store_id.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from kernel.errors import RuleViolated
from kernel.saga.definition import Saga
from kernel.saga.steps import Await, Call, Invoke, Retry
from services.collab.domain import reasons
from services.collab.domain.commands import AnswerDiversion, RequestDiversion
from services.collab.domain.diversion_events import (
    BookingRefused,
    BookingUnanswered,
    DiversionAccepted,
    DiversionBooked,
    DiversionCancelled,
    DiversionCompleted,
    DiversionDeclined,
    DiversionNotMade,
    DiversionOffered,
    DiversionOfferExpired,
    DiversionRequested,
    DiversionResolvedByHand,
    DiversionStepRetried,
    DiversionStuck,
    NextReceiverChosen,
    OriginAppointmentCancelled,
    OriginCancelRefused,
    SlotRefused,
    SlotReleased,
    SlotReserved,
    SlotUnanswered,
)
from services.collab.domain.events import CollaborationCostRecorded, ContributionRecorded
from services.collab.domain.settlement import SETTLEMENT_ZONE, settlement_month

SAGA = "diversion"
CAPACITY = "capacity"
# domain.md's contribution table: 2 points per diversion, to the receiving store.
DIVERSION_POINTS = 2
DIVERSION_ACT = "diversion"
COMPENSATION = "compensation"
TRANSPORT_VOUCHER = "transport_voucher"
# domain.md: compensation e.g. 200 CNY (fen); configurable.
DEFAULT_COMPENSATION_FEN = 20_000
# Our default for the car service or taxi voucher (domain.md gives no figure); configurable.
DEFAULT_TRANSPORT_VOUCHER_FEN = 5_000
# domain.md: the customer would wait more than 2 hours; the receiver takes the car within
# the SOP's 30 minutes of execution after the choice, so the bay is held from then.
WAIT_THRESHOLD = timedelta(hours=2)
WAIT_TRIGGER = "wait_threshold"
HOLD_MARGIN = timedelta(minutes=5)
DMS_TRIGGER = "dms"


@dataclass(frozen=True)
class Deadlines:
    hold: timedelta = timedelta(minutes=5)
    # domain.md: tell the customer within 5 minutes, confirm the receiver within 10.
    offer: timedelta = timedelta(minutes=15)
    # The car is at the receiver within 30 minutes of the choice.
    travel: timedelta = timedelta(minutes=30)


DEFAULT_DEADLINES = Deadlines()


@dataclass(frozen=True)
class Terms:
    compensation_fen: int = DEFAULT_COMPENSATION_FEN
    transport_voucher_fen: int = DEFAULT_TRANSPORT_VOUCHER_FEN


@dataclass(frozen=True)
class Diversion:
    """What the saga knows of one diversion: a fold of its stream."""

    diversion_id: str
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
    requested_at: datetime
    candidate: int = 0
    reason: str = ""
    day: str = ""
    # When the store asked now was chosen: its hold and slot are timed from then.
    round_at: datetime | None = None
    offered: bool = False
    accepted: bool = False
    # The held slot became an appointment at the receiver (ConfirmSlotHold answered).
    booked: bool = False

    @property
    def receiving_store_id(self) -> str:
        return self.candidate_store_ids[self.candidate]

    @property
    def distance_km(self) -> float:
        return self.candidate_distances_km[self.candidate]

    @property
    def hold_id(self) -> str:
        """Capacity's hold id at this receiver: one hold per store asked."""
        return f"{self.diversion_id}:{self.candidate + 1}"

    @property
    def slot_at(self) -> datetime:
        """The customer is offered the choice once the bay is held, and travels after."""
        offer = timedelta(seconds=self.offer_deadline_seconds)
        return (self.round_at or self.requested_at) + offer + DEFAULT_DEADLINES.travel

    @property
    def hold_expires_at(self) -> datetime:
        """Outlasts the hold's own deadline and the offer after it, with a margin, so the
        bay is still there when the customer says yes."""
        offer = timedelta(seconds=self.offer_deadline_seconds)
        started = self.round_at or self.requested_at
        return started + DEFAULT_DEADLINES.hold + offer + HOLD_MARGIN

    @property
    def may_ask_next(self) -> bool:
        # Once the customer has had a choice, their answer (or silence) ends it.
        return not self.offered and self.candidate + 1 < len(self.candidate_store_ids)


_SILENT = {
    SlotUnanswered: reasons.SLOT_UNANSWERED,
    DiversionOfferExpired: reasons.OFFER_EXPIRED,
    BookingUnanswered: reasons.BOOKING_UNANSWERED,
}
_SAID = (
    SlotRefused,
    DiversionDeclined,
    BookingRefused,
    OriginCancelRefused,
    DiversionResolvedByHand,
)


def diversion(data: Diversion | None, event: Any) -> Diversion:
    if isinstance(event, DiversionRequested):
        return Diversion(
            event.diversion_id,
            event.origin_store_id,
            event.origin_appointment_id,
            event.origin_day,
            event.customer_ref,
            event.vehicle,
            event.service_type,
            event.expected_labour_hours,
            event.trigger,
            event.candidate_store_ids,
            event.candidate_distances_km,
            event.offer_deadline_seconds,
            event.compensation_fen,
            event.transport_voucher_fen,
            event.occurred_at,
        )
    assert data is not None
    if isinstance(event, DiversionCancelled):
        # An operator's cancel gives it up, unless it was given up already (its undo under
        # way): that reason stands, the call already went out.
        return dataclasses.replace(data, reason=data.reason or event.reason)
    if isinstance(event, _SAID):
        return dataclasses.replace(data, reason=event.reason)
    if type(event) in _SILENT:
        return dataclasses.replace(data, reason=_SILENT[type(event)])
    if isinstance(event, SlotReserved):
        return dataclasses.replace(data, day=event.day)
    if isinstance(event, DiversionOffered):
        return dataclasses.replace(data, offered=True)
    if isinstance(event, DiversionAccepted):
        return dataclasses.replace(data, accepted=True)
    if isinstance(event, DiversionBooked):
        return dataclasses.replace(data, booked=True)
    if isinstance(event, NextReceiverChosen):
        return dataclasses.replace(
            data, candidate=data.candidate + 1, reason="", day="", round_at=event.occurred_at
        )
    return data


# The calls, as capacity's API names them.


def hold_slot(d: Diversion) -> Call:
    return Call(
        CAPACITY,
        "HoldSlot",
        {
            "store_id": d.receiving_store_id,
            "hold_id": d.hold_id,
            "diverted_from_store_id": d.origin_store_id,
            "customer_ref": d.customer_ref,
            "vehicle": d.vehicle,
            "service_type": d.service_type,
            "expected_labour_hours": d.expected_labour_hours,
            "slot_at": d.slot_at.isoformat(),
            "expires_at": d.hold_expires_at.isoformat(),
        },
    )


def release_slot(d: Diversion) -> Call:
    if d.booked:
        # The hold is an appointment now (capacity refuses to release a confirmed hold):
        # undoing it frees the receiver's bay by cancelling that appointment.
        return Call(
            CAPACITY,
            "CancelAppointment",
            {
                "store_id": d.receiving_store_id,
                "day": d.day,
                "appointment_id": d.diversion_id,
                "reason": d.reason or "diversion given up",
            },
        )
    # An unanswered hold never told its day: the slot's date where the network's stores
    # keep their books (capacity answers NOT_FOUND, nothing to undo, if it never held).
    day = d.day or d.slot_at.astimezone(SETTLEMENT_ZONE).date().isoformat()
    return Call(
        CAPACITY,
        "ReleaseSlotHold",
        {
            "store_id": d.receiving_store_id,
            "day": day,
            "hold_id": d.hold_id,
            "reason": d.reason or "diversion given up",
        },
    )


def book_slot(d: Diversion) -> Call:
    return Call(
        CAPACITY,
        "ConfirmSlotHold",
        {
            "store_id": d.receiving_store_id,
            "day": d.day,
            "hold_id": d.hold_id,
            "appointment_id": d.diversion_id,
        },
    )


def cancel_at_origin(d: Diversion) -> Call:
    return Call(
        CAPACITY,
        "CancelAppointment",
        {
            "store_id": d.origin_store_id,
            "day": d.origin_day,
            "appointment_id": d.origin_appointment_id,
            "reason": f"diverted to {d.receiving_store_id}",
        },
    )


def diversion_saga(deadlines: Deadlines = DEFAULT_DEADLINES) -> Saga[Diversion]:
    return Saga(
        name=SAGA,
        started_by=DiversionRequested,
        evolve_data=diversion,
        steps=(
            Invoke(
                "hold",
                call=hold_slot,
                done=SlotReserved,
                refused=SlotRefused,
                undo=release_slot,
                undone=SlotReleased,
                deadline=deadlines.hold,
                expired=SlotUnanswered,
            ),
            Await(
                "offer",
                ask=DiversionOffered,
                done=DiversionAccepted,
                refused=DiversionDeclined,
                deadline=deadlines.offer,
                expired=DiversionOfferExpired,
            ),
            Invoke(
                "book",
                call=book_slot,
                done=DiversionBooked,
                refused=BookingRefused,
                expired=BookingUnanswered,
            ),
            Invoke(
                "cancel_origin",
                call=cancel_at_origin,
                done=OriginAppointmentCancelled,
                refused=OriginCancelRefused,
                # Unanswered, it may have cancelled: undoing the booking could leave the
                # customer booked nowhere, so an operator retries it (same request id).
                stops_when_unanswered=True,
            ),
        ),
        completed=DiversionCompleted,
        compensated=DiversionNotMade,
        failed=DiversionStuck,
        retry=Retry(NextReceiverChosen, when=lambda d: d.may_ask_next),
        operator_retried=DiversionStepRetried,
        operator_cancelled=DiversionCancelled,
        operator_resolved=DiversionResolvedByHand,
    )


# Commands into events.


def requested(
    command: RequestDiversion,
    receivers: tuple[tuple[str, float], ...],
    deadlines: Deadlines,
    terms: Terms,
) -> DiversionRequested:
    """`receivers`: (store, km from the origin), nearest first."""
    return DiversionRequested(
        command.diversion_id,
        command.store_id,
        command.store_id,
        command.appointment_id,
        command.day,
        command.customer_ref,
        command.vehicle,
        command.service_type,
        command.expected_labour_hours,
        command.trigger,
        tuple(s for s, _ in receivers),
        tuple(round(km, 1) for _, km in receivers),
        int(deadlines.offer.total_seconds()),
        terms.compensation_fen,
        terms.transport_voucher_fen,
        command.at,
    )


def check_same_day(command: RequestDiversion, today: date) -> None:
    """domain.md: SOP 3 is same day, for a customer who would wait today; the bay it holds
    at the receiver is today's, so another day's appointment is not one it moves."""
    if command.day != today.isoformat():
        raise RuleViolated(
            reasons.DIVERSION_NOT_TODAY,
            f"a diversion moves a customer of today ({today.isoformat()}); "
            f"appointment {command.appointment_id} is on {command.day}",
            subject=f"store/{command.store_id}",
            metadata={"day": command.day, "today": today.isoformat()},
        )


def answered(d: Diversion, command: AnswerDiversion) -> Any:
    ids = (d.diversion_id, d.origin_store_id, d.receiving_store_id, d.customer_ref)
    if command.accepted:
        return DiversionAccepted(*ids, command.answered_by, command.at)
    reason = command.note.strip() or reasons.CUSTOMER_DECLINED
    return DiversionDeclined(*ids, reason, command.answered_by, command.at)


def settled(d: Diversion, at: datetime) -> list[Any]:
    """2 points to the receiver; HQ pays the voucher and the compensation (attributed to
    the origin store, whose overload they answer)."""
    month = settlement_month(at)
    entries: list[Any] = [
        ContributionRecorded(
            d.receiving_store_id, DIVERSION_ACT, DIVERSION_POINTS, SAGA, d.diversion_id, at
        )
    ]
    for kind, fen in (
        (TRANSPORT_VOUCHER, d.transport_voucher_fen),
        (COMPENSATION, d.compensation_fen),
    ):
        if fen > 0:
            entries.append(
                CollaborationCostRecorded(
                    d.origin_store_id, kind, fen, SAGA, d.diversion_id, month, at
                )
            )
    return entries
