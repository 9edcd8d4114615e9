"""Inventory's handlers and transfer policies on a fake unit of work: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kernel.clock import ManualClock
from kernel.testing.fakes import FakeApplication
from kernel.testing.scenario import event_types
from services.inventory.application import POSITIONS, Inventory
from services.inventory.domain.commands import ReceiveTransfer, ReportShipmentLost, ShipTransfer
from services.inventory.domain.events import StockReceived, StockReserved

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SOURCE, DESTINATION, PART = "SZ01", "GZ01", "P-1"
AT_SOURCE = POSITIONS.stream_id(SOURCE, PART)
AT_DESTINATION = POSITIONS.stream_id(DESTINATION, PART)


def inventory_with_reserved_stock() -> tuple[Inventory, FakeApplication]:
    app = FakeApplication(ManualClock(NOW))
    inventory = Inventory(app)  # type: ignore[arg-type]
    app.uow.given(
        AT_SOURCE,
        StockReceived(SOURCE, PART, 10, "PO-1", 10, NOW - timedelta(days=1)),
        StockReserved(SOURCE, PART, "R-1", 4, NOW + timedelta(hours=2), "T-1", NOW),
    )
    return inventory, app


async def ship(app: FakeApplication) -> None:
    command = ShipTransfer(SOURCE, PART, "T-1", "R-1", DESTINATION, 4, NOW)
    await app.uow.execute(POSITIONS, AT_SOURCE, command)


async def test_a_shipped_transfer_is_expected_at_its_destination_in_the_same_unit_of_work() -> None:
    _, app = inventory_with_reserved_stock()

    await ship(app)

    assert event_types(app.uow.streams[AT_SOURCE])[-1] == "TransferShipped"
    assert event_types(app.uow.streams[AT_DESTINATION]) == ["InboundTransferRecorded"]


async def test_receiving_a_transfer_confirms_the_delivery_to_its_source() -> None:
    _, app = inventory_with_reserved_stock()
    await ship(app)

    await app.uow.execute(
        POSITIONS, AT_DESTINATION, ReceiveTransfer(DESTINATION, PART, "T-1", 4, NOW)
    )

    assert event_types(app.uow.streams[AT_DESTINATION])[-1] == "TransferReceived"
    assert event_types(app.uow.streams[AT_SOURCE])[-1] == "TransferDelivered"


async def test_a_lost_shipment_will_never_arrive_at_its_destination() -> None:
    _, app = inventory_with_reserved_stock()
    await ship(app)

    await app.uow.execute(
        POSITIONS, AT_SOURCE, ReportShipmentLost(SOURCE, PART, "T-1", "truck fire", NOW)
    )

    assert event_types(app.uow.streams[AT_DESTINATION])[-1] == "InboundTransferLost"


async def test_an_expired_reservation_gives_its_stock_back() -> None:
    inventory, app = inventory_with_reserved_stock()
    payload = {"store_id": SOURCE, "part_number": PART, "reservation_id": "R-1"}
    app.uow.clock = ManualClock(NOW + timedelta(hours=3))

    await inventory.expire_reservation(app.uow, payload)

    assert event_types(app.uow.streams[AT_SOURCE])[-1] == "ReservationExpired"


def test_building_the_service_twice_registers_its_policies_once() -> None:
    app = FakeApplication(ManualClock(NOW))
    Inventory(app)  # type: ignore[arg-type]
    Inventory(app)  # type: ignore[arg-type]

    assert len(app.policies) == 3
