"""Analytics' own facts as they stood on an as-of day, over real gRPC, PostgreSQL and NATS:
a November report recorded on 2 December and corrected on 5 December is not seen as of
1 December, seen as first recorded as of 3 December, and corrected as of 6 December, in
the KPIs (a store and the network), the dashboard, the operating report and the
diagnosis; December's revenue target, set on 2 December and changed on 5 December, in the
dashboard likewise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import grpc
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
    network,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
)
from tests.integration.rich_errors import failure, reason, violated_fields

__all__ = ["analytics_db_url", "cap", "capacity_pg_url", "capacity_service", "start_analytics"]

Mint = Callable[..., str]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = month("2026-11-01")
DECEMBER = month("2026-12-01")
STORE = pb.Scope(level=pb.SCOPE_LEVEL_STORE, id="SZ01")
NETWORK = pb.Scope(level=pb.SCOPE_LEVEL_NETWORK)
FIRST = 85_000_000  # figures(): 42M labour, 35M parts, 8M value added
CORRECTED = 103_000_000  # labour 60M


async def _report_figures(hq: AnalyticsClient, scope: pb.Scope, as_of: str) -> tuple[float, ...]:
    """November's revenue and cost ratio in GetKpis as of a day (() without a report)."""
    kpis = await hq.GetKpis(scope=scope, period=NOVEMBER, as_of=as_of)
    values = {v.indicator: v.value for v in kpis.values}
    if "cost_ratio" not in values:
        return ()
    return values["revenue"], values["cost_ratio"]


async def _revenue_target(hq: AnalyticsClient, as_of: str) -> float | None:
    """December's revenue target in the store's dashboard as of a day (None: no target)."""
    board = await hq.GetDashboard(scope=STORE, as_of=as_of)
    return next((p.target for p in board.projections if p.indicator == "revenue"), None)


async def test_reports_and_targets_set_later_are_seen_from_those_days_on(
    start_analytics: AnalyticsStarter, cap: CapacityClient, clock: ManualClock, mint: Mint
) -> None:
    await network(cap, "SZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        dms = run.client(mint("dms", "SZ01"))
        hq = run.client(mint("hq"))
        clock.set(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))
        await dms.RecordOperatingReport(
            store_id="SZ01", report_id="R-1", period=NOVEMBER, figures=figures()
        )
        await hq.SetTarget(store_id="SZ01", indicator="revenue", period=DECEMBER, value=1_000_000)
        clock.set(datetime(2026, 12, 5, 23, 59, tzinfo=SHANGHAI))
        await hq.SetTarget(store_id="SZ01", indicator="revenue", period=DECEMBER, value=2_000_000)
        await dms.RecordOperatingReport(
            store_id="SZ01",
            report_id="R-2",
            period=NOVEMBER,
            figures=figures(
                revenue=ev.RevenueByLine(
                    labour_fen=60_000_000, parts_fen=35_000_000, value_added_fen=8_000_000
                )
            ),
            supersedes_report_id="R-1",
        )
        clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI))
        days = ("2026-12-01", "2026-12-03", "2026-12-06", "2026-12-08")
        store = [await _report_figures(hq, STORE, d) for d in days]
        whole = [await _report_figures(hq, NETWORK, d) for d in days]
        targets = [await _revenue_target(hq, d) for d in days]
        # The month's dashboard as of its last day: the report came after it.
        end_of_month = await hq.GetDashboard(scope=STORE, as_of="2026-11-30")
        reports = [
            await failure(dms.GetOperatingReport(store_id="SZ01", period=NOVEMBER, as_of=days[0])),
            await dms.GetOperatingReport(store_id="SZ01", period=NOVEMBER, as_of=days[1]),
            await dms.GetOperatingReport(store_id="SZ01", period=NOVEMBER, as_of=days[2]),
            await dms.GetOperatingReport(store_id="SZ01", period=NOVEMBER),
        ]
        diagnoses = [
            await failure(dms.GetDiagnosis(store_id="SZ01", month=NOVEMBER, as_of=d))
            for d in days[:2]
        ]
        future = await dms.GetOperatingReport(store_id="SZ01", period=NOVEMBER, as_of="2026-12-31")
        malformed = await failure(
            dms.GetDiagnosis(store_id="SZ01", month=NOVEMBER, as_of="2026-12-9")
        )

    first = (FIRST, 105_000_000 / FIRST)
    corrected = (CORRECTED, 105_000_000 / CORRECTED)
    assert store == whole == [(), first, corrected, corrected]
    assert not end_of_month.HasField("technician_productivity")
    assert targets == [None, 1_000_000, 2_000_000, 2_000_000]
    assert reports[0].code() == grpc.StatusCode.NOT_FOUND
    assert [(r.report_id, list(r.superseded_report_ids)) for r in reports[1:]] == [
        ("R-1", []),
        ("R-2", ["R-1"]),
        ("R-2", ["R-1"]),
    ]
    # No report as of 1 December; as of 3 December one, but no vehicles counted.
    assert diagnoses[0].code() == grpc.StatusCode.NOT_FOUND
    assert reason(diagnoses[1]) == "NOTHING_TO_DIAGNOSE"
    # A day still to come reads as today; a malformed day is refused naming as_of.
    assert (future.report_id, list(future.superseded_report_ids)) == ("R-2", ["R-1"])
    assert violated_fields(malformed) == ["as_of"]
