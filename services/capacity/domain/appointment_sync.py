"""A DMS's appointments at once (a store joining the network, or the nightly reconciliation).

Each appointment is booked as BookAppointment books it, under the DMS's own id, in the
book of its store-local day, so a synced appointment records exactly what a single
booking records. What the batch adds: the request's own faults (an id missing, malformed
or repeated, a time missing, too many appointments) refuse it whole, every field named;
an appointment its day's book holds already with the same details is UNCHANGED, so a sync
sent again records nothing; one held with other details, or booked in another day's book
(the DMS moved it), is REFUSED (APPOINTMENT_DIFFERS), as a sync books and never moves,
rewrites or doubles a booking; and one a booking rule refuses is
REFUSED with that rule's reason, alone, the rest booked.

`decide_all` decides the whole batch on the books of its days, in the request's order, each
appointment on its book as the appointments before it left it: the caller loads the books
at once and records each day's events in one append.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from kernel import validation
from kernel.clock import check_aware
from kernel.errors import InvalidArgument, RuleViolated, Violations
from services.capacity.domain import reasons
from services.capacity.domain.appointment_book import BookEvent, appointment_book
from services.capacity.domain.appointments import (
    BookAppointment,
    check_customer,
    check_nameable_day,
)
from services.capacity.domain.book_state import Appointment, AppointmentStatus, BookState
from services.capacity.domain.opening_hours import local_day
from services.capacity.domain.stores import StoreFacts

MAX_APPOINTMENTS = 2_000


@dataclass(frozen=True, slots=True)
class SyncedAppointment:
    """One appointment as the DMS holds it."""

    appointment_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    requested_at: datetime


@dataclass(frozen=True, slots=True)
class SyncAppointments:
    store_id: str
    appointments: tuple[SyncedAppointment, ...]
    at: datetime


class Outcome(enum.IntEnum):
    BOOKED = 1
    UNCHANGED = 2
    REFUSED = 3


@dataclass(frozen=True, slots=True)
class AppointmentSyncResult:
    appointment_id: str
    outcome: Outcome
    day: date
    reason: str = ""
    message: str = ""
    # Booked, unchanged or differing: where the book's appointment stands after the sync.
    status: AppointmentStatus | None = None


@dataclass(frozen=True, slots=True)
class SyncedBatch:
    """A batch's reply, as its command-log row keeps it for a retry."""

    results: tuple[AppointmentSyncResult, ...]

    def tally(self) -> tuple[int, int, int]:
        """(booked, unchanged, refused)."""
        return (
            sum(1 for r in self.results if r.outcome is Outcome.BOOKED),
            sum(1 for r in self.results if r.outcome is Outcome.UNCHANGED),
            sum(1 for r in self.results if r.outcome is Outcome.REFUSED),
        )


def validate(command: SyncAppointments) -> None:
    """The batch's own faults, all at once: refused whole (INVALID_ARGUMENT)."""
    v = Violations()
    if not command.appointments:
        v.add("appointments", "must hold at least one appointment")
    elif len(command.appointments) > MAX_APPOINTMENTS:
        v.add("appointments", f"must hold at most {MAX_APPOINTMENTS} appointments")
    first_seen: dict[str, int] = {}
    for i, entry in enumerate(command.appointments):
        validation.identifier(v, f"appointments[{i}].appointment_id", entry.appointment_id)
        check_aware(v, f"appointments[{i}].requested_at", entry.requested_at)
        earlier = first_seen.setdefault(entry.appointment_id, i)
        if earlier != i:
            v.add(
                f"appointments[{i}].appointment_id",
                f"repeats appointments[{earlier}]: one entry per appointment",
            )
    v.raise_if_any()


def day_of(entry: SyncedAppointment, store: StoreFacts) -> date:
    """The store-local day whose book the appointment goes in."""
    return local_day(entry.requested_at, store.time_zone)


def booking(entry: SyncedAppointment, store: StoreFacts, at: datetime) -> BookAppointment:
    """The BookAppointment a synced appointment is, refused first for its own malformed
    fields (INVALID_APPOINTMENT: one appointment's fault, not the batch's)."""
    v = Violations()
    check_customer(
        v, entry.customer_ref, entry.vehicle, entry.service_type, entry.expected_labour_hours
    )
    day = day_of(entry, store)
    check_nameable_day(v, "requested_at", day, store)
    if v.items:
        raise RuleViolated(
            reasons.INVALID_APPOINTMENT,
            str(InvalidArgument(v.items)),
            f"appointment/{store.store_id}/{entry.appointment_id}",
            {f.field: f.description for f in v.items},
        )
    return BookAppointment(
        store=store,
        day=day,
        appointment_id=entry.appointment_id,
        customer_ref=entry.customer_ref,
        vehicle=entry.vehicle,
        service_type=entry.service_type,
        expected_labour_hours=entry.expected_labour_hours,
        requested_at=entry.requested_at,
        at=at,
    )


