"""The capacity monitor: utilisation colours at their boundaries, bay utilisation, day views."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kernel.testing.scenario import Scenario
from services.capacity.domain.appointment_book import BookCommand, BookEvent, appointment_book
from services.capacity.domain.appointments import AppointmentNoShow, DayCapacitySet
from services.capacity.domain.book_state import BookState
from services.capacity.domain.utilisation import (
    DayView,
    StatusColour,
    bay_utilisation,
    day_view,
    network_totals,
    status_colour,
    utilisation,
)
from services.capacity.domain.visits import VisitCompleted

from .examples import (
    MONDAY,
    STORE,
    STORE_ID,
    SUNDAY,
    booked,
    checked_in,
    held,
    local,
    started,
    walked_in,
)

book: Scenario[BookState, BookCommand, BookEvent] = Scenario(appointment_book)


@pytest.mark.parametrize(
    ("booked_count", "capacity", "colour"),
    [
        pytest.param(20, 25, StatusColour.YELLOW, id="exactly 80% is yellow"),
        pytest.param(30, 30, StatusColour.YELLOW, id="exactly 100% is yellow"),
        pytest.param(1001, 1000, StatusColour.RED, id="100.1% is red"),
        pytest.param(799, 1000, StatusColour.GREEN, id="79.9% is green"),
        pytest.param(32, 30, StatusColour.RED, id="Shenzhen 107% is red"),
        pytest.param(12, 20, StatusColour.GREEN, id="Dongguan 60% is green"),
        pytest.param(0, 20, StatusColour.GREEN, id="an empty day is green"),
    ],
)
def test_status_colour_boundaries(booked_count: int, capacity: int, colour: StatusColour) -> None:
    assert status_colour(booked_count, capacity) == colour


def test_utilisation_is_booked_over_capacity() -> None:
    assert utilisation(32, 30) == pytest.approx(1.0667, abs=1e-4)
    assert utilisation(20, 25) == 0.8


def test_a_day_without_capacity_has_no_utilisation_and_any_booking_overloads_it() -> None:
    assert utilisation(0, 0) is None
    assert status_colour(0, 0) == StatusColour.GREEN
    assert status_colour(1, 0) == StatusColour.RED


def test_bay_utilisation_of_the_diagnosis_case_is_79_percent() -> None:
    # domain.md: 16 vehicles a day × 3.2 h / (8 bays × 9.5 h × 0.85) = 79%
    ratio = bay_utilisation(
        served_vehicles=16, hours_per_vehicle=3.2, bays=8, open_hours=9.5, availability_factor=0.85
    )
    assert ratio is not None
    assert ratio == pytest.approx(0.79257, abs=1e-5)
    assert round(ratio * 100) == 79


def test_bay_utilisation_of_a_day_without_open_hours_is_undefined() -> None:
    assert (
        bay_utilisation(
            served_vehicles=0,
            hours_per_vehicle=0.0,
            bays=8,
            open_hours=0.0,
            availability_factor=0.85,
        )
        is None
    )


def _completed(visit_id: str, hours: float) -> VisitCompleted:
    return VisitCompleted(
        store_id=STORE_ID,
        day=MONDAY,
        visit_id=visit_id,
        appointment_id=None,
        diverted_from_store_id=None,
        labour_hours=hours,
        labour_revenue_fen=0,
        parts_revenue_fen=0,
        other_revenue_fen=0,
        technician_ids=("T-1",),
        satisfaction_score=None,
        complaint=False,
        occurred_at=local(12, 0),
    )


def test_the_day_view_counts_a_stores_day() -> None:
    small = DayCapacitySet(
        store_id=STORE_ID,
        day=MONDAY,
        capacity=5,
        previous_capacity=30,
        reason="",
        occurred_at=local(7),
    )
    state = book.given(
        small,
        booked("A1"),
        booked("A2"),
        booked("A3"),
        booked("A4", hour=9),
        checked_in("A1", "V1", local(9, 0)),
        started("V1", 1, local(9, 0)),
        _completed("V1", 3.0),
        checked_in("A2", "V2", local(9, 30)),
        started("V2", 2, local(9, 30)),
        walked_in("V3", local(10, 0)),
        AppointmentNoShow(
            store_id=STORE_ID,
            day=MONDAY,
            appointment_id="A4",
            requested_at=local(9),
            occurred_at=local(10),
        ),
        held("H1", expires_at=local(10, 30)),
    ).state
    view = day_view(STORE, MONDAY, state, local(10, 0))
    assert view.bay_utilisation == pytest.approx(3.0 / (8 * 9.5 * 0.85))
    assert replace(view, bay_utilisation=None) == DayView(
        store_id=STORE_ID,
        day=MONDAY,
        capacity=5,
        booked=3,
        walk_ins=1,
        arrived=3,
        waiting=1,
        in_service=1,
        completed=1,
        abandoned=0,
        no_shows=1,
        live_holds=1,
        utilisation=0.6,
        status=StatusColour.GREEN,
        bay_utilisation=None,
        estimated_wait_minutes=0,
        wait_threshold_exceeded=False,
    )


def test_the_day_view_of_a_closed_weekday_shows_no_capacity() -> None:
    view = day_view(STORE, SUNDAY, book.given().state, local(10, 0, SUNDAY))
    assert (view.capacity, view.utilisation, view.status, view.bay_utilisation) == (
        0,
        None,
        StatusColour.GREEN,
        None,
    )


def test_the_network_total_sums_capacity_and_counts_stores_per_colour() -> None:
    empty = day_view(STORE, MONDAY, book.given().state, local(10, 0))
    views = [
        replace(empty, store_id="SZ01", capacity=30, booked=32, status=StatusColour.RED),
        replace(empty, store_id="GZ01", capacity=25, booked=20, status=StatusColour.YELLOW),
        replace(empty, store_id="DG01", capacity=20, booked=12, status=StatusColour.GREEN),
    ]
    totals = network_totals(MONDAY, views)
    assert (totals.stores, totals.capacity, totals.booked) == (3, 75, 64)
    assert totals.utilisation == pytest.approx(64 / 75)
    assert totals.status == StatusColour.YELLOW
    assert (totals.red_stores, totals.yellow_stores, totals.green_stores) == (1, 1, 1)
