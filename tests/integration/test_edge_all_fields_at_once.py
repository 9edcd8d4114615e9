"""One refusal names every bad field: the edge's wire faults and the servicer's own together,
and a request with wire faults changes nothing whatever the servicer would have done."""

from __future__ import annotations

import grpc

from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    event_count,
    failure,
    violated_fields,
)
from tests.integration.inventory_fixtures import (
    InventoryClient,
    inv,
    inventory_service,
    register_part,
)

__all__ = ["cap", "capacity_pg_url", "capacity_service", "inv", "inventory_service"]

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def test_the_edges_faults_and_the_servicers_are_named_in_one_refusal(
    inv: InventoryClient,
) -> None:
    # The edge sees a path-like part number; the servicer an impossible store code.
    err = await failure(
        inv.ReserveStock(request_id="", store_id="S Z", part_number="a/../b", quantity=2)
    )
    assert err.code() == INVALID
    assert set(violated_fields(err)) == {"request_id", "store_id", "part_number"}


async def test_a_request_with_only_a_wire_fault_changes_nothing(inv: InventoryClient) -> None:
    await register_part(inv, "P-1")
    await inv.ReceiveStock(store_id="SZ01", part_number="P-1", quantity=5)
    before = await event_count(inv.run)
    # Everything the service checks itself is fine; only the edge sees the NUL.
    err = await failure(
        inv.ReceiveStock(store_id="SZ01", part_number="P-1", quantity=3, reference="po\x00-7")
    )
    assert err.code() == INVALID
    assert violated_fields(err) == ["reference"]
    assert await event_count(inv.run) == before
    position = await inv.GetStockPosition(store_id="SZ01", part_number="P-1")
    assert position.on_hand == 5


async def test_an_empty_booking_names_every_missing_field_at_once(cap: CapacityClient) -> None:
    before = await event_count(cap.run)
    err = await failure(cap.BookAppointment(request_id=""))
    assert err.code() == INVALID
    assert set(violated_fields(err)) == {
        "request_id",
        "store_id",
        "requested_at",
        "customer_ref",
        "vehicle",
        "service_type",
        "expected_labour_hours",
    }
    assert await event_count(cap.run) == before
