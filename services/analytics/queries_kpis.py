"""KPI of a store, a region or the network over a period up to `as_of`, from the projected
facts (network_model) and, for one store's month, its operating report in force."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from enum import IntEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import Date, Select, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application
from kernel.clock import end_of_business_day
from kernel.codec import decimal_fraction, from_json
from services.analytics import network_model as model
from services.analytics.domain.kpis import (
    COUNTERS,
    SECONDS_PER_MINUTE,
    Facts,
    combined,
    indicator_values,
    scope_values,
    weekday_counts,
)
from services.analytics.domain.operating_figures import (
    Costs,
    OperatingFigures,
    RevenueByLine,
    Role,
    Staffing,
)
from services.analytics.domain.operating_reports import REPORTED_KINDS
from services.analytics.domain.periods import Period
from services.analytics.queries_as_of import REPORTS_BEFORE_CUTOFF, month_params, month_reports
from services.analytics.queries_scope import Window as Window
from services.analytics.queries_scope import (
    counted_by_store,
    exact_sum_of,
    open_in_window,
    open_until,
    profile_figures,
    scope_totals,
)

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
    # Each store's counted customer references if any, else its report's returning
    # customers and its vehicles in less those (domain/kpis.py `customers_split`).
    returning_customers: int | None
    new_customers: int | None
    facts: Facts


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

    def cutoff(self, as_of: date) -> datetime | None:
        """Where analytics' own facts as they stood at the end of `as_of` stop: the start
        of the next business day; None for today or later (what is in force now)."""
        clock = self.app.clock
        if as_of >= clock.business_day(clock.now()):
            return None
        return end_of_business_day(clock, as_of)

    async def kpis(self, scope: Scope, period: Period, as_of: date) -> Kpis:
        window = Window.of(period, as_of)
        cutoff = self.cutoff(as_of)

        async def fetch(conn: AsyncConnection) -> Kpis:
            store_ids = await self.stores_in(conn, scope)
            # A DMS reports a day or a month: the period's reports count as they do in the
            # daily close, the drill-down and the comparisons.
            reported = period if period.kind in REPORTED_KINDS else None
            totals = await scope_totals(conn, store_ids, window, reported, cutoff=cutoff)
            # The period's operating reports of the scope's stores, combined; a store's own
            # report as it is (its extra figures are its own, not added up over stores).
            report = None
            if reported is not None and scope.level == Level.STORE:
                report = await _report_in_force(conn, scope.id, reported, cutoff)
            elif reported is not None:
                report = await combined_in_force(conn, store_ids, reported, cutoff)
            p90 = await _response_minutes_p90(conn, store_ids, window)
            days = len(window.days())
            if scope.level == Level.STORE:
                values = indicator_values(totals.facts, report, days)
            else:
                values = scope_values(totals.facts, totals.reporting, report, days)
            stale = await model.stale_total(conn, store_ids, window.start, window.end)
            if stale is not None:  # each store's last valued day of the period, summed
                values["stale_stock_value"] = Fraction(stale)
            customers = totals.customers(report)
            return Kpis(
                scope=scope,
                period=period,
                as_of=as_of,
                values=values,
                response_minutes_p90=p90,
                new_customers=customers[0] if customers else None,
                returning_customers=customers[1] if customers else None,
                facts=totals.facts,
            )

        return await self.app.query(fetch)

    async def facts(
        self, conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
    ) -> Facts:
        """The counters summed over the stores and days, with the day-derived denominators
        (capacity, bay hours, planned hours), added up in the database (`scope_totals`)."""
        return (await scope_totals(conn, store_ids, window)).facts

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
        ones as Decimals, or floats on SQLite)."""
        return await counted_by_store(conn, store_ids, window)

    async def derived_by_store(
        self, conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
    ) -> dict[str, dict[str, Any]]:
        """Each store's capacity and bay hours over the window (from its profile and the
        days' overrides) and its planned hours. A profile's figures per weekday are worked
        out once (`profile_figures`): a call adds up weekdays, not days."""
        s, d, h = model.stores.c, model.store_days.c, model.shifts.c
        profiles = select(
            s.store_id,
            s.bays,
            s.default_daily_capacity,
            s.availability_factor,
            s.open_hours,
            s.opened_on,
            s.closed_on,
        ).where(open_in_window(s))
        overrides = select(d.store_id, d.day, d.capacity_override).where(
            d.day >= window.start, d.day < window.end, d.capacity_override.is_not(None)
        )
        planned = (
            select(h.store_id, exact_sum_of(h.available_hours, conn.dialect.name == "postgresql"))
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
        counts: dict[tuple[date, date], tuple[int, ...]] = {}
        rows = await conn.execute(profiles, {"start": window.start})
        for store_id, bays, default, factor, hours, opened, closed_on in rows:
            first = window.start if opened is None else max(window.start, opened)
            end = open_until(window.end, closed_on)
            weekdays = counts.get((first, end))
            if weekdays is None:
                weekdays = counts[first, end] = weekday_counts(first, end)
            shape, capacity, bay_hours = profile_figures(
                bays, default, factor, tuple(hours), weekdays
            )
            for day, value in override.get(store_id, ()):
                if first <= day < end:  # the override replaces the day's default
                    capacity += value - shape.capacity_on(day, None)
            derived[store_id] = {"capacity": capacity, "bay_hours": bay_hours}
        for store_id, hours in await conn.execute(planned):
            derived.setdefault(store_id, {})["available_hours"] = hours
        return derived

    async def report(
        self, store_id: str, month: Period, as_of: date | None = None
    ) -> OperatingFigures | None:
        cutoff = None if as_of is None else self.cutoff(as_of)
        return await self.app.query(lambda conn: _report_in_force(conn, store_id, month, cutoff))


async def _report_in_force(
    conn: AsyncConnection, store_id: str, month: Period, cutoff: datetime | None = None
) -> OperatingFigures | None:
    """The store's report in force for the period before `cutoff` (None: now)."""
    found = await reports_in_force(conn, [store_id], month, cutoff)
    return found.get(store_id)


async def reports_in_force(
    conn: AsyncConnection,
    store_ids: Sequence[str] | None,
    month: Period,
    cutoff: datetime | None = None,
) -> dict[str, OperatingFigures]:
    """The period's operating report in force of each of the stores (None: every store),
    as they stood before `cutoff` (None: now, `KpiQueries.cutoff`)."""
    query = month_reports(cutoff is not None)
    if store_ids is not None:
        query = query.where(query.selected_columns.store_id.in_(list(store_ids)))
    rows = await conn.execute(query, month_params(month, cutoff))
    return {store_id: from_json(raw, OperatingFigures) for store_id, raw, _ in rows}


# The month's reports in force of a scope combined as domain/kpis.py `combined` does, in
# PostgreSQL: money, floor area, complaints and returning customers summed, staffing
# summed by role, and CSI and NPS counted by value (a few hundred distinct scores for
# 2,000 stores) for their exact means. One statement, whatever the number of stores; each
# report parsed once (jsonb: a json value is parsed again at each `->`).
_COMBINED = """
WITH r AS (
  SELECT figures::jsonb AS figures FROM analytics_reports AS a
  WHERE period_kind = :kind AND period_start = :start AND {current} {stores}
)
SELECT
  (SELECT count(*) FROM r),
  {sums},
  (SELECT json_agg(json_build_array(role, headcount, leavers)) FROM (
    SELECT (s->>'role')::int AS role,
           sum(coalesce((s->>'headcount')::bigint, 0)) AS headcount,
           sum(coalesce((s->>'leavers')::bigint, 0)) AS leavers
    FROM r, jsonb_array_elements(coalesce(r.figures->'staffing', '[]'::jsonb)) AS s
    GROUP BY 1) AS staffing),
  (SELECT json_agg(json_build_array(v, n)) FROM (
    SELECT figures->>'csi' AS v, count(*) AS n FROM r GROUP BY 1) AS csi),
  (SELECT json_agg(json_build_array(v, n)) FROM (
    SELECT figures->>'nps' AS v, count(*) AS n FROM r GROUP BY 1) AS nps)
FROM r
"""
# Each summed figure: its key in `OperatingFigures`' JSON, and where PostgreSQL finds it.
_SUMMED: dict[tuple[str, ...], str] = {
    **{("revenue", f.name): f"figures->'revenue'->>'{f.name}'" for f in fields(RevenueByLine)},
    **{("costs", f.name): f"figures->'costs'->>'{f.name}'" for f in fields(Costs)},
    **{(n,): f"figures->>'{n}'" for n in ("floor_area_m2", "complaints", "returning_customers")},
}
_SUMS = ",\n  ".join(f"coalesce(sum(({path})::bigint), 0)" for path in _SUMMED.values())
# Which reports: in force now, or as they stood before :cutoff (`month_reports`).
_CURRENT = {False: "in_force", True: REPORTS_BEFORE_CUTOFF}
_COMBINED_OF = {
    (stores, past): text(
        _COMBINED.format(
            sums=_SUMS,
            current=_CURRENT[past],
            stores="AND store_id = ANY(:ids)" if stores else "",
        )
    )
    for stores in (False, True)
    for past in (False, True)
}


async def combined_in_force(
    conn: AsyncConnection,
    store_ids: Sequence[str] | None,
    month: Period,
    cutoff: datetime | None = None,
) -> OperatingFigures | None:
    """`combined` of the month's operating reports in force of the stores (None: every
    store) before `cutoff` (None: now): in the database on PostgreSQL, without decoding a
    report per store."""
    if conn.dialect.name != "postgresql":
        found = await reports_in_force(conn, store_ids, month, cutoff)
        return combined([found[s] for s in sorted(found)])
    query = _COMBINED_OF[store_ids is not None, cutoff is not None]
    params: dict[str, Any] = {"kind": int(month.kind), "start": month.start}
    if store_ids is not None:
        params["ids"] = list(store_ids)
    if cutoff is not None:
        params["cutoff"] = cutoff
    row = (await conn.execute(query, params)).one()
    if not row[0]:
        return None
    total = dict(zip(_SUMMED, (int(v) for v in row[1 : 1 + len(_SUMMED)]), strict=True))
    staffing, csi, nps = row[1 + len(_SUMMED) :]
    return OperatingFigures(
        revenue=RevenueByLine(**{f.name: total["revenue", f.name] for f in fields(RevenueByLine)}),
        costs=Costs(**{f.name: total["costs", f.name] for f in fields(Costs)}),
        staffing=tuple(
            Staffing(role=Role(role), headcount=int(h), leavers=int(left))
            for role, h, left in sorted(staffing or ())
        ),
        floor_area_m2=total[("floor_area_m2",)],
        csi=_mean(csi or ()),
        nps=_mean(nps or ()),
        complaints=total[("complaints",)],
        returning_customers=total[("returning_customers",)],
    )


def _mean(counted: Sequence[tuple[str | None, int]]) -> Fraction | None:
    """The mean of exact values ("883/10") given with how many stores reported each."""
    values = [(Fraction(v), n) for v, n in counted if v is not None]
    count = sum(n for _, n in values)
    return sum((v * n for v, n in values), Fraction(0)) / count if count else None


async def _response_minutes_p90(
    conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
) -> Fraction | None:
    """The transfers' response time p90 in minutes, as domain/kpis.py `percentile` takes
    it (nearest rank: the ceil(9n/10)-th smallest), picked by the database rather than
    every transfer of the network read."""
    params: dict[str, Any] = {"start": window.start, "end": window.end}
    if store_ids is not None:
        params["ids"] = list(store_ids)
    query = _response_seconds_p90(store_ids is not None)
    seconds = (await conn.execute(query, params)).scalar()
    return None if seconds is None else Fraction(int(seconds), SECONDS_PER_MINUTE)


@functools.lru_cache(maxsize=2)
def _response_seconds_p90(stores: bool) -> Select[Any]:
    t = model.transfers.c
    ranked = select(
        t.response_seconds,
        func.row_number().over(order_by=t.response_seconds).label("rank"),
        func.count().over().label("n"),
    ).where(
        t.completed_day >= bindparam("start", type_=Date),
        t.completed_day < bindparam("end", type_=Date),
        t.response_seconds.is_not(None),
    )
    if stores:
        ranked = ranked.where(t.requesting_store_id.in_(bindparam("ids", expanding=True)))
    r = ranked.subquery()
    share, whole = P90.numerator, P90.denominator
    return select(r.c.response_seconds).where(r.c.rank == (r.c.n * share + whole - 1) // whole)


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return decimal_fraction(value)
    if isinstance(value, Decimal | Fraction):
        return Fraction(value)
    return int(value)
