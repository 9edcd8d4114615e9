"""KPI of a store, a region or the network over a period up to `as_of`, from the projected
facts (network_model) and, for one store's month, its operating report in force."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Context, Decimal, Inexact, Rounded, localcontext
from enum import IntEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import BigInteger, Numeric, Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.codec import decimal_fraction, from_json
from services.analytics import network_model as model
from services.analytics.domain.kpis import (
    COUNTERS,
    Facts,
    StoreShape,
    combined,
    indicator_values,
    new_customers,
    percentile,
    scope_indicator_values,
    total,
    weekday_counts,
)
from services.analytics.domain.operating_figures import OperatingFigures
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.read_model import reports

P90 = Fraction(9, 10)


class Level(IntEnum):
    STORE = 1
    REGION = 2
    NETWORK = 3


@dataclass(frozen=True)
class Scope:
    level: Level
    id: str


@dataclass(frozen=True)
class Kpis:
    scope: Scope
    period: Period
    as_of: date
    values: dict[str, Fraction]
    response_minutes_p90: Fraction | None
    returning_customers: int | None
    # The vehicles in of the stores that reported returning customers, less those.
    new_customers: int | None
    facts: Facts


@dataclass(frozen=True)
class Window:
    """The days of `period` up to `as_of` (inclusive): [start, end)."""

    start: date
    end: date

    @classmethod
    def of(cls, period: Period, as_of: date) -> Window:
        return cls(period.start, max(period.start, min(period.end, as_of + timedelta(days=1))))

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days)]


class KpiQueries:
    def __init__(self, app: Application) -> None:
        self.app = app

    async def stores_in(self, conn: AsyncConnection, scope: Scope) -> list[str] | None:
        """The scope's stores (None: every store, the network)."""
        if scope.level == Level.STORE:
            return [scope.id]
        if scope.level == Level.REGION:
            query = select(model.stores.c.store_id).where(model.stores.c.region == scope.id)
            return list((await conn.execute(query)).scalars())
        return None

    async def kpis(self, scope: Scope, period: Period, as_of: date) -> Kpis:
        window = Window.of(period, as_of)

        async def fetch(conn: AsyncConnection) -> Kpis:
            store_ids = await self.stores_in(conn, scope)
            per_store = await self.facts_by_store(conn, store_ids, window)
            facts = total(list(per_store.values()))
            reports: dict[str, OperatingFigures] = {}
            if period.kind == PeriodKind.MONTH:
                reports = await reports_in_force(conn, store_ids, period)
            minutes = await _response_minutes(conn, store_ids, window)
            days = len(window.days())
            report = combined(list(reports.values()))
            if scope.level == Level.STORE:
                values = indicator_values(facts, report, days)
            else:
                values = scope_indicator_values(per_store, reports, days)
            stale = await model.stale_values(conn, store_ids, window.start, window.end)
            if stale:  # each store's last valued day of the period, summed over stores
                values["stale_stock_value"] = Fraction(sum(stale.values()))
            return Kpis(
                scope=scope,
                period=period,
                as_of=as_of,
                values=values,
                response_minutes_p90=percentile(minutes, P90),
                returning_customers=report.returning_customers if report else None,
                new_customers=new_customers(per_store, reports),
                facts=facts,
            )

        return await self.app.query(fetch)

    async def facts(
        self, conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
    ) -> Facts:
        """The counters summed over the stores and days, with the day-derived denominators
        (capacity, bay hours, planned hours)."""
        counted = await self.counters_by_store(conn, store_ids, window)
        return summed(counted, await self.derived_by_store(conn, store_ids, window))

    async def facts_by_store(
        self, conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
    ) -> dict[str, Facts]:
        counted = await self.counters_by_store(conn, store_ids, window)
        derived = await self.derived_by_store(conn, store_ids, window)
        found: dict[str, Facts] = {}
        for store_id in set(counted) | set(derived):
            values: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
            values.update({k: _number(v) for k, v in counted.get(store_id, {}).items()})
            values.update({k: _number(v) for k, v in derived.get(store_id, {}).items()})
            found[store_id] = Facts(**values)
        return found

    async def counters_by_store(
        self, conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
    ) -> dict[str, dict[str, Any]]:
        """The stored counters of each store summed over the window's days (fractional
        ones as Decimals, or floats on SQLite: `summed` adds them exactly). A window from
        the first of a month reads the stores' month rows, less the days after it when
        it ends before the month does and those days are fewer than its own."""
        month_end = _next_month(window.start)
        after = (month_end - window.end).days
        if window.start.day != 1 or after < 0 or after > (window.end - window.start).days:
            return await self._days(conn, store_ids, window)
        m = model.store_months.c
        query = select(m.store_id, *(m[name] for name in model.STORED_COUNTERS)).where(
            m.month == window.start
        )
        if store_ids is not None:
            query = query.where(m.store_id.in_(list(store_ids)))
        names = model.STORED_COUNTERS
        counted = {
            row[0]: dict(zip(names, row[1:], strict=True)) for row in await conn.execute(query)
        }
        if after:
            later = await self._days(conn, store_ids, Window(window.end, month_end))
            for store_id, values in later.items():
                mine = counted.get(store_id)
                if mine is not None:
                    for name, value in values.items():
                        mine[name] = _minus(mine[name], value)
        return counted

    async def _days(
        self, conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
    ) -> dict[str, dict[str, Any]]:
        d = model.store_days.c
        exact = conn.dialect.name == "postgresql"
        sums = [
            _exact_sum_of(d[name], exact).label(name)
            if name in _FRACTIONAL
            else cast(func.coalesce(func.sum(d[name]), 0), BigInteger).label(name)
            for name in model.STORED_COUNTERS
        ]
        query = (
            select(d.store_id, *sums)
            .where(d.day >= window.start, d.day < window.end)
            .group_by(d.store_id)
        )
        if store_ids is not None:
            query = query.where(d.store_id.in_(list(store_ids)))
        names = model.STORED_COUNTERS
        return {row[0]: dict(zip(names, row[1:], strict=True)) for row in await conn.execute(query)}

    async def derived_by_store(
        self, conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
    ) -> dict[str, dict[str, Any]]:
        """Each store's capacity and bay hours over the window (from its profile and the
        days' overrides) and its planned hours. A profile's figures per weekday are worked
        out once (`_shape`, `_bay_hours`): a call adds up weekdays, not days."""
        s, d, h = model.stores.c, model.store_days.c, model.shifts.c
        profiles = select(
            s.store_id,
            s.bays,
            s.default_daily_capacity,
            s.availability_factor,
            s.open_hours,
            s.opened_on,
        ).where(s.closed.is_(False))
        overrides = select(d.store_id, d.day, d.capacity_override).where(
            d.day >= window.start, d.day < window.end, d.capacity_override.is_not(None)
        )
        planned = (
            select(h.store_id, _exact_sum_of(h.available_hours, conn.dialect.name == "postgresql"))
            .where(h.day >= window.start, h.day < window.end)
            .group_by(h.store_id)
        )
        if store_ids is not None:
            profiles = profiles.where(s.store_id.in_(list(store_ids)))
            overrides = overrides.where(d.store_id.in_(list(store_ids)))
            planned = planned.where(h.store_id.in_(list(store_ids)))
        override: dict[str, list[tuple[date, int]]] = {}
        for store_id, day, capacity in await conn.execute(overrides):
            override.setdefault(store_id, []).append((day, capacity))
        derived: dict[str, dict[str, Any]] = {}
        counts: dict[date, tuple[int, ...]] = {}
        for store_id, bays, default, factor, hours, opened in await conn.execute(profiles):
            first = window.start if opened is None else max(window.start, opened)
            weekdays = counts.get(first)
            if weekdays is None:
                weekdays = counts[first] = weekday_counts(first, window.end)
            shape, capacity, bay_hours = _figures(bays, default, factor, tuple(hours), weekdays)
            for day, value in override.get(store_id, ()):
                if day >= first:  # the override replaces the day's default
                    capacity += value - shape.capacity_on(day, None)
            derived[store_id] = {"capacity": capacity, "bay_hours": bay_hours}
        for store_id, hours in await conn.execute(planned):
            derived.setdefault(store_id, {})["available_hours"] = hours
        return derived

    async def report(self, store_id: str, month: Period) -> OperatingFigures | None:
        return await self.app.query(lambda conn: _report_in_force(conn, store_id, month))


