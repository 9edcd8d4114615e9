"""What the transfer saga asks of inventory in states it can reach. A store capacity closes
keeps closing out what is already under way at it: the saga undoes a reservation with
ReleaseReservation and a shipment with ReportShipmentLost, and a part already on its way
is received (refused with STORE_CLOSED, the saga's undo failed and it ended stuck). And a
transfer its store's DMS received itself is received again by the saga as a no-op."""

from __future__ import annotations

import grpc

from kernel.store_directory import DirectoryRunner
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    failure,
    refusal,
)
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
    stocked,
)
from tests.integration.kernel_fixtures import eventually

__all__ = ["cap", "capacity_pg_url", "capacity_service", "inv", "inventory_service"]


def _directory(run: Running) -> DirectoryRunner:
    (runner,) = [r for r in run.service.host.subscriptions if isinstance(r, DirectoryRunner)]
    return runner


async def _seen(run: Running, store_id: str, closed: bool) -> None:
    """Wait (bounded) until capacity's store event reached inventory's directory."""
    memory = _directory(run).memory

    async def probe() -> bool:
        return memory.closed(store_id) is closed

    await eventually(probe, within=20.0)


async def _open_stores(cap: CapacityClient, run: Running) -> None:
    await cap.register(SZ)
    await cap.register(GZ)
    await _seen(run, SZ, False)
    await _seen(run, GZ, False)


async def _close(cap: CapacityClient, run: Running, store_id: str) -> None:
    await cap.CloseStore(store_id=store_id, reason="lease ended")
    await _seen(run, store_id, True)


async def _shipped(inv: InventoryClient, transfer_id: str, quantity: int) -> None:
    """Reserved at SZ and shipped to GZ, as the transfer saga does."""
    await inv.ReserveStock(
        store_id=SZ, part_number=PART, reservation_id=transfer_id, quantity=quantity
    )
    await inv.ShipTransfer(
        store_id=SZ,
        part_number=PART,
        transfer_id=transfer_id,
        reservation_id=transfer_id,
        destination_store_id=GZ,
    )


async def test_a_closed_source_still_releases_a_reservation_and_reports_a_shipment_lost(
    cap: CapacityClient, inv: InventoryClient, inventory_service: Running
) -> None:
    await _open_stores(cap, inventory_service)
    await stocked(inv, 10)
    await inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="T-1", quantity=2)
    await _shipped(inv, "T-2", 3)

    await _close(cap, inventory_service, SZ)

    released = await inv.ReleaseReservation(store_id=SZ, part_number=PART, reservation_id="T-1")
    assert figures(released) == (7, 0, 7, 3, 0)
    lost = await inv.ReportShipmentLost(
        store_id=SZ, part_number=PART, transfer_id="T-2", reason="courier lost it"
    )
    assert figures(lost) == (7, 0, 7, 0, 0)
    assert figures(await position(inv, GZ)) == (0, 0, 0, 0, 0)
    # Nothing new is promised from a closed store.
    again = await failure(
        inv.ReserveStock(store_id=SZ, part_number=PART, reservation_id="T-3", quantity=1)
    )
    assert refusal(again) == (grpc.StatusCode.FAILED_PRECONDITION, "STORE_CLOSED")


async def test_a_closed_destination_still_receives_what_was_shipped_to_it(
    cap: CapacityClient, inv: InventoryClient, inventory_service: Running
) -> None:
    await _open_stores(cap, inventory_service)
    await stocked(inv, 10)
    await _shipped(inv, "T-1", 4)

    await _close(cap, inventory_service, GZ)

    received = await inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1")
    assert figures(received) == (4, 0, 4, 0, 0)
    assert figures(await position(inv, SZ)) == (6, 0, 6, 0, 0)


async def test_find_stock_leaves_out_a_closed_store(
    cap: CapacityClient, inv: InventoryClient, inventory_service: Running
) -> None:
    """FindStock is how a transfer's source is chosen: a closed store refuses the
    reservation (STORE_CLOSED), so it is no source to recommend."""
    await _open_stores(cap, inventory_service)
    await stocked(inv, 10, store=SZ)
    await inv.ReceiveStock(store_id=GZ, part_number=PART, quantity=3)

    await _close(cap, inventory_service, SZ)

    found = await inv.FindStock(part_number=PART, min_available=1)
    assert [s.store_id for s in found.stores] == [GZ]


async def test_a_transfer_its_store_received_itself_is_received_again_as_a_no_op(
    cap: CapacityClient, inv: InventoryClient, inventory_service: Running
) -> None:
    """The destination's DMS books the part in as it arrives; the transfer saga then
    receives "the rest" when the courier reports delivery: nothing changes, nothing is
    refused (a refusal made the saga undo a shipment that had arrived, and end stuck)."""
    await _open_stores(cap, inventory_service)
    await stocked(inv, 10)
    await _shipped(inv, "T-1", 4)
    by_dms = await inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1")

    by_saga = await inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1")

    assert figures(by_saga) == figures(by_dms) == (4, 0, 4, 0, 0)
    assert figures(await position(inv, SZ)) == (6, 0, 6, 0, 0)
