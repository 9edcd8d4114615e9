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


async def test_peers_months_benchmarks_diagnosis_and_the_weekly_report(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    await _network(cap, clock)
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01", "DG01")
        hq = run.client(mint("hq"))
        await _settled(hq)
        for store_id, labour in (("SZ01", 42_000_000), ("GZ01", 50_000_000)):
            await hq.RecordOperatingReport(
                store_id=store_id,
                report_id=f"R-{store_id}",
                period=NOVEMBER,
                figures=figures(revenue=ev.RevenueByLine(labour_fen=labour, parts_fen=35_000_000)),
            )
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
