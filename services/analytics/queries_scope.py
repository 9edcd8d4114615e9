"""A scope's figures (a store, a region, the network) over a window, added up column by
column in the database: the counters of every store and of the stores with a month's
operating report in force, their new customers, the highest and lowest CSI, in one
statement; capacity and bay hours per distinct store profile, not per store.

No `Facts` is made per store: for 2,000 stores the per-store objects and their exact
additions cost far more than the database's sums (issue 12). The sums are exact: hours
are PostgreSQL numerics (each float day as the decimal it prints as, `exact_sum_of`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    Numeric,
    Select,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from kernel.codec import decimal_fraction
from services.analytics import network_model as model
from services.analytics.domain.kpis import COUNTERS, Facts, StoreShape, weekday_counts
from services.analytics.domain.operating_figures import OperatingFigures
from services.analytics.domain.periods import Period
from services.analytics.queries_as_of import month_params, month_reports
from services.analytics.read_model import reports


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


@dataclass(frozen=True)
class ScopeTotals:
    # Every store of the scope, summed.
    facts: Facts
    # The stores with an operating report in force for the month, summed (Facts() when
    # no month was asked for or no store reported).
    reporting: Facts
    # The reporting stores' vehicles in less their returning customers, store by store,
    # of the stores that counted no customer reference (domain/kpis.py `customers_split`);
    # 0 when no store reported (or no month was asked for): the caller knows from the
    # reports whether any did.
    new_customers: int
    # The reported returning customers of the reporting stores that did count references
    # (their counted ones replace them).
    counted_reported_returning: int
    # The stores' CSI (satisfaction sum / count), highest and lowest: (store, value),
    # ties to the greatest store id for the highest and the least for the lowest, as
    # `max`/`min` over (value, store id) would give.
    csi_highest: tuple[str, Fraction] | None
    csi_lowest: tuple[str, Fraction] | None

    def customers(self, report: OperatingFigures | None) -> tuple[int, int] | None:
        """(new, returning) customers of the scope, `report` the scope's stores' reports
        combined: each store's counted references if it has any, else its report's
        figure (domain/kpis.py `customers_split`, column by column); None: neither."""
        counted_new, counted_returning = (
            self.facts.new_customers_in,
            self.facts.returning_customers_in,
        )
        if not (counted_new or counted_returning) and report is None:
            return None
        reported = report.returning_customers if report is not None else 0
        returning = counted_returning + reported - self.counted_reported_returning
        return counted_new + self.new_customers, returning


FRACTIONAL = frozenset(name for name in COUNTERS if isinstance(getattr(Facts(), name), Fraction))
_NAMES = model.STORED_COUNTERS


def exact_sum_of(column: Any, postgres: bool) -> Any:
    """The sum of a float column, each value as the decimal it prints as (PostgreSQL prints
    a double as Python does, shortest first): exact, whatever order the rows are added in
    (a float sum's last digits depend on the plan). Elsewhere the float sum."""
    if postgres:
        column = cast(cast(column, Text), Numeric)
    return func.coalesce(func.sum(column), 0)


# Bind parameters: statements are built once per shape (`_Shape`) and reused, since
# building and keying a statement of ~60 columns costs more than running it.
_START, _END = bindparam("start", type_=Date), bindparam("end", type_=Date)
_LATER_END = bindparam("later_end", type_=Date)
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)


class _Counted(IntEnum):
    DAYS = 1  # the window's day rows
    MONTH = 2  # the month rows: the window is the whole month
    MONTH_LESS_LATER = 3  # the month rows less the day rows after the window


@dataclass(frozen=True)
class _Shape:
    counted: _Counted
    stores: bool  # a list of stores (False: every store)
    month: bool  # the stores with the month's report in force apart
    csi: bool  # the highest and lowest store CSI
    postgres: bool
    past: bool = False  # the reports as they stood before `cutoff` (`month_reports`)


