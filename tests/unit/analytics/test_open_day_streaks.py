"""The vehicles-in streak over a store's open days: a store closed on Sundays (the field's
Monday-to-Saturday stores) spreads its month's target over the days it opens, and its
closed Sunday neither counts as a bad day nor breaks three bad days in a row."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from services.analytics.domain.assessment import StoreDay, assess, last_open_days, open_days
from services.analytics.domain.periods import Period
from services.analytics.domain.warnings import (
    DEFAULT_ALARM_LINES,
    DayFigure,
    Light,
    Rule,
    next_open_day,
    vehicles_in_streak,
)

MONDAY_TO_SATURDAY = frozenset(range(6))
SATURDAY, SUNDAY, MONDAY = date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)
NOVEMBER = Period.month(2026, 11)
P = Fraction


def test_november_2026_has_25_days_open_monday_to_saturday() -> None:
    assert open_days(NOVEMBER, MONDAY_TO_SATURDAY) == 25
    assert open_days(NOVEMBER, frozenset(range(7))) == 30


def test_the_day_after_saturday_is_monday_for_a_store_closed_on_sunday() -> None:
    assert next_open_day(SATURDAY, MONDAY_TO_SATURDAY) == MONDAY
    assert next_open_day(SATURDAY) == SUNDAY
    assert last_open_days(MONDAY, MONDAY_TO_SATURDAY, 3) == [date(2026, 11, 20), SATURDAY, MONDAY]
    assert last_open_days(SUNDAY, MONDAY_TO_SATURDAY, 3) == [
        date(2026, 11, 19),
        date(2026, 11, 20),
        SATURDAY,
    ]


def test_saturday_closed_sunday_monday_are_three_days_in_a_row() -> None:
    bad = [DayFigure(day=d, actual=P(16), target=P(20)) for d in (date(2026, 11, 20), SATURDAY)]
    monday = DayFigure(day=MONDAY, actual=P(16), target=P(20))
    found = vehicles_in_streak("SZ01", [*bad, monday], MONDAY_TO_SATURDAY)
    assert found is not None and found.period == Period.day(MONDAY)
    # Open every day, the same three figures have a gap on Sunday: no streak.
    assert vehicles_in_streak("SZ01", [*bad, monday]) is None


def test_a_closed_sunday_with_no_vehicles_is_not_a_bad_day() -> None:
    days = [
        DayFigure(day=SATURDAY - timedelta(days=1), actual=P(20), target=P(20)),
        DayFigure(day=SATURDAY, actual=P(16), target=P(20)),
        DayFigure(day=SUNDAY, actual=P(0), target=P(20)),
        DayFigure(day=MONDAY, actual=P(16), target=P(20)),
    ]
    assert vehicles_in_streak("SZ01", days, MONDAY_TO_SATURDAY) is None


def _close(on: date, actual: int, month_target: int) -> StoreDay:
    recent = last_open_days(on, MONDAY_TO_SATURDAY, 3)
    return StoreDay(
        store_id="SZ01",
        day=on,
        day_values={},
        day_targets={},
        month_values={},
        month_targets={"vehicles_in": P(month_target)},
        recent_vehicles_in=[(d, P(actual)) for d in recent],
        recent_day_targets={},
        alarm_lines=DEFAULT_ALARM_LINES,
        monthly_series={},
        open_weekdays=MONDAY_TO_SATURDAY,
    )


def test_the_months_target_is_spread_over_the_open_days() -> None:
    # 500 vehicles over 25 open days: 20 a day. 17 is exactly 15% under (not beyond it);
    # 16 is 20% under on Friday, Saturday and Monday: red. (Spread over all 30 days, 16
    # would be 4% under 16.67 and no warning at all.)
    assert assess(_close(MONDAY, 17, 500)).risks == ()
    [streak] = assess(_close(MONDAY, 16, 500)).risks
    assert (streak.rule, streak.level, streak.reference) == (
        Rule.VEHICLES_IN_STREAK,
        Light.RED,
        P(20),
    )


def test_the_close_of_a_closed_sunday_keeps_saturdays_streak() -> None:
    saturday = assess(_close(SATURDAY, 16, 500)).risks
    sunday = assess(_close(SUNDAY, 16, 500)).risks
    assert [r.warning_id for r in sunday] == [r.warning_id for r in saturday]
    assert [r.period for r in sunday] == [Period.day(SATURDAY)]


def test_a_streak_runs_on_across_the_month_end_with_each_days_own_months_target() -> None:
    """Regression: the streak's days in the month before had no target (only the day's
    own month's was given), so three bad days over a month end were never red."""
    december_first = date(2026, 12, 1)
    recent = last_open_days(december_first, frozenset(range(7)), 3)
    close = StoreDay(
        store_id="SZ01",
        day=december_first,
        day_values={},
        day_targets={},
        month_values={},
        # 310 over December's 31 days and 300 over November's 30: 10 a day; 8 is 20% under.
        month_targets={"vehicles_in": P(310)},
        earlier_vehicles_in_targets={NOVEMBER: P(300)},
        recent_vehicles_in=[(d, P(8)) for d in recent],
        recent_day_targets={},
        alarm_lines=DEFAULT_ALARM_LINES,
        monthly_series={},
    )
    [streak] = assess(close).risks
    assert (streak.rule, streak.level, streak.period) == (
        Rule.VEHICLES_IN_STREAK,
        Light.RED,
        Period.day(december_first),
    )
    # Without November's target nothing is known of its days: no streak is claimed.
    without = StoreDay(**{**_fields(close), "earlier_vehicles_in_targets": {}})
    assert assess(without).risks == ()


def _fields(close: StoreDay) -> dict[str, object]:
    return {name: getattr(close, name) for name in StoreDay.__dataclass_fields__}
