"""The stock position as either end of a transfer: shipping from a reservation, the
inbound end (recorded, received, lost) and the source end (delivered, lost)."""

from __future__ import annotations

import pytest

from kernel.errors import AlreadyExists, NotFound
from kernel.testing.scenario import (
    invalid_fields,
    refused,
    refused_by_rule,
)
from services.inventory.domain.commands import (
    ConfirmDelivery,
    RecordInboundLost,
    RecordInboundTransfer,
    ReportShipmentLost,
)
from services.inventory.domain.events import (
    InboundTransferLost,
    InboundTransferRecorded,
    ShipmentLost,
    TransferDelivered,
    TransferReceived,
    TransferShipped,
)
from tests.unit.inventory.examples import (
    DESTINATION,
    EARLIER,
    NOW,
    PART,
    SOURCE,
    inbound,
    position,
    receive_transfer,
    received,
    reserved,
    ship,
    shipped,
)

# Shipping a transfer from a reservation


def test_shipping_a_whole_reservation_puts_it_in_transit() -> None:
    given = position.given(received(10), reserved("R-1", 4))
    assert given.when(ship()) == [
        TransferShipped(SOURCE, PART, "T-1", "R-1", DESTINATION, 4, 0, NOW)
    ]
    after = given.then_state(ship())
    assert (after.on_hand, after.reserved, after.available, after.in_transit_out) == (6, 0, 6, 4)
    assert after.last_movement_at == NOW


def test_shipping_part_of_a_reservation_releases_the_remainder() -> None:
    given = position.given(received(10), reserved("R-1", 4))
    assert given.when(ship(3)) == [
        TransferShipped(SOURCE, PART, "T-1", "R-1", DESTINATION, 3, 1, NOW)
    ]
    after = given.then_state(ship(3))
    assert (after.on_hand, after.reserved, after.available, after.in_transit_out) == (7, 0, 7, 3)


def test_shipping_more_than_the_reservation_holds_is_refused() -> None:
    outcome = position.given(received(10), reserved("R-1", 4)).when(ship(5))
    refusal = refused_by_rule(outcome, "SHIP_EXCEEDS_RESERVATION")
    assert refusal.metadata == {"requested": "5", "reserved": "4"}


def test_shipping_without_a_held_reservation_is_not_found() -> None:
    outcome = position.given(received(10)).when(ship(rid="R-9"))
    assert refused(outcome, NotFound).resource_type == "reservation"


def test_shipping_to_the_source_store_itself_is_invalid() -> None:
    outcome = position.given(received(10), reserved("R-1", 4)).when(ship(to=SOURCE))
    assert invalid_fields(outcome) == ["destination_store_id"]


def test_a_transfer_still_in_transit_cannot_be_shipped_twice() -> None:
    given = position.given(received(10), reserved("R-1", 4), shipped(4), reserved("R-2", 2))
    assert refused(given.when(ship(rid="R-2")), AlreadyExists).resource_type == "shipment"


@pytest.mark.parametrize(
    ("tid", "quantity", "fields"),
    [
        ("", 0, ["transfer_id"]),
        ("T 1", 0, ["transfer_id"]),
        ("T-1", -1, ["quantity"]),
        ("T-1", 1_000_001, ["quantity"]),
    ],
)
def test_a_shipment_with_a_bad_transfer_id_or_quantity_is_invalid(
    tid: str, quantity: int, fields: list[str]
) -> None:
    outcome = position.given(received(10), reserved("R-1", 4)).when(ship(quantity, tid=tid))
    assert invalid_fields(outcome) == fields


# The destination end: inbound, received, lost


def test_an_inbound_transfer_is_in_transit_at_the_destination_not_on_hand() -> None:
    command = RecordInboundTransfer(DESTINATION, PART, "T-1", SOURCE, 4, NOW)
    assert position.given().when(command) == [
        InboundTransferRecorded(DESTINATION, PART, "T-1", SOURCE, 4, NOW)
    ]
    after = position.given().then_state(command)
    assert (after.on_hand, after.available, after.in_transit_in) == (0, 0, 4)


def test_an_inbound_transfer_is_recorded_once() -> None:
    command = RecordInboundTransfer(DESTINATION, PART, "T-1", SOURCE, 4, NOW)
    position.given(inbound(4)).when(command).then_error(AlreadyExists)


def test_receiving_a_transfer_puts_everything_shipped_on_hand() -> None:
    given = position.given(inbound(4))
    assert given.when(receive_transfer()) == [
        TransferReceived(DESTINATION, PART, "T-1", SOURCE, 4, 4, NOW)
    ]
    after = given.then_state(receive_transfer())
    assert (after.on_hand, after.available, after.in_transit_in) == (4, 4, 0)


def test_a_partial_receipt_leaves_the_rest_in_transit() -> None:
    after = position.given(inbound(4)).then_state(receive_transfer(3))
    assert (after.on_hand, after.in_transit_in) == (3, 1)


def test_receiving_more_than_was_shipped_is_refused() -> None:
    outcome = position.given(inbound(4)).when(receive_transfer(5))
    refusal = refused_by_rule(outcome, "RECEIVE_EXCEEDS_SHIPPED")
    assert refusal.metadata == {"requested": "5", "in_transit": "4"}


