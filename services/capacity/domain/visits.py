"""Visits: a vehicle's day in the store, from walk-in or check-in to completion or abandonment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from kernel import validation
from kernel.errors import AlreadyExists, RuleViolated, Violations
from services.capacity.domain import reasons
from services.capacity.domain.appointments import (
    MAX_LABOUR_HOURS,
    check_customer,
    require_booked,
)
from services.capacity.domain.book_state import BookState, Visit, VisitStatus
from services.capacity.domain.opening_hours import local_day
from services.capacity.domain.stores import StoreFacts, require_open

MAX_FEN = 10_000_000_000
MAX_SATISFACTION = 100

# Commands


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterWalkIn:
    store: StoreFacts
    day: date
    visit_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckInCustomer:
    store: StoreFacts
    day: date
    appointment_id: str
    visit_id: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StartService:
    store: StoreFacts
    day: date
    visit_id: str
    bay: int
    technician_ids: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteVisit:
    """`technician_ids` empty means: the technicians who started the service."""

    store: StoreFacts
    day: date
    visit_id: str
    labour_hours: float
    labour_revenue_fen: int
    parts_revenue_fen: int
    other_revenue_fen: int
    technician_ids: tuple[str, ...] = ()
    satisfaction_score: int | None = None
    complaint: bool = False
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordQuoteAbandoned:
    """The customer left after a quote, without the work being done."""

    store: StoreFacts
    day: date
    visit_id: str
    quote_fen: int
    at: datetime


# Events


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkInArrived:
    store_id: str
    day: date
    visit_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerCheckedIn:
    store_id: str
    day: date
    appointment_id: str
    visit_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStarted:
    store_id: str
    day: date
    visit_id: str
    bay: int
    technician_ids: tuple[str, ...]
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class VisitCompleted:
    """`diverted_from_store_id` set: a diverted customer, whose visit counts for this store."""

    store_id: str
    day: date
    visit_id: str
    appointment_id: str | None
    diverted_from_store_id: str | None
    labour_hours: float
    labour_revenue_fen: int
    parts_revenue_fen: int
    other_revenue_fen: int
    technician_ids: tuple[str, ...]
    satisfaction_score: int | None
    complaint: bool
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteAbandoned:
    store_id: str
    day: date
    visit_id: str
    quote_fen: int
    occurred_at: datetime


# Decisions


def register_walk_in(command: RegisterWalkIn, book: BookState) -> Sequence[WalkInArrived]:
    v = Violations()
    validation.identifier(v, "visit_id", command.visit_id)
    check_customer(
        v,
        command.customer_ref,
        command.vehicle,
        command.service_type,
        command.expected_labour_hours,
    )
    v.raise_if_any()
    if command.visit_id in book.visits:
        raise AlreadyExists("visit", command.visit_id)
    require_open(command.store)
    _require_arrival_today(command.store, command.day, command.at)
    return [
        WalkInArrived(
            store_id=command.store.store_id,
            day=command.day,
            visit_id=command.visit_id,
            customer_ref=command.customer_ref,
            vehicle=command.vehicle,
            service_type=command.service_type,
            expected_labour_hours=command.expected_labour_hours,
            occurred_at=command.at,
        )
    ]


def check_in_customer(command: CheckInCustomer, book: BookState) -> Sequence[CustomerCheckedIn]:
    v = Violations()
    validation.identifier(v, "visit_id", command.visit_id)
    v.raise_if_any()
    appointment = book.appointment(command.appointment_id)
    if command.visit_id in book.visits:
        raise AlreadyExists("visit", command.visit_id)
    require_booked(appointment, command.store)
    require_open(command.store)
    _require_arrival_today(command.store, command.day, command.at)
    return [
        CustomerCheckedIn(
            store_id=command.store.store_id,
            day=command.day,
            appointment_id=appointment.appointment_id,
            visit_id=command.visit_id,
            occurred_at=command.at,
        )
    ]


def start_service(command: StartService, book: BookState) -> Sequence[ServiceStarted]:
    v = Violations()
    if not 1 <= command.bay <= command.store.bays:
        v.add("bay", f"must be a bay of the store, from 1 to {command.store.bays}")
    if not command.technician_ids:
        v.add("technician_ids", "name at least one technician")
    _check_technicians(v, command.technician_ids)
    v.raise_if_any()
    visit = book.visit(command.visit_id)
    if visit.status != VisitStatus.WAITING:
        raise RuleViolated(
            reason=reasons.VISIT_NOT_WAITING,
            message=f"visit {visit.visit_id} is {visit.status.name.lower()}, not waiting",
            subject=_subject(command.store, visit),
            metadata={"status": visit.status.name},
        )
    occupant = book.occupant_of(command.bay)
    if occupant is not None:
        raise RuleViolated(
            reason=reasons.BAY_OCCUPIED,
            message=f"bay {command.bay} is taken by visit {occupant.visit_id}",
            subject=f"store/{command.store.store_id}/bay/{command.bay}",
            metadata={"bay": str(command.bay), "visit_id": occupant.visit_id},
        )
    return [
        ServiceStarted(
            store_id=command.store.store_id,
            day=command.day,
            visit_id=visit.visit_id,
            bay=command.bay,
            technician_ids=command.technician_ids,
            occurred_at=command.at,
        )
    ]


def complete_visit(command: CompleteVisit, book: BookState) -> Sequence[VisitCompleted]:
    v = Violations()
    if not 0.0 <= command.labour_hours <= MAX_LABOUR_HOURS:
        v.add("labour_hours", f"must be from 0 to {MAX_LABOUR_HOURS:g}")
    validation.non_negative(v, "labour_revenue_fen", command.labour_revenue_fen, MAX_FEN)
    validation.non_negative(v, "parts_revenue_fen", command.parts_revenue_fen, MAX_FEN)
    validation.non_negative(v, "other_revenue_fen", command.other_revenue_fen, MAX_FEN)
    _check_technicians(v, command.technician_ids)
    if command.satisfaction_score is not None and not (
        0 <= command.satisfaction_score <= MAX_SATISFACTION
    ):
        v.add("satisfaction_score", f"must be from 0 to {MAX_SATISFACTION}")
    v.raise_if_any()
    visit = book.visit(command.visit_id)
    if visit.status == VisitStatus.COMPLETED:
        raise RuleViolated(
            reason=reasons.VISIT_ALREADY_COMPLETED,
            message=f"visit {visit.visit_id} is already completed",
            subject=_subject(command.store, visit),
        )
    if visit.status != VisitStatus.IN_SERVICE:
        raise RuleViolated(
            reason=reasons.VISIT_NOT_IN_SERVICE,
            message=f"visit {visit.visit_id} is {visit.status.name.lower()}, not in service",
            subject=_subject(command.store, visit),
            metadata={"status": visit.status.name},
        )
    return [
        VisitCompleted(
            store_id=command.store.store_id,
            day=command.day,
            visit_id=visit.visit_id,
            appointment_id=visit.appointment_id,
            diverted_from_store_id=visit.diverted_from_store_id,
            labour_hours=command.labour_hours,
            labour_revenue_fen=command.labour_revenue_fen,
            parts_revenue_fen=command.parts_revenue_fen,
            other_revenue_fen=command.other_revenue_fen,
            technician_ids=command.technician_ids or visit.technician_ids,
            satisfaction_score=command.satisfaction_score,
            complaint=command.complaint,
            occurred_at=command.at,
        )
    ]


def record_quote_abandoned(
    command: RecordQuoteAbandoned, book: BookState
) -> Sequence[QuoteAbandoned]:
    v = Violations()
    validation.non_negative(v, "quote_fen", command.quote_fen, MAX_FEN)
    v.raise_if_any()
    visit = book.visit(command.visit_id)
    if visit.status not in (VisitStatus.WAITING, VisitStatus.IN_SERVICE):
        raise RuleViolated(
            reason=reasons.VISIT_ALREADY_ENDED,
            message=f"visit {visit.visit_id} is already {visit.status.name.lower()}",
            subject=_subject(command.store, visit),
            metadata={"status": visit.status.name},
        )
    return [
        QuoteAbandoned(
            store_id=command.store.store_id,
            day=command.day,
            visit_id=visit.visit_id,
            quote_fen=command.quote_fen,
            occurred_at=command.at,
        )
    ]


def _require_arrival_today(store: StoreFacts, day: date, at: datetime) -> None:
    today = local_day(at, store.time_zone)
    if today != day:
        raise RuleViolated(
            reason=reasons.ARRIVAL_ON_ANOTHER_DAY,
            message=f"an arrival on {today.isoformat()} cannot enter the book of {day.isoformat()}",
            subject=f"store/{store.store_id}",
            metadata={"day": day.isoformat(), "today": today.isoformat()},
        )


def _check_technicians(v: Violations, technician_ids: tuple[str, ...]) -> None:
    for index, technician_id in enumerate(technician_ids):
        validation.identifier(v, f"technician_ids[{index}]", technician_id)
    if len(set(technician_ids)) != len(technician_ids):
        v.add("technician_ids", "names a technician more than once")


def _subject(store: StoreFacts, visit: Visit) -> str:
    return f"visit/{store.store_id}/{visit.visit_id}"
