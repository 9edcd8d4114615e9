"""A DMS's appointments at once: the batch's own faults, and each appointment's result."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kernel.errors import InvalidArgument, RuleViolated
from services.capacity.domain import reasons
from services.capacity.domain.appointment_book import appointment_book
from services.capacity.domain.appointment_sync import (
    MAX_APPOINTMENTS,
    AppointmentSyncResult,
    Outcome,
    SyncAppointments,
    SyncedAppointment,
    SyncedBatch,
    any_new,
    booking,
    day_of,
    days_of,
    decide_all,
    held_already,
    refused,
    validate,
)
from services.capacity.domain.book_state import Appointment, AppointmentStatus, BookState

from .examples import MONDAY, STORE, STORE_ID, TUESDAY, local

NOW = local(7, 0)


def entry(appointment_id: str = "DMS-1", at: datetime | None = None) -> SyncedAppointment:
    return SyncedAppointment(
        appointment_id=appointment_id,
        customer_ref=f"C-{appointment_id}",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=2.0,
        requested_at=at or local(10, 0),
    )


def batch(*entries: SyncedAppointment) -> SyncAppointments:
    return SyncAppointments(store_id=STORE_ID, appointments=tuple(entries), at=NOW)


def faults(command: SyncAppointments) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as refusal:
        validate(command)
    return {v.field: v.description for v in refusal.value.violations}


def held(
    of: SyncedAppointment, status: AppointmentStatus = AppointmentStatus.BOOKED
) -> Appointment:
    return Appointment(
        appointment_id=of.appointment_id,
        customer_ref=of.customer_ref,
        vehicle=of.vehicle,
        service_type=of.service_type,
        expected_labour_hours=of.expected_labour_hours,
        requested_at=of.requested_at,
        status=status,
    )


def test_a_well_formed_batch_passes() -> None:
    validate(batch(entry("DMS-1"), entry("DMS-2", local(11, 0, TUESDAY))))


def test_the_batch_faults_are_reported_together_each_by_its_path() -> None:
    naive = replace(entry("DMS-3"), requested_at=datetime(2026, 11, 2, 10, 0))
    found = faults(batch(entry("DMS-1"), entry("../x"), entry("DMS-1"), naive))

    assert set(found) == {
        "appointments[1].appointment_id",
        "appointments[2].appointment_id",
        "appointments[3].requested_at",
    }
    assert "repeats appointments[0]" in found["appointments[2].appointment_id"]


def test_an_empty_batch_and_an_oversized_one_are_refused() -> None:
    assert "at least one" in faults(batch())["appointments"]
    many = [entry(f"DMS-{k}") for k in range(MAX_APPOINTMENTS + 1)]
    assert f"at most {MAX_APPOINTMENTS}" in faults(batch(*many))["appointments"]


def test_an_appointment_goes_in_the_book_of_its_store_local_day() -> None:
    # 00:30 on Tuesday in Shenzhen is still Monday in UTC.
    late = entry("DMS-1", local(0, 30, TUESDAY))
    assert late.requested_at.date() == MONDAY
    assert day_of(late, STORE) == TUESDAY
    assert booking(late, STORE, NOW).day == TUESDAY


def test_the_booking_is_the_one_book_appointment_makes() -> None:
    command = booking(entry("DMS-7"), STORE, NOW)

    assert (command.appointment_id, command.customer_ref, command.at) == ("DMS-7", "C-DMS-7", NOW)
    assert command.store == STORE and command.day == MONDAY


def test_malformed_content_refuses_that_appointment_alone_naming_its_fields() -> None:
    bad = replace(entry("DMS-1"), vehicle="", expected_labour_hours=0.0)

    with pytest.raises(RuleViolated) as refusal:
        booking(bad, STORE, NOW)

    assert refusal.value.reason == reasons.INVALID_APPOINTMENT
    assert set(refusal.value.metadata) == {"vehicle", "expected_labour_hours"}
    assert "vehicle" in str(refusal.value) and "expected_labour_hours" in str(refusal.value)


def test_a_time_whose_local_day_is_off_the_calendar_refuses_that_appointment() -> None:
    # 9998-12-31T20:00Z is 9999-01-01 in Shanghai, 0002-01-01T00:00Z 0001-12-31 in Los
    # Angeles: a book no other call can name (days are 0002-01-01..9998-12-31).
    late = entry("DMS-1", datetime(9998, 12, 31, 20, 0, tzinfo=UTC))
    early = entry("DMS-2", datetime(2, 1, 1, 0, 0, tzinfo=UTC))
    west = replace(STORE, time_zone="America/Los_Angeles")

    for sent, store in ((late, STORE), (early, west)):
        with pytest.raises(RuleViolated) as refusal:
            booking(sent, store, NOW)
        assert refusal.value.reason == reasons.INVALID_APPOINTMENT
        assert set(refusal.value.metadata) == {"requested_at"}


def test_the_same_appointment_again_is_unchanged_and_says_where_it_stands() -> None:
    sent = entry("DMS-1")
    result = held_already(held(sent, AppointmentStatus.CHECKED_IN), sent, MONDAY)

    assert result == AppointmentSyncResult(
        "DMS-1", Outcome.UNCHANGED, MONDAY, status=AppointmentStatus.CHECKED_IN
    )


def test_an_appointment_held_with_other_details_is_refused_naming_them() -> None:
    sent = entry("DMS-1")
    moved = replace(sent, requested_at=sent.requested_at + timedelta(hours=1), vehicle="粤B999")

    result = held_already(held(sent), moved, MONDAY)

    assert (result.outcome, result.reason) == (Outcome.REFUSED, reasons.APPOINTMENT_DIFFERS)
    assert "vehicle, requested_at" in result.message
    assert "customer_ref" not in result.message
    assert result.status is AppointmentStatus.BOOKED


def test_one_held_no_longer_booked_is_not_sent_to_calls_that_would_refuse_it() -> None:
    # Rescheduling and cancelling take booked appointments only (APPOINTMENT_NOT_BOOKED),
    # and the day's book keeps the id: the DMS needs a new appointment_id to book again.
    sent = entry("DMS-1")
    rebooked = replace(sent, vehicle="粤B999")

    for status in (AppointmentStatus.CANCELLED, AppointmentStatus.CHECKED_IN):
        result = held_already(held(sent, status), rebooked, MONDAY)

        assert (result.outcome, result.reason) == (Outcome.REFUSED, reasons.APPOINTMENT_DIFFERS)
        assert result.status is status
        assert "RescheduleAppointment" not in result.message
        assert status.name.lower().replace("_", " ") in result.message
        assert "new appointment_id" in result.message


def test_a_rule_refusal_keeps_its_reason_and_message() -> None:
    rule = RuleViolated(reasons.OUTSIDE_OPENING_HOURS, "the store is not open at 20:00")

    result = refused(entry("DMS-1"), MONDAY, rule)

    assert result == AppointmentSyncResult(
        "DMS-1",
        Outcome.REFUSED,
        MONDAY,
        reasons.OUTSIDE_OPENING_HOURS,
        "the store is not open at 20:00",
    )


def test_a_batch_tallies_its_outcomes() -> None:
    results = tuple(
        AppointmentSyncResult(f"A{k}", outcome, MONDAY)
        for k, outcome in enumerate(
            [Outcome.BOOKED, Outcome.REFUSED, Outcome.BOOKED, Outcome.UNCHANGED]
        )
    )
    assert SyncedBatch(results).tally() == (2, 1, 1)


def test_a_batch_is_decided_on_each_day_book_as_the_appointments_before_it_left_it() -> None:
    sent = entry("DMS-0")
    before = appointment_book.fold(appointment_book.decide(booking(sent, STORE, NOW), BookState()))
    command = batch(
        entry("DMS-1"),
        entry("DMS-2", local(9, 0, TUESDAY)),
        sent,  # in Monday's book already: nothing recorded
        entry("DMS-3", local(20, 0)),  # after closing: refused alone
        entry("DMS-4", local(11, 0)),
    )

    assert days_of(command, STORE) == [MONDAY, TUESDAY]
    decided = decide_all(command, STORE, {MONDAY: before, TUESDAY: BookState()})

    assert [(r.appointment_id, r.outcome) for r in decided.results] == [
        ("DMS-1", Outcome.BOOKED),
        ("DMS-2", Outcome.BOOKED),
        ("DMS-0", Outcome.UNCHANGED),
        ("DMS-3", Outcome.REFUSED),
        ("DMS-4", Outcome.BOOKED),
    ]
    assert list(decided.books) == [MONDAY, TUESDAY]
    monday = decided.books[MONDAY]
    # Each event the one BookAppointment records, one after the other on Monday's book.
    one_by_one = []
    state = before
    for e in (command.appointments[0], command.appointments[4]):
        events = appointment_book.decide(booking(e, STORE, NOW), state)
        one_by_one += events
        state = appointment_book.fold(events, state)
    assert list(monday.events) == one_by_one
    assert monday.state == state
    assert set(monday.state.appointments) == {"DMS-0", "DMS-1", "DMS-4"}
    assert [e.appointment_id for e in decided.books[TUESDAY].events] == ["DMS-2"]


def test_an_appointment_standing_on_another_day_is_judged_where_it_stands() -> None:
    stands = entry("DMS-1")  # booked on Monday at 10:00
    moved = entry("DMS-1", local(10, 0, TUESDAY))
    command = batch(moved, entry("DMS-2", local(9, 0, TUESDAY)))
    books = {TUESDAY: BookState()}

    assert any_new(command, STORE, books)
    assert not any_new(batch(stands), STORE, {MONDAY: held_book(stands)})
    decided = decide_all(command, STORE, books, {"DMS-1": (MONDAY, held(stands))})

    refusal, booking_ = decided.results
    assert (refusal.outcome, refusal.reason, refusal.day) == (
        Outcome.REFUSED,
        reasons.APPOINTMENT_DIFFERS,
        MONDAY,
    )
    assert (booking_.appointment_id, booking_.outcome) == ("DMS-2", Outcome.BOOKED)
    assert [e.appointment_id for e in decided.books[TUESDAY].events] == ["DMS-2"]


def held_book(of: SyncedAppointment) -> BookState:
    return appointment_book.fold(appointment_book.decide(booking(of, STORE, NOW), BookState()))
