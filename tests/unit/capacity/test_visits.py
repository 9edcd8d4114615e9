"""Visits in the appointment book: walk-in or check-in, a bay, completion or abandonment."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from kernel.errors import AlreadyExists, NotFound
from kernel.testing.scenario import Scenario
from services.capacity.domain.appointment_book import BookCommand, BookEvent, appointment_book
from services.capacity.domain.appointments import AppointmentCancelled
from services.capacity.domain.book_state import AppointmentStatus, BookState, VisitStatus
from services.capacity.domain.holds import SlotHoldConfirmed
from services.capacity.domain.stores import StoreFacts
from services.capacity.domain.visits import (
    CheckInCustomer,
    CompleteVisit,
    CustomerCheckedIn,
    QuoteAbandoned,
    RecordQuoteAbandoned,
    RegisterWalkIn,
    ServiceStarted,
    StartService,
    VisitCompleted,
    WalkInArrived,
)

from .examples import (
    CLOSED_STORE,
    MONDAY,
    STORE,
    STORE_ID,
    TUESDAY,
    booked,
    checked_in,
    held,
    local,
    started,
    walked_in,
)

book: Scenario[BookState, BookCommand, BookEvent] = Scenario(appointment_book)
NOW = local(10, 0)


def walk_in(visit_id: str = "V1", store: StoreFacts = STORE, at: datetime = NOW) -> RegisterWalkIn:
    return RegisterWalkIn(
        store=store,
        day=MONDAY,
        visit_id=visit_id,
        customer_ref="C-9",
        vehicle="粤B54321",
        service_type="repair",
        expected_labour_hours=1.5,
        at=at,
    )


def complete(visit_id: str = "V1", technician_ids: tuple[str, ...] = ()) -> CompleteVisit:
    return CompleteVisit(
        store=STORE,
        day=MONDAY,
        visit_id=visit_id,
        labour_hours=3.2,
        labour_revenue_fen=87_500,
        parts_revenue_fen=72_900,
        other_revenue_fen=16_700,
        technician_ids=technician_ids,
        satisfaction_score=92,
        complaint=False,
        at=local(13, 0),
    )


def completed(visit_id: str) -> VisitCompleted:
    return VisitCompleted(
        store_id=STORE_ID,
        day=MONDAY,
        visit_id=visit_id,
        appointment_id=None,
        diverted_from_store_id=None,
        labour_hours=3.2,
        labour_revenue_fen=87_500,
        parts_revenue_fen=72_900,
        other_revenue_fen=16_700,
        technician_ids=("T-2",),
        satisfaction_score=92,
        complaint=False,
        occurred_at=local(13, 0),
    )


def test_a_walk_in_arrives_as_a_waiting_visit() -> None:
    book.given().when(walk_in()).then(
        WalkInArrived(
            store_id=STORE_ID,
            day=MONDAY,
            visit_id="V1",
            customer_ref="C-9",
            vehicle="粤B54321",
            service_type="repair",
            expected_labour_hours=1.5,
            occurred_at=NOW,
        )
    )
    visit = book.given(walked_in("V1", NOW)).state.visits["V1"]
    assert (visit.status, visit.appointment_id) == (VisitStatus.WAITING, None)


def test_a_walk_in_at_a_closed_store_is_refused() -> None:
    book.given().when(walk_in(store=CLOSED_STORE)).then_refused("STORE_CLOSED")


def test_an_arrival_is_recorded_only_in_the_book_of_its_own_day() -> None:
    book.given().when(walk_in(at=local(9, 0, TUESDAY))).then_refused("ARRIVAL_ON_ANOTHER_DAY")


def test_a_visit_id_is_used_once() -> None:
    book.given(walked_in("V1", NOW)).when(walk_in("V1")).then_error(AlreadyExists)


def test_a_booked_customer_checks_in_and_becomes_a_visit() -> None:
    command = CheckInCustomer(store=STORE, day=MONDAY, appointment_id="A1", visit_id="V1", at=NOW)
    event = CustomerCheckedIn(
        store_id=STORE_ID, day=MONDAY, appointment_id="A1", visit_id="V1", occurred_at=NOW
    )
    book.given(booked("A1")).when(command).then(event)
    state = book.given(booked("A1"), event).state
    assert state.appointments["A1"].status == AppointmentStatus.CHECKED_IN
    assert state.visits["V1"].appointment_id == "A1"
    assert state.visits["V1"].expected_labour_hours == 2.0


def test_a_cancelled_appointment_cannot_check_in() -> None:
    cancelled = AppointmentCancelled(
        store_id=STORE_ID, day=MONDAY, appointment_id="A1", reason="", occurred_at=NOW
    )
    command = CheckInCustomer(store=STORE, day=MONDAY, appointment_id="A1", visit_id="V1", at=NOW)
    book.given(booked("A1"), cancelled).when(command).then_refused("APPOINTMENT_NOT_BOOKED")


def test_an_unknown_appointment_cannot_check_in() -> None:
    command = CheckInCustomer(store=STORE, day=MONDAY, appointment_id="A7", visit_id="V1", at=NOW)
    book.given().when(command).then_error(NotFound)


def test_service_starts_in_a_free_bay_with_its_technicians() -> None:
    command = StartService(
        store=STORE, day=MONDAY, visit_id="V1", bay=3, technician_ids=("T-7", "T-8"), at=NOW
    )
    book.given(walked_in("V1", local(9, 30))).when(command).then(
        ServiceStarted(
            store_id=STORE_ID,
            day=MONDAY,
            visit_id="V1",
            bay=3,
            technician_ids=("T-7", "T-8"),
            occurred_at=NOW,
        )
    )


def test_a_bay_holds_one_vehicle_at_a_time() -> None:
    command = StartService(
        store=STORE, day=MONDAY, visit_id="V2", bay=3, technician_ids=("T-9",), at=NOW
    )
    refusal = (
        book.given(
            walked_in("V1", local(9, 0)),
            walked_in("V2", local(9, 5)),
            started("V1", 3, local(9, 10)),
        )
        .when(command)
        .then_refused("BAY_OCCUPIED")
    )
    assert refusal.metadata == {"bay": "3", "visit_id": "V1"}


def test_a_bay_outside_the_store_is_refused() -> None:
    command = StartService(
        store=STORE, day=MONDAY, visit_id="V1", bay=9, technician_ids=("T-1",), at=NOW
    )
    book.given(walked_in("V1", local(9, 0))).when(command).then_invalid("bay")


def test_service_needs_at_least_one_technician() -> None:
    command = StartService(store=STORE, day=MONDAY, visit_id="V1", bay=1, technician_ids=(), at=NOW)
    book.given(walked_in("V1", local(9, 0))).when(command).then_invalid("technician_ids")


def test_service_starts_only_for_a_waiting_visit() -> None:
    command = StartService(
        store=STORE, day=MONDAY, visit_id="V1", bay=2, technician_ids=("T-1",), at=NOW
    )
    book.given(walked_in("V1", local(9, 0)), started("V1", 1, local(9, 5))).when(
        command
    ).then_refused("VISIT_NOT_WAITING")


def test_a_visit_in_service_is_completed_with_its_figures() -> None:
    event = (
        book.given(
            booked("A1"), checked_in("A1", "V1", local(9, 50)), started("V1", 2, local(10, 0))
        )
        .when(complete())
        .events[0]
    )
    assert event == VisitCompleted(
        store_id=STORE_ID,
        day=MONDAY,
        visit_id="V1",
        appointment_id="A1",
        diverted_from_store_id=None,
        labour_hours=3.2,
        labour_revenue_fen=87_500,
        parts_revenue_fen=72_900,
        other_revenue_fen=16_700,
        technician_ids=("T-2",),
        satisfaction_score=92,
        complaint=False,
        occurred_at=local(13, 0),
    )


def test_a_completion_names_the_technicians_who_finished_the_work_when_given() -> None:
    event = (
        book.given(walked_in("V1", local(9, 0)), started("V1", 2, local(9, 5)))
        .when(complete(technician_ids=("T-2", "T-5")))
        .events[0]
    )
    assert isinstance(event, VisitCompleted)
    assert event.technician_ids == ("T-2", "T-5")


def test_a_visit_is_completed_at_most_once() -> None:
    history = (walked_in("V1", local(9, 0)), started("V1", 2, local(9, 5)), completed("V1"))
    book.given(*history).when(complete()).then_refused("VISIT_ALREADY_COMPLETED")


def test_a_visit_not_yet_in_service_cannot_be_completed() -> None:
    book.given(walked_in("V1", local(9, 0))).when(complete()).then_refused("VISIT_NOT_IN_SERVICE")


def test_a_satisfaction_score_above_a_hundred_is_refused() -> None:
    command = CompleteVisit(
        store=STORE,
        day=MONDAY,
        visit_id="V1",
        labour_hours=1.0,
        labour_revenue_fen=-1,
        parts_revenue_fen=0,
        other_revenue_fen=0,
        satisfaction_score=101,
        at=NOW,
    )
    book.given(walked_in("V1", local(9, 0)), started("V1", 2, local(9, 5))).when(
        command
    ).then_invalid("labour_revenue_fen", "satisfaction_score")


def test_a_diverted_customers_visit_counts_for_the_receiving_store() -> None:
    hold_booked = replace(booked("A1"), hold_id="H1", diverted_from_store_id="GZ01")
    history = (
        held("H1", expires_at=local(10, 30)),
        SlotHoldConfirmed(
            store_id=STORE_ID,
            day=MONDAY,
            hold_id="H1",
            diverted_from_store_id="GZ01",
            appointment_id="A1",
            occurred_at=local(10, 5),
        ),
        hold_booked,
        checked_in("A1", "V1", local(10, 40)),
        started("V1", 1, local(10, 45)),
    )
    event = book.given(*history).when(complete()).events[0]
    assert isinstance(event, VisitCompleted)
    assert event.diverted_from_store_id == "GZ01"


def test_a_customer_who_leaves_after_the_quote_is_recorded_as_abandoned() -> None:
    command = RecordQuoteAbandoned(
        store=STORE, day=MONDAY, visit_id="V1", quote_fen=250_000, at=NOW
    )
    event = QuoteAbandoned(
        store_id=STORE_ID, day=MONDAY, visit_id="V1", quote_fen=250_000, occurred_at=NOW
    )
    book.given(walked_in("V1", local(9, 0))).when(command).then(event)
    assert book.given(walked_in("V1", local(9, 0)), event).state.visits["V1"].status == (
        VisitStatus.ABANDONED
    )


def test_an_abandoned_visit_frees_its_bay() -> None:
    abandoned = QuoteAbandoned(
        store_id=STORE_ID, day=MONDAY, visit_id="V1", quote_fen=0, occurred_at=local(9, 30)
    )
    command = StartService(
        store=STORE, day=MONDAY, visit_id="V2", bay=1, technician_ids=("T-1",), at=NOW
    )
    events = (
        book.given(
            walked_in("V1", local(9, 0)),
            walked_in("V2", local(9, 1)),
            started("V1", 1, local(9, 5)),
            abandoned,
        )
        .when(command)
        .events
    )
    assert isinstance(events[0], ServiceStarted)


def test_a_completed_visit_cannot_be_abandoned() -> None:
    history = (walked_in("V1", local(9, 0)), started("V1", 2, local(9, 5)), completed("V1"))
    command = RecordQuoteAbandoned(store=STORE, day=MONDAY, visit_id="V1", quote_fen=0, at=NOW)
    book.given(*history).when(command).then_refused("VISIT_ALREADY_ENDED")
