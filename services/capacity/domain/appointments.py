"""Appointments of a store's day and the day's capacity they fill: book, move, cancel, no-show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from kernel import validation
from kernel.clock import check_aware
from kernel.errors import AlreadyExists, RuleViolated, Violations
from services.capacity.domain import reasons
from services.capacity.domain.book_state import Appointment, AppointmentStatus, BookState
from services.capacity.domain.opening_hours import is_open_at, local_day
from services.capacity.domain.stores import MAX_DAILY_CAPACITY, StoreFacts, require_open

MAX_LABOUR_HOURS = 100.0

# Commands


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDayCapacity:
    """Override the store's default for one day: a holiday, staff out, an open day."""

    store: StoreFacts
    day: date
    capacity: int
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class BookAppointment:
    store: StoreFacts
    day: date
    appointment_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    requested_at: datetime
    at: datetime
    # Kept when a diverted customer's appointment moves to another day's book (SOP 3):
    # the visit still counts for this, the receiving, store.
    diverted_from_store_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RescheduleAppointment:
    """Move within the day; moving to another day is a cancel here and a booking there."""

    store: StoreFacts
    day: date
    appointment_id: str
    requested_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAppointment:
    store: StoreFacts
    day: date
    appointment_id: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkNoShow:
    store: StoreFacts
    day: date
    appointment_id: str
    at: datetime


# Events


@dataclass(frozen=True, slots=True, kw_only=True)
class DayCapacitySet:
    store_id: str
    day: date
    capacity: int
    previous_capacity: int
    reason: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentBooked:
    store_id: str
    day: date
    appointment_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    requested_at: datetime
    occurred_at: datetime
    hold_id: str | None = None
    diverted_from_store_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentRescheduled:
    store_id: str
    day: date
    appointment_id: str
    previous_requested_at: datetime
    requested_at: datetime
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentCancelled:
    store_id: str
    day: date
    appointment_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentNoShow:
    store_id: str
    day: date
    appointment_id: str
    requested_at: datetime
    occurred_at: datetime


# Rules shared with slot holds


def check_customer(
    v: Violations, customer_ref: str, vehicle: str, service_type: str, labour_hours: float
) -> None:
    validation.identifier(v, "customer_ref", customer_ref)
    validation.text(v, "vehicle", vehicle, max_len=64)
    validation.text(v, "service_type", service_type, max_len=64)
    if not 0.0 < labour_hours <= MAX_LABOUR_HOURS:
        v.add("expected_labour_hours", f"must be above 0 and at most {MAX_LABOUR_HOURS:g}")


def check_on_day(
    v: Violations, field_name: str, moment: datetime, store: StoreFacts, day: date
) -> None:
    check_aware(v, field_name, moment)
    if moment.utcoffset() is not None:
        if local_day(moment, store.time_zone) != day:
            v.add(field_name, f"must fall on {day.isoformat()} in {store.time_zone}")
        else:
            check_nameable_day(v, field_name, day, store)


def check_nameable_day(v: Violations, field_name: str, day: date, store: StoreFacts) -> None:
    """A time at the calendar's edge can fall on a local day no call can name (a day field
    is refused outside it): what is booked or held there could be neither seen nor undone."""
    if not validation.EARLIEST_DAY <= day <= validation.LATEST_DAY:
        v.add(
            field_name,
            f"falls on {day.isoformat()} in {store.time_zone}, outside"
            f" {validation.EARLIEST_DAY.isoformat()}..{validation.LATEST_DAY.isoformat()}",
        )


def require_future(
    store: StoreFacts, field_name: str, moment: datetime, at: datetime, reason: str
) -> None:
    if moment < at:
        raise RuleViolated(
            reason=reason,
            message=f"{field_name} {moment.isoformat()} is already past at {at.isoformat()}",
            subject=f"store/{store.store_id}",
            metadata={field_name: moment.isoformat(), "now": at.isoformat()},
        )


def require_opening_hours(store: StoreFacts, moment: datetime) -> None:
    if not is_open_at(store.opening_hours, store.time_zone, moment):
        raise RuleViolated(
            reason=reasons.OUTSIDE_OPENING_HOURS,
            message=f"store {store.store_id} is not open at {moment.isoformat()}",
            subject=f"store/{store.store_id}",
            metadata={"time": moment.isoformat(), "time_zone": store.time_zone},
        )


def require_booked(appointment: Appointment, store: StoreFacts) -> None:
    if appointment.status != AppointmentStatus.BOOKED:
        raise RuleViolated(
            reason=reasons.APPOINTMENT_NOT_BOOKED,
            message=(
                f"appointment {appointment.appointment_id} is {appointment.status.name.lower()},"
                " not booked"
            ),
            subject=f"appointment/{store.store_id}/{appointment.appointment_id}",
            metadata={"status": appointment.status.name},
        )


# Decisions


