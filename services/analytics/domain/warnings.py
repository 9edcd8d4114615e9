"""Risk rules (智能预警): direction-aware traffic lights, streaks, declines, alarm lines.

Bounds as domain.md says them: red when the adverse deviation from target is more than
15%; yellow from 10% to 15%, both included; green below 10%. All arithmetic is exact
(Fractions), so a value exactly on a bound gets the colour written here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum
from fractions import Fraction

from services.analytics.domain.indicators import Direction, Indicator
from services.analytics.domain.periods import Period

RED_BEYOND = Fraction(15, 100)
# Weekdays a store opens (Monday 0 ... Sunday 6): every day unless told otherwise.
EVERY_DAY = frozenset(range(7))
YELLOW_FROM = Fraction(10, 100)
VEHICLES_IN_STREAK_DAYS = 3
DECLINE_PERIODS = 3


class Light(IntEnum):
    GREEN = 1
    YELLOW = 2
    RED = 3


class Rule(IntEnum):
    TARGET_DEVIATION = 1
    VEHICLES_IN_STREAK = 2
    DECLINE = 3
    ALARM_LINE = 4
    MONTH_END_PROJECTION = 5
    HOLLOW_GROWTH = 6


def adverse_deviation(direction: Direction, actual: Fraction, target: Fraction) -> Fraction | None:
    """How far `actual` is on the bad side of `target`, as a share of it (negative: better).

    None when the target is 0: no share of nothing can be taken.
    """
    if target == 0:
        return None
    deviation = (actual - target) / abs(target)
    return -deviation if direction == Direction.HIGHER_IS_BETTER else deviation


def light(direction: Direction, actual: Fraction, target: Fraction) -> Light | None:
    adverse = adverse_deviation(direction, actual, target)
    if adverse is None:
        return None
    if adverse > RED_BEYOND:
        return Light.RED
    if adverse >= YELLOW_FROM:
        return Light.YELLOW
    return Light.GREEN


@dataclass(frozen=True, slots=True, kw_only=True)
class Risk:
    """A warning found by a rule (the dashboard's risks): the data, the deviation and the
    period, and where to drill into it. Not named Warning: that is a Python builtin."""

    store_id: str
    rule: Rule
    level: Light
    indicator: str
    period: Period
    actual: Fraction
    # The target, alarm line or earlier value the actual is held against.
    reference: Fraction
    # Adverse share of the reference (0.20 is 20% on the bad side).
    deviation: Fraction

    @property
    def warning_id(self) -> str:
        """Stable across re-assessments: the same risk of the same period is one warning."""
        return f"{self.store_id}/{self.rule.name.lower()}/{self.indicator}/{self.period.key}"

    @property
    def drill_down(self) -> str:
        """The query key of the figures behind it: store, indicator, period."""
        return f"store/{self.store_id}/indicator/{self.indicator}/period/{self.period.key}"


def target_warning(
    store_id: str, indicator: Indicator, period: Period, actual: Fraction, target: Fraction
) -> Risk | None:
    colour = light(indicator.direction, actual, target)
    adverse = adverse_deviation(indicator.direction, actual, target)
    if colour is None or colour == Light.GREEN or adverse is None:
        return None
    return Risk(
        store_id=store_id,
        rule=Rule.TARGET_DEVIATION,
        level=colour,
        indicator=indicator.code,
        period=period,
        actual=actual,
        reference=target,
        deviation=adverse,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DayFigure:
    day: date
    actual: Fraction
    target: Fraction


def next_open_day(day: date, open_weekdays: frozenset[int] = EVERY_DAY) -> date:
    """The first day after `day` the store opens (the next day if it never closes)."""
    following = day + timedelta(days=1)
    if not open_weekdays:
        return following
    while following.weekday() not in open_weekdays:
        following += timedelta(days=1)
    return following


def vehicles_in_streak(
    store_id: str, days: Sequence[DayFigure], open_weekdays: frozenset[int] = EVERY_DAY
) -> Risk | None:
    """Red when the last 3 consecutive open days each had vehicles in more than 15% under
    target. A day the store is closed is neither bad nor a break: Saturday, (closed)
    Sunday, Monday are consecutive."""
    on_open_days = [d for d in days if d.day.weekday() in open_weekdays]
    last = sorted(on_open_days, key=lambda d: d.day)[-VEHICLES_IN_STREAK_DAYS:]
    if len(last) < VEHICLES_IN_STREAK_DAYS:
        return None
    if any(b.day != next_open_day(a.day, open_weekdays) for a, b in itertools.pairwise(last)):
        return None
    deviations = [adverse_deviation(Direction.HIGHER_IS_BETTER, d.actual, d.target) for d in last]
    if not all(d is not None and d > RED_BEYOND for d in deviations):
        return None
    today = last[-1]
    return Risk(
        store_id=store_id,
        rule=Rule.VEHICLES_IN_STREAK,
        level=Light.RED,
        indicator="vehicles_in",
        period=Period.day(today.day),
        actual=today.actual,
        reference=today.target,
        deviation=min(d for d in deviations if d is not None),
    )


def decline(
    store_id: str, indicator: Indicator, series: Sequence[tuple[Period, Fraction]]
) -> Risk | None:
    """Yellow when the last 3 periods each got worse than the one before (CSI 88 → 85 → 82).

    Three periods, two steps: the field's example. Worse is lower for a higher-is-better
    indicator, higher for a lower-is-better one; a flat step breaks the run.
    """
    worsening = _each_step(series, rising=indicator.direction == Direction.LOWER_IS_BETTER)
    if not worsening:
        return None
    return _over_the_periods(
        store_id, Rule.DECLINE, Light.YELLOW, indicator.code, indicator.direction, series
    )


def _each_step(series: Sequence[tuple[Period, Fraction]], rising: bool) -> bool:
    """The last 3 periods moved the same way at each step (a flat step breaks it)."""
    last = sorted(series)[-DECLINE_PERIODS:]
    if len(last) < DECLINE_PERIODS:
        return False
    return all((b[1] > a[1]) if rising else (b[1] < a[1]) for a, b in itertools.pairwise(last))


def hollow_growth(
    store_id: str,
    *,
    revenue: Sequence[tuple[Period, Fraction]],
    returning_rate: Sequence[tuple[Period, Fraction]],
    staff_turnover: Sequence[tuple[Period, Fraction]],
) -> Risk | None:
    """Red when, over the last 3 months, revenue rose at each step while the returning
    rate fell and staff turnover rose (retention fell) at each step: domain.md's "a store
    growing revenue while its returning-customer rate and staff retention fall is a red
    flag" (growth bought at the expense of the customers and people who bring it back).
    Each step, as the decline's: a flat or recovering month breaks the trend. The warning
    carries the returning rate (latest against 3 months before); its drill-down has the
    rest."""
    if not (
        _each_step(revenue, rising=True)
        and _each_step(returning_rate, rising=False)
        and _each_step(staff_turnover, rising=True)
    ):
        return None
    return _over_the_periods(
        store_id,
        Rule.HOLLOW_GROWTH,
        Light.RED,
        "returning_rate",
        Direction.HIGHER_IS_BETTER,
        returning_rate,
    )


def _over_the_periods(
    store_id: str,
    rule: Rule,
    level: Light,
    indicator: str,
    direction: Direction,
    series: Sequence[tuple[Period, Fraction]],
) -> Risk:
    """A trend's warning: the latest of the last 3 periods against the first."""
    last = sorted(series)[-DECLINE_PERIODS:]
    first, latest = last[0][1], last[-1][1]
    adverse = adverse_deviation(direction, latest, first)
    return Risk(
        store_id=store_id,
        rule=rule,
        level=level,
        indicator=indicator,
        period=last[-1][0],
        actual=latest,
        reference=first,
        deviation=adverse if adverse is not None else Fraction(0),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmLine:
    """A process line that holds whatever the target: a warning when crossed (strictly)."""

    indicator: str
    line: Fraction
    direction: Direction  # LOWER_IS_BETTER: alarm above the line


DEFAULT_ALARM_LINES: tuple[AlarmLine, ...] = (
    AlarmLine(
        indicator="complaint_rate", line=Fraction(5, 100), direction=Direction.LOWER_IS_BETTER
    ),
    AlarmLine(
        indicator="staff_turnover", line=Fraction(10, 100), direction=Direction.LOWER_IS_BETTER
    ),
    AlarmLine(indicator="cost_ratio", line=Fraction(75, 100), direction=Direction.LOWER_IS_BETTER),
    AlarmLine(
        indicator="people_cost_ratio", line=Fraction(45, 100), direction=Direction.LOWER_IS_BETTER
    ),
    AlarmLine(indicator="rent_ratio", line=Fraction(20, 100), direction=Direction.LOWER_IS_BETTER),
)


def alarm_warnings(
    store_id: str,
    period: Period,
    values: Mapping[str, Fraction],
    lines: Sequence[AlarmLine] = DEFAULT_ALARM_LINES,
) -> list[Risk]:
    found = []
    for alarm in lines:
        value = values.get(alarm.indicator)
        if value is None:
            continue
        beyond = (
            value > alarm.line
            if alarm.direction == Direction.LOWER_IS_BETTER
            else value < alarm.line
        )
        if not beyond:
            continue
        adverse = adverse_deviation(alarm.direction, value, alarm.line)
        found.append(
            Risk(
                store_id=store_id,
                rule=Rule.ALARM_LINE,
                level=Light.RED,
                indicator=alarm.indicator,
                period=period,
                actual=value,
                reference=alarm.line,
                deviation=adverse if adverse is not None else Fraction(0),
            )
        )
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Projection:
    """Month-end projection at the current pace (e.g. 88% attained at 39% of the month)."""

    actual_to_date: Fraction
    target: Fraction
    elapsed: Fraction  # share of the month done, 0 to 1

    @property
    def attained_so_far(self) -> Fraction:
        return self.actual_to_date / self.target

    @property
    def projected(self) -> Fraction:
        return self.actual_to_date / self.elapsed

    @property
    def projected_attainment(self) -> Fraction:
        return self.projected / self.target


def projection(actual_to_date: Fraction, target: Fraction, elapsed: Fraction) -> Projection | None:
    """None before any of the month is done or without a positive target."""
    if elapsed <= 0 or target <= 0:
        return None
    return Projection(
        actual_to_date=actual_to_date, target=target, elapsed=min(elapsed, Fraction(1))
    )


def projection_warning(
    store_id: str, indicator: Indicator, month: Period, projected: Projection
) -> Risk | None:
    """The traffic light of the projected month end against the month's target."""
    found = target_warning(store_id, indicator, month, projected.projected, projected.target)
    if found is None:
        return None
    return Risk(
        store_id=store_id,
        rule=Rule.MONTH_END_PROJECTION,
        level=found.level,
        indicator=found.indicator,
        period=month,
        actual=found.actual,
        reference=found.reference,
        deviation=found.deviation,
    )


def ranked(warnings: Sequence[Risk]) -> list[Risk]:
    """Most severe first: red before yellow, then the larger adverse deviation, then by id."""
    return sorted(warnings, key=lambda w: (-w.level, -w.deviation, w.warning_id))
