"""A running inventory service for integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel.clock import ManualClock
from kernel.eventstore import events
from kernel.testing.servers import Endpoints
from services.inventory.bootstrap import build
from tests.integration.conftest import GrpcClient, Running, delete_streams, running, settings_for


def rid() -> str:
    return str(uuid.uuid4())


class InventoryClient(GrpcClient):
    """The inventory service, called with a token."""

    stub_type = pb_grpc.InventoryServiceStub
    messages = pb


@pytest.fixture
async def inventory_service(
    pg_url: str, endpoints: Endpoints, namespace: str, clock: ManualClock, verifier: Any
) -> AsyncIterator[Running]:
    settings = settings_for("inventory", pg_url, endpoints.nats_url, namespace)
    async with running(build, settings, clock, verifier, timer_interval=3600) as run:
        yield run
        await delete_streams(run.service.nats)


@pytest.fixture
async def inv(inventory_service: Running, mint: Callable[..., str]) -> InventoryClient:
    return InventoryClient(inventory_service, mint("hq"))


async def register_part(
    inv: InventoryClient,
    part_number: str = "P-100",
    cost: int = 12_000,
    name: str = "Brake pad set",
    category: str = "brakes",
) -> Any:
    return await inv.RegisterPart(
        part=pb.Part(
            part_number=part_number, name=name, category=category, unit="set", unit_cost_fen=cost
        )
    )


SZ, GZ, PART = "SZ01", "GZ01", "P-100"


async def position(inv: InventoryClient, store: str = SZ, part: str = PART) -> Any:
    return await inv.GetStockPosition(store_id=store, part_number=part)


def figures(p: Any) -> tuple[int, int, int, int, int]:
    return (p.on_hand, p.reserved, p.available, p.in_transit_out, p.in_transit_in)


async def stocked(inv: InventoryClient, quantity: int = 10, store: str = SZ) -> None:
    await register_part(inv)
    await inv.ReceiveStock(store_id=store, part_number=PART, quantity=quantity)


async def stale_stock_valued(run: Running) -> list[Any]:
    """Every StaleStockValued the inventory service recorded, in order."""
    async with run.service.db.transaction("test.stale") as conn:
        query = (
            select(events.c.event_type, events.c.payload)
            .where(events.c.event_type.like("%StaleStockValued"))
            .order_by(events.c.position)
        )
        rows = (await conn.execute(query)).all()
    return [run.service.app.registry.decode(r.event_type, r.payload) for r in rows]
