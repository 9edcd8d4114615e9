"""Inventory commands end to end over real gRPC, PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import grpc
from nats.js.errors import NotFoundError
from sqlalchemy import select
from storemesh.inventory.events.v1 import events_pb2
from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel.clock import ManualClock
from kernel.eventstore import events
from kernel.messaging import NatsConnection
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import (
    GZ,
    PART,
    SZ,
    InventoryClient,
    figures,
    inv,
    inventory_service,
    position,
    register_part,
    rid,
    stocked,
)
from tests.integration.rich_errors import (
    event_count,
    failure,
    reason,
    recorded_events,
    recorded_types,
    resource,
    violated_fields,
)

# Catalogue


async def test_a_registered_part_can_be_read_listed_and_updated(inv: InventoryClient) -> None:
    registered = await register_part(inv)
    await register_part(inv, "P-200", name="Oil filter", category="maintenance")
    assert registered == pb.Part(
        part_number=PART, name="Brake pad set", category="brakes", unit="set", unit_cost_fen=12_000
    )
    assert await inv.GetPart(part_number=PART) == registered
    brakes = await inv.ListParts(category="brakes")
    assert [p.part_number for p in brakes.parts] == [PART]

    updated = await inv.UpdatePart(
        part=pb.Part(
            part_number=PART, name="Ceramic pads", category="brakes", unit="set", unit_cost_fen=9
        )
    )
    assert (updated.name, updated.unit_cost_fen) == ("Ceramic pads", 9)
    assert (await inv.GetPart(part_number=PART)).name == "Ceramic pads"


async def test_registering_a_part_number_twice_is_already_exists(inv: InventoryClient) -> None:
    await register_part(inv)
    err = await failure(register_part(inv, name="Another name"))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (await inv.GetPart(part_number=PART)).name == "Brake pad set"


# Stock movements of one store


async def test_received_stock_is_on_hand_and_moves_the_position(
    inv: InventoryClient, clock: ManualClock
) -> None:
    await register_part(inv)
    first = await inv.ReceiveStock(store_id=SZ, part_number=PART, quantity=10, reference="PO-1")
    second = await inv.ReceiveStock(store_id=SZ, part_number=PART, quantity=5)
    assert figures(first) == (10, 0, 10, 0, 0)
    assert figures(second) == (15, 0, 15, 0, 0)
    assert second.last_movement_at.ToDatetime().replace(tzinfo=clock.now().tzinfo) == clock.now()
    assert await position(inv) == second


async def test_a_request_is_issued_from_available_stock_and_otherwise_recorded_as_a_shortage(
    inv: InventoryClient, inventory_service: Running
) -> None:
    await stocked(inv, 5)
    issued = await inv.RequestParts(store_id=SZ, part_number=PART, repair_order="RO-1", quantity=2)
    exact = await inv.RequestParts(store_id=SZ, part_number=PART, repair_order="RO-2", quantity=3)
    short = await inv.RequestParts(
        store_id=SZ, part_number=PART, repair_order="RO-3", quantity=4, customer_waiting=True
    )
    assert (issued.outcome, issued.position.on_hand) == (pb.RequestPartsResponse.OUTCOME_ISSUED, 3)
    assert (exact.outcome, exact.position.on_hand) == (pb.RequestPartsResponse.OUTCOME_ISSUED, 0)
    assert short.outcome == pb.RequestPartsResponse.OUTCOME_SHORTAGE
    assert (short.shortage_quantity, short.position.on_hand) == (4, 0)
    assert (await recorded_types(inventory_service))[-3:] == [
        "PartsIssued",
        "PartsIssued",
        "ShortageRecorded",
    ]


async def test_returned_parts_go_back_on_hand(inv: InventoryClient) -> None:
    await stocked(inv, 5)
    await inv.RequestParts(store_id=SZ, part_number=PART, repair_order="RO-1", quantity=4)
    back = await inv.ReturnParts(store_id=SZ, part_number=PART, repair_order="RO-1", quantity=3)
    assert figures(back) == (4, 0, 4, 0, 0)


async def test_a_count_below_reserved_releases_the_newest_reservations(
    inv: InventoryClient,
) -> None:
    await stocked(inv, 10)
    await inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="R-old", quantity=4)
    await inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="R-new", quantity=3)
    counted = await inv.AdjustStock(
        store_id=SZ, part_number=PART, counted_quantity=5, reason="monthly count"
    )
    assert figures(counted) == (5, 4, 1, 0, 0)
    assert [r.reservation_id for r in counted.reservations] == ["R-old"]


async def test_reserved_stock_is_set_aside_until_released(inv: InventoryClient) -> None:
    await stocked(inv, 10)
    held = await inv.ReserveStock(
        store_id=SZ, part_number=PART, reservation_id="R-1", quantity=4, reference="T-1"
    )
    assert figures(held) == (10, 4, 6, 0, 0)
    assert [(r.reservation_id, r.quantity, r.reference) for r in held.reservations] == [
        ("R-1", 4, "T-1")
    ]
    released = await inv.ReleaseReservation(store_id=SZ, part_number=PART, reservation_id="R-1")
    assert figures(released) == (10, 0, 10, 0, 0)
    err = await failure(inv.ReleaseReservation(store_id=SZ, part_number=PART, reservation_id="R-1"))
    assert resource(err)[0] == "reservation"


async def test_reserving_more_than_available_fails_its_precondition_and_changes_nothing(
    inv: InventoryClient, inventory_service: Running
) -> None:
    await stocked(inv, 10)
    await inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="R-1", quantity=8)
    before = await event_count(inventory_service)
    err = await failure(
        inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="R-2", quantity=3)
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(err) == "INSUFFICIENT_AVAILABLE_STOCK"
    duplicate = await failure(
        inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="R-1", quantity=1)
    )
    assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS
    assert await event_count(inventory_service) == before
    assert figures(await position(inv)) == (10, 8, 2, 0, 0)


# SOP 1: an emergency transfer SZ01 -> GZ01


async def test_a_transfer_moves_stock_from_source_through_transit_to_destination(
    inv: InventoryClient, inventory_service: Running
) -> None:
    await stocked(inv, 10)
    asked = await inv.FindStock(part_number=PART, min_available=4, exclude_store_id=GZ)
    assert [s.store_id for s in asked.stores] == [SZ]

    await inv.ReserveStock(
        store_id=SZ, part_number=PART, reservation_id="R-1", quantity=4, reference="T-1"
    )
    shipped = await inv.ShipTransfer(
        store_id=SZ,
        part_number=PART,
        transfer_id="T-1",
        reservation_id="R-1",
        destination_store_id=GZ,
    )
    assert figures(shipped) == (6, 0, 6, 4, 0)
    assert figures(await position(inv, GZ)) == (0, 0, 0, 0, 4)

    received = await inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1")
    assert figures(received) == (4, 0, 4, 0, 0)
    assert figures(await position(inv, SZ)) == (6, 0, 6, 0, 0)
    assert (await recorded_types(inventory_service))[-5:] == [
        "StockReserved",
        "TransferShipped",
        "InboundTransferRecorded",
        "TransferReceived",
        "TransferDelivered",
    ]


async def test_a_partial_shipment_releases_the_rest_and_a_partial_receipt_keeps_the_rest_in_transit(
    inv: InventoryClient,
) -> None:
    await stocked(inv, 10)
    await inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="R-1", quantity=5)
    shipped = await inv.ShipTransfer(
        store_id=SZ,
        part_number=PART,
        transfer_id="T-1",
        reservation_id="R-1",
        destination_store_id=GZ,
        quantity=3,
    )
    assert figures(shipped) == (7, 0, 7, 3, 0)
    part = await inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1", quantity=2)
    assert figures(part) == (2, 0, 2, 0, 1)
    assert figures(await position(inv, SZ)) == (7, 0, 7, 1, 0)
    rest = await inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1")
    assert figures(rest) == (3, 0, 3, 0, 0)
    assert figures(await position(inv, SZ)) == (7, 0, 7, 0, 0)


async def test_a_shipment_reported_lost_clears_transit_at_both_ends(inv: InventoryClient) -> None:
    await stocked(inv, 10)
    await inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="R-1", quantity=3)
    await inv.ShipTransfer(
        store_id=SZ,
        part_number=PART,
        transfer_id="T-1",
        reservation_id="R-1",
        destination_store_id=GZ,
    )
    await inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1", quantity=1)
    lost = await inv.ReportShipmentLost(
        store_id=SZ, part_number=PART, transfer_id="T-1", reason="courier lost one box"
    )
    assert figures(lost) == (7, 0, 7, 0, 0)
    assert figures(await position(inv, GZ)) == (1, 0, 1, 0, 0)
    err = await failure(inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1"))
    assert reason(err) == "NOTHING_IN_TRANSIT"


async def test_transfer_rules_refuse_with_a_reason_and_change_nothing(
    inv: InventoryClient, inventory_service: Running
) -> None:
    await stocked(inv, 10)
    await inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="R-1", quantity=2)
    before = await event_count(inventory_service)
    ship = dict(store_id=SZ, part_number=PART, transfer_id="T-1", reservation_id="R-1")

    too_many = await failure(inv.ShipTransfer(**ship, destination_store_id=GZ, quantity=3))
    assert (too_many.code(), reason(too_many)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SHIP_EXCEEDS_RESERVATION",
    )
    to_self = await failure(inv.ShipTransfer(**ship, destination_store_id=SZ))
    assert violated_fields(to_self) == ["destination_store_id"]
    unheld = await failure(
        inv.ShipTransfer(**{**ship, "reservation_id": "R-9"}, destination_store_id=GZ)
    )
    assert resource(unheld)[0] == "reservation"
    nothing = await failure(inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1"))
    assert reason(nothing) == "NOTHING_IN_TRANSIT"
    not_sent = await failure(
        inv.ReportShipmentLost(store_id=SZ, part_number=PART, transfer_id="T-1", reason="gone")
    )
    assert reason(not_sent) == "NOTHING_IN_TRANSIT"
    assert await event_count(inventory_service) == before

    await inv.ShipTransfer(**ship, destination_store_id=GZ)
    after_ship = await event_count(inventory_service)
    excess = await failure(
        inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1", quantity=3)
    )
    assert (excess.code(), reason(excess)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "RECEIVE_EXCEEDS_SHIPPED",
    )
    assert await event_count(inventory_service) == after_ship
    assert figures(await position(inv, GZ)) == (0, 0, 0, 0, 2)


# Reservation expiry by the durable timer


async def test_a_reservation_expires_by_its_durable_timer_when_due_and_not_before(
    inv: InventoryClient, inventory_service: Running, clock: ManualClock
) -> None:
    timers = inventory_service.service.timers
    await stocked(inv, 10)
    await inv.ReserveStock(
        store_id=SZ, part_number=PART, reservation_id="R-1", quantity=4, ttl_seconds=3600
    )

    clock.advance(timedelta(seconds=3599))
    assert await timers.run_due() == 0
    assert figures(await position(inv)) == (10, 4, 6, 0, 0)

    clock.advance(timedelta(seconds=1))
    assert await timers.run_due() == 1
    assert figures(await position(inv)) == (10, 0, 10, 0, 0)
    assert (await recorded_types(inventory_service))[-1] == "ReservationExpired"
    assert await timers.run_due() == 0


async def test_a_reservation_past_its_expiry_gives_way_before_its_timer_fires(
    inv: InventoryClient, inventory_service: Running, clock: ManualClock
) -> None:
    """The timer runner behind (an outage): a reservation past its expiry holds nothing
    against new demand; the command expires it, and its timer is gone with it."""
    timers = inventory_service.service.timers
    await stocked(inv, 10)
    await inv.ReserveStock(
        store_id=SZ, part_number=PART, reservation_id="R-1", quantity=8, ttl_seconds=3600
    )
    clock.advance(timedelta(hours=2))  # no timer has run

    held = await inv.ReserveStock(
        store_id=SZ, part_number=PART, reservation_id="R-2", quantity=5, ttl_seconds=3600
    )

    assert [r.reservation_id for r in held.reservations] == ["R-2"]
    assert figures(held) == (10, 5, 5, 0, 0)
    assert (await recorded_types(inventory_service))[-2:] == [
        "ReservationExpired",
        "StockReserved",
    ]
    before = await recorded_types(inventory_service)
    assert await timers.run_due() == 0  # R-1's timer went with it; R-2's is not due
    assert await recorded_types(inventory_service) == before
    assert figures(await position(inv)) == (10, 5, 5, 0, 0)


async def test_a_shortage_beside_a_due_reservation_says_what_the_shortage_event_says(
    inv: InventoryClient, inventory_service: Running, clock: ManualClock
) -> None:
    """The timer runner behind: a repair order that a due reservation's units would not
    fill either is short by what the ShortageRecorded says (collab counts that), not by
    what the unexpired reservation still seemed to hold."""
    await stocked(inv, 3)
    await inv.ReserveStock(
        store_id=SZ, part_number=PART, reservation_id="R-1", quantity=2, ttl_seconds=3600
    )
    clock.advance(timedelta(hours=2))  # no timer has run

    short = await inv.RequestParts(store_id=SZ, part_number=PART, repair_order="RO-1", quantity=5)

    (recorded,) = await recorded_events(inventory_service, "ShortageRecorded")
    assert (recorded.requested, recorded.available) == (5, 3)
    assert short.outcome == pb.RequestPartsResponse.OUTCOME_SHORTAGE
    assert short.shortage_quantity == recorded.requested - recorded.available == 2
    # The due reservation went with it: the position says what the shortage says, and
    # its timer fires for nothing.
    assert (list(short.position.reservations), short.position.available) == ([], 3)
    assert await inventory_service.service.timers.run_due() == 0


async def test_a_reservation_a_count_gives_up_leaves_no_timer_to_fire(
    inv: InventoryClient, inventory_service: Running, clock: ManualClock
) -> None:
    await stocked(inv, 10)
    await inv.ReserveStock(
        store_id=SZ, part_number=PART, reservation_id="R-1", quantity=6, ttl_seconds=3600
    )
    counted = await inv.AdjustStock(
        store_id=SZ, part_number=PART, counted_quantity=4, reason="shelf count"
    )
    assert (list(counted.reservations), counted.available) == ([], 4)
    before = await recorded_types(inventory_service)

    clock.advance(timedelta(hours=2))

    assert await inventory_service.service.timers.run_due() == 0
    assert await recorded_types(inventory_service) == before


async def test_a_released_or_shipped_reservation_leaves_no_timer_to_fire(
    inv: InventoryClient, inventory_service: Running, clock: ManualClock
) -> None:
    await stocked(inv, 10)
    for rid_ in ("R-1", "R-2"):
        await inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id=rid_, quantity=2)
    await inv.ReleaseReservation(store_id=SZ, part_number=PART, reservation_id="R-1")
    await inv.ShipTransfer(
        store_id=SZ,
        part_number=PART,
        transfer_id="T-2",
        reservation_id="R-2",
        destination_store_id=GZ,
    )
    before = await recorded_types(inventory_service)
    clock.advance(timedelta(days=1))
    # Only the daily stale-stock close is due a day later: no reservation expires.
    await inventory_service.service.timers.run_due()
    after = await recorded_types(inventory_service)
    assert after[: len(before)] == before
    assert set(after[len(before) :]) <= {"StaleStockValued"}


# Idempotent commands


async def test_every_command_repeated_with_its_request_id_replays_its_first_result(
    inv: InventoryClient, inventory_service: Running
) -> None:
    part = dict(part_number=PART, name="Brake pad set", category="brakes", unit="set")
    position_ = dict(store_id=SZ, part_number=PART)
    transfer = dict(part_number=PART, transfer_id="T-1")
    steps: list[tuple[str, dict[str, Any]]] = [
        ("RegisterPart", dict(part=pb.Part(**part, unit_cost_fen=1))),
        ("UpdatePart", dict(part=pb.Part(**part, unit_cost_fen=2))),
        ("ReceiveStock", dict(position_, quantity=10)),
        ("RequestParts", dict(position_, repair_order="RO-1", quantity=2)),
        ("RequestParts", dict(position_, repair_order="RO-2", quantity=20)),
        ("ReturnParts", dict(position_, repair_order="RO-1", quantity=1)),
        ("AdjustStock", dict(position_, counted_quantity=8, reason="count")),
        ("ReserveStock", dict(position_, reservation_id="R-1", quantity=1)),
        ("ReleaseReservation", dict(position_, reservation_id="R-1")),
        ("ReserveStock", dict(position_, reservation_id="R-2", quantity=4)),
        (
            "ShipTransfer",
            dict(transfer, store_id=SZ, reservation_id="R-2", destination_store_id=GZ),
        ),
        ("ReceiveTransfer", dict(transfer, store_id=GZ, quantity=1)),
        ("ReportShipmentLost", dict(transfer, store_id=SZ, reason="courier lost it")),
    ]
    for method, fields in steps:
        call = getattr(inv, method)
        request_id = rid()
        first = await call(request_id=request_id, **fields)
        count = await event_count(inventory_service)
        assert await call(request_id=request_id, **fields) == first, method
        assert await event_count(inventory_service) == count, method
    assert figures(await position(inv, SZ)) == (4, 0, 4, 0, 0)
    assert figures(await position(inv, GZ)) == (1, 0, 1, 0, 0)


async def test_a_reservation_retried_later_with_its_request_id_replays_the_first_result(
    inv: InventoryClient, inventory_service: Running, clock: ManualClock
) -> None:
    """Regression: the expiry moment was part of the command, so any later retry of the
    same request was refused as REQUEST_ID_REUSED instead of being replayed."""
    await stocked(inv, 10)
    request = dict(request_id=rid(), store_id=SZ, part_number=PART, quantity=4)
    first = await inv.ReserveStock(**request)
    count = await event_count(inventory_service)
    clock.advance(timedelta(seconds=3))
    assert await inv.ReserveStock(**request) == first
    assert await event_count(inventory_service) == count


async def test_a_request_id_reused_for_a_different_command_is_refused(
    inv: InventoryClient, inventory_service: Running
) -> None:
    await register_part(inv)
    request_id = rid()
    await inv.ReceiveStock(request_id=request_id, store_id=SZ, part_number=PART, quantity=7)
    count = await event_count(inventory_service)
    err = await failure(
        inv.ReceiveStock(request_id=request_id, store_id=SZ, part_number=PART, quantity=8)
    )
    assert (err.code(), reason(err)) == (grpc.StatusCode.FAILED_PRECONDITION, "REQUEST_ID_REUSED")
    assert await event_count(inventory_service) == count
    assert (await position(inv)).on_hand == 7


# Events on NATS


async def test_stock_received_is_published_on_its_store_subject(
    inv: InventoryClient,
    inventory_service: Running,
    nats_client: NatsConnection,
    namespace: str,
) -> None:
    await stocked(inv, 10)
    async with inventory_service.service.db.transaction("test") as conn:
        event_id = await conn.scalar(
            select(events.c.event_id).where(events.c.event_type.like("%.StockReceived"))
        )
    js = (await nats_client.client()).jetstream()
    stream = f"{namespace.upper()}_INVENTORY"
    for _ in range(100):  # the relay creates the stream on its first publish
        try:
            await js.stream_info(stream)
            break
        except NotFoundError:
            await asyncio.sleep(0.05)
    sub = await js.subscribe(f"{namespace}.inventory.v1.SZ01.>", stream=stream)
    try:
        msg = await sub.next_msg(timeout=5)
    finally:
        await sub.unsubscribe()

    assert msg.subject == f"{namespace}.inventory.v1.SZ01.StockReceived"
    assert msg.headers is not None
    assert msg.headers["Nats-Msg-Id"] == str(event_id)
    assert msg.headers["ce-type"] == "storemesh.inventory.events.v1.StockReceived"
    assert msg.headers["ce-storeid"] == SZ
    body = events_pb2.StockReceived.FromString(msg.data)
    assert (body.store_id, body.part_number, body.quantity, body.on_hand_after) == (
        SZ,
        PART,
        10,
        10,
    )
