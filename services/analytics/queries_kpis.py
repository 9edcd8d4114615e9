"""KPI of a store, a region or the network over a period up to `as_of`, from the projected
facts (network_model) and, for one store's month, its operating report in force."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
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
        per_store = await self.facts_by_store(conn, store_ids, window)
        return total(list(per_store.values()))

    async def facts_by_store(
        self, conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
    ) -> dict[str, Facts]:
        d = model.store_days.c
        sums = [func.coalesce(func.sum(d[name]), 0).label(name) for name in model.STORED_COUNTERS]
        query = (
            select(d.store_id, *sums)
            .where(d.day >= window.start, d.day < window.end)
            .group_by(d.store_id)
        )
        if store_ids is not None:
            query = query.where(d.store_id.in_(list(store_ids)))
        counted: dict[str, dict[str, Any]] = {}
        for row in await conn.execute(query):
            counted[row.store_id] = {
                name: _number(getattr(row, name)) for name in model.STORED_COUNTERS
            }
        derived = await self._derived(conn, store_ids, window)
        found: dict[str, Facts] = {}
        for store_id in set(counted) | set(derived):
            values = {name: 0 for name in COUNTERS}
            values.update(counted.get(store_id, {}))
            values.update(derived.get(store_id, {}))
            found[store_id] = Facts(**values)
        return found

    async def _derived(
        self, conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
    ) -> dict[str, dict[str, Any]]:
        s, d, h = model.stores.c, model.store_days.c, model.shifts.c
        profiles = select(model.stores).where(s.closed.is_(False))
        overrides = select(d.store_id, d.day, d.capacity_override).where(
            d.day >= window.start, d.day < window.end, d.capacity_override.is_not(None)
        )
        planned = (
            select(h.store_id, func.sum(h.available_hours))
            .where(h.day >= window.start, h.day < window.end)
            .group_by(h.store_id)
        )
        if store_ids is not None:
            profiles = profiles.where(s.store_id.in_(list(store_ids)))
            overrides = overrides.where(d.store_id.in_(list(store_ids)))
            planned = planned.where(h.store_id.in_(list(store_ids)))
        override = {(r.store_id, r.day): r.capacity_override for r in await conn.execute(overrides)}
        derived: dict[str, dict[str, Any]] = {}
        days = window.days()
        for row in await conn.execute(profiles):
            shape = StoreShape(
                bays=row.bays,
                default_daily_capacity=row.default_daily_capacity,
                availability_factor=decimal_fraction(row.availability_factor),
                open_hours=tuple(decimal_fraction(x) for x in row.open_hours),
            )
            opened = row.opened_on
            open_days = [day for day in days if opened is None or day >= opened]
            derived[row.store_id] = {
                "capacity": sum(
                    shape.capacity_on(day, override.get((row.store_id, day))) for day in open_days
                ),
                "bay_hours": sum((shape.bay_hours_on(day) for day in open_days), Fraction(0)),
            }
        for store_id, hours in await conn.execute(planned):
            derived.setdefault(store_id, {})["available_hours"] = decimal_fraction(hours or 0)
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


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return decimal_fraction(value)
    return int(value)
