"""domain.md's pilot (试点) for every role collab recommends a store in, besides sources
(test_collab_pilot.py): lenders of a technician (SOP 2), receivers of a diverted customer
(SOP 3) and receivers of stale stock. HQ sets participation at the real analytics service;
collab learns it from analytics' PilotParticipationSet events over NATS and asks the real
workforce, capacity and inventory services over gRPC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
from sqlalchemy import select
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2 as wpb

from kernel.clock import ManualClock
from services.collab import pilot as pilot_copy
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
from tests.integration.collab_fixtures import (
    DG,
    FS,
    GZ,
    LOCATIONS,
    PART,
    SZ,
    CollabRun,
    collab_db_url,
    start_collab,
    stocked,
)
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually
from tests.integration.rich_errors import failure, reason
from tests.integration.sops_fixtures import collab_with_capacity, collab_with_workforce, reached
from tests.integration.test_collab_diversion import divert
from tests.integration.test_collab_diversion import network as diversion_network
from tests.integration.test_collab_support import ask, technicians
from tests.integration.workforce_fixtures import WorkforceClient, wf, workforce_service

__all__ = [
    "analytics_db_url",
    "cap",
    "capacity_pg_url",
    "capacity_service",
    "collab_db_url",
    "collab_with_capacity",
    "collab_with_workforce",
    "inv",
    "inventory_service",
    "start_analytics",
    "start_collab",
    "wf",
    "workforce_service",
]

Mint = Callable[..., str]


def located(store_id: str) -> dict[str, float]:
    """Where collab's seeded directory has the store: capacity's events of it, taken in at
    any moment of a test, must not move it (by default every store is in Shenzhen)."""
    latitude, longitude = LOCATIONS[store_id]
    return {"latitude": latitude, "longitude": longitude}


async def take_part(
    hq: AnalyticsClient, collab: CollabRun, clock: ManualClock, *store_ids: str
) -> None:
    """HQ puts the stores into the pilot since three days ago; returns once collab's copy
    (fed by analytics' events over NATS) holds every one of them."""
    since = clock.business_day(clock.now()) - timedelta(days=3)
    for store_id in store_ids:
        await hq.SetPilotParticipation(store_id=store_id, joined_on=since.isoformat())

    async def known() -> bool:
        async with collab.parts.service.db.transaction("test.pilot") as conn:
            found = set((await conn.execute(select(pilot_copy.pilot.c.store_id))).scalars())
        return set(store_ids) <= found

    await eventually(known, within=30.0)


async def test_only_stores_in_the_pilot_lend_a_technician(
    start_analytics: AnalyticsStarter,
    collab_with_workforce: Any,
    cap: CapacityClient,
    wf: WorkforceClient,
    mint: Mint,
    clock: ManualClock,
) -> None:
    # Dongguan's and Guangzhou's T3s are both free on Friday (test_collab_support: with no
    # pilot both are matched, Dongguan's first).
    await technicians(wf)
    for store_id in (SZ, DG, GZ):
        await cap.register(store_id, **located(store_id))
    async with start_analytics() as analytics, collab_with_workforce() as collab:
        await knows_stores(analytics, SZ, DG, GZ)
        hq = analytics.client(mint("hq"))
        shenzhen = collab.client(mint("dms", SZ))

        # Only Shenzhen, the store asking, takes part: nobody may lend it a technician.
        await take_part(hq, collab, clock, SZ)
        alone = await failure(ask(shenzhen, "5b2f0a3e-0000-4000-8000-0000000000a1"))

        # Guangzhou joins: its technician is the only one asked, though Dongguan's is nearer.
        await take_part(hq, collab, clock, GZ)
        asked = await ask(shenzhen, "5b2f0a3e-0000-4000-8000-0000000000a2")
        held = await reached(
            lambda: shenzhen.GetSupport(support_id=asked.support_id),
            pb.SUPPORT_STAGE_AWAITING_APPROVAL,
        )
        dongguan = await wf.GetTechnician(technician_id="DG-T3")

    assert alone.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(alone) == "NO_TECHNICIAN_AVAILABLE"
    assert list(asked.candidate_technician_ids) == ["GZ-T3"]
    assert (held.technician_id, held.lending_store_id) == ("GZ-T3", GZ)
    assert not dongguan.bookings  # never held for a store outside the pilot
    assert dongguan.level == wpb.LEVEL_T3


async def test_only_stores_in_the_pilot_receive_a_diverted_customer(
    start_analytics: AnalyticsStarter,
    collab_with_capacity: Any,
    cap: CapacityClient,
    mint: Mint,
    clock: ManualClock,
) -> None:
    # Shenzhen is overloaded; Dongguan (nearer) and Guangzhou have places today.
    await diversion_network(cap, clock)
    await cap.book("A-2", clock.now() + timedelta(hours=5), store_id=SZ)
    async with start_analytics() as analytics, collab_with_capacity() as collab:
        await knows_stores(analytics, SZ, DG, GZ)
        hq = analytics.client(mint("hq"))
        shenzhen = collab.client(mint("dms", SZ))

        await take_part(hq, collab, clock, SZ)
        alone = await failure(divert(shenzhen, "7c1d0a3e-0000-4000-8000-0000000000b1", "A-1"))

        await take_part(hq, collab, clock, GZ)
        asked = await divert(shenzhen, "7c1d0a3e-0000-4000-8000-0000000000b2", "A-2")
        offered = await reached(
            lambda: shenzhen.GetDiversion(diversion_id=asked.diversion_id),
            pb.DIVERSION_STAGE_AWAITING_CUSTOMER,
        )
        dongguan = await cap.GetDayView(store_id=DG)
        guangzhou = await cap.GetDayView(store_id=GZ)

    assert alone.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(alone) == "NO_RECEIVER_AVAILABLE"
    assert list(asked.candidate_store_ids) == [GZ]
    assert offered.receiving_store_id == GZ
    assert (dongguan.live_holds, guangzhou.live_holds) == (0, 1)


async def test_only_stores_in_the_pilot_are_recommended_to_receive_stale_stock(
    start_analytics: AnalyticsStarter,
    start_collab: Any,
    cap: CapacityClient,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
) -> None:
    # Foshan's headlamps lie idle 120 days; Guangzhou fits them, Dongguan ran short of two.
    for store_id in (GZ, FS, DG, SZ):
        await cap.register(store_id, **located(store_id))
    await stocked(inv, FS01=6)
    clock.advance(timedelta(days=120))
    await inv.ReceiveStock(store_id=GZ, part_number=PART, quantity=1)
    async with start_analytics() as analytics, start_collab() as collab:
        await knows_stores(analytics, GZ, FS, DG, SZ)
        await inv.RequestParts(store_id=GZ, part_number=PART, repair_order="RO-1", quantity=1)
        await inv.RequestParts(store_id=DG, part_number=PART, repair_order="RO-2", quantity=2)
        hq = analytics.client(mint("hq"))
        foshan = collab.client(mint("manager", FS))

        async def receivers() -> list[str]:
            got = await foshan.RecommendRevitalisation(store_id=FS)
            return [r.store_id for r in got.lots[0].receivers] if got.lots else []

        async def until(expected: list[str]) -> list[str]:
            async def probe() -> list[str] | None:
                found = await receivers()
                return found if found == expected else None

            return await eventually(probe, within=30.0)

        # No pilot staged: both users of the stock are recommended, the short one first.
        before = await until([DG, GZ])
        # Foshan (the giver) and Guangzhou take part; Dongguan not yet.
        await take_part(hq, collab, clock, FS, GZ)
        during = await receivers()

    assert before == [DG, GZ]
    assert during == [GZ]
