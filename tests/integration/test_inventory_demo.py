"""Inventory's demo part: the stores that join by their DMS's stock count bring stale
stock a new user finds at once (ListStaleStock), collab recommends receivers for it, and
loading the demo again changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from kernel.clock import ManualClock
from kernel.db import upsert
from kernel.service import Service
from kernel.store_directory import store_directory
from services.collab.domain.transfer import Deadlines
from services.demo_network import JOINED_BY_COUNT, STORES
from services.inventory import demo
from tests.integration.collab_fixtures import Starter, collab_db_url, collab_starter
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually
from tests.integration.rich_errors import event_count

__all__ = ["collab_db_url", "inv", "inventory_service"]

QY = "QY01"


@pytest.fixture
def start_collab(request: pytest.FixtureRequest, inventory_service: Running) -> Starter:
    """Collab knowing every demo store's location, as capacity's events leave them."""

    async def locate(service: Service) -> None:
        async with service.db.transaction() as conn:
            for version, store in enumerate(STORES, start=1):
                row = {
                    "store_id": store.code,
                    "name": store.name,
                    "region": "Guangdong",
                    "latitude": store.latitude,
                    "longitude": store.longitude,
                    "closed": False,
                    "version": version,
                }
                await upsert(conn, store_directory, row, ["store_id"])

    return collab_starter(
        request, before_start=locate, inventory=inventory_service.channel, deadlines=Deadlines()
    )


async def test_the_joining_stores_stale_stock_is_listed_and_recommended_at_once(
    start_collab: Starter,
    inv: InventoryClient,
    inventory_service: Running,
    mint: Callable[..., str],
    clock: ManualClock,
) -> None:
    metadata = (("authorization", f"Bearer {mint('hq')}"),)
    async with start_collab() as collab:
        said = await demo.load(inventory_service.channel, metadata, now=clock.now())

        for store_id, idle in JOINED_BY_COUNT.items():
            listed = await inv.ListStaleStock(store_id=store_id)
            assert {(i.part_number, i.idle_days) for i in listed.items} == set(idle.items())
        assert said.splitlines()[0].startswith(f"{QY} joined by its DMS's stock count")
        # Stock that moved at the DMS days before the count is not stale.
        assert all(i.store_id in JOINED_BY_COUNT for i in (await inv.ListStaleStock()).items)

        qingyuan = collab.client(mint("manager", QY))

        async def recommended() -> Any:
            got = await qingyuan.RecommendRevitalisation(store_id=QY)
            return got if got.lots and all(lot.receivers for lot in got.lots) else None

        got = await eventually(recommended)
        by_part = {lot.part_number: lot for lot in got.lots}
        assert set(by_part) == set(JOINED_BY_COUNT[QY])
        assert "GZ01" in [r.store_id for r in by_part["BDY-BUMPER-F"].receivers]

    recorded = await event_count(inventory_service)
    clock.advance(timedelta(minutes=5))  # a later start: the count is at another moment

    again = await demo.load(inventory_service.channel, metadata, now=clock.now())

    assert await event_count(inventory_service) == recorded
    assert again == said
