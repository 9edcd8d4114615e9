"""Analytics' scheduled work as durable timers, fired once across replicas (kernel.timers
claims each under SKIP LOCKED): the monthly close publishes the month's contribution
ranking (and at a quarter's or year's end its support champions), then re-arms itself for
the next month. A timer due while every replica was down fires at the next start; a
publication already made is not made again (the ranking stream records it once).

The first timer is armed when the service starts (`ArmTimers`, a background loop that arms
and then waits): inserted if absent, so a restart never moves or repeats it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kernel.application import Application, UnitOfWork
from kernel.eventstore import timers
from kernel.timers import TimerHandler
from services.analytics.aggregates import RANKINGS, ranking_stream
from services.analytics.domain.contribution import ranking, support_champions
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.domain.rankings import NameSupportChampions, PublishRanking
from services.analytics.queries_contribution import ContributionQueries

MONTHLY_CLOSE = "analytics.monthly-close"
# Late events of the month's last day (a courier's receipt at 23:59) get this long to
# arrive before the ranking is fixed.
SETTLE = timedelta(hours=1)


class Scheduled:
    def __init__(self, app: Application, contribution: ContributionQueries) -> None:
        self.app = app
        self.contribution = contribution

    def handlers(self) -> dict[str, TimerHandler]:
        return {MONTHLY_CLOSE: self.monthly_close}

    def closes_at(self, month: Period) -> datetime:
        """When a month is closed: its end in the business zone, plus the settling time."""
        zone = getattr(self.app.clock, "zone", None)
        end = datetime.combine(month.end, time(0), zone)
        return end + SETTLE

    def current_month(self) -> Period:
        today = self.app.clock.business_day(self.app.clock.now())
        return Period.month(today.year, today.month)

    async def monthly_close(self, uow: UnitOfWork, payload: Any) -> None:
        month = Period.month(*map(int, str(payload["month"]).split("-")[:2]))
        now = self.app.clock.now()
        acts = await self.contribution.contributions(uow.conn, month)
        await uow.execute(
            RANKINGS,
            ranking_stream(month),
            PublishRanking(month=month, standings=ranking(acts, month), at=now),
        )
        for kind in (PeriodKind.QUARTER, PeriodKind.YEAR):
            period = Period.containing(kind, month.start)
            if period.end == month.end:
                supports = await self.contribution.supports(uow.conn, period)
                champions = support_champions(supports, period)
                await uow.execute(
                    RANKINGS,
                    ranking_stream(period),
                    NameSupportChampions(period=period, champions=champions, at=now),
                )
        following = Period.month(month.end.year, month.end.month)
        await uow.schedule(
            MONTHLY_CLOSE,
            MONTHLY_CLOSE,
            self.closes_at(following),
            {"month": following.key},
        )

    async def arm(self) -> None:
        """The current month's close, unless a close is armed already."""
        month = self.current_month()
        row = {
            "timer_id": MONTHLY_CLOSE,
            "kind": MONTHLY_CLOSE,
            "due_at": self.closes_at(month),
            "payload": {"month": month.key},
            "attempts": 0,
            "last_error": None,
        }
        async with self.app.db.transaction("analytics.arm timers") as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            await conn.execute(insert(timers).values(**row).on_conflict_do_nothing())


class ArmTimers:
    """Arms the scheduled work at start, then waits for the stop (a host background loop)."""

    def __init__(self, scheduled: Scheduled) -> None:
        self.scheduled = scheduled
        self.armed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        retry = 0.5
        while not stop.is_set() and not self.armed.is_set():
            try:
                await self.scheduled.arm()
                self.armed.set()
            except Exception:  # the database is away: arm when it returns
                await asyncio.sleep(retry)
                retry = min(retry * 2, 10.0)
        await stop.wait()

    def wake(self) -> None:
        """Nothing to do after a commit."""
