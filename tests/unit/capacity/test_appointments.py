"""Appointments and day capacity in a store's appointment book."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from kernel.errors import AlreadyExists, InvalidArgument, NotFound
from kernel.testing.scenario import Scenario
from services.capacity.domain.appointment_book import BookCommand, BookEvent, appointment_book
from services.capacity.domain.appointments import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
    BookAppointment,
    CancelAppointment,
    DayCapacitySet,
    MarkNoShow,
    RescheduleAppointment,
    SetDayCapacity,
)
from services.capacity.domain.book_state import AppointmentStatus, BookState
from services.capacity.domain.opening_hours import OpeningHours, Weekday
from services.capacity.domain.stores import StoreFacts

from .examples import (
    CLOSED_STORE,
    MONDAY,
    STORE,
    STORE_ID,
    SUNDAY,
    TUESDAY,
    booked,
    checked_in,
    local,
)

book: Scenario[BookState, BookCommand, BookEvent] = Scenario(appointment_book)
NOW = local(9, 0)


def book_at(
    requested_at: datetime, *, store: StoreFacts = STORE, at: datetime = NOW, hours: float = 2.0
) -> BookAppointment:
    return BookAppointment(
        store=store,
        day=MONDAY,
        appointment_id="A1",
        customer_ref="C-1",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=hours,
        requested_at=requested_at,
        at=at,
    )


def test_an_appointment_is_booked_on_an_open_store() -> None:
    book.given().when(book_at(local(10, 30))).then(
        AppointmentBooked(
            store_id=STORE_ID,
            day=MONDAY,
            appointment_id="A1",
            customer_ref="C-1",
            vehicle="粤B12345",
            service_type="maintenance",
            expected_labour_hours=2.0,
            requested_at=local(10, 30),
            occurred_at=NOW,
        )
    )


def test_a_booking_on_a_closed_store_is_refused() -> None:
    book.given().when(book_at(local(10, 30), store=CLOSED_STORE)).then_refused("STORE_CLOSED")


def test_a_booking_in_the_past_is_refused() -> None:
    refusal = book.given().when(book_at(local(8, 59))).then_refused("APPOINTMENT_IN_THE_PAST")
    assert refusal.metadata["requested_at"] == local(8, 59).isoformat()


def test_a_booking_for_right_now_is_accepted() -> None:
    assert book.given().when(book_at(NOW)).events


@pytest.mark.parametrize(("hour", "minute"), [(7, 59), (17, 30), (20, 0)])
def test_a_booking_outside_opening_hours_is_refused(hour: int, minute: int) -> None:
    command = book_at(local(hour, minute), at=local(6, 0))
    book.given().when(command).then_refused("OUTSIDE_OPENING_HOURS")


@pytest.mark.parametrize(("hour", "minute"), [(8, 0), (17, 29)])
def test_a_booking_at_the_edges_of_opening_hours_is_accepted(hour: int, minute: int) -> None:
    assert book.given().when(book_at(local(hour, minute), at=local(6, 0))).events


def test_a_booking_on_a_closed_weekday_is_refused() -> None:
    command = BookAppointment(
        store=STORE,
        day=SUNDAY,
        appointment_id="A1",
        customer_ref="C-1",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=1.0,
        requested_at=local(10, 0, day=SUNDAY),
        at=NOW,
    )
    book.given().when(command).then_refused("OUTSIDE_OPENING_HOURS")


def test_a_booking_must_fall_on_the_books_local_day() -> None:
    book.given().when(book_at(local(10, 0, day=TUESDAY))).then_invalid("requested_at")


def test_a_booking_time_without_a_time_zone_is_refused() -> None:
    book.given().when(book_at(datetime(2026, 11, 2, 10, 0))).then_invalid("requested_at")


@pytest.mark.parametrize("hours", [0.0, -1.0, 100.5])
def test_expected_labour_hours_must_be_positive_and_plausible(hours: float) -> None:
    book.given().when(book_at(local(10, 0), hours=hours)).then_invalid("expected_labour_hours")


def test_an_appointment_id_is_used_once_per_day() -> None:
    book.given(booked("A1")).when(book_at(local(11, 0))).then_error(AlreadyExists)


def test_a_booked_appointment_is_rescheduled_within_the_day() -> None:
    command = RescheduleAppointment(
        store=STORE, day=MONDAY, appointment_id="A1", requested_at=local(15, 0), at=NOW
    )
    rescheduled = AppointmentRescheduled(
        store_id=STORE_ID,
        day=MONDAY,
        appointment_id="A1",
        previous_requested_at=local(10, 0),
        requested_at=local(15, 0),
        occurred_at=NOW,
    )
    book.given(booked("A1", hour=10)).when(command).then(rescheduled)
    state = book.given(booked("A1", hour=10), rescheduled).state
    assert state.appointments["A1"].requested_at == local(15, 0)


def test_a_cancelled_appointment_cannot_be_rescheduled() -> None:
    cancelled = AppointmentCancelled(
        store_id=STORE_ID, day=MONDAY, appointment_id="A1", reason="", occurred_at=NOW
    )
    command = RescheduleAppointment(
        store=STORE, day=MONDAY, appointment_id="A1", requested_at=local(15, 0), at=NOW
    )
    refusal = (
        book.given(booked("A1"), cancelled).when(command).then_refused("APPOINTMENT_NOT_BOOKED")
    )
    assert refusal.metadata == {"status": "CANCELLED"}


def test_an_appointment_cannot_be_rescheduled_into_the_past() -> None:
    command = RescheduleAppointment(
        store=STORE, day=MONDAY, appointment_id="A1", requested_at=local(8, 30), at=NOW
    )
    book.given(booked("A1")).when(command).then_refused("APPOINTMENT_IN_THE_PAST")


def test_rescheduling_to_another_day_is_refused_in_this_book() -> None:
    command = RescheduleAppointment(
        store=STORE, day=MONDAY, appointment_id="A1", requested_at=local(10, 0, TUESDAY), at=NOW
    )
    book.given(booked("A1")).when(command).then_invalid("requested_at")


def test_an_unknown_appointment_cannot_be_rescheduled() -> None:
    command = RescheduleAppointment(
        store=STORE, day=MONDAY, appointment_id="A9", requested_at=local(15, 0), at=NOW
    )
    book.given(booked("A1")).when(command).then_error(NotFound)


def test_a_booked_appointment_is_cancelled() -> None:
    command = CancelAppointment(store=STORE, day=MONDAY, appointment_id="A1", reason="sick", at=NOW)
    book.given(booked("A1")).when(command).then(
        AppointmentCancelled(
            store_id=STORE_ID, day=MONDAY, appointment_id="A1", reason="sick", occurred_at=NOW
        )
    )


def test_an_appointment_is_cancelled_only_once() -> None:
    cancelled = AppointmentCancelled(
        store_id=STORE_ID, day=MONDAY, appointment_id="A1", reason="", occurred_at=NOW
    )
    command = CancelAppointment(store=STORE, day=MONDAY, appointment_id="A1", reason="", at=NOW)
    book.given(booked("A1"), cancelled).when(command).then_refused("APPOINTMENT_NOT_BOOKED")


def test_a_checked_in_appointment_cannot_be_cancelled() -> None:
    command = CancelAppointment(store=STORE, day=MONDAY, appointment_id="A1", reason="", at=NOW)
    book.given(booked("A1"), checked_in("A1", "V1", local(9, 50))).when(command).then_refused(
        "APPOINTMENT_NOT_BOOKED"
    )


def test_a_customer_who_did_not_come_is_marked_no_show() -> None:
    command = MarkNoShow(store=STORE, day=MONDAY, appointment_id="A1", at=local(10, 45))
    book.given(booked("A1", hour=10)).when(command).then(
        AppointmentNoShow(
            store_id=STORE_ID,
            day=MONDAY,
            appointment_id="A1",
            requested_at=local(10, 0),
            occurred_at=local(10, 45),
        )
    )


def test_a_customer_is_not_a_no_show_before_the_appointment_time() -> None:
    command = MarkNoShow(store=STORE, day=MONDAY, appointment_id="A1", at=local(9, 59))
    book.given(booked("A1", hour=10)).when(command).then_refused("APPOINTMENT_NOT_DUE")


def test_cancelled_and_no_show_appointments_no_longer_count_as_booked() -> None:
    state = book.given(
        booked("A1"),
        booked("A2"),
        booked("A3"),
        AppointmentCancelled(
            store_id=STORE_ID, day=MONDAY, appointment_id="A1", reason="", occurred_at=NOW
        ),
        AppointmentNoShow(
            store_id=STORE_ID,
            day=MONDAY,
            appointment_id="A2",
            requested_at=local(10),
            occurred_at=NOW,
        ),
    ).state
    assert state.booked == 1
    assert state.appointments["A2"].status == AppointmentStatus.NO_SHOW


def test_a_days_capacity_overrides_the_stores_default() -> None:
    command = SetDayCapacity(store=STORE, day=MONDAY, capacity=18, reason="two out sick", at=NOW)
    event = DayCapacitySet(
        store_id=STORE_ID,
        day=MONDAY,
        capacity=18,
        previous_capacity=30,
        reason="two out sick",
        occurred_at=NOW,
    )
    book.given().when(command).then(event)
    assert book.given(event).state.capacity(STORE, MONDAY) == 18


def test_a_days_capacity_of_zero_closes_the_day() -> None:
    command = SetDayCapacity(store=STORE, day=TUESDAY, capacity=0, reason="holiday", at=NOW)
    assert book.given().when(command).events


def test_a_negative_capacity_is_refused() -> None:
    command = SetDayCapacity(store=STORE, day=MONDAY, capacity=-1, reason="", at=NOW)
    book.given().when(command).then_invalid("capacity")


def test_the_capacity_of_a_past_day_cannot_change() -> None:
    command = SetDayCapacity(
        store=STORE, day=MONDAY, capacity=20, reason="", at=local(9, 0, TUESDAY)
    )
    book.given().when(command).then_refused("DAY_IN_THE_PAST")


def test_setting_the_same_capacity_again_records_nothing() -> None:
    event = DayCapacitySet(
        store_id=STORE_ID, day=MONDAY, capacity=18, previous_capacity=30, reason="", occurred_at=NOW
    )
    command = SetDayCapacity(store=STORE, day=MONDAY, capacity=18, reason="", at=NOW)
    book.given(event).when(command).then_nothing_happens()


def test_a_closed_weekday_has_no_capacity_unless_one_is_set() -> None:
    assert book.given().state.capacity(STORE, SUNDAY) == 0
    assert book.given().state.capacity(STORE, MONDAY) == 30


def test_a_booking_on_a_local_day_past_the_calendars_last_is_refused() -> None:
    """9998-12-31 20:00 UTC is 9999-01-01 04:00 in Shanghai: a day no call can name (a day
    field is refused past 9998-12-31), so the booking could be neither seen nor cancelled.
    SyncAppointments refused it already; a single booking, a reschedule and a hold did not."""
    all_day_friday = (OpeningHours(weekday=Weekday.FRIDAY, opens_minute=0, closes_minute=1440),)
    store = replace(STORE, opening_hours=all_day_friday)
    requested_at = datetime(9998, 12, 31, 20, 0, tzinfo=UTC)
    command = replace(book_at(requested_at, store=store), day=date(9999, 1, 1))

    refused = book.given().when(command).then_error(InvalidArgument)

    assert [f.field for f in refused.violations] == ["requested_at"]
