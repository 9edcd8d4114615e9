"""Slot holds: a receiving store keeps a slot for a diverted customer until it expires (SOP 3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from kernel import validation
from kernel.clock import check_aware
from kernel.errors import AlreadyExists, RuleViolated, Violations
from services.capacity.domain import reasons
from services.capacity.domain.appointments import (
    AppointmentBooked,
    AppointmentCancelled,
    CancelAppointment,
    cancel_appointment,
    check_customer,
    check_on_day,
    require_future,
    require_opening_hours,
)
from services.capacity.domain.book_state import (
    AppointmentStatus,
    BookState,
    HoldStatus,
    SlotHold,
)
from services.capacity.domain.stores import StoreFacts, require_open

# Commands


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldSlot:
    store: StoreFacts
    day: date
    hold_id: str
    diverted_from_store_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    slot_at: datetime
    expires_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmSlotHold:
    """The customer accepted: the held slot becomes an appointment with this id."""

    store: StoreFacts
    day: date
    hold_id: str
    appointment_id: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseSlotHold:
    store: StoreFacts
    day: date
    hold_id: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpireSlotHold:
    """Sent by the hold's durable timer at `expires_at`; harmless if the hold already ended."""

    store: StoreFacts
    day: date
    hold_id: str
    at: datetime


# Events


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotHeld:
    store_id: str
    day: date
    hold_id: str
    diverted_from_store_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    slot_at: datetime
    expires_at: datetime
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotHoldConfirmed:
    store_id: str
    day: date
    hold_id: str
    diverted_from_store_id: str
    appointment_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotHoldReleased:
    store_id: str
    day: date
    hold_id: str
    diverted_from_store_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotHoldExpired:
    store_id: str
    day: date
    hold_id: str
    diverted_from_store_id: str
    expires_at: datetime
    occurred_at: datetime


# Decisions


def hold_slot(command: HoldSlot, book: BookState) -> Sequence[SlotHeld]:
    store = command.store
    v = Violations()
    validation.identifier(v, "hold_id", command.hold_id)
    validation.store_code(v, "diverted_from_store_id", command.diverted_from_store_id)
    if command.diverted_from_store_id == store.store_id:
        v.add("diverted_from_store_id", "a store cannot divert a customer to itself")
    check_customer(
        v,
        command.customer_ref,
        command.vehicle,
        command.service_type,
        command.expected_labour_hours,
    )
    check_on_day(v, "slot_at", command.slot_at, store, command.day)
    check_aware(v, "expires_at", command.expires_at)
    if command.expires_at.utcoffset() is not None and command.expires_at <= command.at:
        v.add("expires_at", "must be later than now")
    v.raise_if_any()
    if command.hold_id in book.holds:
        raise AlreadyExists("slot hold", command.hold_id)
    require_open(store)
    require_future(store, "slot_at", command.slot_at, command.at, reasons.SLOT_IN_THE_PAST)
    require_opening_hours(store, command.slot_at)
    capacity = book.capacity(store, command.day)
    taken = book.booked + book.walk_ins + book.live_holds(command.at)
    if taken >= capacity:
        raise RuleViolated(
            reason=reasons.NO_SPARE_CAPACITY,
            message=(
                f"store {store.store_id} has no spare capacity on {command.day.isoformat()}: "
                f"{taken} of {capacity} taken"
            ),
            subject=f"store/{store.store_id}",
            metadata={"capacity": str(capacity), "taken": str(taken)},
        )
    return [
        SlotHeld(
            store_id=store.store_id,
            day=command.day,
            hold_id=command.hold_id,
            diverted_from_store_id=command.diverted_from_store_id,
            customer_ref=command.customer_ref,
            vehicle=command.vehicle,
            service_type=command.service_type,
            expected_labour_hours=command.expected_labour_hours,
            slot_at=command.slot_at,
            expires_at=command.expires_at,
            occurred_at=command.at,
        )
    ]


