"""Slot holds for diverted customers (SOP 3): hold, confirm, release, and expiry by timer."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from kernel.clock import ManualClock
from kernel.errors import AlreadyExists, NotFound
from kernel.testing.scenario import Scenario
from services.capacity.domain.appointment_book import BookCommand, BookEvent, appointment_book
from services.capacity.domain.appointments import (
    AppointmentBooked,
    AppointmentCancelled,
    DayCapacitySet,
)
from services.capacity.domain.book_state import BookState, HoldStatus
from services.capacity.domain.holds import (
    ConfirmSlotHold,
    ExpireSlotHold,
    HoldSlot,
    ReleaseSlotHold,
    SlotHoldConfirmed,
    SlotHoldExpired,
    SlotHoldReleased,
)
from services.capacity.domain.stores import StoreFacts
from services.capacity.domain.visits import CustomerCheckedIn

from .examples import CLOSED_STORE, MONDAY, STORE, STORE_ID, booked, held, local, walked_in

book: Scenario[BookState, BookCommand, BookEvent] = Scenario(appointment_book)
NOW = local(10, 0)
EXPIRY = local(10, 15)
SMALL_DAY = DayCapacitySet(
    store_id=STORE_ID, day=MONDAY, capacity=3, previous_capacity=30, reason="", occurred_at=NOW
)


def hold(
    hold_id: str = "H1",
    *,
    store: StoreFacts = STORE,
    slot_at: datetime | None = None,
    expires_at: datetime = EXPIRY,
    at: datetime = NOW,
    diverted_from: str = "GZ01",
) -> HoldSlot:
    return HoldSlot(
        store=store,
        day=MONDAY,
        hold_id=hold_id,
        diverted_from_store_id=diverted_from,
        customer_ref=f"C-{hold_id}",
        vehicle="粤A88888",
        service_type="maintenance",
        expected_labour_hours=1.5,
        slot_at=slot_at or local(11, 0),
        expires_at=expires_at,
        at=at,
    )


def confirm(at: datetime, hold_id: str = "H1") -> ConfirmSlotHold:
    return ConfirmSlotHold(store=STORE, day=MONDAY, hold_id=hold_id, appointment_id="A9", at=at)


def expire(at: datetime, hold_id: str = "H1") -> ExpireSlotHold:
    return ExpireSlotHold(store=STORE, day=MONDAY, hold_id=hold_id, at=at)


def test_a_slot_is_held_for_a_diverted_customer() -> None:
    book.given().when(hold()).then(replace(held("H1", EXPIRY), occurred_at=NOW))


def test_a_hold_on_a_closed_store_is_refused() -> None:
    book.given().when(hold(store=CLOSED_STORE)).then_refused("STORE_CLOSED")


def test_a_hold_needs_spare_capacity_counting_bookings_walk_ins_and_live_holds() -> None:
    full = (SMALL_DAY, booked("A1"), walked_in("V1", local(9, 0)), held("H0", EXPIRY))
    refusal = book.given(*full).when(hold()).then_refused("NO_SPARE_CAPACITY")
    assert refusal.metadata == {"capacity": "3", "taken": "3"}


def test_the_last_spare_slot_can_be_held() -> None:
    book.given(SMALL_DAY, booked("A1"), walked_in("V1", local(9, 0))).when(hold()).then(
        replace(held("H1", EXPIRY), occurred_at=NOW)
    )


def test_an_expired_hold_frees_its_slot() -> None:
    clock = ManualClock(NOW)
    history: list[BookEvent] = [
        SMALL_DAY,
        booked("A1"),
        walked_in("V1", local(9, 0)),
        held("H0", EXPIRY),
    ]
    clock.advance(timedelta(minutes=15))
    history += book.given(*history).when(expire(clock.now(), "H0")).events
    assert book.given(*history).state.holds["H0"].status == HoldStatus.EXPIRED
    later = hold(at=clock.now(), expires_at=clock.now() + timedelta(minutes=15))
    assert book.given(*history).when(later).events


def test_a_slot_in_the_past_cannot_be_held() -> None:
    book.given().when(hold(slot_at=local(9, 59))).then_refused("SLOT_IN_THE_PAST")


def test_a_hold_must_expire_after_it_is_made() -> None:
    book.given().when(hold(expires_at=NOW)).then_invalid("expires_at")


def test_a_store_cannot_divert_a_customer_to_itself() -> None:
    book.given().when(hold(diverted_from=STORE_ID)).then_invalid("diverted_from_store_id")


def test_a_hold_id_is_used_once() -> None:
    book.given(held("H1", EXPIRY)).when(hold()).then_error(AlreadyExists)


def test_a_live_hold_is_confirmed_into_an_appointment() -> None:
    at = local(10, 10)
    book.given(held("H1", EXPIRY)).when(confirm(at)).then(
        SlotHoldConfirmed(
            store_id=STORE_ID,
            day=MONDAY,
            hold_id="H1",
            diverted_from_store_id="GZ01",
            appointment_id="A9",
            occurred_at=at,
        ),
        AppointmentBooked(
            store_id=STORE_ID,
            day=MONDAY,
            appointment_id="A9",
            customer_ref="C-H1",
            vehicle="粤A88888",
            service_type="maintenance",
            expected_labour_hours=1.5,
            requested_at=local(11, 0),
            occurred_at=at,
            hold_id="H1",
            diverted_from_store_id="GZ01",
        ),
    )


def test_a_confirmed_hold_becomes_a_booking_and_stops_holding() -> None:
    history: list[BookEvent] = [held("H1", EXPIRY)]
    history += book.given(*history).when(confirm(local(10, 10))).events
    state = book.given(*history).state
    assert (state.booked, state.live_holds(local(10, 10))) == (1, 0)
    assert state.appointments["A9"].diverted_from_store_id == "GZ01"


def test_a_hold_past_its_expiry_cannot_be_confirmed() -> None:
    clock = ManualClock(NOW)
    clock.advance(timedelta(minutes=15))
    refusal = (
        book.given(held("H1", EXPIRY)).when(confirm(clock.now())).then_refused("HOLD_NOT_LIVE")
    )
    assert refusal.metadata["status"] == "PAST_EXPIRY"


def test_a_released_hold_cannot_be_confirmed() -> None:
    released = SlotHoldReleased(
        store_id=STORE_ID,
        day=MONDAY,
        hold_id="H1",
        diverted_from_store_id="GZ01",
        reason="customer chose to wait",
        occurred_at=local(10, 5),
    )
    book.given(held("H1", EXPIRY), released).when(confirm(local(10, 6))).then_refused(
        "HOLD_NOT_LIVE"
    )


def test_a_hold_is_confirmed_only_once() -> None:
    history: list[BookEvent] = [held("H1", EXPIRY)]
    history += book.given(*history).when(confirm(local(10, 10))).events
    book.given(*history).when(confirm(local(10, 11))).then_refused("HOLD_NOT_LIVE")


def test_an_unknown_hold_cannot_be_confirmed() -> None:
    book.given().when(confirm(NOW)).then_error(NotFound)


def test_a_live_hold_is_released_once() -> None:
    release = ReleaseSlotHold(store=STORE, day=MONDAY, hold_id="H1", reason="waits", at=NOW)
    released = SlotHoldReleased(
        store_id=STORE_ID,
        day=MONDAY,
        hold_id="H1",
        diverted_from_store_id="GZ01",
        reason="waits",
        occurred_at=NOW,
    )
    book.given(held("H1", EXPIRY)).when(release).then(released)
    book.given(held("H1", EXPIRY), released).when(release).then_nothing_happens()


def test_releasing_a_confirmed_hold_cancels_the_appointment_it_became() -> None:
    """The diversion saga undoes its hold with ReleaseSlotHold when the origin refuses to
    cancel the customer's appointment there (the customer checked in meanwhile): a refusal
    ended the saga stuck and kept a slot booked for a customer who is not coming."""
    history: list[BookEvent] = [held("H1", EXPIRY)]
    history += book.given(*history).when(confirm(local(10, 10))).events
    at = local(10, 12)
    release = ReleaseSlotHold(
        store=STORE, day=MONDAY, hold_id="H1", reason="origin kept the customer", at=at
    )

    cancelled = AppointmentCancelled(
        store_id=STORE_ID,
        day=MONDAY,
        appointment_id="A9",
        reason="origin kept the customer",
        occurred_at=at,
    )
    book.given(*history).when(release).then(cancelled)
    state = book.given(*history, cancelled).state
    assert (state.booked, state.live_holds(at)) == (0, 0)
    book.given(*history, cancelled).when(release).then_nothing_happens()


def test_a_confirmed_hold_whose_customer_has_arrived_cannot_be_released() -> None:
    history: list[BookEvent] = [held("H1", EXPIRY)]
    history += book.given(*history).when(confirm(local(10, 10))).events
    arrived = CustomerCheckedIn(
        store_id=STORE_ID, day=MONDAY, appointment_id="A9", visit_id="V1", occurred_at=local(11)
    )
    release = ReleaseSlotHold(store=STORE, day=MONDAY, hold_id="H1", reason="", at=local(11, 5))
    book.given(*history, arrived).when(release).then_refused("HOLD_NOT_LIVE")


def test_a_hold_expires_when_its_timer_fires() -> None:
    clock = ManualClock(EXPIRY)
    book.given(held("H1", EXPIRY)).when(expire(clock.now())).then(
        SlotHoldExpired(
            store_id=STORE_ID,
            day=MONDAY,
            hold_id="H1",
            diverted_from_store_id="GZ01",
            expires_at=EXPIRY,
            occurred_at=EXPIRY,
        )
    )


def test_a_hold_does_not_expire_early() -> None:
    book.given(held("H1", EXPIRY)).when(expire(local(10, 14))).then_refused("HOLD_NOT_YET_DUE")


def test_an_expiry_after_confirmation_changes_nothing() -> None:
    history: list[BookEvent] = [held("H1", EXPIRY)]
    history += book.given(*history).when(confirm(local(10, 10))).events
    book.given(*history).when(expire(EXPIRY)).then_nothing_happens()


def test_an_expiry_after_release_changes_nothing() -> None:
    released = SlotHoldReleased(
        store_id=STORE_ID,
        day=MONDAY,
        hold_id="H1",
        diverted_from_store_id="GZ01",
        reason="",
        occurred_at=local(10, 5),
    )
    book.given(held("H1", EXPIRY), released).when(expire(EXPIRY)).then_nothing_happens()


def test_an_expiry_delivered_twice_changes_nothing_the_second_time() -> None:
    history: list[BookEvent] = [held("H1", EXPIRY)]
    history += book.given(*history).when(expire(EXPIRY)).events
    book.given(*history).when(expire(EXPIRY + timedelta(seconds=1))).then_nothing_happens()
