"""Analytics' scheduled work as durable timers, fired once across replicas (kernel.timers
claims each under SKIP LOCKED): the daily close assesses every open store's day (one timer
per store, so each is a short transaction), the monthly close publishes the month's contribution
ranking (and at a quarter's or year's end its support champions), then re-arms itself for
the next month; the daily close also asks capacity for each open store's pressure forecast
of the week ahead (one timer per store and day, so a store capacity cannot reach now is
retried alone); the weekly close publishes the network's and each region's weekly
collaboration report of the week just ended, then re-arms itself for the next week. A
timer due while every replica was down fires at the next start; a publication already
made is not made again (the ranking and weekly-report streams record each once).

A close reads the read models and publishes what it finds, so none runs before the
subscriptions have taken every event published so far (`projections_current`: after an
outage over a period's end, the backlog first), nor while a rebuild has emptied them:
the rebuild holds `REBUILD_LOCK` (a PostgreSQL session advisory lock) while it replays,
and each close takes it shared for its transaction or answers Unavailable, which the
timer runner retries with backoff.

The first timer is armed when the service starts (`ArmTimers`, a background loop that arms
and then waits): inserted if absent, so a restart never moves or repeats it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application, UnitOfWork
from kernel.db import Database
from kernel.errors import Unavailable
from kernel.timers import ArmAtStart, TimerHandler, arm_if_absent
from services.analytics import network_model as model
from services.analytics.aggregates import RANKINGS, WEEKLY_REPORTS, ranking_stream, weekly_stream
from services.analytics.daily_close import close_store_day
from services.analytics.domain.assessment import late_close_day
from services.analytics.domain.contribution import ranking, support_champions
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.domain.rankings import NameSupportChampions, PublishRanking
from services.analytics.domain.weekly_report import PublishWeeklyReport
from services.analytics.queries_contribution import ContributionQueries
from services.analytics.queries_kpis import KpiQueries
from services.analytics.queries_reports import ReportQueries

MONTHLY_CLOSE = "analytics.monthly-close"
DAILY_CLOSE = "analytics.daily-close"
WEEKLY_CLOSE = "analytics.weekly-close"
# One per store and day, fanned out by the daily close: each store's assessment is a short
# transaction of its own, shared among the replicas' timer runners.
ASSESS_STORE = "analytics.assess-store"
# One per store and day, fanned out by the daily close: capacity's 7-day pressure forecast.
FORECAST_PRESSURE = "analytics.forecast-pressure"
# Late events of the month's last day (a courier's receipt at 23:59) get this long to
# arrive before the ranking is fixed.
SETTLE = timedelta(hours=1)


# The advisory lock a rebuild holds (exclusive) and every close takes (shared): any key
# unique in analytics' own database.
REBUILD_LOCK = 0x616E616C79746963  # "analytic"


@asynccontextmanager
async def rebuilding(db: Database) -> AsyncIterator[None]:
    """Hold the closes off while the read models are rebuilt: the lock is taken on a
    connection of its own, outside any transaction (a session lock outlives the statement's
    transaction), after the closes running now have committed. PostgreSQL only: a SQLite
    database has one process, the service's, and nothing to hold off."""
    if not db.is_postgres:
        yield
        return
    async with db.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": REBUILD_LOCK})
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": REBUILD_LOCK})
            await conn.commit()


async def not_while_rebuilding(conn: AsyncConnection) -> None:
    """Unavailable while a rebuild runs; else the lock is held shared until the close's
    transaction ends, so a rebuild starting now waits for it."""
    if conn.dialect.name != "postgresql":
        return
    free = await conn.scalar(
        text("SELECT pg_try_advisory_xact_lock_shared(:key)"), {"key": REBUILD_LOCK}
    )
    if not free:
        raise Unavailable("analytics' read models are being rebuilt: the close waits for it")


async def projections_current(app: Application) -> None:
    """Unavailable while analytics' subscriptions have events left to take (delivered and
    not yet acknowledged, or not yet delivered), or one is not bound yet: a close reads what
    they project, and what it publishes stays (the ranking HQ pays rewards on). After an
    outage over a period's end the missed close fires at the next start, beside the
    subscriptions still working through the backlog; the timer runner retries it with
    backoff until they are through."""
    behind = {name: n for name, n in (await app.unconsumed()).items() if n != 0}
    if behind:
        said = ", ".join(
            f"{name}: {'not bound yet' if n is None else f'{n} events'}"
            for name, n in sorted(behind.items())
        )
        raise Unavailable(f"analytics' projections are not current ({said}): the close waits")


class PressureForecasts(Protocol):
    """Capacity's ForecastCapacityPressure: capacity forecasts, analytics says when."""

    async def forecast_pressure(self, store_id: str, request_id: str) -> None: ...


def forecast_request_id(store_id: str, day: date) -> str:
    """The same store and day always ask with the same request_id: a timer fired again
    (a replica died after the call) gets capacity's first answer, not a second forecast."""
    return f"analytics:forecast-pressure:{store_id}:{day.isoformat()}"


