"""The compensation HQ pays a diverted customer reaches the weekly collaboration report:
collab completes SOP 3 against the real capacity service and records
CollaborationCostRecorded (kind compensation) on HQ's ledger; analytics projects it from
NATS beside capacity's hold and confirmation, and its report says what the week's
accepted diversions cost, with the value they kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from storemesh.collab.v1 import collab_pb2 as pb

from kernel.clock import ManualClock
from tests.integration.analytics_fixtures import (
    AnalyticsStarter,
    analytics_db_url,
    knows_stores,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
)
from tests.integration.collab_fixtures import DG, GZ, SZ, collab_db_url
from tests.integration.kernel_fixtures import eventually
from tests.integration.sops_fixtures import collab_with_capacity, reached
from tests.integration.test_collab_diversion import divert, network

__all__ = [
    "analytics_db_url",
    "cap",
    "capacity_pg_url",
    "capacity_service",
    "collab_db_url",
    "collab_with_capacity",
    "start_analytics",
]

Mint = Callable[..., str]


async def test_a_compensation_collab_recorded_shows_in_the_weekly_report(
    start_analytics: AnalyticsStarter,
    collab_with_capacity: Any,
    cap: CapacityClient,
    mint: Mint,
    clock: ManualClock,
) -> None:
    await network(cap, clock)
    async with start_analytics() as analytics, collab_with_capacity() as collab:
        await knows_stores(analytics, SZ, DG, GZ)
        shenzhen = collab.client(mint("dms", SZ))
        asked = await divert(shenzhen, "7c1d0a3e-0000-4000-8000-0000000000c1")
        await reached(
            lambda: shenzhen.GetDiversion(diversion_id=asked.diversion_id),
            pb.DIVERSION_STAGE_AWAITING_CUSTOMER,
        )
        await shenzhen.AnswerDiversion(
            request_id="7c1d0a3e-0000-4000-8000-0000000000c2",
            diversion_id=asked.diversion_id,
            answer=pb.DIVERSION_ANSWER_ACCEPTED,
        )
        await reached(
            lambda: shenzhen.GetDiversion(diversion_id=asked.diversion_id),
            pb.DIVERSION_STAGE_COMPLETED,
        )
        ledger = await collab.client(mint("hq")).GetCostSettlement(month="2026-11")
        hq = analytics.client(mint("hq"))

        async def compensated() -> Any:
            weekly = await hq.GetWeeklyCollaborationReport(week_of=MONDAY.isoformat())
            return weekly if weekly.diversions.compensation_fen else None

        weekly = await eventually(compensated, within=30.0)
        regional = await hq.GetWeeklyCollaborationReport(
            week_of=MONDAY.isoformat(), region="South China"
        )
        elsewhere = await hq.GetWeeklyCollaborationReport(
            week_of=MONDAY.isoformat(), region="Nowhere"
        )
        # As of the day before the week: none of its days yet; as of its Sunday: all.
        not_yet = await hq.GetWeeklyCollaborationReport(
            week_of=MONDAY.isoformat(), as_of=(MONDAY - timedelta(days=1)).isoformat()
        )
        whole_week = await hq.GetWeeklyCollaborationReport(
            week_of=MONDAY.isoformat(), as_of=(MONDAY + timedelta(days=6)).isoformat()
        )

    # HQ's ledger at collab: the 200 CNY compensation and the 50 CNY transport voucher.
    assert sorted((c.kind, c.amount_fen) for c in ledger.lines) == [
        ("compensation", 20_000),
        ("transport_voucher", 5_000),
    ]
    d = weekly.diversions
    assert (d.offered, d.accepted, d.acceptance_rate) == (1, 1, 1.0)
    # The report's compensation cost is the compensation, not the voucher beside it.
    assert d.compensation_fen == 20_000
    assert d.value_retained_fen == 80_000_00
    assert weekly.value_created_fen == 80_000_00  # compensation beside it, not netted off
    assert regional.diversions.compensation_fen == 20_000  # Shenzhen's region
    assert (elsewhere.diversions.offered, elsewhere.diversions.compensation_fen) == (0, 0)
    assert not_yet.diversions.offered == 0
    assert whole_week.diversions == weekly.diversions