def confirm_slot_hold(
    command: ConfirmSlotHold, book: BookState
) -> Sequence[SlotHoldConfirmed | AppointmentBooked]:
    v = Violations()
    validation.identifier(v, "appointment_id", command.appointment_id)
    v.raise_if_any()
    hold = book.hold(command.hold_id)
    if not hold.live_at(command.at):
        status = hold.status.name if hold.status != HoldStatus.HELD else reasons.PAST_EXPIRY
        raise RuleViolated(
            reason=reasons.HOLD_NOT_LIVE,
            message=f"slot hold {hold.hold_id} can no longer be confirmed ({status.lower()})",
            subject=_subject(command.store, hold),
            metadata={"status": status, "expires_at": hold.expires_at.isoformat()},
        )
    if command.appointment_id in book.appointments:
        raise AlreadyExists("appointment", command.appointment_id)
    require_open(command.store)
    return [
        SlotHoldConfirmed(
            store_id=command.store.store_id,
            day=command.day,
            hold_id=hold.hold_id,
            diverted_from_store_id=hold.diverted_from_store_id,
            appointment_id=command.appointment_id,
            occurred_at=command.at,
        ),
        AppointmentBooked(
            store_id=command.store.store_id,
            day=command.day,
            appointment_id=command.appointment_id,
            customer_ref=hold.customer_ref,
            vehicle=hold.vehicle,
            service_type=hold.service_type,
            expected_labour_hours=hold.expected_labour_hours,
            requested_at=hold.slot_at,
            occurred_at=command.at,
            hold_id=hold.hold_id,
            diverted_from_store_id=hold.diverted_from_store_id,
        ),
    ]


def release_slot_hold(
    command: ReleaseSlotHold, book: BookState
) -> Sequence[SlotHoldReleased | AppointmentCancelled]:
    v = Violations()
    validation.text(v, "reason", command.reason, required=False)
    v.raise_if_any()
    hold = book.hold(command.hold_id)
    if hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
        return []
    if hold.status == HoldStatus.CONFIRMED:
        return _release_confirmed(command, book, hold)
    return [
        SlotHoldReleased(
            store_id=command.store.store_id,
            day=command.day,
            hold_id=hold.hold_id,
            diverted_from_store_id=hold.diverted_from_store_id,
            reason=command.reason,
            occurred_at=command.at,
        )
    ]


def _release_confirmed(
    command: ReleaseSlotHold, book: BookState, hold: SlotHold
) -> Sequence[AppointmentCancelled]:
    """A confirmed hold is released by cancelling the appointment it became, while that is
    still only booked: the diversion saga undoes its hold so when the origin keeps the
    customer. Once the customer has arrived there is nothing to release."""
    appointment = (
        book.appointments.get(hold.appointment_id) if hold.appointment_id is not None else None
    )
    if appointment is not None and appointment.status in (
        AppointmentStatus.CANCELLED,
        AppointmentStatus.NO_SHOW,
    ):
        return []
    if appointment is None or appointment.status != AppointmentStatus.BOOKED:
        raise RuleViolated(
            reason=reasons.HOLD_NOT_LIVE,
            message=(
                f"slot hold {hold.hold_id} is already an appointment"
                + ("" if appointment is None else f", {appointment.status.name.lower()}")
                + ": it can no longer be released"
            ),
            subject=_subject(command.store, hold),
            metadata={"status": hold.status.name},
        )
    return cancel_appointment(
        CancelAppointment(
            store=command.store,
            day=command.day,
            appointment_id=appointment.appointment_id,
            reason=command.reason,
            at=command.at,
        ),
        book,
    )


def expire_slot_hold(command: ExpireSlotHold, book: BookState) -> Sequence[SlotHoldExpired]:
    hold = book.hold(command.hold_id)
    if hold.status != HoldStatus.HELD:
        return []
    if command.at < hold.expires_at:
        raise RuleViolated(
            reason=reasons.HOLD_NOT_YET_DUE,
            message=f"slot hold {hold.hold_id} runs until {hold.expires_at.isoformat()}",
            subject=_subject(command.store, hold),
            metadata={"expires_at": hold.expires_at.isoformat()},
        )
    return [
        SlotHoldExpired(
            store_id=command.store.store_id,
            day=command.day,
            hold_id=hold.hold_id,
            diverted_from_store_id=hold.diverted_from_store_id,
            expires_at=hold.expires_at,
            occurred_at=command.at,
        )
    ]


def _subject(store: StoreFacts, hold: SlotHold) -> str:
    return f"slot-hold/{store.store_id}/{hold.hold_id}"
