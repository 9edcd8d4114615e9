"""Analytics' demo part: every store's report of last month, this year's targets and the
month-1 pilot, loaded once however often the demo loads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from storemesh.analytics.events.v1 import events_pb2 as ev

from services.analytics import demo
from services.demo_network import STORES
from tests.integration.analytics_fixtures import AnalyticsStarter, analytics_db_url, start_analytics
from tests.integration.capacity_fixtures import capacity_pg_url, capacity_service
from tests.integration.rich_errors import event_count

__all__ = ["analytics_db_url", "capacity_pg_url", "capacity_service", "start_analytics"]


async def test_the_demo_loads_reports_and_targets_once(
    start_analytics: AnalyticsStarter, mint: Callable[..., str]
) -> None:
    async with start_analytics() as run:
        metadata = (("authorization", f"Bearer {mint('hq')}"),)
        said = await demo.load(run.running.channel, metadata)
        after_first = await event_count(run.running)
        again = await demo.load(run.running.channel, metadata)

        today = datetime.now(demo.SHANGHAI).date()
        last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        hq = run.client(mint("hq"))
        report = await hq.GetOperatingReport(
            store_id="SZ01",
            period=ev.Period(kind=ev.PERIOD_KIND_MONTH, start=last_month.isoformat()),
        )
        targets = await hq.ListTargets(store_id="SZ01", year=today.year, page_size=100)
        pilot = await hq.GetPilotComparison(
            indicator="revenue",
            period=ev.Period(kind=ev.PERIOD_KIND_MONTH, start=last_month.isoformat()),
        )

        assert said == again and said.startswith(f"analytics: {len(STORES)} operating reports")
        assert await event_count(run.running) == after_first
        assert report.figures.revenue.labour_fen == 42_000_000 * 16 // 8
        # 13 per yearly target (the year and its months) x 2, and this month's CSI.
        assert len(targets.targets) == 27
        # domain.md's month-1 pilot: Shenzhen + Guangzhou + Dongguan.
        assert list(pilot.participants) == sorted(demo.PILOT_STORES)
        assert [s.joined_on for s in pilot.stores] == [last_month.isoformat()] * 3
