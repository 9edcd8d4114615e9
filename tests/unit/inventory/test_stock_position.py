"""The stock position (store x part): every rule of its decider, in given / when / then form."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from kernel.errors import AlreadyExists, DomainError, NotFound
from kernel.testing.scenario import (
    accepted,
    event_types,
    invalid_fields,
    refused,
    refused_by_rule,
)
from services.inventory.domain.commands import (
    AdjustStock,
    ConfirmDelivery,
    ExpireReservation,
    ReceiveStock,
    ReleaseReservation,
    ReportShipmentLost,
    RequestParts,
    ReserveStock,
    ReturnParts,
    ShipTransfer,
    StockCommand,
)
from services.inventory.domain.events import (
    PartsIssued,
    PartsReturned,
    ReservationExpired,
    ReservationReleased,
    ShortageRecorded,
    StockAdjusted,
    StockReceived,
    StockReserved,
)
from services.inventory.domain.stock import StockPosition, stock
from tests.unit.inventory.examples import (
    DESTINATION,
    EARLIER,
    HOLD,
    NOW,
    PART,
    SOURCE,
    count,
    give_back,
    position,
    receive,
    received,
    request,
    reserve,
    reserved,
)

# Receiving stock


def test_receiving_stock_adds_the_quantity_to_on_hand() -> None:
    assert position.given(received(10)).when(receive(5)) == [
        StockReceived(SOURCE, PART, 5, "PO-2", 15, NOW)
    ]


def test_receiving_stock_is_a_movement_of_the_position() -> None:
    after = position.given(received(10)).then_state(receive(5))
    assert (after.on_hand, after.available, after.last_movement_at) == (15, 15, NOW)


@pytest.mark.parametrize("quantity", [0, -3, 1_000_001])
def test_receiving_a_zero_negative_or_absurd_quantity_is_invalid(quantity: int) -> None:
    assert invalid_fields(position.given(received(10)).when(receive(quantity))) == ["quantity"]


# Requesting parts for a repair order


def test_a_request_within_available_stock_issues_the_parts() -> None:
    assert position.given(received(10)).when(request(4)) == [
        PartsIssued(SOURCE, PART, "RO-7", 4, 6, NOW)
    ]


def test_a_request_for_exactly_the_available_quantity_issues_it() -> None:
    after = position.given(received(10)).then_state(request(10))
    assert (after.on_hand, after.available) == (0, 0)


def test_a_request_beyond_available_stock_records_a_shortage_and_issues_nothing() -> None:
    given = position.given(received(3))
    assert given.when(request(4)) == [ShortageRecorded(SOURCE, PART, "RO-7", 4, 3, True, NOW)]
    assert given.then_state(request(4)).on_hand == 3


def test_a_request_on_an_empty_position_records_a_shortage() -> None:
    assert event_types(accepted(position.given().when(request(1)))) == ["ShortageRecorded"]


def test_reserved_stock_is_not_issued_to_a_repair_order() -> None:
    outcome = position.given(received(10), reserved("R-1", 8)).when(request(3))
    assert outcome == [ShortageRecorded(SOURCE, PART, "RO-7", 3, 2, True, NOW)]


def test_a_shortage_records_whether_the_customer_is_waiting() -> None:
    outcome = accepted(position.given().when(request(2, waiting=False)))
    assert isinstance(outcome[0], ShortageRecorded)
    assert outcome[0].customer_waiting is False


def test_a_request_without_repair_order_or_quantity_is_invalid_naming_both() -> None:
    outcome = position.given(received(10)).when(request(0, repair_order=""))
    assert invalid_fields(outcome) == ["quantity", "repair_order"]


@pytest.mark.parametrize("quantity", [-1, 1_000_001])
def test_a_request_for_a_negative_or_absurd_quantity_is_invalid(quantity: int) -> None:
    assert invalid_fields(position.given(received(10)).when(request(quantity))) == ["quantity"]


def test_a_malformed_repair_order_is_invalid() -> None:
    outcome = position.given(received(10)).when(request(1, repair_order="RO 7"))
    assert invalid_fields(outcome) == ["repair_order"]


# Returning parts


def test_returned_parts_go_back_on_hand() -> None:
    given = position.given(received(10), PartsIssued(SOURCE, PART, "RO-7", 4, 6, EARLIER))
    assert given.when(give_back(2)) == [PartsReturned(SOURCE, PART, "RO-7", 2, 8, NOW)]


def test_a_return_of_nothing_or_without_repair_order_is_invalid() -> None:
    outcome = position.given(received(10)).when(give_back(0, repair_order=""))
    assert invalid_fields(outcome) == ["quantity", "repair_order"]


# Adjusting after a count


def test_a_count_sets_on_hand_and_records_the_difference() -> None:
    given = position.given(received(10))
    assert given.when(count(7)) == [StockAdjusted(SOURCE, PART, 10, 7, -3, "monthly count", NOW)]
    assert given.then_state(count(12)).on_hand == 12


def test_a_count_that_matches_on_hand_records_nothing() -> None:
    assert position.given(received(10)).when(count(10)) == []


def test_a_count_of_zero_empties_the_shelf() -> None:
    after = position.given(received(10)).then_state(count(0))
    assert (after.on_hand, after.available, after.last_movement_at) == (0, 0, NOW)


def test_a_count_covering_the_reservations_keeps_them() -> None:
    outcome = position.given(received(10), reserved("R-1", 4)).when(count(5))
    assert event_types(accepted(outcome)) == ["StockAdjusted"]


def test_a_count_below_reserved_releases_newest_reservations_until_none_is_overdrawn() -> None:
    given = position.given(
        received(10), reserved("R-old", 4), reserved("R-mid", 3), reserved("R-new", 2)
    )
    outcome = accepted(given.when(count(5)))
    assert outcome[1:] == [
        ReservationReleased(SOURCE, PART, "R-new", 2, "stock count below reserved quantity", NOW),
        ReservationReleased(SOURCE, PART, "R-mid", 3, "stock count below reserved quantity", NOW),
    ]
    after = given.then_state(count(5))
    assert [r.reservation_id for r in after.reservations] == ["R-old"]
    assert (after.on_hand, after.reserved, after.available) == (5, 4, 1)


def test_a_count_of_zero_releases_every_reservation() -> None:
    after = position.given(received(10), reserved("R-1", 4), reserved("R-2", 6)).then_state(
        count(0)
    )
    assert (after.on_hand, after.reserved, after.available) == (0, 0, 0)


@pytest.mark.parametrize(
    ("counted", "reason", "fields"),
    [
        (-1, "monthly count", ["counted_quantity"]),
        (1_000_001, "monthly count", ["counted_quantity"]),
        (5, "", ["reason"]),
        (5, "   ", ["reason"]),
        (5, "x" * 5_000, ["reason"]),
        (-1, "", ["counted_quantity", "reason"]),
    ],
)
def test_a_count_with_a_negative_or_absurd_quantity_or_without_a_reason_is_invalid(
    counted: int, reason: str, fields: list[str]
) -> None:
    assert invalid_fields(position.given(received(10)).when(count(counted, reason))) == fields


# Reserving


def test_reserving_available_stock_holds_it_until_the_expiry() -> None:
    given = position.given(received(10))
    assert given.when(reserve("R-1", 4)) == [
        StockReserved(SOURCE, PART, "R-1", 4, NOW + HOLD, "T-1", NOW)
    ]
    after = given.then_state(reserve("R-1", 4))
    assert (after.on_hand, after.reserved, after.available) == (10, 4, 6)


def test_reserving_exactly_the_available_quantity_is_allowed() -> None:
    after = position.given(received(10), reserved("R-1", 4)).then_state(reserve("R-2", 6))
    assert (after.reserved, after.available) == (10, 0)


def test_reserving_more_than_available_is_refused_as_insufficient_available_stock() -> None:
    outcome = position.given(received(10), reserved("R-1", 4)).when(reserve("R-2", 7))
    refusal = refused_by_rule(outcome, "INSUFFICIENT_AVAILABLE_STOCK")
    assert refusal.metadata == {"requested": "7", "available": "6"}
    assert refusal.subject == "stock/SZ01/P-100"


def test_reserving_on_an_empty_position_is_refused() -> None:
    refused_by_rule(position.given().when(reserve("R-1", 1)), "INSUFFICIENT_AVAILABLE_STOCK")


def test_a_reservation_id_already_held_is_refused() -> None:
    outcome = position.given(received(10), reserved("R-1", 2)).when(reserve("R-1", 2))
    assert refused(outcome, AlreadyExists).resource_name == "R-1"


def test_a_released_reservation_id_may_be_used_again() -> None:
    given = position.given(
        received(10),
        reserved("R-1", 2),
        ReservationReleased(SOURCE, PART, "R-1", 2, "released", EARLIER),
    )
    assert event_types(accepted(given.when(reserve("R-1", 2)))) == ["StockReserved"]


@pytest.mark.parametrize(
    "ttl",
    [timedelta(0), timedelta(seconds=-1), timedelta(days=14, seconds=1), timedelta(days=400)],
)
def test_a_reservation_must_expire_after_now_and_within_14_days(ttl: timedelta) -> None:
    outcome = position.given(received(10)).when(reserve("R-1", 1, ttl=ttl))
    assert invalid_fields(outcome) == ["ttl_seconds"]


def test_a_reservation_may_hold_for_exactly_14_days() -> None:
    outcome = accepted(position.given(received(10)).when(reserve("R-1", 1, ttl=timedelta(days=14))))
    assert isinstance(outcome[0], StockReserved)
    assert outcome[0].expires_at == NOW + timedelta(days=14)


@pytest.mark.parametrize(
    ("rid", "quantity", "reference", "fields"),
    [
        ("", 1, "T-1", ["reservation_id"]),
        ("R 1", 1, "T-1", ["reservation_id"]),
        ("R-1", 0, "T-1", ["quantity"]),
        ("R-1", -2, "T-1", ["quantity"]),
        ("R-1", 1_000_001, "T-1", ["quantity"]),
        ("R-1", 1, "x" * 5_000, ["reference"]),
        ("", 0, "T-1", ["quantity", "reservation_id"]),
    ],
)
def test_a_reservation_with_a_bad_id_quantity_or_reference_is_invalid(
    rid: str, quantity: int, reference: str, fields: list[str]
) -> None:
    outcome = position.given(received(10)).when(reserve(rid, quantity, reference=reference))
    assert invalid_fields(outcome) == fields


# Releasing


def test_releasing_a_reservation_makes_its_stock_available_again() -> None:
    given = position.given(received(10), reserved("R-1", 4))
    command = ReleaseReservation(SOURCE, PART, "R-1", NOW)
    assert given.when(command) == [ReservationReleased(SOURCE, PART, "R-1", 4, "released", NOW)]
    after = given.then_state(command)
    assert (after.reserved, after.available) == (0, 10)


def test_releasing_an_unknown_reservation_is_not_found() -> None:
    outcome = position.given(received(10)).when(ReleaseReservation(SOURCE, PART, "R-9", NOW))
    assert refused(outcome, NotFound).resource_type == "reservation"


# Expiring (by the durable timer)


def test_a_reservation_expires_when_due() -> None:
    given = position.given(received(10), reserved("R-1", 4, expires_at=NOW))
    command = ExpireReservation(SOURCE, PART, "R-1", NOW)
    assert given.when(command) == [ReservationExpired(SOURCE, PART, "R-1", 4, NOW)]
    assert given.then_state(command).available == 10


def test_a_reservation_not_yet_due_does_not_expire() -> None:
    given = position.given(received(10), reserved("R-1", 4, expires_at=NOW + timedelta(seconds=1)))
    assert given.when(ExpireReservation(SOURCE, PART, "R-1", NOW)) == []


def test_expiring_a_reservation_no_longer_held_changes_nothing() -> None:
    given = position.given(
        received(10),
        reserved("R-1", 4, expires_at=EARLIER),
        ReservationReleased(SOURCE, PART, "R-1", 4, "released", EARLIER),
    )
    assert given.when(ExpireReservation(SOURCE, PART, "R-1", NOW)) == []


# The invariant behind every rule


def test_on_hand_available_and_transit_never_go_negative_whatever_the_commands() -> None:
    rng = random.Random(20261102)
    state = StockPosition()
    at = NOW
    for step in range(2_000):
        at += timedelta(minutes=rng.randint(1, 90))
        rid, tid = f"R-{rng.randint(1, 6)}", f"T-{rng.randint(1, 6)}"
        qty = rng.randint(0, 12)
        commands: list[StockCommand] = [
            ReceiveStock(SOURCE, PART, qty, "PO", at),
            RequestParts(SOURCE, PART, "RO-1", qty, False, at),
            ReturnParts(SOURCE, PART, "RO-1", qty, at),
            AdjustStock(SOURCE, PART, qty, "count", at),
            ReserveStock(SOURCE, PART, rid, qty, HOLD, "T", at),
            ReleaseReservation(SOURCE, PART, rid, at),
            ExpireReservation(SOURCE, PART, rid, at),
            ShipTransfer(SOURCE, PART, tid, rid, DESTINATION, qty, at),
            ConfirmDelivery(SOURCE, PART, tid, qty, at),
            ReportShipmentLost(SOURCE, PART, tid, "lost", at),
        ]
        command = rng.choice(commands)
        try:
            state = stock.fold(stock.decide(command, state), state)
        except DomainError:
            continue
        assert state.on_hand >= 0, (step, command, state)
        assert state.available >= 0, (step, command, state)
        assert state.reserved >= 0 and state.in_transit_out >= 0, (step, command, state)


# A reservation past its expiry holds nothing against new demand, even before its timer
# fires (the timer runner may be behind: an outage, a backlog): it expires in the command.


def test_a_reservation_due_to_expire_gives_way_to_a_new_one() -> None:
    given = position.given(received(10), reserved("R-1", 8, expires_at=NOW))
    assert given.when(reserve("R-2", 5)) == [
        ReservationExpired(SOURCE, PART, "R-1", 8, NOW),
        StockReserved(SOURCE, PART, "R-2", 5, NOW + HOLD, "T-1", NOW),
    ]
    after = given.then_state(reserve("R-2", 5))
    assert ([r.reservation_id for r in after.reservations], after.available) == (["R-2"], 5)
    # Its timer, when it comes, finds nothing to expire.
    later = stock.fold(accepted(given.when(reserve("R-2", 5))), given.state)
    assert stock.decide(ExpireReservation(SOURCE, PART, "R-1", NOW), later) == []


def test_a_due_reservation_is_left_to_its_timer_when_the_stock_suffices_without_it() -> None:
    given = position.given(received(10), reserved("R-1", 4, expires_at=NOW))
    assert event_types(accepted(given.when(reserve("R-2", 6)))) == ["StockReserved"]


def test_a_reservation_a_second_from_expiry_still_holds_its_stock() -> None:
    given = position.given(received(10), reserved("R-1", 8, expires_at=NOW + timedelta(seconds=1)))
    refusal = refused_by_rule(given.when(reserve("R-2", 5)), "INSUFFICIENT_AVAILABLE_STOCK")
    assert refusal.metadata == {"requested": "5", "available": "2"}


def test_a_refusal_counts_what_due_reservations_would_free_and_expires_none() -> None:
    given = position.given(
        received(10),
        reserved("R-1", 3, expires_at=NOW - timedelta(hours=1)),
        reserved("R-2", 5),
    )
    refusal = refused_by_rule(given.when(reserve("R-3", 6)), "INSUFFICIENT_AVAILABLE_STOCK")
    assert refusal.metadata == {"requested": "6", "available": "5"}


def test_parts_for_a_repair_order_take_stock_a_due_reservation_held() -> None:
    given = position.given(received(10), reserved("R-1", 8, expires_at=NOW))
    assert given.when(request(4)) == [
        ReservationExpired(SOURCE, PART, "R-1", 8, NOW),
        PartsIssued(SOURCE, PART, "RO-7", 4, 6, NOW),
    ]
    short = position.given(received(10), reserved("R-1", 3, expires_at=NOW), reserved("R-2", 5))
    # Short even so: the shortage counts the due reservation's units as available, and the
    # reservation is expired with it, so the position says what the shortage says.
    assert short.when(request(6)) == [
        ReservationExpired(SOURCE, PART, "R-1", 3, NOW),
        ShortageRecorded(SOURCE, PART, "RO-7", 6, 5, True, NOW),
    ]
