"""A running inventory service for integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel.clock import ManualClock
from kernel.testing.servers import Endpoints
from services.inventory.bootstrap import build
from tests.integration.conftest import Running, delete_streams, running, settings_for


def rid() -> str:
    return str(uuid.uuid4())


class InventoryClient:
    """The stub with a token: `await inv.ReceiveStock(store_id=..., ...)`."""

    def __init__(self, run: Running, token: str) -> None:
        self.run = run
        self.stub = pb_grpc.InventoryServiceStub(run.channel)
        self.token = token

    def as_(self, token: str) -> InventoryClient:
        return InventoryClient(self.run, token)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self.stub, method)
        request_type = getattr(pb, f"{method}Request")

        async def invoke(**fields: Any) -> Any:
            if (
                "request_id" in request_type.DESCRIPTOR.fields_by_name
                and "request_id" not in fields
            ):
                fields["request_id"] = rid()
            return await call(request_type(**fields), metadata=self.run.metadata(self.token))

        return invoke


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
