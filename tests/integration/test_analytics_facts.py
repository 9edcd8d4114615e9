"""The facts analytics owns, over real gRPC, PostgreSQL and NATS beside the real capacity
service: a DMS's operating reports and their corrections, HQ's targets and alarm lines,
who may do what, and that every refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb

from tests.integration.analytics_fixtures import (
    AnalyticsStarter,
    analytics_db_url,
    day,
    figures,
    knows_stores,
    month,
    network,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
)
from tests.integration.rich_errors import (
    event_count,
    failure,
    reason,
    recorded_types,
    violated_fields,
)

__all__ = ["analytics_db_url", "cap", "capacity_pg_url", "capacity_service", "start_analytics"]

Mint = Callable[..., str]


async def test_a_dms_reports_its_month_and_a_correction_supersedes_it(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    await network(cap, "SZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        dms = run.client(mint("dms", "SZ01"))

        first = await dms.RecordOperatingReport(
            store_id="SZ01", report_id="R-10", period=month("2026-10-01"), figures=figures()
        )
        corrected = await dms.RecordOperatingReport(
            store_id="SZ01",
            report_id="R-10b",
            period=month("2026-10-01"),
            figures=figures(complaints=5),
            supersedes_report_id="R-10",
        )
        in_force = await dms.GetOperatingReport(store_id="SZ01", period=month("2026-10-01"))

        assert first.report_id == "R-10" and list(first.superseded_report_ids) == []
        assert first.figures.csi == 88.5 and first.figures.revenue.labour_fen == 42_000_000
        assert list(corrected.superseded_report_ids) == ["R-10"]
        assert (in_force.report_id, in_force.figures.complaints) == ("R-10b", 5)
        assert await recorded_types(run.running) == [
            "OperatingReportRecorded",
            "OperatingReportRecorded",
            "OperatingReportSuperseded",
        ]


async def test_a_retried_report_is_recorded_once(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    await network(cap, "SZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        dms = run.client(mint("dms", "SZ01"))
        ask = {"request_id": "REQ-1", "store_id": "SZ01", "period": day("2026-11-01")}

        once = await dms.RecordOperatingReport(**ask, figures=figures())
        again = await dms.RecordOperatingReport(**ask, figures=figures())

        assert once.report_id == again.report_id == "REQ-1"
        assert await event_count(run.running) == 1


async def test_a_retried_target_or_alarm_line_replays_its_answer(
    start_analytics: AnalyticsStarter, mint: Mint
) -> None:
    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        yearly = {
            "request_id": "Y-1",
            "store_id": "SZ01",
            "indicator": "revenue",
            "year": 2026,
            "total": 1200,
            "spring_festival_month": 2,
        }
        line = {"request_id": "L-1", "indicator": "rent_ratio", "line": 0.22}

        first = [await hq.SetYearlyTarget(**yearly), await hq.SetAlarmLine(**line)]
        count = await event_count(run.running)
        again = [await hq.SetYearlyTarget(**yearly), await hq.SetAlarmLine(**line)]

        assert again == first
        assert await event_count(run.running) == count == 14


async def test_a_second_report_must_name_the_one_it_corrects(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    await network(cap, "SZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        dms = run.client(mint("dms", "SZ01"))
        await dms.RecordOperatingReport(
            store_id="SZ01", report_id="R-1", period=month("2026-10-01"), figures=figures()
        )
        before = await event_count(run.running)

        unnamed = await failure(
            dms.RecordOperatingReport(
                store_id="SZ01", report_id="R-2", period=month("2026-10-01"), figures=figures()
            )
        )
        wrong = await failure(
            dms.RecordOperatingReport(
                store_id="SZ01",
                report_id="R-3",
                period=month("2026-10-01"),
                figures=figures(),
                supersedes_report_id="R-0",
            )
        )
        reused = await failure(
            dms.RecordOperatingReport(
                store_id="SZ01",
                report_id="R-1",
                period=month("2026-10-01"),
                figures=figures(complaints=9),
                supersedes_report_id="R-1",
            )
        )
        future = await failure(
            dms.RecordOperatingReport(
                store_id="SZ01", report_id="R-4", period=month("2027-01-01"), figures=figures()
            )
        )

        assert reason(unnamed) == "REPORT_ALREADY_RECORDED"
        assert reason(wrong) == "REPORT_NOT_IN_FORCE"
        assert reason(reused) == "REPORT_ID_REUSED"
        assert reason(future) == "PERIOD_IN_THE_FUTURE"
        assert await event_count(run.running) == before


async def test_a_store_capacity_does_not_know_is_refused(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    await network(cap, "SZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        hq = run.client(mint("hq"))

        report = await failure(
            hq.RecordOperatingReport(
                store_id="XX99", report_id="R-1", period=month("2026-10-01"), figures=figures()
            )
        )
        target = await failure(
            hq.SetTarget(
                store_id="XX99", indicator="revenue", period=month("2026-11-01"), value=1_000_000
            )
        )

        assert reason(report) == reason(target) == "UNKNOWN_STORE"
        assert report.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert await event_count(run.running) == 0


async def test_malformed_reports_and_targets_name_every_field(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    async with start_analytics() as run:
        hq = run.client(mint("hq"))

        report = await failure(
            hq.RecordOperatingReport(
                request_id="",
                store_id="S Z",
                period=ev.Period(kind=ev.PERIOD_KIND_WEEK, start="2026-11-02"),
                figures=figures(
                    revenue=ev.RevenueByLine(labour_fen=-1),
                    staffing=[ev.Staffing(role=0, headcount=-2)],
                    csi=101,
                    other_figures=[ev.IndicatorFigure(indicator="luck", value=1)],
                ),
            )
        )
        target = await failure(
            hq.SetTarget(
                store_id="",
                indicator="luck",
                period=ev.Period(kind=ev.PERIOD_KIND_MONTH, start="2026-11-02"),
            )
        )
        yearly = await failure(
            hq.SetYearlyTarget(
                store_id="SZ01", indicator="revenue", year=2027, total=-5, spring_festival_month=13
            )
        )
        line = await failure(hq.SetAlarmLine(indicator="revenue", line=1.5))

        assert violated_fields(report) == [
            "figures.csi",
            "figures.other_figures[0].indicator",
            "figures.revenue.labour_fen",
            "figures.staffing[0].headcount",
            "figures.staffing[0].role",
            "period.kind",
            "request_id",
            "store_id",
        ]
        assert violated_fields(target) == ["indicator", "period.start", "store_id"]
        assert violated_fields(yearly) == ["spring_festival_month", "total"]
        assert violated_fields(line) == ["indicator", "line"]
        assert await event_count(run.running) == 0


async def test_a_yearly_target_is_split_by_seasonality_and_listed(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    await network(cap, "SZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        hq = run.client(mint("hq"))

        split = await hq.SetYearlyTarget(
            store_id="SZ01",
            indicator="revenue",
            year=2027,
            total=12_000_000_00,
            spring_festival_month=2,
        )
        november = await hq.SetTarget(
            store_id="SZ01", indicator="csi", period=month("2027-11-01"), value=90.5
        )
        not_additive = await failure(
            hq.SetYearlyTarget(
                store_id="SZ01",
                indicator="complaint_rate",
                year=2027,
                total=1,
                spring_festival_month=2,
            )
        )
        first = await run.client(mint("dms", "SZ01")).ListTargets(
            store_id="SZ01", year=2027, page_size=10
        )
        rest = await hq.ListTargets(
            store_id="SZ01", year=2027, page_size=10, page_token=first.next_page_token
        )

        months = [m.value for m in split.months]
        assert split.year.value == 12_000_000_00 and sum(months) == 12_000_000_00
        assert months[1] == pytest.approx(months[0] * 0.87, rel=1e-3)
        assert november.value == 90.5
        assert reason(not_additive) == "INDICATOR_NOT_ADDITIVE"
        listed = [*first.targets, *rest.targets]
        assert len(listed) == 14 and rest.next_page_token == ""
        assert listed[0].indicator == "csi" and listed[0].value == 90.5


async def test_hq_moves_an_alarm_line_everyone_reads_the_lines_and_the_library(
    start_analytics: AnalyticsStarter, mint: Mint
) -> None:
    async with start_analytics() as run:
        moved = await run.client(mint("hq")).SetAlarmLine(indicator="complaint_rate", line=0.04)
        lines = await run.client(mint("dms", "SZ01")).ListAlarmLines()
        people = await run.client(mint("partner")).ListIndicators(
            category=pb.INDICATOR_CATEGORY_PEOPLE
        )

        assert (moved.indicator, moved.line) == ("complaint_rate", 0.04)
        assert moved.direction == pb.INDICATOR_DIRECTION_LOWER_IS_BETTER
        by_indicator = {a.indicator: a.line for a in lines.alarm_lines}
        assert by_indicator["complaint_rate"] == 0.04 and by_indicator["cost_ratio"] == 0.75
        assert "staff_turnover" in {i.code for i in people.indicators}
        assert {i.category for i in people.indicators} == {pb.INDICATOR_CATEGORY_PEOPLE}


async def test_stores_act_only_for_themselves_and_only_hq_sets_targets(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    await network(cap, "SZ01", "GZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01")
        await run.client(mint("dms", "SZ01")).RecordOperatingReport(
            store_id="SZ01", report_id="R-1", period=month("2026-10-01"), figures=figures()
        )
        before = await event_count(run.running)
        other = run.client(mint("dms", "GZ01"))

        refusals = [
            await failure(
                other.RecordOperatingReport(
                    store_id="SZ01", report_id="R-2", period=day("2026-11-01"), figures=figures()
                )
            ),
            await failure(other.GetOperatingReport(store_id="SZ01", period=month("2026-10-01"))),
            await failure(
                other.SetTarget(
                    store_id="GZ01", indicator="revenue", period=month("2026-11-01"), value=1
                )
            ),
            await failure(other.SetAlarmLine(indicator="complaint_rate", line=0.04)),
            await failure(other.ListTargets(year=2026)),
            await failure(
                run.client(mint("partner")).GetOperatingReport(
                    store_id="SZ01", period=month("2026-10-01")
                )
            ),
        ]

        assert {r.code() for r in refusals} == {grpc.StatusCode.PERMISSION_DENIED}
        assert await event_count(run.running) == before


async def test_an_empty_pilot_comparison_request_names_its_missing_fields(
    start_analytics: AnalyticsStarter, mint: Mint
) -> None:
    """Every RPC is served now (the pilot was the last): nothing answers UNIMPLEMENTED."""
    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        error = await failure(hq.GetPilotComparison())

        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(error) == ["indicator", "period.kind", "period.start"]


async def test_analytics_asks_capacity_for_a_stores_peers(
    start_analytics: AnalyticsStarter, cap: CapacityClient
) -> None:
    await cap.register("SZ01", bays=10)
    await cap.register("GZ01", bays=12)
    await cap.register("DG01", bays=16)
    async with start_analytics() as run:
        assert run.analytics.peer_groups is not None
        peers = await run.analytics.peer_groups.peers("SZ01", "2026-11-02")

    assert peers == ["GZ01", "SZ01"]


async def test_a_month_with_a_report_but_no_vehicles_is_refused_a_diagnosis_saying_why(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    await network(cap, "SZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        dms = run.client(mint("dms", "SZ01"))
        await dms.RecordOperatingReport(
            store_id="SZ01", period=month("2026-10-01"), figures=figures()
        )
        refused = await failure(dms.GetDiagnosis(store_id="SZ01", month=month("2026-10-01")))
        unreported = await failure(dms.GetDiagnosis(store_id="SZ01", month=month("2026-09-01")))

    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused) == "NOTHING_TO_DIAGNOSE"
    assert "no vehicles in counted" in (refused.details() or "")
    assert unreported.code() == grpc.StatusCode.NOT_FOUND


async def test_a_stores_kpis_show_the_extra_figures_its_dms_reported(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    await network(cap, "SZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        dms = run.client(mint("dms", "SZ01"))
        extra = [ev.IndicatorFigure(indicator="training_completion", value=0.9)]
        await dms.RecordOperatingReport(
            store_id="SZ01", period=month("2026-10-01"), figures=figures(other_figures=extra)
        )
        kpis = await dms.GetKpis(
            scope=pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="SZ01"),
            period=month("2026-10-01"),
        )

    values = {v.indicator: v.value for v in kpis.values}
    assert values["training_completion"] == 0.9
    assert values["revenue"] == 85_000_000


async def test_a_days_report_is_the_days_kpi_as_its_warnings_and_drill_down_read_it(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Mint
) -> None:
    """Regression: GetKpis took a report for a month only, while the daily close, the
    drill-down and the comparisons judged a day by its day's report: a warning's figures
    were not the KPI of the same store and day."""
    await network(cap, "SZ01", region="South China")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        hq = run.client(mint("hq"))
        await run.client(mint("dms", "SZ01")).RecordOperatingReport(
            store_id="SZ01", report_id="D-1", period=day("2026-11-01"), figures=figures()
        )
        scopes = {
            "store": pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="SZ01"),
            "region": pb.Scope(level=pb.SCOPE_LEVEL_REGION, id="South China"),
            "network": pb.Scope(level=pb.SCOPE_LEVEL_NETWORK),
        }
        revenue = {}
        for name, scope in scopes.items():
            kpis = await hq.GetKpis(scope=scope, period=day("2026-11-01"), as_of="2026-11-02")
            revenue[name] = {v.indicator: v.value for v in kpis.values}.get("revenue")
        drill = await hq.GetDrillDown(drill_down="store/SZ01/indicator/revenue/period/2026-11-01")

    assert drill.value.value == 85_000_000
    assert revenue == {"store": 85_000_000, "region": 85_000_000, "network": 85_000_000}
