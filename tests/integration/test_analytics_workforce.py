"""Workforce's events in analytics, over real gRPC, PostgreSQL and NATS: planned and
productive hours become technician utilisation, a completed support counts for the home
store, the weekly report and the support champions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb

from kernel.clock import ManualClock
from tests.integration.analytics_fixtures import (
    AnalyticsClient,
    AnalyticsStarter,
    analytics_db_url,
    start_analytics,
)
from tests.integration.capacity_fixtures import capacity_pg_url, capacity_service
from tests.integration.kernel_fixtures import eventually
from tests.integration.workforce_fixtures import (
    FRIDAY,
    WorkforceClient,
    china,
    hold,
    publish_day,
    register,
    wf,
    workforce_service,
)

__all__ = [
    "analytics_db_url",
    "capacity_pg_url",
    "capacity_service",
    "start_analytics",
    "wf",
    "workforce_service",
]

Mint = Callable[..., str]


async def _day(client: AnalyticsClient, store: str, day: str) -> dict[str, float]:
    reply = await client.GetKpis(
        scope=pb.Scope(level=pb.SCOPE_LEVEL_STORE, id=store),
        period=ev.Period(kind=ev.PERIOD_KIND_DAY, start=day),
        as_of=day,
    )
    return {v.indicator: v.value for v in reply.values}


async def test_hours_and_a_completed_support_reach_kpi_weekly_report_and_champions(
    start_analytics: AnalyticsStarter, wf: WorkforceClient, clock: ManualClock, mint: Mint
) -> None:
    await register(wf, "T-1")
    await wf.PlanShift(technician_id="T-1", day="2026-11-02", available_hours=10)
    await wf.PlanShift(technician_id="T-1", day="2026-11-02", available_hours=8)  # replaces
    await wf.LogProductiveHours(technician_id="T-1", job_id="RO-1", day="2026-11-02", hours=6)
    await publish_day(wf, "T-1")
    await hold(wf, "T-1", support_id="S-1")
    await wf.ConfirmSupport(technician_id="T-1", support_id="S-1")
    clock.set(china(FRIDAY, 12))
    await wf.CheckInSupport(technician_id="T-1", support_id="S-1")
    clock.advance(timedelta(hours=4))
    await wf.CompleteSupport(
        technician_id="T-1", support_id="S-1", hours_worked=3.5, fault_solved=True
    )
    for rater, rating in (("GZ01", 5), ("SZ01", 4)):
        await wf.RateSupport(
            technician_id="T-1", support_id="S-1", rated_by_store_id=rater, rating=rating
        )

    async with start_analytics() as run:
        hq = run.client(mint("hq"))

        async def settled() -> bool:
            report = await hq.GetWeeklyCollaborationReport(week_of=FRIDAY.isoformat())
            return report.supports.average_satisfaction == 4.5

        await eventually(settled, within=30.0)
        monday = await _day(hq, "SZ01", "2026-11-02")
        friday = await _day(hq, "SZ01", FRIDAY.isoformat())
        weekly = await hq.GetWeeklyCollaborationReport(week_of=FRIDAY.isoformat())
        champions = await hq.GetSupportChampions(
            period=ev.Period(kind=ev.PERIOD_KIND_QUARTER, start="2026-10-01")
        )

    assert monday["technician_utilisation"] == 0.75 and friday["supports"] == 1
    assert (weekly.supports.count, weekly.supports.complex_faults_solved) == (1, 1)
    assert weekly.supports.average_satisfaction == 4.5  # the two managers' 5 and 4
    assert not champions.published
    assert [(c.technician_id, c.home_store_id, c.supports) for c in champions.champions] == [
        ("T-1", "SZ01", 1)
    ]
