"""A region's and the network's KPI and dashboard with the stores' DMS operating reports,
over real gRPC, PostgreSQL and NATS beside the real capacity service: vehicles in from
capacity's walk-ins, revenue, costs and technicians from the month's reports; a ratio is a
ratio of the reporting stores' sums, and technician productivity is domain.md's vehicles
per technician per day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from fractions import Fraction
from typing import Any

from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel.clock import ManualClock
from tests.integration.analytics_fixtures import (
    AnalyticsClient,
    AnalyticsStarter,
    analytics_db_url,
    figures,
    knows_stores,
    month,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
)
from tests.integration.kernel_fixtures import eventually

__all__ = ["analytics_db_url", "cap", "capacity_pg_url", "capacity_service", "start_analytics"]

Mint = Callable[..., str]
OCTOBER = month("2026-10-01")
SOUTH = pb.Scope(level=pb.SCOPE_LEVEL_REGION, id="South China")
NETWORK = pb.Scope(level=pb.SCOPE_LEVEL_NETWORK)
# Guangzhou's month: 1,150k revenue, 750k costs, 8 technicians, 3 returning customers.
GZ01_FIGURES = figures(
    revenue=ev.RevenueByLine(labour_fen=60_000_000, parts_fen=55_000_000),
    costs=ev.Costs(
        people_fen=40_000_000, rent_fen=15_000_000, parts_fen=15_000_000, other_fen=5_000_000
    ),
    staffing=[
        ev.Staffing(role=ev.ROLE_TECHNICIAN, headcount=8),
        ev.Staffing(role=ev.ROLE_MANAGER, headcount=2),
    ],
    returning_customers=1,
)


async def _values(client: AnalyticsClient, scope: pb.Scope) -> tuple[dict[str, float], Any]:
    # Today (2 November): October's reports, recorded today, are in force.
    reply = await client.GetKpis(scope=scope, period=OCTOBER, as_of="2026-11-02")
    return {v.indicator: v.value for v in reply.values}, reply


async def test_region_and_network_kpi_and_dashboard_add_the_stores_reports(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    await cap.register("SZ01", region="South China")
    await cap.register("GZ01", region="South China")
    await cap.register("DG01", region="East")
    clock.set(local(10, 0, day=date(2026, 10, 30)))
    arrivals = {"SZ01": 3, "GZ01": 2, "DG01": 4}
    for store_id, n in arrivals.items():
        for k in range(n):
            await cap.walk_in(f"V-{store_id}-{k}", store_id=store_id)
    clock.set(local(10, 0, day=date(2026, 11, 2)))
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01", "DG01")
        hq = run.client(mint("hq"))
        await hq.RecordOperatingReport(
            store_id="SZ01", report_id="R-SZ", period=OCTOBER, figures=figures()
        )
        await hq.RecordOperatingReport(
            store_id="GZ01", report_id="R-GZ", period=OCTOBER, figures=GZ01_FIGURES
        )

        async def arrived() -> Any:
            found, reply = await _values(hq, NETWORK)
            return (found, reply) if found.get("vehicles_in") == 9 else None

        network, network_reply = await eventually(arrived, within=30.0)
        south, south_reply = await _values(hq, SOUTH)

        # South China: both stores reported; 2,000k revenue, 1,800k costs, 20 technicians.
        assert south["vehicles_in"] == 5
        assert south["revenue"] == 200_000_000
        assert south["cost_ratio"] == 0.9
        assert south["people_cost_ratio"] == 88 / 200
        assert south["revenue_per_employee"] == 200_000_000 / 28
        assert south["average_ticket"] == 200_000_000 / 5
        assert south["complaint_rate"] == 8 / 5  # the reports' 4 + 4, no visit said any
        assert south["technician_efficiency"] == float(Fraction(5, 20 * 31))
        # Every walk-in carried a customer reference, each its first in the network: the
        # counted references win over the reports' returning customers.
        assert (south_reply.returning_customers, south_reply.new_customers) == (0, 5)

        # The network: Dongguan did not report, so its 4 vehicles stay out of the reported
        # ratios (a ratio of the reporting stores' sums), while vehicles in count all 9.
        assert network["cost_ratio"] == 0.9
        assert network["average_ticket"] == 200_000_000 / 5
        assert (network_reply.returning_customers, network_reply.new_customers) == (0, 9)

        # Before: a region's KPI had no reported figure at all.
        east, _ = await _values(hq, pb.Scope(level=pb.SCOPE_LEVEL_REGION, id="East"))
        assert "cost_ratio" not in east and east["vehicles_in"] == 4

        # As of 31 October the reports (recorded on 2 November) were not there yet.
        before = await hq.GetDashboard(scope=SOUTH, as_of="2026-10-31")
        assert not before.HasField("technician_productivity")
        assert before.revenue.labour_fen == 0

        # Read on 31 October itself, with the reports in force then (the clock set back:
        # a dashboard of today reads the reports in force as they are).
        clock.set(local(18, 0, day=date(2026, 10, 31)))
        board = await hq.GetDashboard(scope=SOUTH, as_of="2026-10-31")
        assert board.revenue.labour_fen == 42_000_000 + 60_000_000
        assert board.HasField("technician_productivity")
        assert board.technician_productivity == float(Fraction(5, 20 * 31))
        assert (board.returning_customers, board.new_customers) == (0, 5)

        store = await hq.GetDashboard(
            scope=pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="SZ01"), as_of="2026-10-31"
        )
        assert store.technician_productivity == float(Fraction(3, 12 * 31))
        unreported = await hq.GetDashboard(
            scope=pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="DG01"), as_of="2026-10-31"
        )
        assert not unreported.HasField("technician_productivity")


async def test_a_regions_projection_is_of_the_stores_with_a_target_like_against_like(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    """HQ set October's vehicles-in target for Shenzhen only (Guangzhou's is not set yet):
    South China's month-end projection weighs Shenzhen's 3 vehicles against Shenzhen's 100,
    not both stores' 5; revenue, which both have targets for, is both stores'."""
    await cap.register("SZ01", region="South China")
    await cap.register("GZ01", region="South China")
    clock.set(local(10, 0, day=date(2026, 10, 30)))
    for store_id, n in {"SZ01": 3, "GZ01": 2}.items():
        for k in range(n):
            await cap.walk_in(f"V-{store_id}-{k}", store_id=store_id)
    clock.set(local(18, 0, day=date(2026, 10, 31)))
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01")
        hq = run.client(mint("hq"))
        await hq.SetTarget(store_id="SZ01", indicator="vehicles_in", period=OCTOBER, value=100)
        for store_id in ("SZ01", "GZ01"):
            await hq.SetTarget(store_id=store_id, indicator="revenue", period=OCTOBER, value=1e8)
            await hq.RecordOperatingReport(
                store_id=store_id,
                report_id=f"R-{store_id}",
                period=OCTOBER,
                figures=figures() if store_id == "SZ01" else GZ01_FIGURES,
            )

        async def projected() -> Any:
            board = await hq.GetDashboard(scope=SOUTH, as_of="2026-10-31")
            found = {p.indicator: p for p in board.projections}
            return found if found.get("revenue") and found.get("vehicles_in") else None

        found = await eventually(projected, within=30.0)
        network = await hq.GetDashboard(scope=NETWORK, as_of="2026-10-31")

    vehicles = found["vehicles_in"]
    assert (vehicles.actual_to_date, vehicles.target) == (3, 100)
    revenue = found["revenue"]
    assert (revenue.actual_to_date, revenue.target) == (200_000_000, 2e8)
    (on_network,) = [p for p in network.projections if p.indicator == "vehicles_in"]
    assert (on_network.actual_to_date, on_network.target) == (3, 100)
