"""The operating dashboard (运营看板) of a store, a region or the network: the month so far,
where it ends at the current pace against its targets, and the ranked risks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from services.analytics.domain import indicators
from services.analytics.domain.assessment import month_of
from services.analytics.domain.kpis import (
    Facts,
    combined,
    indicator_values,
    new_customers,
    revenue_by_line,
    scope_indicator_values,
    technician_productivity,
    total,
)
from services.analytics.domain.operating_figures import RevenueByLine, Role
from services.analytics.domain.periods import Period
from services.analytics.domain.warnings import Light, Projection, light, projection
from services.analytics.queries_kpis import KpiQueries, Level, Scope, Window, reports_in_force
from services.analytics.queries_warnings import WarningQueries
from services.analytics.read_model import targets


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

        async def fetch(conn: AsyncConnection) -> Dashboard:
            store_ids = await self.kpis.stores_in(conn, scope)
            per_store = await self.kpis.facts_by_store(conn, store_ids, window)
            facts = total(list(per_store.values()))
            # The month's operating reports of the scope's stores, combined (one for a store).
            reports = await reports_in_force(conn, store_ids, month)
            report = combined(list(reports.values()))
            reporting = total([per_store.get(s, Facts()) for s in reports])
            days = len(window.days())
            values = scope_indicator_values(per_store, reports, days)
            month_targets = await _month_targets(conn, store_ids, month)
            csi = _csi_by_store(per_store) if scope.level != Level.STORE else {}
            return Dashboard(
                scope=scope,
                as_of=as_of,
                month=month,
                projections=_projections(values, month_targets, month.elapsed(as_of)),
                revenue=revenue_by_line(per_store, reports),
                vehicles_in=facts.vehicles_in,
                returning_customers=report.returning_customers if report else None,
                new_customers=new_customers(per_store, reports),
                technician_productivity=technician_productivity(
                    reporting.vehicles_in,
                    report.headcount_of(Role.TECHNICIAN) if report else 0,
                    days,
                ),
                csi=values.get("csi"),
                csi_highest=max(csi.items(), key=lambda kv: (kv[1], kv[0])) if csi else None,
                csi_lowest=min(csi.items(), key=lambda kv: (kv[1], kv[0])) if csi else None,
                risks=[],
            )

        found = await self.app.query(fetch)
        risks = await self.warnings.standing(scope, Light.YELLOW, "", as_of)
        return Dashboard(**{**found.__dict__, "risks": risks[:risk_limit]})


def _csi_by_store(per_store: dict[str, Facts]) -> dict[str, Fraction]:
    found = {}
    for store_id, facts in per_store.items():
        value = indicator_values(facts).get("csi")
        if value is not None:
            found[store_id] = value
    return found


async def _month_targets(
    conn: AsyncConnection, store_ids: list[str] | None, month: Period
) -> dict[str, Fraction]:
    """The month's targets of the additive indicators, summed over the scope's stores."""
    t = targets.c
    query = select(t.indicator, t.exact).where(
        t.period_kind == int(month.kind), t.period_start == month.start
    )
    if store_ids is not None:
        query = query.where(t.store_id.in_(store_ids))
    found: dict[str, list[str]] = {}
    for code, exact in await conn.execute(query):
        found.setdefault(code, []).append(exact)
    added: dict[str, Fraction] = {}
    for code, values in found.items():
        indicator = indicators.find(code)
        if indicator is not None and indicator.additive:
            added[code] = _sum_exact(values)
    return added


def _sum_exact(values: list[str]) -> Fraction:
    """Exact values as stored ("12", "1/3"): whole numbers added as integers."""
    whole, other = 0, Fraction(0)
    for value in values:
        try:
            whole += int(value)
        except ValueError:
            other += Fraction(value)
    return whole + other


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