def _day_sums(start: Any, end: Any, stores: bool, postgres: bool) -> Select[Any]:
    d = model.store_days.c
    sums = [
        exact_sum_of(d[name], postgres).label(name)
        if name in FRACTIONAL
        else cast(func.coalesce(func.sum(d[name]), 0), BigInteger).label(name)
        for name in _NAMES
    ]
    query = select(d.store_id, *sums).where(d.day >= start, d.day < end).group_by(d.store_id)
    return query.where(d.store_id.in_(_IDS)) if stores else query


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _counted_kind(window: Window) -> _Counted:
    """A window from the first of a month reads the stores' month rows, less the days
    after it when it ends before the month does and those days are fewer than its own."""
    after = (next_month(window.start) - window.end).days
    if window.start.day != 1 or after < 0 or after > (window.end - window.start).days:
        return _Counted.DAYS
    return _Counted.MONTH_LESS_LATER if after else _Counted.MONTH


def _params(
    store_ids: Sequence[str] | None,
    window: Window,
    month: Period | None = None,
    cutoff: datetime | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "start": window.start,
        "end": window.end,
        "later_end": next_month(window.start),
    }
    if store_ids is not None:
        params["ids"] = list(store_ids)
    if month is not None:
        params.update(month_params(month, cutoff))
    return params


@functools.lru_cache(maxsize=16)
def _counted(kind: _Counted, stores: bool, postgres: bool) -> Select[Any]:
    if kind == _Counted.DAYS:
        return _day_sums(_START, _END, stores, postgres)
    m = model.store_months.c
    if kind == _Counted.MONTH_LESS_LATER:
        later = _day_sums(_END, _LATER_END, stores, postgres).subquery("later")
        columns = [(m[n] - func.coalesce(later.c[n], 0)).label(n) for n in _NAMES]
        joined = model.store_months.outerjoin(later, later.c.store_id == m.store_id)
        query = select(m.store_id, *columns).select_from(joined)
    else:
        query = select(m.store_id, *(m[n] for n in _NAMES))
    query = query.where(m.month == _START)
    return query.where(m.store_id.in_(_IDS)) if stores else query


async def counted_by_store(
    conn: AsyncConnection, store_ids: Sequence[str] | None, window: Window
) -> dict[str, dict[str, Any]]:
    """Each store's stored counters summed over the window's days (`model.STORED_COUNTERS`,
    fractional ones as Decimals, or floats on SQLite), for the stores that have any."""
    query = _counted(_counted_kind(window), store_ids is not None, _postgres(conn))
    rows = await conn.execute(query, _params(store_ids, window))
    return {row[0]: dict(zip(_NAMES, row[1:], strict=True)) for row in rows}


def _postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def _reported_stores(past: bool) -> Select[Any]:
    return month_reports(past).with_only_columns(reports.c.store_id)


async def scope_totals(
    conn: AsyncConnection,
    store_ids: Sequence[str] | None,
    window: Window,
    month: Period | None = None,
    *,
    csi: bool = False,
    cutoff: datetime | None = None,
) -> ScopeTotals:
    """The scope's totals over the window (`store_ids` None: every store). `month`: split
    out the stores with that month's report in force (before `cutoff`, None: now); `csi`:
    find the highest and lowest store CSI. Three statements: the counters, planned hours
    and the rest; the store profiles grouped by shape; the few capacity overrides."""
    shape = _Shape(
        _counted_kind(window),
        store_ids is not None,
        month is not None,
        csi,
        _postgres(conn),
        month is not None and cutoff is not None,
    )
    totals, profiles, overrides = _statements(shape)
    params = _params(store_ids, window, month, cutoff)
    row = (await conn.execute(totals, params)).one()
    k = len(_NAMES)
    values = {n: _number(row[2 * i]) for i, n in enumerate(_NAMES)}
    mine = {n: _number(row[2 * i + 1]) for i, n in enumerate(_NAMES)}
    values["available_hours"] = _number(row[2 * k + 2])
    mine["available_hours"] = _number(row[2 * k + 3])
    high, low = row[2 * k + 4 :] if csi else (None, None)
    every = {"capacity": 0, "bay_hours": Fraction(0)}
    reporting = dict(every)
    rows = await conn.execute(profiles, params)
    for bays, default, factor, hours, first, reported, closed_on, n in rows:
        end = open_until(window.end, closed_on)
        _, capacity, bay_hours = _figures(bays, default, factor, hours, first, end)
        for found in (every, reporting) if reported else (every,):
            found["capacity"] += n * capacity
            found["bay_hours"] += n * bay_hours
    for bays, default, factor, hours, first, reported, closed_on, day, value in await conn.execute(
        overrides, params
    ):
        end = open_until(window.end, closed_on)
        if first <= day < end:  # the override replaces the day's default
            shape_of = _figures(bays, default, factor, hours, first, end)[0]
            for found in (every, reporting) if reported else (every,):
                found["capacity"] += value - shape_of.capacity_on(day, None)
    values.update(every)
    mine.update(reporting)
    return ScopeTotals(
        facts=Facts(**values),
        reporting=Facts(**mine) if month is not None else Facts(),
        new_customers=int(row[2 * k]),
        counted_reported_returning=int(row[2 * k + 1]),
        csi_highest=_csi_of(high, True),
        csi_lowest=_csi_of(low, False),
    )


