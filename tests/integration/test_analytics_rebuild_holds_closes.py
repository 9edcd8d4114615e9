"""A rebuild empties the read models before it replays them: the closes (daily, weekly,
monthly) must not assess or publish from them meanwhile. Over real PostgreSQL and NATS:
while the rebuild's lock is held, every close due answers Unavailable and nothing is
published; once it is released, each close fires once on the timer runner's retry."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from kernel.clock import ManualClock
from kernel.db import Database
from services.analytics.scheduled import not_while_rebuilding, rebuilding
from tests.integration.analytics_fixtures import (
    AnalyticsStarter,
    analytics_db_url,
    projections_taken,
    start_analytics,
)
from tests.integration.capacity_fixtures import capacity_pg_url, capacity_service
from tests.integration.rich_errors import recorded_types

__all__ = ["analytics_db_url", "capacity_pg_url", "capacity_service", "start_analytics"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
PUBLISHED = ("ContributionRankingPublished", "WeeklyCollaborationReportPublished")


async def test_the_closes_wait_for_a_running_rebuild_then_fire_once(
    start_analytics: AnalyticsStarter, clock: ManualClock
) -> None:
    async with start_analytics() as run:
        timers = run.running.service.timers
        await run.analytics.arming.armed.wait()
        await projections_taken(run)
        # A close waits for these (scheduled.projections_current): every subscription.
        assert set(await run.running.service.app.unconsumed()) == {
            f"analytics-{source}"
            for source in ("inventory", "collab", "capacity", "workforce", "store-directory")
        }
        clock.set(datetime(2026, 12, 1, 1, 30, tzinfo=SHANGHAI))
        async with rebuilding(run.running.service.db):
            held = [await timers.run_due() for _ in range(3)]
            during = await recorded_types(run.running)
        clock.advance(timedelta(minutes=10))  # past the runner's backoff
        fired = []
        for _ in range(40):
            fired.append(await timers.run_due())
            if not fired[-1]:
                break
        after = await recorded_types(run.running)

    assert held == [0, 0, 0]
    assert not [t for t in during if t in PUBLISHED]
    # The monthly close, the daily closes from 2 to 30 November, the four weekly closes.
    assert sum(fired) == 1 + 29 + 4
    assert after.count("ContributionRankingPublished") == 1
    assert after.count("WeeklyCollaborationReportPublished") == 4


async def test_on_sqlite_there_is_no_lock_to_take_and_the_closes_run(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}")
    try:
        async with rebuilding(db), db.transaction() as conn:
            await not_while_rebuilding(conn)
    finally:
        await db.dispose()
