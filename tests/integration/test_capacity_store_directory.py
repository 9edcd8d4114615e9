"""Capacity's store events keep inventory's store directory: unknown stores are then refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from kernel.clock import ManualClock
from kernel.store_directory import store_location, store_status
from kernel.testing.servers import Endpoints
from services.inventory.bootstrap import build as build_inventory
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    failure,
    missing,
    refusal,
)
from tests.integration.conftest import Running, running, settings_for
from tests.integration.inventory_fixtures import InventoryClient, register_part


@pytest.fixture
async def inventory_beside(
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    capacity_service: Running,
) -> AsyncIterator[Running]:
    """Inventory on a database of its own, on the same NATS namespace as capacity."""
    settings = settings_for("inventory", pg_url, endpoints.nats_url, namespace)
    async with running(build_inventory, settings, clock, verifier, timer_interval=3600) as run:
        yield run


async def _directory_entry(run: Running, store_id: str, within: float = 20.0) -> tuple[bool, bool]:
    """Wait (bounded) until inventory's directory knows the store; its (known, closed)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with run.service.db.transaction("test.directory") as conn:
            location = await store_location(conn, store_id)
            status = await store_status(conn, store_id)
        if location is not None:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"inventory's directory never learned of {store_id}")
        await asyncio.sleep(0.1)


async def _closed(run: Running, store_id: str, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (await _directory_entry(run, store_id))[1] is False:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"inventory's directory never learned {store_id} closed")
        await asyncio.sleep(0.1)


async def test_inventory_rejects_an_unknown_store_once_the_directory_is_known(
    cap: CapacityClient, inventory_beside: Running, mint: Callable[..., str]
) -> None:
    inv = InventoryClient(inventory_beside, mint("hq"))
    await register_part(inv)
    # An empty directory (capacity has no stores yet) accepts every well-formed code.
    await inv.ReceiveStock(store_id="XX99", part_number="P-100", quantity=1)

    await cap.register("SZ01")
    assert await _directory_entry(inventory_beside, "SZ01") == (True, False)

    unknown = await failure(inv.ReceiveStock(store_id="XX98", part_number="P-100", quantity=1))
    known = await inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=5)

    assert missing(unknown) == ("store", "XX98")
    assert (known.store_id, known.on_hand) == ("SZ01", 5)
    async with inventory_beside.service.db.transaction("test.location") as conn:
        assert await store_location(conn, "SZ01") == (22.5431, 114.0579)


async def test_inventory_refuses_a_store_capacity_closed(
    cap: CapacityClient, inventory_beside: Running, mint: Callable[..., str]
) -> None:
    inv = InventoryClient(inventory_beside, mint("hq"))
    await register_part(inv)
    await cap.register("SZ01")
    await cap.CloseStore(store_id="SZ01", reason="lease ended")

    await _closed(inventory_beside, "SZ01")
    err = await failure(inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=1))

    assert refusal(err) == (grpc.StatusCode.FAILED_PRECONDITION, "STORE_CLOSED")