@functools.lru_cache(maxsize=64)
def _statements(shape: _Shape) -> tuple[Select[Any], Select[Any], Select[Any]]:
    """The three statements of `scope_totals` for a shape."""
    c = _counted(shape.counted, shape.stores, shape.postgres).cte("counted")
    if shape.month:
        found = month_reports(shape.past).subquery("reported")
        source: Any = c.outerjoin(found, found.c.store_id == c.c.store_id)
        reporting: Any = found.c.store_id.is_not(None)
        returning: Any = func.coalesce(found.c.figures["returning_customers"].as_integer(), 0)
    else:
        source, reporting, returning = c, literal(False), literal(0)
    vehicles = c.c.vehicles_in
    columns = []
    for n in _NAMES:
        columns.append(_total(c.c[n], n, None).label(n))
        columns.append(_total(c.c[n], n, reporting).label(f"r_{n}"))
    # A store that counted customer references has its new and returning customers from
    # those (domain/kpis.py `customers_split`); the report's figure is the fallback.
    counted = (c.c.new_customers_in + c.c.returning_customers_in) > 0
    new = case((vehicles > returning, vehicles - returning), else_=0)
    columns.append(_sum_int(new, reporting & ~counted))
    columns.append(_sum_int(returning, reporting & counted))
    columns += _planned(shape)
    totals = select(*columns).select_from(source).subquery("totals")
    query: Select[Any] = select(totals)
    if shape.csi:
        query = select(totals, *_csi_candidates(c, shape.postgres))
    return (query, *_profile_statements(shape))


def _sum_int(value: Any, where: Any) -> Any:
    return cast(func.coalesce(func.sum(value).filter(where), 0), BigInteger)


def _total(column: Any, name: str, where: Any) -> Any:
    added = func.sum(column) if where is None else func.sum(column).filter(where)
    total = func.coalesce(added, 0)
    return total if name in FRACTIONAL else cast(total, BigInteger)


def _planned(shape: _Shape) -> list[Any]:
    """The planned hours (available hours) of the scope's shifts, all and the reporting
    stores', as two scalar subqueries."""
    h = model.shifts.c
    every = select(exact_sum_of(h.available_hours, shape.postgres)).where(
        h.day >= _START, h.day < _END
    )
    if shape.stores:
        every = every.where(h.store_id.in_(_IDS))
    if not shape.month:
        return [every.scalar_subquery(), literal(0)]
    mine = every.where(h.store_id.in_(_reported_stores(shape.past)))
    return [every.scalar_subquery(), mine.scalar_subquery()]


# A double quotient is within 2^-53 (relatively) of the exact one: every store whose CSI
# is exactly the highest (lowest) has a double within this share of the highest (lowest)
# double, so those within it are the only candidates; Python then chooses exactly.
_CSI_MARGIN = 1e-12


