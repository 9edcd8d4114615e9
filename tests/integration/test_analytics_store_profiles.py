"""Capacity's store profiles in analytics' KPI read model over real gRPC, PostgreSQL and
NATS: a profile is replaced only by a newer version of the store's stream, so a late
redelivery of an older profile (here: the registration, taken back off JetStream and handed
to the projection again under a new id) does not roll the store's bays and region back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel.clock import ManualClock
from kernel.messaging import InboundEvent
from services.analytics import network_model
from tests.integration.analytics_fixtures import (
    AnalyticsRun,
    AnalyticsStarter,
    analytics_db_url,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
    profile,
)
from tests.integration.kernel_fixtures import all_messages, eventually

__all__ = ["analytics_db_url", "cap", "capacity_pg_url", "capacity_service", "start_analytics"]

Mint = Callable[..., str]


async def _row(run: AnalyticsRun) -> Any:
    async with run.running.service.db.transaction("test.profile") as conn:
        query = select(network_model.stores).where(network_model.stores.c.store_id == "SZ01")
        return (await conn.execute(query)).first()


async def test_an_older_profile_delivered_late_does_not_roll_the_store_back(
    start_analytics: AnalyticsStarter, cap: CapacityClient
) -> None:
    await cap.register("SZ01", bays=4, region="South China")
    await cap.UpdateStore(store_id="SZ01", profile=profile(bays=8, region="Pearl River"))
    async with start_analytics() as run:

        async def updated() -> Any:
            row = await _row(run)
            return row if row is not None and row.bays == 8 else None

        row = await eventually(updated)
        assert (row.region, row.version) == ("Pearl River", 2)

        nats = run.running.service.nats
        js = await nats.jetstream()
        registered = next(
            m
            for m in await all_messages(js, nats.stream("CAPACITY"))
            if m.subject == nats.subject("capacity.v1.SZ01.StoreRegistered")
        )
        late = InboundEvent.from_message(registered)
        assert late.headers["ce-streamversion"] == "1"
        app = run.running.service.app
        async with app.db.transaction("test.redelivery") as conn:
            await run.analytics.projections.handle(app.unit_of_work(conn), late)

        row = await _row(run)
        assert (row.bays, row.region, row.version) == (8, "Pearl River", 2)

        # A newer profile still replaces it.
        await cap.UpdateStore(store_id="SZ01", profile=profile(bays=6, region="Pearl River"))

        async def newer() -> Any:
            row = await _row(run)
            return row if row is not None and row.bays == 6 else None

        assert (await eventually(newer)).version == 3


async def test_a_stores_past_utilisation_stays_when_it_closes_later(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    """Regression: a closed store's profile was left out of every period's capacity and bay
    hours, its past ones too, while its bookings stayed: its own past utilisation vanished
    and its region's rose the day it closed."""
    await cap.register("SZ01", region="South China")  # 10 vehicles a day
    await cap.register("GZ01", region="South China")
    for n in range(5):
        await cap.book(f"A-{n}", local(9 + n))  # Monday 2 November, at SZ01
    day = ev.Period(kind=ev.PERIOD_KIND_DAY, start="2026-11-02")
    scopes = {
        "store": pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="SZ01"),
        "region": pb.Scope(level=pb.SCOPE_LEVEL_REGION, id="South China"),
    }
    async with start_analytics() as run:
        hq = run.client(mint("hq"))

        async def utilisation() -> dict[str, float | None]:
            found = {}
            for name, scope in scopes.items():
                kpis = await hq.GetKpis(scope=scope, period=day, as_of="2026-11-03")
                found[name] = {v.indicator: v.value for v in kpis.values}.get(
                    "capacity_utilisation"
                )
            return found

        async def booked() -> dict[str, float | None] | None:
            found = await utilisation()
            return found if found["store"] == 0.5 else None

        before = await eventually(booked, within=30.0)
        clock.set(local(9, 0, day=date(2026, 11, 3)))
        await cap.CloseStore(store_id="GZ01", reason="lease ended")
        await cap.CloseStore(store_id="SZ01", reason="lease ended")

        async def closed() -> bool:
            row = await _row(run)
            return bool(row is not None and row.closed)

        await eventually(closed)
        after = await utilisation()

    assert before == {"store": 0.5, "region": 0.25}
    assert after == before