def same_booking(held: Appointment, entry: SyncedAppointment) -> bool:
    """Whether the book's appointment is the one the DMS sent (its status aside)."""
    return (
        held.customer_ref == entry.customer_ref
        and held.vehicle == entry.vehicle
        and held.service_type == entry.service_type
        and held.expected_labour_hours == entry.expected_labour_hours
        and held.requested_at == entry.requested_at
    )


def held_already(held: Appointment, entry: SyncedAppointment, day: date) -> AppointmentSyncResult:
    """The result for an appointment its day's book holds already."""
    if same_booking(held, entry):
        return AppointmentSyncResult(
            entry.appointment_id, Outcome.UNCHANGED, day, status=held.status
        )
    differing = [
        name
        for name, ours, theirs in (
            ("customer_ref", held.customer_ref, entry.customer_ref),
            ("vehicle", held.vehicle, entry.vehicle),
            ("service_type", held.service_type, entry.service_type),
            ("expected_labour_hours", held.expected_labour_hours, entry.expected_labour_hours),
            ("requested_at", held.requested_at, entry.requested_at),
        )
        if ours != theirs
    ]
    if held.status is AppointmentStatus.BOOKED:
        instead = "(RescheduleAppointment, CancelAppointment)"
    else:  # both refuse an appointment no longer booked, and the book keeps its id
        instead = (
            f"and it is {held.status.name.lower().replace('_', ' ')}:"
            " booking it again takes a new appointment_id"
        )
    return AppointmentSyncResult(
        entry.appointment_id,
        Outcome.REFUSED,
        day,
        reasons.APPOINTMENT_DIFFERS,
        f"the book of {day.isoformat()} holds {entry.appointment_id} with another"
        f" {', '.join(differing)}: a sync books, it does not change a booking {instead}",
        held.status,
    )


def refused(entry: SyncedAppointment, day: date, rule: RuleViolated) -> AppointmentSyncResult:
    return AppointmentSyncResult(entry.appointment_id, Outcome.REFUSED, day, rule.reason, str(rule))


def booked(entry: SyncedAppointment, day: date) -> AppointmentSyncResult:
    return AppointmentSyncResult(
        entry.appointment_id, Outcome.BOOKED, day, status=AppointmentStatus.BOOKED
    )


@dataclass(frozen=True, slots=True)
class DayBooked:
    """One day's book after the batch: the events the batch records in it, and its state."""

    events: tuple[BookEvent, ...]
    state: BookState


@dataclass(frozen=True, slots=True)
class BatchDecided:
    results: tuple[AppointmentSyncResult, ...]
    # The days whose books the batch records events in, in the order first booked.
    books: dict[date, DayBooked]


def days_of(command: SyncAppointments, store: StoreFacts) -> list[date]:
    """The days whose books the batch touches, in the order of the request."""
    return list(dict.fromkeys(day_of(entry, store) for entry in command.appointments))


def any_new(command: SyncAppointments, store: StoreFacts, books: Mapping[date, BookState]) -> bool:
    """Whether an appointment of the batch is not in its day's book (`books`: every day of
    `days_of`): then where its id stands on other days matters (`decide_all`)."""
    return any(
        entry.appointment_id not in books[day_of(entry, store)].appointments
        for entry in command.appointments
    )


def decide_all(
    command: SyncAppointments,
    store: StoreFacts,
    books: Mapping[date, BookState],
    elsewhere: Mapping[str, tuple[date, Appointment]] | None = None,
) -> BatchDecided:
    """Each appointment decided as BookAppointment decides it (`appointment_book.decide`)
    on its day's book as `books` held it plus the appointments booked before it in the
    batch; a rule refusing one refuses it alone. `books`: every day of `days_of`.
    `elsewhere`: the store's appointments still booked, by id, with their day; one the
    DMS now sends for another day is judged against where it stands (a sync does not
    book it twice)."""
    current = dict(books)
    standing = elsewhere or {}
    recorded: dict[date, list[BookEvent]] = {}
    results: list[AppointmentSyncResult] = []
    for entry in command.appointments:
        day = day_of(entry, store)
        book = current[day]
        held = book.appointments.get(entry.appointment_id)
        if held is not None:
            results.append(held_already(held, entry, day))
            continue
        if entry.appointment_id in standing:
            there, appointment = standing[entry.appointment_id]
            results.append(held_already(appointment, entry, there))
            continue
        try:
            events = appointment_book.decide(booking(entry, store, command.at), book)
        except RuleViolated as rule:
            results.append(refused(entry, day, rule))
            continue
        current[day] = appointment_book.fold(events, book)
        recorded.setdefault(day, []).extend(events)
        results.append(booked(entry, day))
    return BatchDecided(
        tuple(results),
        {day: DayBooked(tuple(events), current[day]) for day, events in recorded.items()},
    )
