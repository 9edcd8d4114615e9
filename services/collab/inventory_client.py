"""Inventory as collab reaches it over gRPC: who holds a part now (FindStock)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC

import grpc
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel.errors import Unavailable
from services.collab.application import StockHolder
from services.collab.domain.revitalisation import StaleLot

INVENTORY_API = pb.DESCRIPTOR.services_by_name["InventoryService"]
# The network has tens of stores: two pages are plenty, and the loop stays bounded.
MAX_PAGES = 10
PAGE_SIZE = 200


class InventoryStock:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        metadata: Callable[[], Sequence[tuple[str, str]]],
        timeout: float = 5.0,
    ) -> None:
        self.stub = pb_grpc.InventoryServiceStub(channel)
        self.metadata = metadata
        self.timeout = timeout

    async def holders(
        self, part_number: str, min_available: int, exclude_store_id: str
    ) -> Sequence[StockHolder]:
        found: list[StockHolder] = []
        token = ""
        for _ in range(MAX_PAGES):
            request = pb.FindStockRequest(
                part_number=part_number,
                min_available=min_available,
                exclude_store_id=exclude_store_id,
                page_size=PAGE_SIZE,
                page_token=token,
            )
            try:
                reply = await self.stub.FindStock(
                    request, timeout=self.timeout, metadata=tuple(self.metadata())
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return []  # a part inventory does not know: nobody holds it
                raise Unavailable(f"inventory FindStock: {exc.code().name}") from exc
            for s in reply.stores:
                moved = (
                    s.last_movement_at.ToDatetime(tzinfo=UTC)
                    if s.HasField("last_movement_at")
                    else None
                )
                found.append(StockHolder(s.store_id, int(s.available), moved))
            token = reply.next_page_token
            if not token:
                break
        return found

    async def stale(self, store_id: str, min_idle_days: int) -> Sequence[StaleLot]:
        """The store's parts with no movement for `min_idle_days` (ListStaleStock)."""
        found: list[StaleLot] = []
        token = ""
        for _ in range(MAX_PAGES):
            request = pb.ListStaleStockRequest(
                store_id=store_id,
                min_idle_days=min_idle_days,
                page_size=PAGE_SIZE,
                page_token=token,
            )
            try:
                reply = await self.stub.ListStaleStock(
                    request, timeout=self.timeout, metadata=tuple(self.metadata())
                )
            except grpc.aio.AioRpcError as exc:
                raise Unavailable(f"inventory ListStaleStock: {exc.code().name}") from exc
            found.extend(
                StaleLot(
                    i.store_id,
                    i.part_number,
                    i.name,
                    int(i.on_hand),
                    int(i.value_fen),
                    int(i.idle_days),
                )
                for i in reply.items
            )
            token = reply.next_page_token
            if not token:
                break
        return found
