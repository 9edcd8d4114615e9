"""New and returning customers from capacity's customer references, over real gRPC,
PostgreSQL and NATS: a walk-in or check-in of a reference the network never saw is a new
customer, one seen before (at any store, earlier the same day or on an earlier day) a
returning one; counted exactly once across a restart, the same after a rebuild, and shown
by GetKpis for stores that sent no DMS report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel.application import Application
from kernel.clock import ManualClock
from kernel.db import Database
from services.analytics import network_model
from services.analytics.bootstrap import DEFINITION
from services.analytics.customers import customer_counters
from services.analytics.rebuild import rebuild
from tests.integration.analytics_fixtures import (
    AnalyticsClient,
    AnalyticsRun,
    AnalyticsStarter,
    analytics_db_url,
    day,
    month,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
    ts,
)
from tests.integration.kernel_fixtures import eventually

__all__ = ["analytics_db_url", "cap", "capacity_pg_url", "capacity_service", "start_analytics"]

Mint = Callable[..., str]
TUESDAY = MONDAY + timedelta(days=1)
NOVEMBER = month(MONDAY.replace(day=1).isoformat())


async def _customers(
    client: AnalyticsClient, period: ev.Period, store_id: str = ""
) -> tuple[int, int, int]:
    """(vehicles in, new, returning) of the store (none: the network) over the period."""
    level = pb.SCOPE_LEVEL_STORE if store_id else pb.SCOPE_LEVEL_NETWORK
    reply = await client.GetKpis(
        scope=pb.Scope(level=level, id=store_id), period=period, as_of=TUESDAY.isoformat()
    )
    vehicles = {v.indicator: v.value for v in reply.values}.get("vehicles_in", 0)
    return int(vehicles), reply.new_customers, reply.returning_customers


async def _all_in(client: AnalyticsClient, vehicles: int) -> None:
    async def probe() -> bool:
        return (await _customers(client, NOVEMBER))[0] == vehicles

    await eventually(probe, within=30.0)


async def _figures(client: AnalyticsClient) -> dict[str, tuple[int, int, int]]:
    return {
        "SZ01 monday": await _customers(client, day(MONDAY.isoformat()), "SZ01"),
        "GZ01 monday": await _customers(client, day(MONDAY.isoformat()), "GZ01"),
        "GZ01 tuesday": await _customers(client, day(TUESDAY.isoformat()), "GZ01"),
        "GZ01 november": await _customers(client, NOVEMBER, "GZ01"),
        "network": await _customers(client, NOVEMBER),
    }


async def test_a_customer_seen_at_any_store_before_is_returning_counted_once_and_rebuilt(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    await cap.register("SZ01")
    await cap.register("GZ01")
    clock.set(local(9, 0))
    await cap.walk_in("W-1", store_id="SZ01", customer_ref="C-A")  # new
    await cap.walk_in("W-2", store_id="SZ01", customer_ref="C-B")  # new
    # C-A booked at Guangzhou and checked in: seen at Shenzhen that morning, returning.
    await cap.BookAppointment(
        store_id="GZ01",
        appointment_id="A-1",
        customer_ref="C-A",
        vehicle="粤A1",
        service_type="maintenance",
        expected_labour_hours=1.0,
        requested_at=ts(local(10, 0)),
    )
    clock.set(local(10, 0))
    await cap.CheckInCustomer(store_id="GZ01", appointment_id="A-1")
    await cap.walk_in("W-3", store_id="GZ01", customer_ref="C-C")  # new

    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        await _all_in(hq, 4)
        first = await _figures(hq)

    # While analytics is down: C-B back at Shenzhen's rival the next day (returning), and
    # a first-time customer there.
    clock.set(local(9, 0, day=TUESDAY))
    await cap.walk_in("W-4", store_id="GZ01", customer_ref="C-B")
    await cap.walk_in("W-5", store_id="GZ01", customer_ref="C-D")
    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        await _all_in(hq, 6)
        second = await _figures(hq)
        dms = await _customers(run.client(mint("dms", "GZ01")), NOVEMBER, "GZ01")
        before = await _seen(run)
        await rebuild(run.running.service.settings, batch=2, say=lambda _: None, clock=clock)
        after = await _seen(run)
        rebuilt = await _figures(hq)

    assert first == {
        "SZ01 monday": (2, 2, 0),
        "GZ01 monday": (2, 1, 1),
        "GZ01 tuesday": (0, 0, 0),
        "GZ01 november": (2, 1, 1),
        "network": (4, 3, 1),
    }
    assert second == {
        "SZ01 monday": (2, 2, 0),
        "GZ01 monday": (2, 1, 1),
        "GZ01 tuesday": (2, 1, 1),
        "GZ01 november": (4, 2, 2),
        "network": (6, 4, 2),
    }
    # No DMS report anywhere: the store's own manager sees the split too.
    assert dms == (4, 2, 2)
    # Each reference once, on its first day; a rebuild gives the same rows and figures.
    assert before == [
        ("C-A", MONDAY),
        ("C-B", MONDAY),
        ("C-C", MONDAY),
        ("C-D", TUESDAY),
    ]
    assert after == before and rebuilt == second


async def _seen(run: AnalyticsRun) -> list[Any]:
    seen = network_model.customers_seen
    async with run.running.service.db.transaction("test.seen") as conn:
        query = select(seen.c.customer_ref, seen.c.first_seen).order_by(seen.c.customer_ref)
        return [tuple(r) for r in await conn.execute(query)]


async def test_the_migration_adds_the_counters_to_a_database_made_before_them(
    pg_url: str,
) -> None:
    """A database of before migration 13: its days and months get the two counters at 0,
    the bookings' reference column and the seen table; run again, nothing changes."""
    db = Database(pg_url)
    try:
        await db.migrate("kernel", [])
        await db.migrate(DEFINITION.name, DEFINITION.migrations)
        async with db.transaction() as conn:  # back to the schema before migration 13
            await conn.execute(text("DROP TABLE analytics_customers_seen"))
            for table in ("analytics_store_days", "analytics_store_months"):
                for name in ("new_customers_in", "returning_customers_in"):
                    await conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {name}"))
            await conn.execute(text("ALTER TABLE analytics_visit_types DROP COLUMN customer_ref"))
            await conn.execute(text("DELETE FROM schema_migrations WHERE version = 13"))
            before = [n for n in network_model.STORED_COUNTERS if not n.endswith("customers_in")]
            await conn.execute(
                text(
                    f"INSERT INTO analytics_store_days (store_id, day, {', '.join(before)}) "
                    f"SELECT 'SZ01', DATE '2026-11-02', {', '.join('7' for _ in before)}"
                )
            )
        applied = await db.migrate(DEFINITION.name, DEFINITION.migrations)
        again = await db.migrate(DEFINITION.name, DEFINITION.migrations)
        async with db.transaction() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT vehicles_in, new_customers_in, returning_customers_in "
                        "FROM analytics_store_days"
                    )
                )
            ).one()
            seen = (await conn.execute(select(network_model.customers_seen))).all()
    finally:
        await db.dispose()
    assert applied == [13] and again == []
    assert tuple(row) == (7, 0, 0) and seen == []


async def test_two_first_visits_at_once_count_one_new_and_one_returning(
    pg_url: str, clock: ManualClock
) -> None:
    """Two projection transactions see the same new reference at once: the second waits
    for the first's row, then counts a returning customer (not a second new one)."""
    db = Database(pg_url)
    try:
        await db.migrate("kernel", [])
        await db.migrate(DEFINITION.name, DEFINITION.migrations)
        app = Application(db, DEFINITION.registry, clock)
        async with db.transaction() as first:
            one = await customer_counters(app.unit_of_work(first), MONDAY, "C-X")

            async def second() -> dict[str, int]:
                async with db.transaction() as conn:
                    return await customer_counters(app.unit_of_work(conn), MONDAY, "C-X")

            waiting = asyncio.create_task(second())
            async with db.connect() as probe:  # it waits on the first's row
                await eventually(lambda: _waits_on_lock(probe))
        two = await waiting
    finally:
        await db.dispose()
    assert one == {"new_customers_in": 1} and two == {"returning_customers_in": 1}


async def _waits_on_lock(conn: Any) -> bool:
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool((await conn.execute(query)).scalar())
