"""Inventory's part of the demo network: the parts catalogue, each store's stock, some
repair orders."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import grpc
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from services.demo_network import PARTS, STORES, request_id


async def load(channel: grpc.aio.Channel, metadata: Any) -> None:
    stub = pb_grpc.InventoryServiceStub(channel)
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
        for number, _, category, _, _ in PARTS:
            # Big stores stock more; high-value EV and ADAS parts sit in a few stores only.
            rare = category in ("hv_ev", "adas")
            if rare and rng.random() < 0.6:
                continue
            quantity = rng.randint(1, 4) if rare else rng.randint(2, 6) * max(store.bays // 4, 1)
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
