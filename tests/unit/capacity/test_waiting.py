"""The estimated wait of a customer arriving now, and the threshold warning of SOP 3."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from kernel.clock import ManualClock
from kernel.testing.scenario import Scenario, event_types
from services.capacity.domain.appointment_book import BookCommand, BookEvent, appointment_book
from services.capacity.domain.book_state import BookState
from services.capacity.domain.visits import (
    QuoteAbandoned,
    RecordQuoteAbandoned,
    RegisterWalkIn,
    StartService,
    WalkInArrived,
)
from services.capacity.domain.waiting import (
    AssessWait,
    WaitThresholdExceeded,
    WaitThresholdRecovered,
    estimate_wait,
)

from .examples import MONDAY, STORE, STORE_ID, local, started, walked_in

book: Scenario[BookState, BookCommand, BookEvent] = Scenario(appointment_book)
H = timedelta(hours=1)
TWO_BAYS = replace(STORE, bays=2)
NOW = local(10, 0)
# Two bays busy until 11:00, one car (3 h of work) already waiting: a newcomer waits 1 h.
BUSY_MORNING = (
    walked_in("V1", local(9, 0)),
    walked_in("V2", local(9, 0)),
    started("V1", 1, local(9, 0)),
    started("V2", 2, local(9, 0)),
    walked_in("V3", local(9, 30), hours=3.0),
)
EXCEEDED = WaitThresholdExceeded(
    store_id=STORE_ID,
    day=MONDAY,
    estimated_wait_minutes=180,
    threshold_minutes=120,
    waiting_vehicles=2,
    bays_in_use=2,
    occurred_at=NOW,
)


def walk_in(visit_id: str, hours: float = 2.0) -> RegisterWalkIn:
    return RegisterWalkIn(
        store=TWO_BAYS,
        day=MONDAY,
        visit_id=visit_id,
        customer_ref=f"C-{visit_id}",
        vehicle="粤B54321",
        service_type="repair",
        expected_labour_hours=hours,
        at=NOW,
    )


def test_nobody_waits_at_an_empty_store() -> None:
    assert estimate_wait(bays=8, in_service_remaining=[], queue_ahead=[]) == timedelta(0)


def test_a_newcomer_takes_an_idle_bay_at_once() -> None:
    assert estimate_wait(bays=3, in_service_remaining=[H, 3 * H], queue_ahead=[]) == timedelta(0)


def test_a_newcomer_waits_for_the_first_bay_to_free_up() -> None:
    assert estimate_wait(bays=2, in_service_remaining=[3 * H, H], queue_ahead=[]) == H


def test_the_queue_ahead_takes_the_bays_first_in_order_of_arrival() -> None:
    wait = estimate_wait(bays=2, in_service_remaining=[H, 3 * H], queue_ahead=[2 * H, H / 2])
    # 2 h car: bay 1 from 1 h to 3 h; half-hour car: bay 1 from 3 h (bay 2 also frees at 3 h).
    assert wait == 3 * H


def test_a_store_without_bays_has_no_wait_to_estimate() -> None:
    with pytest.raises(ValueError):
        estimate_wait(bays=0, in_service_remaining=[], queue_ahead=[])


def test_a_walk_in_that_pushes_the_wait_past_the_threshold_raises_the_warning() -> None:
    book.given(*BUSY_MORNING).when(walk_in("V4")).then(
        WalkInArrived(
            store_id=STORE_ID,
            day=MONDAY,
            visit_id="V4",
            customer_ref="C-V4",
            vehicle="粤B54321",
            service_type="repair",
            expected_labour_hours=2.0,
            occurred_at=NOW,
        ),
        EXCEEDED,
    )


def test_a_wait_under_the_threshold_raises_nothing() -> None:
    events = book.given(*BUSY_MORNING[:4]).when(walk_in("V3", hours=3.0)).events
    assert event_types(events) == ["WalkInArrived"]


def test_the_warning_is_raised_once_per_crossing() -> None:
    history = (*BUSY_MORNING, walked_in("V4", NOW), EXCEEDED)
    events = book.given(*history).when(walk_in("V5")).events
    assert event_types(events) == ["WalkInArrived"]


def test_the_wait_falling_back_under_the_threshold_recovers() -> None:
    history = (*BUSY_MORNING, walked_in("V4", NOW), EXCEEDED)
    command = RecordQuoteAbandoned(store=TWO_BAYS, day=MONDAY, visit_id="V4", quote_fen=0, at=NOW)
    book.given(*history).when(command).then(
        QuoteAbandoned(store_id=STORE_ID, day=MONDAY, visit_id="V4", quote_fen=0, occurred_at=NOW),
        WaitThresholdRecovered(
            store_id=STORE_ID,
            day=MONDAY,
            estimated_wait_minutes=60,
            threshold_minutes=120,
            occurred_at=NOW,
        ),
    )


@pytest.mark.parametrize(("hours", "expected"), [(2.0, []), (2.25, ["WaitThresholdExceeded"])])
def test_a_wait_of_exactly_the_threshold_is_not_yet_too_long(
    hours: float, expected: list[str]
) -> None:
    one_bay = replace(STORE, bays=1)
    command = StartService(
        store=one_bay, day=MONDAY, visit_id="V1", bay=1, technician_ids=("T-1",), at=NOW
    )
    events = book.given(walked_in("V1", local(9, 50), hours=hours)).when(command).events
    assert event_types(events)[1:] == expected


def test_the_threshold_is_the_stores_own() -> None:
    patient = replace(TWO_BAYS, wait_threshold_minutes=240)
    command = replace(walk_in("V4"), store=patient)
    assert event_types(book.given(*BUSY_MORNING).when(command).events) == ["WalkInArrived"]


def test_the_wait_is_reassessed_as_service_progresses() -> None:
    clock = ManualClock(NOW)
    one_bay = replace(STORE, bays=1)
    history = (
        walked_in("V1", NOW, hours=3.0),
        started("V1", 1, NOW),
        replace(EXCEEDED, estimated_wait_minutes=180, waiting_vehicles=0, bays_in_use=1),
    )
    clock.advance(timedelta(minutes=59))
    still = AssessWait(store=one_bay, day=MONDAY, at=clock.now())
    book.given(*history).when(still).then_nothing_happens()
    clock.advance(timedelta(minutes=1))
    assess = AssessWait(store=one_bay, day=MONDAY, at=clock.now())
    book.given(*history).when(assess).then(
        WaitThresholdRecovered(
            store_id=STORE_ID,
            day=MONDAY,
            estimated_wait_minutes=120,
            threshold_minutes=120,
            occurred_at=clock.now(),
        )
    )


def test_a_vehicle_past_its_estimate_is_taken_to_be_nearly_done() -> None:
    visit = book.given(walked_in("V1", NOW, hours=1.0), started("V1", 1, NOW)).state.visits["V1"]
    assert visit.remaining_work(NOW + 2 * H) == timedelta(0)
    assert visit.remaining_work(NOW + H / 4) == 3 * H / 4
