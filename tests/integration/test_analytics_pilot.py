"""The pilot (试点) and the weekly publication over real gRPC, PostgreSQL and NATS beside the
real capacity service: HQ records which stores take part and since when, the comparison
splits the network on it and sets each participant's days before and after joining side by
side; the weekly close publishes the network's and each region's collaboration report
once per week."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
from sqlalchemy import select
from storemesh.analytics.events.v1 import events_pb2 as ev

from kernel.clock import ManualClock
from kernel.eventstore import events
from services.analytics import network_model
from tests.integration.analytics_fixtures import (
    AnalyticsRun,
    AnalyticsStarter,
    analytics_db_url,
    day,
    diversion_kept,
    figures,
    knows_stores,
    projections_taken,
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
from tests.integration.rich_errors import (
    failure,
    reason,
    recorded_events,
    recorded_types,
    violated_fields,
)

__all__ = ["analytics_db_url", "cap", "capacity_pg_url", "capacity_service", "start_analytics"]

Mint = Callable[..., str]
SHANGHAI = ZoneInfo("Asia/Shanghai")
STORES = ("SZ01", "GZ01", "DG01", "FS01")
# SZ01's daily revenue (labour, fen): two days before it joined on 5 November, two after.
SZ01_DAYS = {"2026-11-03": 100_000, "2026-11-04": 200_000, "2026-11-05": 400_000}
SZ01_DAYS["2026-11-06"] = 600_000


async def _profiles_projected(run: AnalyticsRun, *store_ids: str) -> None:
    """Wait (bounded) until the stores' profiles reached analytics' KPI read model."""

    async def probe() -> bool:
        async with run.running.service.db.transaction("test.profiles") as conn:
            found = set((await conn.execute(select(network_model.stores.c.store_id))).scalars())
        return set(store_ids) <= found

    await eventually(probe)


async def test_hq_sets_the_pilot_and_the_comparison_splits_on_it(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    for store_id in STORES[:3]:
        await cap.register(store_id)
    await cap.register("FS01", region="Pearl River West")
    clock.set(datetime(2026, 11, 7, 10, 0, tzinfo=SHANGHAI))
    async with start_analytics() as run:
        await knows_stores(run, *STORES)
        await _profiles_projected(run, *STORES)
        hq = run.client(mint("hq"))
        for on, labour in SZ01_DAYS.items():
            await hq.RecordOperatingReport(
                store_id="SZ01",
                report_id=f"R-SZ01-{on}",
                period=day(on),
                figures=figures(revenue=ev.RevenueByLine(labour_fen=labour)),
            )
        await hq.RecordOperatingReport(
            store_id="GZ01",
            report_id="R-GZ01",
            period=day("2026-11-06"),
            figures=figures(revenue=ev.RevenueByLine(labour_fen=300_000)),
        )
        joined = await hq.SetPilotParticipation(
            request_id="P-1", store_id="SZ01", joined_on="2026-11-05"
        )
        again = await hq.SetPilotParticipation(
            request_id="P-1", store_id="SZ01", joined_on="2026-11-05"
        )
        await hq.SetPilotParticipation(store_id="GZ01", joined_on="2026-11-03")
        left = await hq.SetPilotParticipation(
            store_id="GZ01", joined_on="2026-11-03", left_on="2026-11-05"
        )
        before_refusals = await recorded_types(run.running)
        bad = await failure(
            hq.SetPilotParticipation(
                request_id="", store_id="no such!", joined_on="2026-13-01", left_on="later"
            )
        )
        backwards = await failure(
            hq.SetPilotParticipation(store_id="DG01", joined_on="2026-11-05", left_on="2026-11-04")
        )
        future = await failure(hq.SetPilotParticipation(store_id="DG01", joined_on="2026-11-08"))
        unknown = await failure(hq.SetPilotParticipation(store_id="XX99", joined_on="2026-11-01"))
        not_hq = await failure(
            run.client(mint("dms", "SZ01")).SetPilotParticipation(
                store_id="SZ01", joined_on="2026-11-01"
            )
        )
        after_refusals = await recorded_types(run.running)

        found = await hq.GetPilotComparison(
            indicator="revenue", period=day("2026-11-06"), window_days=2
        )
        west = await hq.GetPilotComparison(
            indicator="revenue", period=day("2026-11-06"), region="Pearl River West"
        )
        bad_query = await failure(
            hq.GetPilotComparison(indicator="nope", period=day("2026-11-06"), window_days=-1)
        )
        not_hq_query = await failure(
            run.client(mint("dms", "SZ01")).GetPilotComparison(
                indicator="revenue", period=day("2026-11-06")
            )
        )

    assert (joined.store_id, joined.joined_on, joined.left_on) == ("SZ01", "2026-11-05", "")
    assert again == joined
    assert (left.joined_on, left.left_on) == ("2026-11-03", "2026-11-05")
    assert before_refusals.count("PilotParticipationSet") == 3
    assert after_refusals == before_refusals  # refusals change nothing
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(bad) == ["joined_on", "left_on", "request_id", "store_id"]
    assert violated_fields(backwards) == ["left_on"]
    assert future.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(future) == "DATE_IN_THE_FUTURE"
    assert reason(unknown) == "UNKNOWN_STORE"
    assert not_hq.code() == grpc.StatusCode.PERMISSION_DENIED
    # On 6 November SZ01 takes part (since the 5th); GZ01 left on the 5th.
    assert list(found.participants) == ["SZ01"]
    assert list(found.not_yet) == ["DG01", "FS01", "GZ01"]
    assert found.participants_mean == 600_000
    # GZ01 reported 300,000; DG01 and FS01 had no visits and no report: 0.
    assert found.not_yet_mean == 100_000
    [sz01] = found.stores
    assert (sz01.store_id, sz01.joined_on) == ("SZ01", "2026-11-05")
    assert (sz01.before, sz01.after, sz01.change) == (150_000, 500_000, 350_000)
    assert (list(west.participants), list(west.not_yet)) == ([], ["FS01"])
    assert not west.stores and not west.HasField("participants_mean")
    assert west.HasField("not_yet_mean") and west.not_yet_mean == 0
    assert violated_fields(bad_query) == ["indicator", "window_days"]
    assert not_hq_query.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_pilot_comparison_as_of_a_day_sees_the_reports_recorded_by_its_end(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    """GZ01's report of 6 November is recorded on the 7th: as of the 6th it was not there."""
    for store_id in ("SZ01", "GZ01"):
        await cap.register(store_id)
    clock.set(datetime(2026, 11, 7, 10, 0, tzinfo=SHANGHAI))
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01")
        await _profiles_projected(run, "SZ01", "GZ01")
        hq = run.client(mint("hq"))
        await hq.RecordOperatingReport(
            store_id="GZ01",
            period=day("2026-11-06"),
            figures=figures(revenue=ev.RevenueByLine(labour_fen=300_000)),
        )
        await hq.SetPilotParticipation(store_id="GZ01", joined_on="2026-11-03")
        asked = {"indicator": "revenue", "period": day("2026-11-06")}
        now = await hq.GetPilotComparison(**asked)
        then = await hq.GetPilotComparison(**asked, as_of="2026-11-06")
        later = await hq.GetPilotComparison(**asked, as_of="2026-12-31")
        bad = await failure(hq.GetPilotComparison(**asked, as_of="6 Nov"))

    assert list(now.participants) == ["GZ01"] and now.participants_mean == 300_000
    assert list(then.participants) == ["GZ01"] and then.participants_mean == 0
    assert later == now  # a day still to come reads as today
    assert violated_fields(bad) == ["as_of"]


