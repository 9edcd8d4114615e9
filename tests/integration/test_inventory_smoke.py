"""The inventory service end to end over real gRPC, PostgreSQL and NATS."""

from __future__ import annotations

from tests.integration.inventory_fixtures import (
    InventoryClient,
    inv,
    inventory_service,
    register_part,
)


async def test_receive_then_reserve_changes_available(inv: InventoryClient) -> None:
    await register_part(inv)
    await inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=10)
    position = await inv.ReserveStock(store_id="SZ01", part_number="P-100", quantity=4)
    assert (position.on_hand, position.reserved, position.available) == (10, 4, 6)
