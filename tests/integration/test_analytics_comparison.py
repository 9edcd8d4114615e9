"""Comparison (peers, months, benchmark, service mix), diagnosis and the weekly report over
real gRPC, PostgreSQL and NATS beside the real capacity service: peers come from capacity's
GetPeerGroup, figures from the DMS's reports and capacity's events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import grpc
import pytest
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb
from storemesh.capacity.events.v1 import events_pb2 as cev

from kernel.clock import ManualClock
from tests.integration.analytics_fixtures import (
    AnalyticsClient,
    AnalyticsStarter,
    analytics_db_url,
    figures,
    knows_stores,
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
from tests.integration.rich_errors import failure, violated_fields

__all__ = ["analytics_db_url", "cap", "capacity_pg_url", "capacity_service", "start_analytics"]

Mint = Callable[..., str]
NOVEMBER = ev.Period(kind=ev.PERIOD_KIND_MONTH, start="2026-11-01")


async def _network(cap: CapacityClient, clock: ManualClock) -> None:
    """SZ01 and GZ01 alike (medium, centre, mature, mid), DG01 large; two visits at SZ01 and
    a customer SZ01 offered to GZ01, who accepted."""
    await cap.register("SZ01", bays=8)
    await cap.register("GZ01", bays=10, region="South China")
    await cap.register("DG01", bays=16)
    clock.set(local(9, 0))
    for visit_id in ("W-1", "W-2"):
        await cap.walk_in(visit_id)
        await cap.StartService(store_id="SZ01", visit_id=visit_id, bay=1, technician_ids=["T-1"])
        await cap.CompleteVisit(
            store_id="SZ01", visit_id=visit_id, labour_hours=3.2, labour_revenue_fen=90_000
        )
    await cap.HoldSlot(
        store_id="GZ01",
        hold_id="H-1",
        diverted_from_store_id="SZ01",
        customer_ref="C-77",
        vehicle="粤A88888",
        service_type="maintenance",
        expected_labour_hours=1.5,
        slot_at=ts(local(14, 0)),
        expires_at=ts(clock.now() + timedelta(minutes=30)),
    )
    await cap.ConfirmSlotHold(store_id="GZ01", day=MONDAY.isoformat(), hold_id="H-1")


async def _settled(hq: AnalyticsClient) -> None:
    async def probe() -> bool:
        kpis = await hq.GetKpis(
            scope=pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="GZ01"),
            period=ev.Period(kind=ev.PERIOD_KIND_DAY, start=MONDAY.isoformat()),
            as_of=MONDAY.isoformat(),
        )
        return any(v.indicator == "diversions" and v.value == 1 for v in kpis.values)

    await eventually(probe, within=30.0)


async def _reports(hq: AnalyticsClient, **labour_fen: int) -> None:
    """November's operating reports: each store's labour revenue, parts 35M (no value added)."""
    for store_id, labour in labour_fen.items():
        await hq.RecordOperatingReport(
            store_id=store_id,
            report_id=f"R-{store_id}",
            period=NOVEMBER,
            figures=figures(revenue=ev.RevenueByLine(labour_fen=labour, parts_fen=35_000_000)),
        )


async def test_peers_months_benchmarks_diagnosis_and_the_weekly_report(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    await _network(cap, clock)
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01", "DG01")
        hq = run.client(mint("hq"))
        await _settled(hq)
        await _reports(hq, SZ01=42_000_000, GZ01=50_000_000)
        dms = run.client(mint("dms", "SZ01"))

        peers = await dms.GetHorizontalComparison(
            store_id="SZ01", indicator="revenue", period=NOVEMBER, as_of="2026-11-02"
        )
        months = await dms.GetVerticalComparison(
            store_id="SZ01", indicator="revenue", through_month=NOVEMBER, months=2
        )
        bench = await dms.GetBenchmarkComparison(
            store_id="SZ01", indicator="revenue_per_employee", period=NOVEMBER
        )
        given = await dms.GetBenchmarkComparison(
            store_id="SZ01", indicator="revenue_per_employee", period=NOVEMBER, benchmark=6_000_000
        )
        diagnosis = await dms.GetDiagnosis(store_id="SZ01", month=NOVEMBER)
        mix = await dms.GetStructureComparison(store_id="SZ01", period=NOVEMBER)
        weekly = await hq.GetWeeklyCollaborationReport(week_of=MONDAY.isoformat())
        # As the store stood at the end of 31 October: before November's visits.
        october_mix = await dms.GetStructureComparison(
            store_id="SZ01", period=NOVEMBER, as_of="2026-10-31"
        )
        october_months = await dms.GetVerticalComparison(
            store_id="SZ01",
            indicator="revenue",
            through_month=NOVEMBER,
            months=2,
            as_of="2026-10-31",
        )
        bad_days = [
            await failure(
                dms.GetStructureComparison(store_id="SZ01", period=NOVEMBER, as_of="31/10")
            ),
            await failure(
                dms.GetVerticalComparison(
                    store_id="SZ01", indicator="revenue", through_month=NOVEMBER, as_of="x"
                )
            ),
            await failure(
                dms.GetBenchmarkComparison(
                    store_id="SZ01", indicator="revenue", period=NOVEMBER, as_of="2026-13-01"
                )
            ),
        ]
        refusals = [
            await failure(
                run.client(mint("dms", "GZ01")).GetDiagnosis(store_id="SZ01", month=NOVEMBER)
            ),
            await failure(dms.GetWeeklyCollaborationReport()),
            await failure(dms.GetPilotComparison(indicator="revenue", period=NOVEMBER)),
        ]

    assert list(peers.peer_store_ids) == ["GZ01", "SZ01"]
    assert [s.store_id for s in peers.stores] == ["GZ01", "SZ01"]
    assert peers.best.store_id == "GZ01" and peers.worst.store_id == "SZ01"
    assert peers.average == (85_000_000 + 77_000_000) / 2
    assert [s.period.start for s in months.steps] == ["2026-10-01", "2026-11-01"]
    assert months.trend == pb.TREND_IMPROVING
    # No target: the peer group's best (GZ01's 85M over 18 people) is the benchmark.
    assert bench.source == pb.BENCHMARK_SOURCE_PEER_BEST
    assert bench.gap == pytest.approx((85_000_000 - 77_000_000) / 18)
    assert bench.volume == 18 and bench.opportunity == pytest.approx(8_000_000)
    assert given.source == pb.BENCHMARK_SOURCE_GIVEN and given.benchmark == 6_000_000
    assert diagnosis.vehicles_per_day == pytest.approx(2 / 30)
    assert diagnosis.findings  # in words, as the field says them
    assert [(p.service_type, p.vehicles, p.revenue_fen) for p in mix.parts] == [
        ("repair", 2, 180_000)
    ]
    assert mix.average_ticket_fen == 90_000 and mix.parts[0].revenue_share == 1
    assert (weekly.diversions.offered, weekly.diversions.accepted) == (1, 1)
    assert weekly.value_created_fen == 80_000_00
    assert {r.code() for r in refusals} == {grpc.StatusCode.PERMISSION_DENIED}
    assert list(october_mix.parts) == [] and not october_mix.HasField("average_ticket_fen")
    assert [s.period.start for s in october_months.steps] == ["2026-10-01"]
    assert [(r.code(), violated_fields(r)) for r in bad_days] == [
        (grpc.StatusCode.INVALID_ARGUMENT, ["as_of"])
    ] * 3


async def test_a_comparison_by_size_alone_takes_in_a_store_of_another_tier(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    """SZ01 (8 bays, centre) is alone in its four-facet group; HZ01 (12 bays, outskirts) is
    medium too, DG01 (16 bays, centre) is large: by size alone SZ01 is compared with HZ01."""
    await cap.register("SZ01", bays=8)
    await cap.register("HZ01", bays=12, location_tier=cev.LOCATION_TIER_OUTSKIRTS)
    await cap.register("DG01", bays=16)
    clock.set(local(9, 0))
    for store_id in ("SZ01", "HZ01", "DG01"):
        await cap.walk_in(f"W-{store_id}", store_id=store_id)
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "HZ01", "DG01")
        hq = run.client(mint("hq"))
        await _walked_in(hq, "SZ01", "HZ01", "DG01")
        await _reports(hq, SZ01=42_000_000, HZ01=50_000_000, DG01=90_000_000)
        dms = run.client(mint("dms", "SZ01"))
        asked = {"store_id": "SZ01", "indicator": "revenue", "period": NOVEMBER}

        all_four = await dms.GetHorizontalComparison(**asked, as_of="2026-11-02")
        by_size = await dms.GetHorizontalComparison(
            **asked, as_of="2026-11-02", facets=[pb.PEER_FACET_SIZE]
        )
        bench = await dms.GetBenchmarkComparison(**asked, facets=[pb.PEER_FACET_SIZE])
        bad = await failure(
            dms.GetHorizontalComparison(**asked, facets=[pb.PEER_FACET_UNSPECIFIED])
        )

    assert list(all_four.peer_store_ids) == ["SZ01"]
    assert list(by_size.peer_store_ids) == ["HZ01", "SZ01"]
    assert [s.store_id for s in by_size.stores] == ["HZ01", "SZ01"]
    assert by_size.average == (85_000_000 + 77_000_000) / 2
    # No target: the best of the size group (HZ01's 85M) is the benchmark.
    assert bench.source == pb.BENCHMARK_SOURCE_PEER_BEST
    assert bench.gap == pytest.approx(85_000_000 - 77_000_000)
    assert violated_fields(bad) == ["facets[0]"]


async def _walked_in(hq: AnalyticsClient, *store_ids: str) -> None:
    """Wait (bounded) until each store's walk-in reached analytics' figures."""

    async def probe() -> bool:
        for store_id in store_ids:
            kpis = await hq.GetKpis(
                scope=pb.Scope(level=pb.SCOPE_LEVEL_STORE, id=store_id),
                period=ev.Period(kind=ev.PERIOD_KIND_DAY, start=MONDAY.isoformat()),
                as_of=MONDAY.isoformat(),
            )
            if not any(v.indicator == "vehicles_in" and v.value == 1 for v in kpis.values):
                return False
        return True

    await eventually(probe, within=30.0)


async def test_technician_efficiency_is_compared_as_the_kpi_gives_it(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    """Regression: the comparisons worked out each store's indicators without the period's
    days, so technician efficiency (vehicles / technicians / days, a comparable indicator
    of domain.md) was never there: no peers, no months, no benchmark."""
    await _network(cap, clock)
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01", "DG01")
        hq = run.client(mint("hq"))
        await _settled(hq)
        await _reports(hq, SZ01=42_000_000)
        kpis = await hq.GetKpis(
            scope=pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="SZ01"),
            period=NOVEMBER,
            as_of="2026-11-02",
        )
        peers = await hq.GetHorizontalComparison(
            store_id="SZ01",
            indicator="technician_efficiency",
            period=NOVEMBER,
            as_of="2026-11-02",
            facets=[pb.PEER_FACET_SIZE],
        )
        months = await hq.GetVerticalComparison(
            store_id="SZ01",
            indicator="technician_efficiency",
            through_month=NOVEMBER,
            months=1,
            as_of="2026-11-02",
        )
        bench = await hq.GetBenchmarkComparison(
            store_id="SZ01",
            indicator="technician_efficiency",
            period=NOVEMBER,
            benchmark=1.8,
            as_of="2026-11-02",
        )

    # 2 vehicles in, 12 technicians, 2 days so far.
    expected = {v.indicator: v.value for v in kpis.values}["technician_efficiency"]
    assert expected == pytest.approx(2 / 12 / 2)
    assert [(s.store_id, s.value) for s in peers.stores] == [("SZ01", expected)]
    assert [s.value for s in months.steps] == [expected]
    assert bench.value == expected