def set_day_capacity(command: SetDayCapacity, book: BookState) -> Sequence[DayCapacitySet]:
    v = Violations()
    validation.non_negative(v, "capacity", command.capacity, MAX_DAILY_CAPACITY)
    validation.text(v, "reason", command.reason, required=False)
    v.raise_if_any()
    today = local_day(command.at, command.store.time_zone)
    if command.day < today:
        raise RuleViolated(
            reason=reasons.DAY_IN_THE_PAST,
            message=f"{command.day.isoformat()} is over; its capacity can no longer change",
            subject=f"store/{command.store.store_id}",
            metadata={"day": command.day.isoformat(), "today": today.isoformat()},
        )
    if book.capacity_override == command.capacity:
        return []
    return [
        DayCapacitySet(
            store_id=command.store.store_id,
            day=command.day,
            capacity=command.capacity,
            previous_capacity=book.capacity(command.store, command.day),
            reason=command.reason,
            occurred_at=command.at,
        )
    ]


def book_appointment(command: BookAppointment, book: BookState) -> Sequence[AppointmentBooked]:
    store = command.store
    v = Violations()
    validation.identifier(v, "appointment_id", command.appointment_id)
    check_customer(
        v,
        command.customer_ref,
        command.vehicle,
        command.service_type,
        command.expected_labour_hours,
    )
    check_on_day(v, "requested_at", command.requested_at, store, command.day)
    v.raise_if_any()
    if command.appointment_id in book.appointments:
        raise AlreadyExists("appointment", command.appointment_id)
    require_open(store)
    require_future(
        store, "requested_at", command.requested_at, command.at, reasons.APPOINTMENT_IN_THE_PAST
    )
    require_opening_hours(store, command.requested_at)
    return [
        AppointmentBooked(
            store_id=store.store_id,
            day=command.day,
            appointment_id=command.appointment_id,
            customer_ref=command.customer_ref,
            vehicle=command.vehicle,
            service_type=command.service_type,
            expected_labour_hours=command.expected_labour_hours,
            requested_at=command.requested_at,
            occurred_at=command.at,
            diverted_from_store_id=command.diverted_from_store_id,
        )
    ]


def reschedule_appointment(
    command: RescheduleAppointment, book: BookState
) -> Sequence[AppointmentRescheduled]:
    store = command.store
    v = Violations()
    check_on_day(v, "requested_at", command.requested_at, store, command.day)
    v.raise_if_any()
    appointment = book.appointment(command.appointment_id)
    require_booked(appointment, store)
    require_open(store)
    if command.requested_at == appointment.requested_at:
        return []
    require_future(
        store, "requested_at", command.requested_at, command.at, reasons.APPOINTMENT_IN_THE_PAST
    )
    require_opening_hours(store, command.requested_at)
    return [
        AppointmentRescheduled(
            store_id=store.store_id,
            day=command.day,
            appointment_id=appointment.appointment_id,
            previous_requested_at=appointment.requested_at,
            requested_at=command.requested_at,
            occurred_at=command.at,
        )
    ]


def cancel_appointment(
    command: CancelAppointment, book: BookState
) -> Sequence[AppointmentCancelled]:
    v = Violations()
    validation.text(v, "reason", command.reason, required=False)
    v.raise_if_any()
    appointment = book.appointment(command.appointment_id)
    require_booked(appointment, command.store)
    return [
        AppointmentCancelled(
            store_id=command.store.store_id,
            day=command.day,
            appointment_id=appointment.appointment_id,
            reason=command.reason,
            occurred_at=command.at,
        )
    ]


def mark_no_show(command: MarkNoShow, book: BookState) -> Sequence[AppointmentNoShow]:
    appointment = book.appointment(command.appointment_id)
    require_booked(appointment, command.store)
    if command.at < appointment.requested_at:
        raise RuleViolated(
            reason=reasons.APPOINTMENT_NOT_DUE,
            message=(
                f"appointment {appointment.appointment_id} is due at "
                f"{appointment.requested_at.isoformat()}: the customer is not late yet"
            ),
            subject=f"appointment/{command.store.store_id}/{appointment.appointment_id}",
            metadata={"requested_at": appointment.requested_at.isoformat()},
        )
    return [
        AppointmentNoShow(
            store_id=command.store.store_id,
            day=command.day,
            appointment_id=appointment.appointment_id,
            requested_at=appointment.requested_at,
            occurred_at=command.at,
        )
    ]


def moved_to_another_day(
    appointment: Appointment, command: RescheduleAppointment, store: StoreFacts, day: date
) -> tuple[BookAppointment, CancelAppointment]:
    """A reschedule to another day: the same appointment booked on the new day's book and
    cancelled on the old one's (each book decides its own rules)."""
    booking = BookAppointment(
        store=store,
        day=day,
        appointment_id=appointment.appointment_id,
        customer_ref=appointment.customer_ref,
        vehicle=appointment.vehicle,
        service_type=appointment.service_type,
        expected_labour_hours=appointment.expected_labour_hours,
        requested_at=command.requested_at,
        at=command.at,
        diverted_from_store_id=appointment.diverted_from_store_id,
    )
    cancellation = CancelAppointment(
        store=store,
        day=command.day,
        appointment_id=appointment.appointment_id,
        reason=f"rescheduled to {day.isoformat()}",
        at=command.at,
    )
    return booking, cancellation
