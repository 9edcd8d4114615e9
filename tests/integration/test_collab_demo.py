"""Collab's demo part: the headlamp transfer for Shenzhen, requested once however often
the demo loads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storemesh.inventory.v1 import inventory_pb2 as inventory_pb

from services.collab import demo
from tests.integration.collab_fixtures import FS, collab_db_url, start_collab
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service

__all__ = ["collab_db_url", "inv", "inventory_service", "start_collab"]


async def test_the_demo_requests_the_headlamp_transfer_once(
    start_collab: Any, inv: InventoryClient, mint: Callable[..., str]
) -> None:
    async with start_collab() as collab:
        metadata = (("authorization", f"Bearer {mint('hq')}"),)
        assert (await demo.load(collab.running.channel, metadata)).startswith(
            "no headlamp transfer"
        )
        await inv.RegisterPart(
            part=inventory_pb.Part(
                part_number=demo.HEADLAMP,
                name="Left LED headlamp",
                category="electrical",
                unit="pc",
            )
        )
        await inv.ReceiveStock(store_id=FS, part_number=demo.HEADLAMP, quantity=2)
        first = (await demo.load(collab.running.channel, metadata)).splitlines()[0]
        again = (await demo.load(collab.running.channel, metadata)).splitlines()[0]
        assert first == again
        assert first.startswith("headlamp transfer ") and first.endswith(f"asks {FS}")
        listed = await collab.client(mint("hq")).ListTransfers()
        assert len(listed.transfers) == 1
