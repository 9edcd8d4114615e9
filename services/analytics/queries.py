"""The read side of analytics' own facts: operating reports, targets, alarm lines, the
customer lifetime value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel import paging
from kernel.application import Application
from kernel.codec import from_json
from kernel.errors import NotFound
from kernel.paging import PageQuery
from services.analytics.aggregates import (
    ALARM_LINES,
    ALARM_LINES_STREAM,
    LIFETIME_VALUES,
    LIFETIME_VALUES_STREAM,
)
from services.analytics.domain.lifetime_value import LifetimeValues
from services.analytics.domain.operating_figures import OperatingFigures
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.domain.warnings import AlarmLine
from services.analytics.read_model import reports, targets


@dataclass(frozen=True)
class ReportView:
    store_id: str
    report_id: str
    period: Period
    figures: OperatingFigures
    superseded_report_ids: list[str]
    recorded_at: datetime


@dataclass(frozen=True)
class TargetView:
    store_id: str
    indicator: str
    period: Period
    value: Fraction


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_page_token: str


def _day(value: Any) -> date:
    return date.fromisoformat(paging.text(value))


# The resume key of ListTargets: store, indicator, period kind, period start.
TARGET_CURSOR = (paging.text, paging.text, paging.int32, _day)


class AnalyticsQueries:
    def __init__(self, app: Application) -> None:
        self.app = app

    async def report(
        self,
        store_id: str,
        period: Period,
        report_id: str | None = None,
        *,
        cutoff: datetime | None = None,
    ) -> ReportView:
        """The report in force for the period (or the one named), with the reports recorded
        before it for the same period, most recent first: the ones it replaced. `cutoff`:
        the report in force then, the latest of those recorded before it (None: now)."""
        c = reports.c
        query = (
            select(reports)
            .where(
                c.store_id == store_id,
                c.period_kind == int(period.kind),
                c.period_start == period.start,
            )
            .order_by(c.position.desc())
        )

        async def fetch(conn: AsyncConnection) -> ReportView:
            rows = (await conn.execute(query)).all()
            if cutoff is not None:
                rows = [r for r in rows if r.recorded_at < cutoff]
            found = [
                n
                for n, r in enumerate(rows)
                if (r.report_id == report_id if report_id else cutoff is not None or r.in_force)
            ]
            if not found:
                raise NotFound("operating report", report_id or f"{store_id}/{period.key}")
            row = rows[found[0]]
            return ReportView(
                store_id=row.store_id,
                report_id=row.report_id,
                period=period,
                figures=from_json(row.figures, OperatingFigures),
                superseded_report_ids=[r.report_id for r in rows[found[0] + 1 :]],
                recorded_at=row.recorded_at,
            )

        return await self.app.query(fetch)

    async def target(self, store_id: str, indicator: str, period: Period) -> TargetView | None:
        c = targets.c
        query = select(targets.c.exact).where(
            c.store_id == store_id,
            c.indicator == indicator,
            c.period_kind == int(period.kind),
            c.period_start == period.start,
        )

        async def fetch(conn: AsyncConnection) -> TargetView | None:
            exact = (await conn.execute(query)).scalar()
            return (
                None if exact is None else TargetView(store_id, indicator, period, Fraction(exact))
            )

        return await self.app.query(fetch)

    async def targets_of(self, store_id: str, period: Period) -> dict[str, Fraction]:
        """Every indicator's target for the store and period."""
        c = targets.c
        query = select(c.indicator, c.exact).where(
            c.store_id == store_id,
            c.period_kind == int(period.kind),
            c.period_start == period.start,
        )

        async def fetch(conn: AsyncConnection) -> dict[str, Fraction]:
            return {code: Fraction(exact) for code, exact in await conn.execute(query)}

        return await self.app.query(fetch)

    async def targets(
        self, store_id: str, indicator: str, year: int, pages: PageQuery, token: str, size: int
    ) -> Page:
        """Targets of periods starting in `year`, by store, indicator, period kind and start."""
        c = targets.c
        key = (c.store_id, c.indicator, c.period_kind, c.period_start)
        after = pages.after(token)
        query = select(targets).where(c.year == year).order_by(*key).limit(size + 1)
        if store_id:
            query = query.where(c.store_id == store_id)
        if indicator:
            query = query.where(c.indicator == indicator)
        if after is not None:
            store, code, kind, start = after
            query = query.where(
                (c.store_id > store)
                | ((c.store_id == store) & (c.indicator > code))
                | ((c.store_id == store) & (c.indicator == code) & (c.period_kind > kind))
                | (
                    (c.store_id == store)
                    & (c.indicator == code)
                    & (c.period_kind == kind)
                    & (c.period_start > start)
                )
            )

        async def fetch(conn: AsyncConnection) -> list[TargetView]:
            return [
                TargetView(
                    r.store_id,
                    r.indicator,
                    Period(PeriodKind(r.period_kind), r.period_start),
                    Fraction(r.exact),
                )
                for r in await conn.execute(query)
            ]

        rows, following = pages.cut(
            await self.app.query(fetch),
            size,
            lambda t: [t.store_id, t.indicator, int(t.period.kind), t.period.start.isoformat()],
        )
        return Page(rows, following)

    async def alarm_lines(self) -> tuple[AlarmLine, ...]:
        async def fetch(conn: AsyncConnection) -> tuple[AlarmLine, ...]:
            uow = self.app.unit_of_work(conn)
            loaded = await uow.load(ALARM_LINES, ALARM_LINES_STREAM)
            return loaded.state.lines()

        return await self.app.query(fetch)

    async def lifetime_values(self) -> LifetimeValues:
        async def fetch(conn: AsyncConnection) -> LifetimeValues:
            uow = self.app.unit_of_work(conn)
            return (await uow.load(LIFETIME_VALUES, LIFETIME_VALUES_STREAM)).state

        return await self.app.query(fetch)
