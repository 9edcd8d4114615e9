"""Collab's SOP 1 seen by analytics, over real gRPC, PostgreSQL and NATS: a completed
transfer gives its source store a contribution point, the requester its response time,
and the month's close publishes the ranking once, whatever the timer does after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb
from storemesh.collab.v1 import collab_pb2 as collab_pb

from kernel.clock import ManualClock
from kernel.saga.admin import OK
from tests.integration.analytics_fixtures import (
    AnalyticsClient,
    AnalyticsStarter,
    analytics_db_url,
    projections_taken,
    start_analytics,
)
from tests.integration.capacity_fixtures import capacity_pg_url, capacity_service
from tests.integration.collab_fixtures import (
    DG,
    FS,
    GZ,
    PART,
    at_stage,
    collab_db_url,
    start_collab,
    stocked,
)
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually
from tests.integration.rich_errors import failure, recorded_types, violated_fields
from tests.integration.test_collab_admin import Cli
from tests.integration.test_collab_admin_sops import cli
from tests.integration.test_collab_transfer import published as collab_published
from tests.integration.test_collab_transfer import receipt_refused

__all__ = [
    "analytics_db_url",
    "capacity_pg_url",
    "capacity_service",
    "cli",
    "collab_db_url",
    "inv",
    "inventory_service",
    "start_analytics",
    "start_collab",
]

Mint = Callable[..., str]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = ev.Period(kind=ev.PERIOD_KIND_MONTH, start="2026-11-01")


async def _transfer_completed(collab: Any, mint: Mint, clock: ManualClock) -> None:
    """SOP 1: Guangzhou asks, Foshan gives, the courier delivers 50 minutes later."""
    await _carried(
        collab,
        mint,
        clock,
        dict(
            request_id="T-1",
            store_id=GZ,
            part_number=PART,
            quantity=1,
            urgency=collab_pb.URGENCY_URGENT,
            customer_waiting=True,
            repair_order="RO-7",
        ),
        freight_fen=3_500,
    )


async def _carried(
    collab: Any,
    mint: Mint,
    clock: ManualClock,
    asked: dict[str, Any],
    freight_fen: int = 0,
) -> None:
    """The transfer asked for, from Foshan: approved, picked up, delivered 50 minutes later."""
    hq, transfer_id = collab.client(mint("hq")), asked["request_id"]
    await collab.client(mint("dms", asked["store_id"])).RequestTransfer(**asked)
    await at_stage(hq, transfer_id, collab_pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)
    await hq.ApproveTransfer(request_id="a-1", transfer_id=transfer_id)
    await hq.ReportCourierProgress(
        request_id="c-1", transfer_id=transfer_id, progress=collab_pb.COURIER_PROGRESS_PICKED_UP
    )
    await at_stage(hq, transfer_id, collab_pb.TRANSFER_STAGE_IN_TRANSIT)
    clock.advance(timedelta(minutes=50))
    await hq.ReportCourierProgress(
        request_id="c-2",
        transfer_id=transfer_id,
        progress=collab_pb.COURIER_PROGRESS_DELIVERED,
        freight_fen=freight_fen,
    )
    await at_stage(hq, transfer_id, collab_pb.TRANSFER_STAGE_COMPLETED)


async def _ranked(client: AnalyticsClient) -> Any:
    async def probe() -> Any:
        reply = await client.GetContributionRanking(month=NOVEMBER)
        return reply if reply.rows else None

    return await eventually(probe, within=30.0)


async def _day_kpis(client: AnalyticsClient, store: str, day: str) -> dict[str, float]:
    reply = await client.GetKpis(
        scope=pb.Scope(level=pb.SCOPE_LEVEL_STORE, id=store),
        period=ev.Period(kind=ev.PERIOD_KIND_DAY, start=day),
        as_of=day,
    )
    return {v.indicator: v.value for v in reply.values}


async def test_a_transfer_earns_its_source_a_point_and_the_month_close_publishes_once(
    start_collab: Any,
    start_analytics: AnalyticsStarter,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
) -> None:
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        await _transfer_completed(collab, mint, clock)
    day = clock.business_day(clock.now()).isoformat()

    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        standing = await _ranked(hq)
        given = await _day_kpis(hq, FS, day)
        received = await _day_kpis(hq, GZ, day)
        await run.analytics.arming.armed.wait()
        await projections_taken(run)

        clock.set(datetime(2026, 12, 1, 1, 30, tzinfo=SHANGHAI))
        # The daily closes missed since 2 November catch up one day a pass; the monthly
        # close fires once among them, and firing again publishes nothing more.
        passes = [await run.running.service.timers.run_due() for _ in range(40)]
        published = await hq.GetContributionRanking()
        champions = await hq.GetSupportChampions(
            period=ev.Period(kind=ev.PERIOD_KIND_QUARTER, start="2026-10-01")
        )
        types = await recorded_types(run.running)
        bad = await failure(
            hq.GetContributionRanking(
                month=ev.Period(kind=ev.PERIOD_KIND_MONTH, start="2026-11-02")
            )
        )

    (row,) = standing.rows
    assert (row.standing.store_id, row.standing.points, row.standing.position) == (FS, 1, 1)
    assert row.standing.reward_fen == 10_000_00 and row.transfers == 1
    assert not standing.published and row.score.collaboration == 100
    assert given["transfers"] == 1
    assert received["transfer_response_time"] == 50
    assert passes[-1] == 0 and sum(passes) > 1
    assert published.published and published.month.start == "2026-11-01"
    assert [r.standing.store_id for r in published.rows] == [FS]
    assert types.count("ContributionRankingPublished") == 1
    assert not champions.published and list(champions.champions) == []
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_ranking_as_of_a_day_is_the_month_as_it_stood_then(
    start_collab: Any,
    start_analytics: AnalyticsStarter,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
) -> None:
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        await _transfer_completed(collab, mint, clock)
    day = clock.business_day(clock.now())

    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        await _ranked(hq)
        await run.analytics.arming.armed.wait()
        await projections_taken(run)
        clock.set(datetime(2026, 12, 1, 1, 30, tzinfo=SHANGHAI))
        while await run.running.service.timers.run_due():
            pass
        before_the_act = await hq.GetContributionRanking(
            month=NOVEMBER, as_of=(day - timedelta(days=1)).isoformat()
        )
        month_end = await hq.GetContributionRanking(month=NOVEMBER, as_of="2026-11-30")
        published = await hq.GetContributionRanking(month=NOVEMBER, as_of="2026-12-01")
        none_yet = await failure(hq.GetContributionRanking(as_of="2026-11-30"))
        champions = await hq.GetSupportChampions(
            period=ev.Period(kind=ev.PERIOD_KIND_QUARTER, start="2026-10-01"), as_of="2026-11-30"
        )
        bad = await failure(hq.GetSupportChampions(period=NOVEMBER, as_of="30.11."))

    assert list(before_the_act.rows) == [] and not before_the_act.published
    assert [r.standing.store_id for r in month_end.rows] == [FS] and not month_end.published
    assert [r.standing.store_id for r in published.rows] == [FS] and published.published
    assert none_yet.code() == grpc.StatusCode.NOT_FOUND
    assert "name a month for its ranking so far" in (none_yet.details() or "")
    assert not champions.published
    assert sorted(violated_fields(bad)) == ["as_of", "period.kind"]


async def test_two_replicas_close_the_month_once(
    start_analytics: AnalyticsStarter, clock: ManualClock
) -> None:
    async with start_analytics() as one, start_analytics() as two:
        await one.analytics.arming.armed.wait()
        await two.analytics.arming.armed.wait()
        await projections_taken(one)
        clock.set(datetime(2026, 12, 1, 1, 30, tzinfo=SHANGHAI))
        fired = 0
        for _ in range(40):
            passes = await asyncio.gather(
                one.running.service.timers.run_due(), two.running.service.timers.run_due()
            )
            fired += sum(passes)
            if not any(passes):
                break
        types = await recorded_types(one.running)

    # The monthly close, the 29 daily closes from 2 to 30 November and the weekly closes of
    # the weeks starting 2, 9, 16 and 23 November, each fired once.
    assert fired == 1 + 29 + 4
    assert types.count("ContributionRankingPublished") == 1
    assert types.count("WeeklyCollaborationReportPublished") == 4


async def test_a_revitalisation_earns_its_giver_ten_points_in_the_ranking(
    start_collab: Any,
    start_analytics: AnalyticsStarter,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
) -> None:
    """Regression: collab names the act `revitalisation`, and the ranking read it as an
    unknown act, so the stale stock's giver lost its 10 points (domain.md: 10 per act)."""
    await stocked(inv, FS01=6)
    clock.advance(timedelta(days=120))
    async with start_collab() as collab:
        await _carried(
            collab,
            mint,
            clock,
            dict(
                request_id="R-1",
                store_id=DG,
                part_number=PART,
                quantity=2,
                urgency=collab_pb.URGENCY_NORMAL,
                reason=collab_pb.TRANSFER_REASON_REVITALISATION,
                source_store_id=FS,
            ),
        )
    day = clock.business_day(clock.now())
    month = ev.Period(kind=ev.PERIOD_KIND_MONTH, start=day.replace(day=1).isoformat())

    async with start_analytics() as run:
        hq_analytics = run.client(mint("hq"))

        async def ranked() -> Any:
            reply = await hq_analytics.GetContributionRanking(month=month)
            return reply if reply.rows else None

        standing = await eventually(ranked, within=30.0)
        kpis = await _day_kpis(hq_analytics, FS, day.isoformat())

    (row,) = standing.rows
    assert (row.standing.store_id, row.standing.points, row.standing.position) == (FS, 10, 1)
    assert (row.stale_stock_revitalised, row.transfers) == (1, 0)
    assert kpis["transfers"] == 1


async def test_a_transfer_resolved_by_hand_after_the_delivery_earns_its_source_the_point(
    start_collab: Any,
    start_analytics: AnalyticsStarter,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    """Foshan gave the part, inventory refused Guangzhou's receipt and an operator booked it
    in by hand and resolved the transfer: analytics reads the point collab credited with the
    resolve as any other, while the transfer counts (made, response time) stay those of
    receipts through the saga."""
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        await receipt_refused(collab, inv, mint, freight_fen=3_500)
        code, _ = await cli(
            "resolve", "transfer", "T-1", "--operator", "ops@hq", "--why", "booked in by hand"
        )
        assert code == OK
        await eventually(
            lambda: collab_published(collab, f"collab.v1.{GZ}.CollaborationCostRecorded")
        )
    day = clock.business_day(clock.now()).isoformat()

    async with start_analytics() as run:
        hq = run.client(mint("hq"))
        standing = await _ranked(hq)
        given = await _day_kpis(hq, FS, day)

    (row,) = standing.rows
    assert (row.standing.store_id, row.standing.points, row.standing.position) == (FS, 1, 1)
    assert row.transfers == 1
    assert given["transfers"] == 0