def test_receiving_more_than_the_rest_of_a_partly_received_transfer_is_refused() -> None:
    given = position.given(
        inbound(4), TransferReceived(DESTINATION, PART, "T-1", SOURCE, 3, 3, EARLIER)
    )
    refused_by_rule(given.when(receive_transfer(2)), "RECEIVE_EXCEEDS_SHIPPED")


def test_receiving_a_transfer_that_was_never_shipped_is_refused() -> None:
    refused_by_rule(position.given().when(receive_transfer()), "NOTHING_IN_TRANSIT")


def test_receiving_the_rest_of_a_transfer_already_received_changes_nothing() -> None:
    """The store's DMS received the part itself; the transfer saga then receives "the
    rest" (quantity 0) when the courier reports delivery. Refused NOTHING_IN_TRANSIT, the
    saga undid the shipment (ReportShipmentLost: nothing in transit either) and ended stuck."""
    given = position.given(
        inbound(4), TransferReceived(DESTINATION, PART, "T-1", SOURCE, 4, 4, EARLIER)
    )
    assert given.when(receive_transfer()) == []
    assert given.then_state(receive_transfer()).on_hand == 4


def test_receiving_a_quantity_of_a_transfer_already_received_is_refused() -> None:
    given = position.given(
        inbound(4), TransferReceived(DESTINATION, PART, "T-1", SOURCE, 4, 4, EARLIER)
    )
    refused_by_rule(given.when(receive_transfer(4)), "NOTHING_IN_TRANSIT")


def test_a_transfer_lost_on_the_way_is_not_received_later() -> None:
    given = position.given(
        inbound(4), InboundTransferLost(DESTINATION, PART, "T-1", SOURCE, 4, "lost", EARLIER)
    )
    refused_by_rule(given.when(receive_transfer()), "NOTHING_IN_TRANSIT")


def test_receiving_a_negative_quantity_is_invalid() -> None:
    assert invalid_fields(position.given(inbound(4)).when(receive_transfer(-1))) == ["quantity"]


def test_an_inbound_shipment_lost_leaves_transit_without_reaching_the_shelf() -> None:
    command = RecordInboundLost(DESTINATION, PART, "T-1", 4, "courier lost it", NOW)
    given = position.given(inbound(4))
    assert given.when(command) == [
        InboundTransferLost(DESTINATION, PART, "T-1", SOURCE, 4, "courier lost it", NOW)
    ]
    after = given.then_state(command)
    assert (after.on_hand, after.in_transit_in) == (0, 0)


def test_an_inbound_loss_of_an_unknown_transfer_changes_nothing() -> None:
    command = RecordInboundLost(DESTINATION, PART, "T-9", 4, "courier lost it", NOW)
    assert position.given(inbound(4)).when(command) == []


# The source end: delivered or lost


def test_a_confirmed_delivery_clears_the_source_in_transit() -> None:
    given = position.given(received(10), reserved("R-1", 4), shipped(4))
    command = ConfirmDelivery(SOURCE, PART, "T-1", 4, NOW)
    assert given.when(command) == [TransferDelivered(SOURCE, PART, "T-1", DESTINATION, 4, NOW)]
    after = given.then_state(command)
    assert (after.on_hand, after.in_transit_out) == (6, 0)


def test_a_partial_delivery_leaves_the_rest_in_transit_from_the_source() -> None:
    given = position.given(received(10), reserved("R-1", 4), shipped(4))
    assert given.then_state(ConfirmDelivery(SOURCE, PART, "T-1", 3, NOW)).in_transit_out == 1


def test_a_delivery_of_an_unknown_transfer_changes_nothing() -> None:
    given = position.given(received(10))
    assert given.when(ConfirmDelivery(SOURCE, PART, "T-9", 4, NOW)) == []


def test_a_lost_shipment_writes_off_what_is_still_in_transit() -> None:
    given = position.given(
        received(10),
        reserved("R-1", 4),
        shipped(4),
        TransferDelivered(SOURCE, PART, "T-1", DESTINATION, 1, EARLIER),
    )
    command = ReportShipmentLost(SOURCE, PART, "T-1", "courier lost it", NOW)
    assert given.when(command) == [
        ShipmentLost(SOURCE, PART, "T-1", DESTINATION, 3, "courier lost it", NOW)
    ]
    after = given.then_state(command)
    assert (after.on_hand, after.in_transit_out) == (6, 0)


def test_reporting_a_loss_with_nothing_in_transit_is_refused() -> None:
    command = ReportShipmentLost(SOURCE, PART, "T-1", "courier lost it", NOW)
    refused_by_rule(position.given(received(10)).when(command), "NOTHING_IN_TRANSIT")


@pytest.mark.parametrize("reason", ["", "x" * 5_000])
def test_a_loss_without_a_reason_or_with_an_oversized_one_is_invalid(reason: str) -> None:
    given = position.given(received(10), reserved("R-1", 4), shipped(4))
    outcome = given.when(ReportShipmentLost(SOURCE, PART, "T-1", reason, NOW))
    assert invalid_fields(outcome) == ["reason"]
