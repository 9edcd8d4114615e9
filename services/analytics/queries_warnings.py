"""Warnings as they stood at the end of a day (raised by then, not yet cleared), most severe
first, and the figures behind one of them (its drill-down)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.clock import end_of_business_day
from kernel.errors import InvalidArgument
from services.analytics.domain import indicators
from services.analytics.domain.kpis import indicator_values
from services.analytics.domain.periods import Period, PeriodKind, period_of_key
from services.analytics.domain.warnings import Light
from services.analytics.queries_as_of import targets_in_force
from services.analytics.queries_kpis import KpiQueries, Scope, Window, _report_in_force
from services.analytics.read_model import reports, warning_history, warnings


@dataclass(frozen=True)
class DrillDown:
    store_id: str
    indicator: str
    period: Period
    value: Fraction | None
    target: Fraction | None
    breakdown: list[tuple[Period, Fraction | None, Fraction | None]]
    report_id: str


def parse_drill_down(key: str) -> tuple[str, str, Period]:
    """store/<id>/indicator/<code>/period/<key>, as WarningRaised.drill_down writes it."""
    parts = key.split("/")
    period = period_of_key(parts[5]) if len(parts) == 6 else None
    if (
        len(parts) != 6
        or (parts[0], parts[2], parts[4]) != ("store", "indicator", "period")
        or indicators.find(parts[3]) is None
        or period is None
    ):
        raise InvalidArgument.of(
            "drill_down", "must be store/<id>/indicator/<code>/period/<key> from a Warning"
        )
    return parts[1], parts[3], period


class WarningQueries:
    def __init__(self, app: Application, kpis: KpiQueries) -> None:
        self.app = app
        self.kpis = kpis

    async def standing(
        self, scope: Scope, min_level: Light, indicator: str, as_of: date
    ) -> list[Any]:
        """Rows of the warnings in force at the end of `as_of`, most severe first: for a
        day before today from the history, in the colour each had then."""
        end = end_of_business_day(self.app.clock, as_of)
        table = warnings if self.kpis.cutoff(as_of) is None else warning_history
        w = table.c

        async def fetch(conn: AsyncConnection) -> list[Any]:
            query = select(*(w[c.name] for c in warnings.columns)).where(
                w.raised_at < end,
                (w.cleared_at.is_(None)) | (w.cleared_at >= end),
                w.level >= int(min_level),
            )
            store_ids = await self.kpis.stores_in(conn, scope)
            if store_ids is not None:
                query = query.where(w.store_id.in_(store_ids))
            if indicator:
                query = query.where(w.indicator == indicator)
            rows = list((await conn.execute(query)).all())
            return sorted(rows, key=lambda r: (-r.level, -Fraction(r.deviation), r.warning_id))

        return await self.app.query(fetch)

    async def drill_down(self, key: str, today: date) -> DrillDown:
        store_id, code, period = parse_drill_down(key)

        async def fetch(conn: AsyncConnection) -> DrillDown:
            value = await self._value(conn, store_id, code, period, today)
            breakdown = []
            for part in _parts(period):
                if part.start > today:
                    break
                breakdown.append(
                    (
                        part,
                        await self._value(conn, store_id, code, part, today),
                        await _target(conn, store_id, code, part),
                    )
                )
            r = reports.c
            report_id = (
                await conn.execute(
                    select(r.report_id).where(
                        r.store_id == store_id,
                        r.period_kind == int(period.kind),
                        r.period_start == period.start,
                        r.in_force.is_(True),
                    )
                )
            ).scalar()
            return DrillDown(
                store_id,
                code,
                period,
                value,
                await _target(conn, store_id, code, period),
                breakdown,
                report_id or "",
            )

        return await self.app.query(fetch)

    async def _value(
        self, conn: AsyncConnection, store_id: str, code: str, period: Period, today: date
    ) -> Fraction | None:
        window = Window.of(period, today)
        facts = await self.kpis.facts(conn, [store_id], window)
        report = await _report_in_force(conn, store_id, period)
        return indicator_values(facts, report, len(window.days())).get(code)


def _parts(period: Period) -> list[Period]:
    """Day by day for a week or month, month by month for a quarter or year."""
    if period.kind in (PeriodKind.WEEK, PeriodKind.MONTH):
        return [Period.day(period.start + timedelta(days=n)) for n in range(period.days)]
    return list(period.months())


async def _target(
    conn: AsyncConnection, store_id: str, code: str, period: Period, cutoff: datetime | None = None
) -> Fraction | None:
    """The target in force for the period, now or before `cutoff` (`targets_in_force`)."""
    t = targets_in_force(cutoff is not None).c
    query = select(t.exact).where(
        t.store_id == store_id,
        t.indicator == code,
        t.period_kind == int(period.kind),
        t.period_start == period.start,
    )
    params = {} if cutoff is None else {"cutoff": cutoff}
    exact = (await conn.execute(query, params)).scalar()
    return None if exact is None else Fraction(exact)
