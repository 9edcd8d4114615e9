"""The daily close of one store: every warning rule applied to the day just ended.

- the day's indicators against the day's targets (target deviation);
- the month so far: indicators that do not add up (CSI, complaint rate) against the
  month's target as they stand, those that do (revenue, vehicles in) by their month-end
  projection at the current pace;
- vehicles in on the last 3 open days against their day targets (a day without a target
  of its own takes its month's, spread evenly over that month's open days: a store closed
  on Sundays sells its month in the other days, a closed day breaks no streak, and a
  streak runs on across a month end);
- process alarm lines on the month so far;
- on the month's last day, declines over the last 3 months, and hollow growth (revenue up
  while the returning rate and staff retention fall, 3 months in a row).

The rules assessed are named with the risks, so that the warning board clears only what
these rules no longer find (the decline stays as it was between month ends).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

from services.analytics.domain import indicators
from services.analytics.domain.periods import Period
from services.analytics.domain.warnings import (
    EVERY_DAY,
    VEHICLES_IN_STREAK_DAYS,
    AlarmLine,
    DayFigure,
    Risk,
    Rule,
    alarm_warnings,
    decline,
    hollow_growth,
    projection,
    projection_warning,
    target_warning,
    vehicles_in_streak,
)

DAILY_RULES = frozenset(
    {
        Rule.TARGET_DEVIATION,
        Rule.MONTH_END_PROJECTION,
        Rule.VEHICLES_IN_STREAK,
        Rule.ALARM_LINE,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreDay:
    """What the close of `day` looks at for one store."""

    store_id: str
    day: date
    day_values: Mapping[str, Fraction]
    day_targets: Mapping[str, Fraction]
    month_values: Mapping[str, Fraction]
    month_targets: Mapping[str, Fraction]
    # Vehicles in on the last days (the day itself included), oldest first, with the day
    # targets set for them (absent: the month's spread).
    recent_vehicles_in: Sequence[tuple[date, Fraction]]
    recent_day_targets: Mapping[date, Fraction]
    alarm_lines: Sequence[AlarmLine]
    # On a month's last day: the last months' values per indicator, oldest first.
    monthly_series: Mapping[str, Sequence[tuple[Period, Fraction]]]
    # The weekdays the store opens (Monday 0): the streak counts open days only.
    open_weekdays: frozenset[int] = EVERY_DAY
    # The vehicles-in target of each month before the day's that the last open days reach
    # into (on the 1st, the month before): a streak runs on across a month end.
    earlier_vehicles_in_targets: Mapping[Period, Fraction] = field(default_factory=dict)
    # On a month's last day: revenue of the last months, oldest first (hollow growth).
    monthly_revenue: Sequence[tuple[Period, Fraction]] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    rules: frozenset[Rule]
    risks: tuple[Risk, ...]


def month_of(day: date) -> Period:
    return Period.month(day.year, day.month)


def is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def late_close_day(period: Period, today: date) -> date | None:
    """The day to assess again when a report of `period` is recorded on `today`: the
    period's last day once the period is over (its close has run, or will never see it:
    a month's report comes after the month), else None (its own close will)."""
    if period.end > today:
        return None
    return period.end - timedelta(days=1)


def assess(s: StoreDay) -> Assessment:
    month = month_of(s.day)
    risks: list[Risk] = []
    for code, target in sorted(s.day_targets.items()):
        found = _deviation(s.store_id, code, Period.day(s.day), s.day_values, target)
        if found is not None:
            risks.append(found)
    elapsed = month.elapsed(s.day)
    for code, target in sorted(s.month_targets.items()):
        indicator = indicators.find(code)
        value = s.month_values.get(code)
        if indicator is None or value is None:
            continue
        if indicator.additive:
            projected = projection(value, target, elapsed)
            found = (
                projection_warning(s.store_id, indicator, month, projected) if projected else None
            )
        else:
            found = target_warning(s.store_id, indicator, month, value, target)
        if found is not None:
            risks.append(found)
    streak = _vehicles_in_streak(s, month)
    if streak is not None:
        risks.append(streak)
    risks.extend(alarm_warnings(s.store_id, month, s.month_values, s.alarm_lines))
    rules = DAILY_RULES
    if is_month_end(s.day):
        rules = rules | {Rule.DECLINE, Rule.HOLLOW_GROWTH}
        for code, series in sorted(s.monthly_series.items()):
            indicator = indicators.find(code)
            found = decline(s.store_id, indicator, series) if indicator is not None else None
            if found is not None:
                risks.append(found)
        hollow = hollow_growth(
            s.store_id,
            revenue=s.monthly_revenue,
            returning_rate=s.monthly_series.get("returning_rate", ()),
            staff_turnover=s.monthly_series.get("staff_turnover", ()),
        )
        if hollow is not None:
            risks.append(hollow)
    return Assessment(rules, tuple(risks))


def _deviation(
    store_id: str, code: str, period: Period, values: Mapping[str, Fraction], target: Fraction
) -> Risk | None:
    indicator = indicators.find(code)
    value = values.get(code)
    if indicator is None or value is None:
        return None
    return target_warning(store_id, indicator, period, value, target)


def open_days(period: Period, open_weekdays: frozenset[int]) -> int:
    """How many of the period's days the store opens."""
    return sum(
        1
        for n in range(period.days)
        if (period.start + timedelta(days=n)).weekday() in open_weekdays
    )


def last_open_days(day: date, open_weekdays: frozenset[int], count: int) -> list[date]:
    """The last `count` days up to `day` (itself included) the store opens, oldest first;
    fewer when it opens on none of the weeks before."""
    found: list[date] = []
    on = day
    while len(found) < count and on > day - timedelta(weeks=count + 1):
        if on.weekday() in open_weekdays:
            found.insert(0, on)
        on -= timedelta(days=1)
    return found


def _vehicles_in_streak(s: StoreDay, month: Period) -> Risk | None:
    days = []
    for on, actual in s.recent_vehicles_in[-VEHICLES_IN_STREAK_DAYS:]:
        target = s.recent_day_targets.get(on)
        if target is None:
            target = _spread_target(s, month, month_of(on))
        if target is None:
            return None
        days.append(DayFigure(day=on, actual=actual, target=target))
    return vehicles_in_streak(s.store_id, days, s.open_weekdays)


def _spread_target(s: StoreDay, month: Period, of: Period) -> Fraction | None:
    """A day's vehicles-in target from its own month's, spread over that month's open days."""
    if of == month:
        whole = s.month_targets.get("vehicles_in")
    else:
        whole = s.earlier_vehicles_in_targets.get(of)
    opened = open_days(of, s.open_weekdays)
    return whole / opened if whole is not None and opened else None
