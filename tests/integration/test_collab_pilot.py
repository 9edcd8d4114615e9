"""domain.md's pilot (试点) across services: HQ records participation at the real analytics
service, collab keeps a copy from analytics' PilotParticipationSet events (NATS, its own
PostgreSQL) and recommends only participating stores as sources."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from storemesh.analytics.events.v1 import events_pb2 as ev

from kernel.clock import ManualClock
from kernel.messaging import InboundEvent
from services.collab import pilot as pilot_copy
from tests.integration.analytics_fixtures import (
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
from tests.integration.collab_fixtures import (
    DG,
    FS,
    GZ,
    LOCATIONS,
    PART,
    SZ,
    collab_db_url,
    start_collab,
    stocked,
)
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually

__all__ = [
    "analytics_db_url",
    "cap",
    "capacity_pg_url",
    "capacity_service",
    "collab_db_url",
    "inv",
    "inventory_service",
    "start_analytics",
    "start_collab",
]

Mint = Callable[..., str]


async def test_only_stores_in_the_pilot_are_recommended_as_sources(
    start_analytics: AnalyticsStarter,
    start_collab: Any,
    cap: CapacityClient,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
) -> None:
    # Registered where collab's seeded directory has them: capacity's events of the same
    # stores, which collab takes in at any moment of the test, must not move them (by
    # default every store is registered in Shenzhen, Guangzhou too: then Shenzhen ranks
    # nearest, as CI saw once collab had taken the events in before the first ranking).
    for store_id in (GZ, FS, DG, SZ):
        latitude, longitude = LOCATIONS[store_id]
        await cap.register(store_id, latitude=latitude, longitude=longitude)
    await stocked(inv, FS01=5, DG01=5, SZ01=5)
    today = clock.business_day(clock.now())
    async with start_analytics() as analytics, start_collab() as collab:
        await knows_stores(analytics, GZ, FS, DG, SZ)
        hq_analytics = analytics.client(mint("hq"))
        guangzhou = collab.client(mint("dms", GZ))

        async def sources() -> list[str]:
            ranked = await guangzhou.RecommendSources(store_id=GZ, part_number=PART, quantity=1)
            return [c.store_id for c in ranked.candidates]

        async def until(expected: list[str]) -> list[str]:
            async def probe() -> list[str] | None:
                found = await sources()
                return found if found == expected else None

            return await eventually(probe)

        # No pilot staged yet: every holder is recommended, nearest first once collab's
        # copy of the store directory (capacity's events) has every store's location.
        assert await until([FS, DG, SZ]) == [FS, DG, SZ]

        # Month 1: Guangzhou (asking) and Dongguan take part; Foshan and Shenzhen not yet.
        since = (today - timedelta(days=3)).isoformat()
        await hq_analytics.SetPilotParticipation(store_id=GZ, joined_on=since)
        await hq_analytics.SetPilotParticipation(store_id=DG, joined_on=since)
        assert await until([DG]) == [DG]
        asked = await guangzhou.RequestTransfer(
            request_id="T-PILOT",
            store_id=GZ,
            part_number=PART,
            quantity=1,
            urgency=1,
            customer_waiting=True,
            repair_order="RO-1",
        )
        assert list(asked.candidate_store_ids) == [DG]

        # Foshan joins from today; Dongguan leaves (today is its first day out); Shenzhen
        # joins only tomorrow, so it is not recommended today.
        await hq_analytics.SetPilotParticipation(store_id=FS, joined_on=today.isoformat())
        await hq_analytics.SetPilotParticipation(
            store_id=DG, joined_on=since, left_on=today.isoformat()
        )
        assert await until([FS]) == [FS]

        # A late redelivery of Dongguan's older decision (version 1: joined, still in) does
        # not roll its leaving (version 2) back.
        async with collab.parts.service.db.transaction("test.pilot") as conn:
            rows = (await conn.execute(select(pilot_copy.pilot))).all()
        assert {r.store_id: r.version for r in rows} == {GZ: 1, DG: 2, FS: 1}
        old = ev.PilotParticipationSet(store_id=DG, joined_on=since)
        redelivered = InboundEvent(
            event_id="redelivered",
            event_type=pilot_copy.PILOT_PARTICIPATION_SET,
            source="analytics",
            subject=f"analytics.v1.{DG}.PilotParticipationSet",
            store_id=DG,
            payload=old.SerializeToString(),
            headers={"ce-streamversion": "1"},
        )
        async with collab.parts.service.db.transaction("test.pilot") as conn:
            await pilot_copy.keep(conn, *pilot_copy.participation(redelivered))
        assert await sources() == [FS]