async def _report_in_force(
    conn: AsyncConnection, store_id: str, month: Period
) -> OperatingFigures | None:
    c = reports.c
    query = select(c.figures).where(
        c.store_id == store_id,
        c.period_kind == int(month.kind),
        c.period_start == month.start,
        c.in_force.is_(True),
    )
    raw = (await conn.execute(query)).scalar()
    return None if raw is None else from_json(raw, OperatingFigures)


async def reports_in_force(
    conn: AsyncConnection, store_ids: Sequence[str] | None, month: Period
) -> dict[str, OperatingFigures]:
    """The month's operating report in force of each of the stores (None: every store)."""
    c = reports.c
    query = select(c.store_id, c.figures).where(
        c.period_kind == int(month.kind), c.period_start == month.start, c.in_force.is_(True)
    )
    if store_ids is not None:
        query = query.where(c.store_id.in_(list(store_ids)))
    return {
        store_id: from_json(raw, OperatingFigures) for store_id, raw in await conn.execute(query)
    }


async def _response_minutes(
    conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
) -> list[Fraction]:
    t = model.transfers.c
    query = select(t.response_seconds).where(
        t.completed_day >= window.start,
        t.completed_day < window.end,
        t.response_seconds.is_not(None),
    )
    if store_ids is not None:
        query = query.where(t.requesting_store_id.in_(list(store_ids)))
    return [Fraction(int(s), 60) for s in (await conn.execute(query)).scalars()]


