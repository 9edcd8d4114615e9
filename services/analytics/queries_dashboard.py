"""The operating dashboard (运营看板) of a store, a region or the network: the month so far,
where it ends at the current pace against its targets, and the ranked risks."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Date, Integer, Numeric, Select, bindparam, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from services.analytics import network_model as model
from services.analytics.domain import indicators
from services.analytics.domain.assessment import month_of
from services.analytics.domain.kpis import (
    revenue_lines,
    scope_values,
    technician_productivity,
)
from services.analytics.domain.operating_figures import RevenueByLine, Role
from services.analytics.domain.periods import Period
from services.analytics.domain.warnings import Light, Projection, light, projection
from services.analytics.queries_as_of import targets_in_force
from services.analytics.queries_kpis import KpiQueries, Level, Scope, Window, combined_in_force
from services.analytics.queries_scope import scope_totals
from services.analytics.queries_warnings import WarningQueries


@dataclass(frozen=True)
class MonthProjection:
    indicator: str
    projection: Projection
    level: Light | None


@dataclass(frozen=True)
class Dashboard:
    scope: Scope
    as_of: date
    month: Period
    projections: list[MonthProjection]
    revenue: RevenueByLine
    vehicles_in: int
    returning_customers: int | None
    new_customers: int | None
    # Vehicles a technician a day (domain.md's diagnosis), of the stores that reported
    # their technicians for the month.
    technician_productivity: Fraction | None
    csi: Fraction | None
    csi_highest: tuple[str, Fraction] | None
    csi_lowest: tuple[str, Fraction] | None
    risks: list[Any]


class DashboardQueries:
    def __init__(self, app: Application, kpis: KpiQueries, warnings: WarningQueries) -> None:
        self.app = app
        self.kpis = kpis
        self.warnings = warnings

    async def dashboard(self, scope: Scope, as_of: date, risk_limit: int) -> Dashboard:
        month = month_of(as_of)
        window = Window.of(month, as_of)
        cutoff = self.kpis.cutoff(as_of)

        async def fetch(conn: AsyncConnection) -> Dashboard:
            store_ids = await self.kpis.stores_in(conn, scope)
            # The scope's columns added up in the database, the stores with a report in
            # force apart; the highest and lowest CSI found there too (not for a store).
            totals = await scope_totals(
                conn, store_ids, window, month, csi=scope.level != Level.STORE, cutoff=cutoff
            )
            facts, reporting = totals.facts, totals.reporting
            # The month's operating reports of the scope's stores, combined (one for a store).
            report = await combined_in_force(conn, store_ids, month, cutoff)
            days = len(window.days())
            values = scope_values(facts, reporting, report, days)
            month_targets = await _month_targets(conn, store_ids, month, cutoff)
            if scope.level != Level.STORE and month_targets:
                # A region's or the network's target is its stores' targets added up: an
                # indicator some of its stores have no target for is projected on those
                # that have one, like against like.
                values = await _on_covered_stores(
                    conn, store_ids, month, cutoff, values, window, days
                )
            customers = totals.customers(report)
            return Dashboard(
                scope=scope,
                as_of=as_of,
                month=month,
                projections=_projections(values, month_targets, month.elapsed(as_of)),
                revenue=revenue_lines(report, facts, reporting),
                vehicles_in=facts.vehicles_in,
                new_customers=customers[0] if customers else None,
                returning_customers=customers[1] if customers else None,
                technician_productivity=technician_productivity(
                    reporting.vehicles_in,
                    report.headcount_of(Role.TECHNICIAN) if report else 0,
                    days,
                ),
                csi=values.get("csi"),
                csi_highest=totals.csi_highest,
                csi_lowest=totals.csi_lowest,
                risks=[],
            )

        found = await self.app.query(fetch)
        risks = await self.warnings.standing(scope, Light.YELLOW, "", as_of)
        return Dashboard(**{**found.__dict__, "risks": risks[:risk_limit]})


_ADDITIVE = sorted(i.code for i in indicators.LIBRARY if i.additive)


async def _month_targets(
    conn: AsyncConnection, store_ids: list[str] | None, month: Period, cutoff: datetime | None
) -> dict[str, Fraction]:
    """The month's targets of the additive indicators (in force now, or before `cutoff`),
    summed over the scope's stores: exact values as stored ("12", "1/3"), whole numbers
    added by the database (as numerics) on PostgreSQL, the few fractions in Python."""
    params = _target_params(store_ids, month, cutoff)
    postgres = conn.dialect.name == "postgresql"
    query = _targets_of(store_ids is not None, postgres, cutoff is not None)
    added: dict[str, Fraction] = {}
    for code, summed, fractions in await conn.execute(query, params):
        total = added.get(code, Fraction(0))
        if summed is not None:
            total += Fraction(summed)
        added[code] = total + sum((Fraction(f) for f in fractions or ()), Fraction(0))
    return added


async def _on_covered_stores(
    conn: AsyncConnection,
    store_ids: list[str] | None,
    month: Period,
    cutoff: datetime | None,
    values: dict[str, Fraction],
    window: Window,
    days: int,
) -> dict[str, Fraction]:
    """`values` (the whole scope's), with each additive indicator that only some of the
    scope's stores have a month target for worked out over those stores alone (one more
    pass of the scope's totals per distinct set of them: none when every store has its
    targets, as HQ sets them)."""
    params = _target_params(store_ids, month, cutoff)
    past = cutoff is not None
    counted = await conn.execute(_target_stores_of(store_ids is not None, past, True), params)
    scope_size = len(store_ids) if store_ids is not None else await _store_count(conn)
    partial = [code for code, count in counted if count < scope_size]
    if not partial:  # every store has its targets (as HQ sets them): one count, no more
        return values
    covered: dict[str, set[str]] = {}
    for code, store_id in await conn.execute(
        _target_stores_of(store_ids is not None, past, False), params
    ):
        if code in partial:
            covered.setdefault(code, set()).add(store_id)
    by_stores: dict[frozenset[str], list[str]] = {}
    for code, stores in covered.items():
        by_stores.setdefault(frozenset(stores), []).append(code)
    found = dict(values)
    for stores, codes in by_stores.items():
        subset = sorted(stores)
        totals = await scope_totals(conn, subset, window, month, cutoff=cutoff)
        report = await combined_in_force(conn, subset, month, cutoff)
        theirs = scope_values(totals.facts, totals.reporting, report, days)
        for code in codes:
            if code in theirs:
                found[code] = theirs[code]
            else:
                found.pop(code, None)
    return found


async def _store_count(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(model.stores)) or 0)


@functools.lru_cache(maxsize=8)
def _target_stores_of(stores: bool, past: bool, counted: bool) -> Select[Any]:
    """The month's targets of the additive indicators: (indicator, how many stores) when
    `counted`, else (indicator, store)."""
    t = targets_in_force(past).c
    columns = (t.indicator, func.count()) if counted else (t.indicator, t.store_id)
    query = _of_the_month(select(*columns), t, stores)
    return query.group_by(t.indicator) if counted else query


@functools.lru_cache(maxsize=8)
def _targets_of(stores: bool, postgres: bool, past: bool) -> Select[Any]:
    """Built once (a statement costs more to build than to run), with bind parameters:
    (indicator, sum of the whole values, the fractional ones), or elsewhere than on
    PostgreSQL each value as a row. `past`: the targets as they stood before `cutoff`."""
    t = targets_in_force(past).c
    whole = ~t.exact.contains("/")
    if postgres:
        columns = (
            func.sum(cast(t.exact, Numeric)).filter(whole),
            func.array_agg(t.exact).filter(~whole),
        )
        query = select(t.indicator, *columns).group_by(t.indicator)
    else:
        query = select(t.indicator, t.exact, literal(None))
    return _of_the_month(query, t, stores)


def _target_params(
    store_ids: list[str] | None, month: Period, cutoff: datetime | None
) -> dict[str, Any]:
    """The bind parameters of the month's target statements (`_of_the_month`)."""
    params: dict[str, Any] = {"kind": int(month.kind), "start": month.start}
    if store_ids is not None:
        params["ids"] = store_ids
    if cutoff is not None:
        params["cutoff"] = cutoff
    return params


def _of_the_month(query: Select[Any], t: Any, stores: bool) -> Select[Any]:
    """The month's targets of the additive indicators (of the scope's stores)."""
    query = query.where(
        t.period_kind == bindparam("kind", type_=Integer),
        t.period_start == bindparam("start", type_=Date),
        t.indicator.in_(_ADDITIVE),
    )
    if stores:
        query = query.where(t.store_id.in_(bindparam("ids", expanding=True)))
    return query


def _projections(
    values: dict[str, Fraction], month_targets: dict[str, Fraction], elapsed: Fraction
) -> list[MonthProjection]:
    found = []
    for code, target in sorted(month_targets.items()):
        actual = values.get(code)
        projected = projection(actual, target, elapsed) if actual is not None else None
        if projected is None:
            continue
        direction = indicators.BY_CODE[code].direction
        found.append(
            MonthProjection(code, projected, light(direction, projected.projected, target))
        )
    return found
