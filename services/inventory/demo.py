"""Inventory's part of the demo network: the parts catalogue, each store's stock, some
repair orders. Two stores join by their DMS's stock count, with the dates their parts
last moved there: their idle stock is stale stock at once, for collab to revitalise."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel.codec import timestamp
from services.demo_network import (
    JOINED_BY_COUNT,
    LOADED_BEFORE,
    PARTS,
    STALE_PARTS_USED,
    STORES,
    refusal_reason,
    request_id,
)


async def load(channel: grpc.aio.Channel, metadata: Any, *, now: datetime | None = None) -> str:
    """Load it all; say what the joining stores brought (their stale stock)."""
    stub = pb_grpc.InventoryServiceStub(channel)
    now = now or datetime.now(UTC)
    for number, name, category, unit, cost in PARTS:
        await stub.RegisterPart(
            pb.RegisterPartRequest(
                request_id=request_id("part", number),
                part=pb.Part(
                    part_number=number,
                    name=name,
                    category=category,
                    unit=unit,
                    unit_cost_fen=cost * 100,
                ),
            ),
            metadata=metadata,
        )
    rng = random.Random(2026)
    for store in STORES:
        joining = JOINED_BY_COUNT.get(store.code)
        counted: list[pb.StockCount] = []
        for number, _, category, _, _ in PARTS:
            # Big stores stock more; high-value EV and ADAS parts sit in a few stores only.
            rare = category in ("hv_ev", "adas")
            if rare and rng.random() < 0.6:
                continue
            quantity = rng.randint(1, 4) if rare else rng.randint(2, 6) * max(store.bays // 4, 1)
            if joining is not None:
                idle_days = joining.get(number, len(counted) % 20 + 1)
                moved = timestamp(now - timedelta(days=idle_days))
                counted.append(
                    pb.StockCount(
                        part_number=number, counted_quantity=quantity, last_moved_at=moved
                    )
                )
                continue
            await _once_store_is_known(
                stub.ReceiveStock,
                pb.ReceiveStockRequest(
                    request_id=request_id("receipt", store.code, number),
                    store_id=store.code,
                    part_number=number,
                    quantity=quantity,
                    reference=f"DEMO-GR-{store.code}",
                ),
                metadata,
            )
        if counted:
            await _join(stub, store.code, counted, now, metadata)
        for i in range(rng.randint(3, 8)):
            number = rng.choice(PARTS)[0]
            await stub.RequestParts(
                pb.RequestPartsRequest(
                    request_id=request_id("ro", store.code, i),
                    store_id=store.code,
                    part_number=number,
                    repair_order=f"RO-{store.code}-{1000 + i}",
                    quantity=rng.randint(1, 3),
                    customer_waiting=rng.random() < 0.5,
                ),
                metadata=metadata,
            )
    for store_id, number, quantity in STALE_PARTS_USED:
        await stub.RequestParts(
            pb.RequestPartsRequest(
                request_id=request_id("ro", "stale-part-used", store_id, number),
                store_id=store_id,
                part_number=number,
                repair_order=f"RO-{store_id}-{number}",
                quantity=quantity,
            ),
            metadata=metadata,
        )
    return "\n".join([await _stale_at(stub, code, metadata) for code in JOINED_BY_COUNT])


async def _join(
    stub: pb_grpc.InventoryServiceStub,
    store_id: str,
    counted: list[pb.StockCount],
    now: datetime,
    metadata: Any,
) -> None:
    """The store's whole stock in one call, as its DMS sends it on joining."""
    request = pb.SyncStockCountsRequest(
        request_id=request_id("joined by count", store_id),
        store_id=store_id,
        counted_at=timestamp(now),
        reason="joined StoreMesh: DMS stock count",
        counts=counted,
    )
    try:
        await _once_store_is_known(stub.SyncStockCounts, request, metadata)
    except grpc.aio.AioRpcError as error:
        if refusal_reason(error) != LOADED_BEFORE:
            raise  # else an earlier start counted the store (at its own moment): it stands


async def _stale_at(stub: pb_grpc.InventoryServiceStub, store_id: str, metadata: Any) -> str:
    stale = await stub.ListStaleStock(
        pb.ListStaleStockRequest(store_id=store_id), metadata=metadata
    )
    parts = ", ".join(f"{i.part_number} ({i.idle_days} days)" for i in stale.items)
    return (
        f"{store_id} joined by its DMS's stock count; stale stock "
        f"{stale.total_value_fen // 100} CNY: {parts or 'none'}"
    )


async def _once_store_is_known(call: Any, request: Any, metadata: Any) -> Any:
    """Inventory learns stores from capacity's events: give its directory a moment."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await call(request, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