def summed(counted: dict[str, dict[str, Any]], derived: dict[str, dict[str, Any]]) -> Facts:
    """`total` of the stores' facts, column by column: integers as integers, a float as
    the decimal it prints as (`decimal_fraction`), added exactly as decimals, so no
    Facts nor Fraction is made per store."""
    values: dict[str, Any] = {}
    for name in COUNTERS:
        column = [v[name] for v in counted.values() if name in v]
        column += [v[name] for v in derived.values() if name in v]
        values[name] = _exact_sum(column) if name in _FRACTIONAL else sum(column)
    return Facts(**values)


_FRACTIONAL = frozenset(f.name for f in fields(Facts) if isinstance(f.default, Fraction))


# Decimals added without rounding (an inexact sum would raise): floats print with at most
# 17 significant digits, far inside this precision.
_EXACT = Context(prec=400, traps=[Inexact, Rounded])


def _minus(whole: Any, part: Any) -> Any:
    """Decimals and integers as they are; a float (SQLite) as the decimal it prints as."""
    if isinstance(whole, float) or isinstance(part, float):
        whole, part = (v if isinstance(v, Decimal) else Decimal(repr(v)) for v in (whole, part))
    return whole - part


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _exact_sum_of(column: Any, exact: bool) -> Any:
    """The sum of a float column, each value as the decimal it prints as (PostgreSQL prints
    a double as Python does, shortest first): exact, whatever order the rows are added in
    (a float sum's last digits depend on the plan). Elsewhere the float sum."""
    if exact:
        column = cast(cast(column, Text), Numeric)
    return func.coalesce(func.sum(column), 0)


def _exact_sum(values: list[Any]) -> Fraction:
    """Decimals, floats as the decimals they print as (`decimal_fraction`), Fractions."""
    fractions = Fraction(0)
    decimals = []
    for v in values:
        if type(v) is Fraction:
            fractions += v
        elif type(v) is Decimal:
            decimals.append(v)
        else:
            decimals.append(Decimal(repr(float(v))))
    with localcontext(_EXACT):
        return fractions + Fraction(sum(decimals, Decimal(0)))


@functools.lru_cache(maxsize=8192)
def _figures(
    bays: int, default: int, factor: float, hours: tuple[float, ...], weekdays: tuple[int, ...]
) -> tuple[StoreShape, int, Fraction]:
    """A profile's shape, its capacity and bay hours over `weekday_counts` days without
    overrides: worked out once per profile and window, whatever the number of stores."""
    shape = StoreShape(
        bays=bays,
        default_daily_capacity=default,
        availability_factor=decimal_fraction(factor),
        open_hours=tuple(decimal_fraction(x) for x in hours),
    )
    return shape, shape.capacity_over(weekdays), shape.bay_hours_over(weekdays)


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return decimal_fraction(value)
    if isinstance(value, Decimal | Fraction):
        return Fraction(value)
    return int(value)
