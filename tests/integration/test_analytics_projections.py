"""The other services' events in analytics' read models, over real gRPC, PostgreSQL and
NATS: capacity's visits and inventory's part requests become a store's KPI, each event
counted exactly once however often analytics restarts, the same again after a rebuild from
the history, and a region or the network is HQ's
view only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from sqlalchemy import select
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel.clock import ManualClock
from services.analytics import network_model, read_model
from services.analytics.rebuild import rebuild
from tests.integration.analytics_fixtures import (
    AnalyticsClient,
    AnalyticsRun,
    AnalyticsStarter,
    analytics_db_url,
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
from tests.integration.inventory_fixtures import (
    InventoryClient,
    inv,
    inventory_service,
    register_part,
)
from tests.integration.kernel_fixtures import eventually
from tests.integration.rich_errors import failure

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
TODAY = ev.Period(kind=ev.PERIOD_KIND_DAY, start=MONDAY.isoformat())


async def _kpis(client: AnalyticsClient, **scope: Any) -> dict[str, float]:
    reply = await client.GetKpis(
        scope=pb.Scope(**(scope or {"level": pb.SCOPE_LEVEL_STORE, "id": "SZ01"})),
        period=TODAY,
        as_of=MONDAY.isoformat(),
    )
    return {v.indicator: v.value for v in reply.values}


async def _settled(client: AnalyticsClient, **expected: float) -> dict[str, float]:
    """The store's KPI once every expected value is there (delivery is asynchronous)."""

    async def probe() -> dict[str, float] | None:
        found = await _kpis(client)
        return found if all(found.get(k) == v for k, v in expected.items()) else None

    found: dict[str, float] = await eventually(probe, within=30.0)
    return found


async def _visits(cap: CapacityClient, clock: ManualClock, *ids: str, complaint: str = "") -> None:
    for n, visit_id in enumerate(ids):
        await cap.walk_in(visit_id)
        await cap.StartService(
            store_id="SZ01", visit_id=visit_id, bay=1 + n % 4, technician_ids=["T-1"]
        )
        await cap.CompleteVisit(
            store_id="SZ01",
            visit_id=visit_id,
            labour_hours=1.0,
            labour_revenue_fen=50_000,
            parts_revenue_fen=30_000,
            satisfaction_score=90,
            complaint=visit_id == complaint,
        )


async def _requests(inv: InventoryClient, *quantities: int) -> None:
    for quantity in quantities:
        await inv.RequestParts(
            store_id="SZ01", part_number="P-100", repair_order="RO-1", quantity=quantity
        )


async def test_visits_and_part_requests_become_kpi_exactly_once_across_a_restart(
    start_analytics: AnalyticsStarter,
    cap: CapacityClient,
    inv: InventoryClient,
    clock: ManualClock,
    mint: Mint,
) -> None:
    await cap.register("SZ01")
    await register_part(inv)
    await inv.ReceiveStock(store_id="SZ01", part_number="P-100", quantity=3)
    clock.set(local(9, 0))
    await cap.BookAppointment(
        store_id="SZ01",
        appointment_id="A-1",
        customer_ref="C-1",
        vehicle="粤B1",
        service_type="maintenance",
        expected_labour_hours=1.0,
        requested_at=ts(local(10, 0)),
    )
    await _visits(cap, clock, "W-1", "W-2", complaint="W-2")
    await _requests(inv, 1, 1, 5)  # two issued, one short

    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        first = await _settled(hq, vehicles_in=2, parts_fill_rate=2 / 3, revenue=160_000)

    # While analytics is down, the network goes on; nothing is lost or counted twice.
    await _visits(cap, clock, "W-3")
    await _requests(inv, 1)
    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        second = await _settled(hq, vehicles_in=3, parts_fill_rate=3 / 4, revenue=240_000)
        network = await _kpis(hq, level=pb.SCOPE_LEVEL_NETWORK)
        # A rebuild from the history, the service still running, gives the same read models.
        await hq.SetTarget(store_id="SZ01", indicator="csi", period=TODAY, value=95)
        before = await _read_models(run)
        said: list[str] = []
        counts = await rebuild(run.running.service.settings, batch=2, say=said.append, clock=clock)
        after = await _read_models(run)
        rebuilt = await _kpis(hq)

    assert first["complaint_rate"] == pytest.approx(1 / 2)
    assert first["average_ticket"] == 80_000 and first["csi"] == 90
    assert first["capacity_utilisation"] == pytest.approx(1 / 10)
    assert first["bay_utilisation"] == pytest.approx(2.0 / (4 * 9.5 * 0.85))
    assert second["revenue"] == 3 * 80_000
    assert second["complaint_rate"] == pytest.approx(1 / 3)
    assert network["vehicles_in"] == 3
    assert after == before and rebuilt == second
    assert counts["analytics"] == 1 and counts["capacity"] > 0 and counts["inventory"] == 4
    assert any(line.startswith("capacity: ") for line in said)


async def _read_models(run: AnalyticsRun) -> dict[str, list[Any]]:
    """Every read model's rows, in key order."""
    found = {}
    async with run.running.service.db.transaction("test.read_models") as conn:
        for metadata in (read_model.metadata, network_model.metadata):
            for table in metadata.sorted_tables:
                query = select(table).order_by(*table.primary_key.columns)
                found[table.name] = [tuple(r) for r in await conn.execute(query)]
    return found


async def test_a_store_reads_its_own_kpi_and_only_hq_the_network(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    await cap.register("SZ01")
    async with start_analytics() as run:
        dms = run.client(mint("dms", "SZ01"))
        own = await _kpis(dms)
        refusals = [
            await failure(_kpis(dms, level=pb.SCOPE_LEVEL_STORE, id="GZ01")),
            await failure(_kpis(dms, level=pb.SCOPE_LEVEL_NETWORK)),
            await failure(_kpis(dms, level=pb.SCOPE_LEVEL_REGION, id="South China")),
        ]
        bad = await failure(
            run.client(mint("hq")).GetKpis(
                scope=pb.Scope(level=pb.SCOPE_LEVEL_NETWORK, id="x"),
                period=ev.Period(kind=ev.PERIOD_KIND_YEAR, start="2026-01-01"),
                as_of="2026-13-01",
            )
        )

    assert own["vehicles_in"] == 0
    assert {r.code() for r in refusals} == {grpc.StatusCode.PERMISSION_DENIED}
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
