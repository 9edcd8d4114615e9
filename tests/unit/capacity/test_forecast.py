"""Capacity pressure ahead: the weekday walk-in pattern and the 7-day early warning."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kernel.testing.scenario import Scenario
from services.capacity.domain.appointment_book import BookCommand, BookEvent, appointment_book
from services.capacity.domain.appointments import AppointmentBooked, DayCapacitySet
from services.capacity.domain.book_state import BookState
from services.capacity.domain.forecast import (
    CapacityPressureEased,
    CapacityPressureForecast,
    DayBookings,
    DayWalkIns,
    ForecastCapacityPressure,
    WalkInPattern,
    WeekdayWalkIns,
    forecast_capacity_pressure,
    forecast_day,
    forecast_horizon,
    learn_walk_in_pattern,
)
from services.capacity.domain.opening_hours import Weekday
from services.capacity.domain.utilisation import StatusColour

from .examples import MONDAY, STORE, STORE_ID, SUNDAY, local

book: Scenario[BookState, BookCommand, BookEvent] = Scenario(appointment_book)
FRIDAY = MONDAY + timedelta(days=4)
NOW = local(9, 0)


def weeks_of(weekday_counts: dict[int, list[int]], as_of: date) -> list[DayWalkIns]:
    """Walk-ins on the weeks before `as_of` (a Monday): index 0 is the week just before."""
    history = []
    for offset, counts in weekday_counts.items():
        for weeks_back, count in enumerate(counts, start=1):
            day = as_of - timedelta(weeks=weeks_back) + timedelta(days=offset)
            history.append(DayWalkIns(day=day, walk_ins=count))
    return history


def test_the_pattern_is_the_mean_of_each_weekday_over_the_last_eight_weeks() -> None:
    history = weeks_of({0: [10, 12, 11, 10, 12, 11, 10, 12, 90], 4: [20, 24]}, MONDAY)
    pattern = learn_walk_in_pattern(history, as_of=MONDAY)
    # The ninth Monday back (90 walk-ins) is outside the window.
    assert pattern.expected_on(MONDAY + timedelta(weeks=1)) == pytest.approx(11.0)
    assert pattern.expected_on(FRIDAY) == pytest.approx(22.0)


def test_a_weekday_without_history_expects_no_walk_ins() -> None:
    pattern = learn_walk_in_pattern(weeks_of({0: [10]}, MONDAY), as_of=MONDAY)
    assert pattern.expected_on(MONDAY + timedelta(days=2)) == 0.0


def test_the_day_being_learned_from_and_later_days_are_not_history() -> None:
    history = [DayWalkIns(day=MONDAY, walk_ins=50), DayWalkIns(day=FRIDAY, walk_ins=50)]
    assert learn_walk_in_pattern(history, as_of=MONDAY) == WalkInPattern(())


def test_the_horizon_is_the_next_seven_days() -> None:
    assert forecast_horizon(MONDAY) == tuple(MONDAY + timedelta(days=n) for n in range(1, 8))


def test_a_day_is_forecast_from_bookings_plus_expected_walk_ins() -> None:
    forecast = forecast_day(day=FRIDAY, capacity=30, booked=12, expected_walk_ins=22.0)
    assert forecast.forecast_load == 34.0
    assert forecast.utilisation == pytest.approx(34 / 30)
    assert forecast.status == StatusColour.RED


def test_nobody_is_expected_to_walk_in_on_a_day_without_capacity() -> None:
    forecast = forecast_day(day=SUNDAY, capacity=0, booked=0, expected_walk_ins=5.0)
    assert (forecast.expected_walk_ins, forecast.status) == (0.0, StatusColour.GREEN)


def test_the_week_ahead_applies_each_days_weekday_pattern() -> None:
    pattern = WalkInPattern(
        (
            WeekdayWalkIns(weekday=Weekday.MONDAY, expected_walk_ins=11.0),
            WeekdayWalkIns(weekday=Weekday.FRIDAY, expected_walk_ins=22.0),
        )
    )
    week = forecast_capacity_pressure(
        [
            DayBookings(day=FRIDAY, capacity=30, booked=10),
            DayBookings(day=MONDAY + timedelta(weeks=1), capacity=30, booked=10),
        ],
        pattern,
    )
    assert [(f.forecast_load, f.status) for f in week] == [
        (32.0, StatusColour.RED),
        (21.0, StatusColour.GREEN),
    ]


def _booked_on_friday(n: int) -> AppointmentBooked:
    return AppointmentBooked(
        store_id=STORE_ID,
        day=FRIDAY,
        appointment_id=f"A{n}",
        customer_ref=f"C-{n}",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=1.0,
        requested_at=local(9, 0, FRIDAY),
        occurred_at=NOW,
    )


FRIDAY_BOOKINGS = tuple(_booked_on_friday(n) for n in range(12))
PRESSURE = CapacityPressureForecast(
    store_id=STORE_ID,
    day=FRIDAY,
    capacity=30,
    booked=12,
    expected_walk_ins=22.0,
    forecast_utilisation=34 / 30,
    occurred_at=NOW,
)


def forecast(expected_walk_ins: float, day: date = FRIDAY) -> ForecastCapacityPressure:
    return ForecastCapacityPressure(
        store=STORE, day=day, expected_walk_ins=expected_walk_ins, at=NOW
    )


def test_a_day_forecast_above_capacity_raises_an_early_warning() -> None:
    book.given(*FRIDAY_BOOKINGS).when(forecast(22.0)).then(PRESSURE)


def test_a_day_forecast_at_exactly_full_capacity_raises_nothing() -> None:
    book.given(*FRIDAY_BOOKINGS).when(forecast(18.0)).then_nothing_happens()


def test_the_early_warning_is_raised_once_per_crossing() -> None:
    book.given(*FRIDAY_BOOKINGS, PRESSURE).when(forecast(25.0)).then_nothing_happens()


def test_a_forecast_back_under_capacity_eases_the_warning() -> None:
    more_bays = DayCapacitySet(
        store_id=STORE_ID, day=FRIDAY, capacity=40, previous_capacity=30, reason="", occurred_at=NOW
    )
    book.given(*FRIDAY_BOOKINGS, PRESSURE, more_bays).when(forecast(22.0)).then(
        CapacityPressureEased(
            store_id=STORE_ID,
            day=FRIDAY,
            capacity=40,
            booked=12,
            expected_walk_ins=22.0,
            forecast_utilisation=34 / 40,
            occurred_at=NOW,
        )
    )


def test_a_past_day_is_not_forecast() -> None:
    book.given().when(forecast(5.0, day=MONDAY - timedelta(days=1))).then_refused("DAY_IN_THE_PAST")


def test_negative_expected_walk_ins_are_refused() -> None:
    book.given().when(forecast(-1.0)).then_invalid("expected_walk_ins")