def _csi_candidates(c: Any, postgres: bool) -> list[Any]:
    """The stores that may have the highest and the lowest CSI (satisfaction sum / count),
    as two lists of (store, sum, count), found by their double quotients."""
    ratio = cast(c.c.satisfaction_sum, Float) / cast(c.c.satisfaction_count, Float)
    scored = (
        select(c.c.store_id, c.c.satisfaction_sum, c.c.satisfaction_count, ratio.label("ratio"))
        .where(c.c.satisfaction_count != 0)
        .cte("scored")
    )
    row = (func.json_build_array if postgres else func.json_array)(
        scored.c.store_id, scored.c.satisfaction_sum, scored.c.satisfaction_count
    )
    rows = func.json_agg(row) if postgres else func.json_group_array(row)
    found = []
    for extreme, near in ((func.max, _at_least), (func.min, _at_most)):
        bound = select(extreme(scored.c.ratio)).scalar_subquery()
        found.append(select(rows).where(near(scored.c.ratio, bound)).scalar_subquery())
    return found


def _at_least(ratio: Any, highest: Any) -> Any:
    return ratio >= highest - func.abs(highest) * _CSI_MARGIN


def _at_most(ratio: Any, lowest: Any) -> Any:
    return ratio <= lowest + func.abs(lowest) * _CSI_MARGIN


def _csi_of(candidates: Any, highest: bool) -> tuple[str, Fraction] | None:
    """The highest (lowest) CSI of the candidates, exactly: ties to the greatest (least)
    store id, as `max` (`min`) over (value, store id)."""
    if isinstance(candidates, str):  # SQLite's JSON is text
        candidates = json.loads(candidates)
    found = [(Fraction(int(s), int(n)), store) for store, s, n in candidates or ()]
    if not found:
        return None
    value, store = max(found) if highest else min(found)
    return store, value


def _profile_statements(shape: _Shape) -> tuple[Select[Any], Select[Any]]:
    """Capacity and bay hours come from the open stores' profiles: each distinct profile
    (and first open day in the window) once with its number of stores, reporting or
    not, so its figures are worked out once and multiplied; then the few overridden
    days, each with its store's profile."""
    s, d = model.stores.c, model.store_days.c
    first = case((s.opened_on > _START, s.opened_on), else_=_START)
    flag: Any = s.store_id.in_(_reported_stores(shape.past)) if shape.month else literal(False)
    hours = cast(s.open_hours, Text)
    profile = (
        s.bays,
        s.default_daily_capacity,
        s.availability_factor,
        hours,
        first,
        flag,
        s.closed_on,
    )
    open_then = open_in_window(s)
    profiles = select(*profile, func.count()).where(open_then).group_by(text("1, 2, 3, 4, 5, 6, 7"))
    overrides = (
        select(*profile, d.day, d.capacity_override)
        .join_from(model.store_days, model.stores, s.store_id == d.store_id)
        .where(
            open_then,
            d.day >= _START,
            d.day < _END,
            d.capacity_override.is_not(None),
        )
    )
    if shape.stores:
        profiles = profiles.where(s.store_id.in_(_IDS))
        overrides = overrides.where(d.store_id.in_(_IDS))
    return profiles, overrides


def open_in_window(s: Any) -> Any:
    """The stores open on some day of the window: open now, or closed on its first day
    or later (a store closed before migration 15 has no day and is left out)."""
    return or_(s.closed.is_(False), s.closed_on >= _START)


def open_until(end: date, closed_on: date | None) -> date:
    """The end of the days a store's capacity counts in a window ending `end`: through the
    day it closed."""
    return end if closed_on is None else min(end, closed_on + timedelta(days=1))


@functools.lru_cache(maxsize=8192)
def _figures(
    bays: int, default: int, factor: float, open_hours: str, first: date, end: date
) -> tuple[StoreShape, int, Fraction]:
    """A profile (its open hours as JSON text), its capacity and bay hours over
    [first, end) without overrides."""
    hours = tuple(json.loads(open_hours))
    return profile_figures(bays, default, factor, hours, weekday_counts(first, end))


@functools.lru_cache(maxsize=8192)
def profile_figures(
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
    """A database sum as `Facts` holds it: integers as integers, decimals exactly, a
    float (SQLite) as the decimal it prints as."""
    if isinstance(value, float):
        return decimal_fraction(value)
    if isinstance(value, Decimal | Fraction):
        return Fraction(value)
    return int(value)
