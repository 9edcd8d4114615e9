"""Two replicas of inventory on one database each keep their own memory of the store
directory current from capacity's events, though only one of them writes the table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from kernel.clock import ManualClock
from kernel.store_directory import DirectoryRunner, store_directory
from kernel.testing.servers import Endpoints
from services.inventory.bootstrap import build as build_inventory
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    failure,
    refusal,
)
from tests.integration.conftest import Running, running, settings_for
from tests.integration.inventory_fixtures import InventoryClient, register_part


@pytest.fixture
async def replicas(
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    capacity_service: Running,
) -> AsyncIterator[tuple[Running, Running]]:
    """Two inventory processes' worth of service on ONE database, beside capacity."""
    settings = settings_for("inventory", pg_url, endpoints.nats_url, namespace)
    async with (
        running(build_inventory, settings, clock, verifier, timer_interval=3600) as first,
        running(build_inventory, settings, clock, verifier, timer_interval=3600) as second,
    ):
        yield first, second


def _directory(run: Running) -> DirectoryRunner:
    (runner,) = [r for r in run.service.host.subscriptions if isinstance(r, DirectoryRunner)]
    return runner


async def _until(what: str, condition: Callable[[], bool], within: float = 20.0) -> None:
    """Wait (bounded) for events to reach a replica."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def test_a_store_closed_by_capacity_is_refused_by_both_replicas_from_memory(
    cap: CapacityClient, replicas: tuple[Running, Running], mint: Callable[..., str]
) -> None:
    first, second = replicas
    memories = [_directory(first).memory, _directory(second).memory]
    assert memories[0] is not memories[1], "each replica keeps its own copy"
    inv = [InventoryClient(run, mint("hq")) for run in replicas]
    await register_part(inv[0])

    await cap.register("SZ01")
    await _until(
        "both replicas know SZ01", lambda: all(m.closed("SZ01") is False for m in memories)
    )
    for client in inv:
        assert (await client.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=1)).on_hand

    await cap.CloseStore(store_id="SZ01", reason="lease ended")
    await _until("both replicas saw the close", lambda: all(m.closed("SZ01") for m in memories))
    refusals = [
        refusal(
            await failure(client.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=1))
        )
        for client in inv
    ]

    assert refusals == [(grpc.StatusCode.FAILED_PRECONDITION, "STORE_CLOSED")] * 2
    # The replicas share one durable consumer: each store event wrote the table once, so at
    # least one replica learned the close only through its own follower. (The followers
    # read the stream directly, so they may see the close before the consumer's commit.)
    await _until(
        "the shared consumer handled both store events",
        lambda: sum(_directory(run).handled for run in replicas) >= 2,
    )
    handled = [_directory(run).handled for run in replicas]
    assert sum(handled) == 2, handled
    assert all(_directory(run).follower.applied >= 2 for run in replicas)


async def test_a_store_written_to_the_table_behind_the_memory_is_still_answered(
    replicas: tuple[Running, Running], mint: Callable[..., str]
) -> None:
    first, second = replicas
    inv = InventoryClient(second, mint("hq"))
    await register_part(InventoryClient(first, mint("hq")))
    async with first.service.db.transaction("test.behind_the_memory") as conn:
        await conn.execute(
            store_directory.insert(),
            [
                {"store_id": "SZ01", "name": "Open", "region": "", "closed": False, "version": 1},
                {"store_id": "SZ02", "name": "Shut", "region": "", "closed": True, "version": 1},
            ],
        )

    opened = await inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=1)
    shut = await failure(inv.ReceiveStock(store_id="SZ02", part_number="P-100", quantity=1))
    unknown = await failure(inv.ReceiveStock(store_id="XX99", part_number="P-100", quantity=1))

    assert opened.on_hand == 1
    assert refusal(shut) == (grpc.StatusCode.FAILED_PRECONDITION, "STORE_CLOSED")
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    memory = _directory(second).memory
    assert (memory.closed("SZ01"), memory.closed("SZ02")) == (False, True), "learned on the miss"
