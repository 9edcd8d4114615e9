"""The daily close of one store, in the timer's transaction: gather what domain/assessment
needs from the read models, assess, and let the store's warning board raise and clear."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import UnitOfWork
from services.analytics import network_model as model
from services.analytics.aggregates import ALARM_LINES, ALARM_LINES_STREAM, WARNINGS
from services.analytics.domain import indicators
from services.analytics.domain.assessment import (
    StoreDay,
    assess,
    is_month_end,
    last_open_days,
    month_of,
)
from services.analytics.domain.kpis import indicator_values
from services.analytics.domain.periods import Period
from services.analytics.domain.warning_board import AssessWarnings
from services.analytics.domain.warnings import DECLINE_PERIODS, EVERY_DAY, VEHICLES_IN_STREAK_DAYS
from services.analytics.queries_kpis import KpiQueries, Window, _report_in_force
from services.analytics.read_model import targets


async def close_store_day(uow: UnitOfWork, kpis: KpiQueries, store_id: str, day: date) -> None:
    conn = uow.conn
    month = month_of(day)
    values_of_day = await _values(conn, kpis, store_id, Period.day(day), day)
    values_of_month = await _values(conn, kpis, store_id, month, day)
    open_weekdays = await _open_weekdays(conn, store_id)
    recent = last_open_days(day, open_weekdays, VEHICLES_IN_STREAK_DAYS)
    lines = (await uow.load(ALARM_LINES, ALARM_LINES_STREAM)).state.lines()
    series: dict[str, list[tuple[Period, Fraction]]] = {}
    revenue: list[tuple[Period, Fraction]] = []
    if is_month_end(day):
        series, revenue = await _monthly_series(conn, kpis, store_id, month)
    assessed = assess(
        StoreDay(
            store_id=store_id,
            day=day,
            day_values=values_of_day,
            day_targets=await _targets(conn, store_id, Period.day(day)),
            month_values=values_of_month,
            month_targets=await _targets(conn, store_id, month),
            recent_vehicles_in=await _vehicles_in(conn, store_id, recent),
            recent_day_targets={
                d: t
                for d in recent
                if (t := (await _targets(conn, store_id, Period.day(d))).get("vehicles_in"))
                is not None
            },
            alarm_lines=lines,
            monthly_series=series,
            monthly_revenue=revenue,
            open_weekdays=open_weekdays,
            earlier_vehicles_in_targets={
                m: t
                for m in {month_of(d) for d in recent} - {month}
                if (t := (await _targets(conn, store_id, m)).get("vehicles_in")) is not None
            },
        )
    )
    await uow.execute(
        WARNINGS,
        WARNINGS.stream_id(store_id),
        AssessWarnings(
            store_id=store_id,
            rules=assessed.rules,
            found=assessed.risks,
            at=uow.clock.now(),
            day=day,
        ),
    )


async def _open_weekdays(conn: AsyncConnection, store_id: str) -> frozenset[int]:
    """The weekdays the store's profile (capacity's) opens; every day when unknown or never."""
    s = model.stores.c
    hours = await conn.scalar(select(s.open_hours).where(s.store_id == store_id))
    found = frozenset(n for n, h in enumerate(hours or ()) if h and h > 0)
    return found or EVERY_DAY


async def _values(
    conn: AsyncConnection, kpis: KpiQueries, store_id: str, period: Period, as_of: date
) -> dict[str, Fraction]:
    window = Window.of(period, as_of)
    facts = await kpis.facts(conn, [store_id], window)
    # The report in force now, not as it stood when the day ended: a month's report can
    # only come after the month, and is judged at once against its last day (the close
    # re-assesses that day when it arrives).
    report = await _report_in_force(conn, store_id, period)
    return indicator_values(facts, report, len(window.days()))


async def _targets(conn: AsyncConnection, store_id: str, period: Period) -> dict[str, Fraction]:
    t = targets.c
    query = select(t.indicator, t.exact).where(
        t.store_id == store_id,
        t.period_kind == int(period.kind),
        t.period_start == period.start,
    )
    return {code: Fraction(exact) for code, exact in await conn.execute(query)}


async def _vehicles_in(
    conn: AsyncConnection, store_id: str, days: list[date]
) -> list[tuple[date, Fraction]]:
    d = model.store_days.c
    query = select(d.day, d.vehicles_in).where(d.store_id == store_id, d.day.in_(days))
    counted = {row.day: int(row.vehicles_in) for row in await conn.execute(query)}
    return [(day, Fraction(counted.get(day, 0))) for day in days]


async def _monthly_series(
    conn: AsyncConnection, kpis: KpiQueries, store_id: str, month: Period
) -> tuple[dict[str, list[tuple[Period, Fraction]]], list[tuple[Period, Fraction]]]:
    """Indicators that do not add up (CSI, complaint rate...) over the last months, and
    the months' revenue (whole months: each month's total, for hollow growth)."""
    months = [month]
    for _ in range(DECLINE_PERIODS - 1):
        before = months[0].start - timedelta(days=1)
        months.insert(0, Period.month(before.year, before.month))
    per_month = [await _values(conn, kpis, store_id, m, m.end) for m in months]
    series: dict[str, list[tuple[Period, Fraction]]] = {}
    for code in per_month[-1]:
        indicator = indicators.find(code)
        if indicator is None or indicator.additive:
            continue
        if all(code in values for values in per_month):
            series[code] = [(m, values[code]) for m, values in zip(months, per_month, strict=True)]
    revenue = [(m, values["revenue"]) for m, values in zip(months, per_month, strict=True)]
    return series, revenue if all("revenue" in values for values in per_month) else []
