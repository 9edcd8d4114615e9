"""Stale stock value (呆滞库存) from inventory to analytics' KPI over real gRPC, PostgreSQL
and NATS: inventory's daily close values each store's stock without movement for 90 days
at catalogue cost and records StaleStockValued once per store and day; analytics projects
it and serves it as the stale_stock_value indicator of a store, a region and the network."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel.clock import ManualClock
from kernel.eventstore import timers
from services.inventory.stale_close import STALE_STOCK_CLOSE
from tests.integration.analytics_fixtures import (
    AnalyticsClient,
    AnalyticsStarter,
    analytics_db_url,
    knows_stores,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
)
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import (
    InventoryClient,
    inv,
    inventory_service,
    register_part,
    stale_stock_valued,
)
from tests.integration.kernel_fixtures import eventually

__all__ = [
    "analytics_db_url",
    "cap",
    "capacity_pg_url",
    "capacity_service",
    "inv",
    "inventory_service",
    "start_analytics",
]

Mint = Callable[..., str]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOV_2 = ev.Period(kind=ev.PERIOD_KIND_DAY, start="2026-11-02")


async def _stale(client: AnalyticsClient, scope: pb.Scope) -> float | None:
    reply = await client.GetKpis(scope=scope, period=NOV_2, as_of="2026-11-02")
    found = {v.indicator: v.value for v in reply.values}
    return found.get("stale_stock_value")


async def test_inventory_values_stale_stock_daily_and_analytics_serves_it(
    start_analytics: AnalyticsStarter,
    cap: CapacityClient,
    inv: InventoryClient,
    inventory_service: Running,
    clock: ManualClock,
    mint: Mint,
) -> None:
    await cap.register("SZ01", region="South China")
    await cap.register("GZ01", region="South China")

    async def armed() -> bool:
        async with inventory_service.service.db.transaction("test.armed") as conn:
            query = select(timers.c.due_at).where(timers.c.timer_id == STALE_STOCK_CLOSE)
            return (await conn.execute(query)).first() is not None

    await eventually(armed)
    await register_part(inv, "P-100", cost=12_000)
    await register_part(inv, "P-200", cost=5_000)
    # Shenzhen's brake pads have not moved since July: stale by November. Its filters and
    # Guangzhou's brake pads moved in October: not stale.
    clock.set(datetime(2026, 7, 1, 10, 0, tzinfo=SHANGHAI))
    await inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=4)
    clock.set(datetime(2026, 10, 20, 10, 0, tzinfo=SHANGHAI))
    await inv.ReceiveStock(store_id="SZ01", part_number="P-200", quantity=10)
    await inv.ReceiveStock(store_id="GZ01", part_number="P-100", quantity=2)

    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01")
        service_timers = inventory_service.service.timers
        clock.set(datetime(2026, 11, 3, 0, 29, tzinfo=SHANGHAI))
        while await service_timers.run_due():
            pass
        assert await stale_stock_valued(inventory_service) == []
        clock.set(datetime(2026, 11, 3, 0, 30, tzinfo=SHANGHAI))
        while await service_timers.run_due():
            pass
        while await service_timers.run_due():  # firing again values nothing new
            pass
        valued = await stale_stock_valued(inventory_service)
        assert [(v.store_id, v.day, v.value_fen, v.positions, v.units) for v in valued] == [
            ("GZ01", "2026-11-02", 0, 0, 0),
            ("SZ01", "2026-11-02", 4 * 12_000, 1, 4),
        ]

        hq = run.client(mint("hq"))
        sz01 = pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="SZ01")

        async def projected() -> float | None:
            return await _stale(hq, sz01)

        assert await eventually(projected, within=30.0) == 48_000
        south = pb.Scope(level=pb.SCOPE_LEVEL_REGION, id="South China")
        assert await _stale(hq, south) == 48_000
        assert await _stale(hq, pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="GZ01")) == 0
        # A day before any valuation has no stale stock value at all.
        before = await hq.GetKpis(
            scope=sz01,
            period=ev.Period(kind=ev.PERIOD_KIND_DAY, start="2026-11-01"),
            as_of="2026-11-01",
        )
        assert "stale_stock_value" not in {v.indicator for v in before.values}