async def test_the_weekly_close_publishes_the_report_once(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    """GZ01 took a customer SZ01 diverted on Monday 2 November; the week closes on Monday
    9 November at 01:00 in Shanghai and its reports (the network's and each region's) are
    published then, and only then."""
    await cap.register("SZ01")
    await cap.register("GZ01", region="Pearl River")
    await diversion_kept(cap, clock, "H-1")
    async with start_analytics() as run:
        await run.analytics.arming.armed.wait()
        hq = run.client(mint("hq"))

        async def diverted() -> bool:
            weekly = await hq.GetWeeklyCollaborationReport(week_of=MONDAY.isoformat())
            return weekly.diversions.accepted == 1

        await eventually(diverted, within=30.0)
        await projections_taken(run)
        timers = run.running.service.timers
        clock.set(datetime(2026, 11, 9, 0, 59, tzinfo=SHANGHAI))
        while await timers.run_due():
            pass
        early = (await recorded_types(run.running)).count("WeeklyCollaborationReportPublished")
        clock.set(datetime(2026, 11, 9, 1, 0, tzinfo=SHANGHAI))
        while await timers.run_due():
            pass
        while await timers.run_due():  # firing again publishes nothing new
            pass
        published = await recorded_events(run.running, "WeeklyCollaborationReportPublished")
    assert early == 0
    assert [r.region for r in published] == ["", "Pearl River", "South China"]
    report, pearl_river, south_china = published
    # A region's diversions are those its stores offered: SZ01's, in South China.
    assert (south_china.diversions_offered, south_china.diversions_accepted) == (1, 1)
    assert south_china.value_created_fen == 80_000_00
    assert (pearl_river.diversions_offered, pearl_river.value_created_fen) == (0, 0)
    assert {r.week.start for r in published} == {date(2026, 11, 2)}
    assert (report.diversions_offered, report.diversions_accepted) == (1, 1)
    assert report.value_created_fen == 80_000_00
    assert report.transfers == 0 and report.average_response_minutes is None
