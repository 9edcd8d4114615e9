"""Inventory as collab reaches it over gRPC: who holds a part now (FindStock), whether its
catalogue has a part at all (GetPart), and a store's stock with no movement for a while
(ListStaleStock)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel.codec import optional_moment
from kernel.errors import NotFound
from kernel.peer_client import PeerClient, every_page, not_found
from services.collab.application import StockHolder
from services.collab.domain.revitalisation import StaleLot

INVENTORY_API = pb.DESCRIPTOR.services_by_name["InventoryService"]
# The network has tens of stores: two pages are plenty (every_page stops at ten).
PAGE_SIZE = 200


class InventoryStock(PeerClient):
    stub_type = pb_grpc.InventoryServiceStub
    peer = "inventory"

    async def holders(
        self, part_number: str, min_available: int, exclude_store_id: str
    ) -> Sequence[StockHolder]:
        async def page(token: str) -> pb.FindStockResponse:
            request = pb.FindStockRequest(
                part_number=part_number,
                min_available=min_available,
                exclude_store_id=exclude_store_id,
                page_size=PAGE_SIZE,
                page_token=token,
            )
            unknown = {grpc.StatusCode.NOT_FOUND: not_found("part", part_number)}
            return await self.call("FindStock", request, refusals=unknown)

        try:
            return await every_page(
                page,
                lambda reply: (
                    StockHolder(
                        s.store_id, int(s.available), optional_moment(s, "last_movement_at")
                    )
                    for s in reply.stores
                ),
            )
        except NotFound:
            return []  # a part inventory does not know: nobody holds it

    async def knows_part(self, part_number: str) -> bool:
        """Whether inventory's catalogue has the part (GetPart)."""
        request = pb.GetPartRequest(part_number=part_number)
        try:
            unknown = {grpc.StatusCode.NOT_FOUND: not_found("part", part_number)}
            await self.call("GetPart", request, refusals=unknown)
        except NotFound:
            return False
        return True

    async def stale(self, store_id: str, min_idle_days: int) -> Sequence[StaleLot]:
        """The store's stale parts (ListStaleStock): idle for `min_idle_days`, or
        overstocked beyond the store's own cover (inventory's defaults)."""

        async def page(token: str) -> pb.ListStaleStockResponse:
            request = pb.ListStaleStockRequest(
                store_id=store_id,
                min_idle_days=min_idle_days,
                page_size=PAGE_SIZE,
                page_token=token,
            )
            return await self.call("ListStaleStock", request)

        return await every_page(
            page,
            lambda reply: (stale_lot_of(i) for i in reply.items),
        )


# What an item says of its criteria; an inventory from before overstock says no reason,
# and listed idle stock only, stale whole.
_IDLE = {pb.STALE_REASON_UNSPECIFIED, pb.STALE_REASON_IDLE, pb.STALE_REASON_IDLE_AND_OVERSTOCK}
_OVERSTOCK = {pb.STALE_REASON_OVERSTOCK, pb.STALE_REASON_IDLE_AND_OVERSTOCK}


def stale_lot_of(i: pb.StaleStockItem) -> StaleLot:
    known = i.reason != pb.STALE_REASON_UNSPECIFIED
    return StaleLot(
        i.store_id,
        i.part_number,
        i.name,
        int(i.on_hand),
        int(i.value_fen),
        int(i.idle_days),
        idle=i.reason in _IDLE,
        overstock=i.reason in _OVERSTOCK,
        stale_quantity=int(i.stale_quantity if known else i.on_hand),
        stale_value_fen=int(i.stale_value_fen if known else i.value_fen),
        cover_quantity=int(i.cover_quantity),
    )