class Scheduled:
    def __init__(
        self,
        app: Application,
        contribution: ContributionQueries,
        kpis: KpiQueries,
        reports: ReportQueries,
        forecasts: PressureForecasts | None = None,
    ) -> None:
        self.app = app
        self.contribution = contribution
        self.kpis = kpis
        self.reports = reports
        self.forecasts = forecasts

    def handlers(self) -> dict[str, TimerHandler]:
        return {
            MONTHLY_CLOSE: self.monthly_close,
            DAILY_CLOSE: self.daily_close,
            ASSESS_STORE: self.assess_store,
            FORECAST_PRESSURE: self.forecast_pressure,
            WEEKLY_CLOSE: self.weekly_close,
        }

    def day_closes_at(self, day: date) -> datetime:
        zone = getattr(self.app.clock, "zone", None)
        return datetime.combine(day + timedelta(days=1), time(0), zone) + SETTLE

    async def daily_close(self, uow: UnitOfWork, payload: Any) -> None:
        """Every open store's assessment of the day and its pressure forecast of the days
        ahead, each a timer of its own (once the projections are current: the assessments
        read them); then the next day's close."""
        await not_while_rebuilding(uow.conn)
        await projections_current(self.app)
        day = date.fromisoformat(str(payload["day"]))
        following = day + timedelta(days=1)
        s = model.stores.c
        query = select(s.store_id).where(s.closed.is_(False)).order_by(s.store_id)
        now = self.app.clock.now()
        for store_id in (await uow.conn.execute(query)).scalars():
            await uow.schedule(
                f"{ASSESS_STORE}/{store_id}/{day.isoformat()}",
                ASSESS_STORE,
                now,
                {"store_id": store_id, "day": day.isoformat()},
            )
            if self.forecasts is not None:
                await uow.schedule(
                    f"{FORECAST_PRESSURE}/{store_id}/{following.isoformat()}",
                    FORECAST_PRESSURE,
                    now,
                    {"store_id": store_id, "day": following.isoformat()},
                )
        await uow.schedule(
            DAILY_CLOSE, DAILY_CLOSE, self.day_closes_at(following), {"day": following.isoformat()}
        )

    async def assess_late(self, uow: UnitOfWork, store_id: str, period: Period) -> None:
        """A report of a period already over (a month's report always is) is assessed at
        once as of the period's last day, so its alarm lines and targets are judged; the
        period's own close could not see it."""
        now = self.app.clock.now()
        day = late_close_day(period, self.app.clock.business_day(now))
        if day is not None:
            await uow.schedule(
                f"{ASSESS_STORE}/{store_id}/{day.isoformat()}",
                ASSESS_STORE,
                now,
                {"store_id": store_id, "day": day.isoformat()},
            )

    async def assess_store(self, uow: UnitOfWork, payload: Any) -> None:
        await not_while_rebuilding(uow.conn)
        day = date.fromisoformat(str(payload["day"]))
        await close_store_day(uow, self.kpis, str(payload["store_id"]), day)

    async def forecast_pressure(self, uow: UnitOfWork, payload: Any) -> None:
        """Capacity forecasts the store's next 7 days (raising CapacityPressureForecast for
        a day above 100%). Capacity away: Unavailable, the timer runner retries later."""
        if self.forecasts is None:
            return
        store_id, day = str(payload["store_id"]), date.fromisoformat(str(payload["day"]))
        await self.forecasts.forecast_pressure(store_id, forecast_request_id(store_id, day))

    def week_closes_at(self, week: Period) -> datetime:
        """When a week is closed: the Monday after it in the business zone, plus settling."""
        zone = getattr(self.app.clock, "zone", None)
        return datetime.combine(week.end, time(0), zone) + SETTLE

    async def weekly_close(self, uow: UnitOfWork, payload: Any) -> None:
        """The network's and each region's weekly collaboration report of the week ended,
        each published once, at HQ's customer lifetime value in force on its Sunday; then
        the next week's close."""
        await not_while_rebuilding(uow.conn)
        await projections_current(self.app)
        week = Period.week_of(date.fromisoformat(str(payload["week"])))
        # The network's ("") and each region's of the open stores; a handful in one pass.
        for region in ("", *await self.reports.regions(uow.conn)):
            report = await self.reports.weekly_in(uow.conn, week, region, None)
            await uow.execute(
                WEEKLY_REPORTS,
                weekly_stream(week, region),
                PublishWeeklyReport(report=report, at=self.app.clock.now(), region=region),
            )
        following = Period.week_of(week.end)
        await uow.schedule(
            WEEKLY_CLOSE,
            WEEKLY_CLOSE,
            self.week_closes_at(following),
            {"week": following.start.isoformat()},
        )

    def closes_at(self, month: Period) -> datetime:
        """When a month is closed: its end in the business zone, plus the settling time."""
        zone = getattr(self.app.clock, "zone", None)
        end = datetime.combine(month.end, time(0), zone)
        return end + SETTLE

    def current_month(self) -> Period:
        today = self.app.clock.business_day(self.app.clock.now())
        return Period.month(today.year, today.month)

    async def monthly_close(self, uow: UnitOfWork, payload: Any) -> None:
        await not_while_rebuilding(uow.conn)
        await projections_current(self.app)
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
        """Today's, this week's and this month's closes, unless they are armed already."""
        month = self.current_month()
        today = self.app.clock.business_day(self.app.clock.now())
        week = Period.week_of(today)
        rows = [
            (MONTHLY_CLOSE, self.closes_at(month), {"month": month.key}),
            (DAILY_CLOSE, self.day_closes_at(today), {"day": today.isoformat()}),
            (WEEKLY_CLOSE, self.week_closes_at(week), {"week": week.start.isoformat()}),
        ]
        await arm_if_absent(self.app, rows)


class ArmTimers(ArmAtStart):
    """Arms the scheduled work at start, then waits for the stop (a host background loop)."""

    def __init__(self, scheduled: Scheduled) -> None:
        super().__init__(scheduled.arm)
