"""Risk rules: the traffic lights at their exact bounds, streaks, declines, alarm lines,
the month-end projection and the ranking of risks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from services.analytics.domain.alarm_settings import AlarmLineSet, alarm_settings
from services.analytics.domain.indicators import BY_CODE, Direction
from services.analytics.domain.periods import Period
from services.analytics.domain.warnings import (
    DayFigure,
    Light,
    Risk,
    Rule,
    alarm_warnings,
    decline,
    hollow_growth,
    light,
    projection,
    projection_warning,
    ranked,
    target_warning,
    vehicles_in_streak,
)

UP = Direction.HIGHER_IS_BETTER
DOWN = Direction.LOWER_IS_BETTER
NOVEMBER = Period.month(2026, 11)
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
P = Fraction


@pytest.mark.parametrize(
    ("actual", "colour"),
    [
        (P(100), Light.GREEN),
        (P(9001, 100), Light.GREEN),  # 9.99% under
        (P(90), Light.YELLOW),  # exactly 10% under: yellow, the bound is included
        (P(85), Light.YELLOW),  # exactly 15% under: still yellow
        (P(8499, 100), Light.RED),  # just beyond 15%
        (P(120), Light.GREEN),  # above target is good for a higher-is-better indicator
    ],
)
def test_higher_is_better_colours_at_their_exact_bounds(actual: Fraction, colour: Light) -> None:
    assert light(UP, actual, P(100)) == colour


@pytest.mark.parametrize(
    ("actual", "colour"),
    [
        (P(100), Light.GREEN),
        (P(10999, 100), Light.GREEN),
        (P(110), Light.YELLOW),
        (P(115), Light.YELLOW),
        (P(11501, 100), Light.RED),
        (P(50), Light.GREEN),  # below target is good for a lower-is-better indicator
    ],
)
def test_lower_is_better_colours_are_mirrored(actual: Fraction, colour: Light) -> None:
    assert light(DOWN, actual, P(100)) == colour


def test_a_zero_target_gives_no_colour() -> None:
    assert light(UP, P(5), P(0)) is None


def test_a_target_warning_states_data_deviation_period_and_drill_down() -> None:
    warning = target_warning("SZ01", BY_CODE["revenue"], NOVEMBER, P(80), P(100))
    assert warning is not None
    assert warning.level == Light.RED
    assert (warning.actual, warning.reference, warning.deviation) == (P(80), P(100), P(1, 5))
    assert warning.period == NOVEMBER
    assert warning.drill_down == "store/SZ01/indicator/revenue/period/2026-11"
    assert warning.warning_id == "SZ01/target_deviation/revenue/2026-11"


def test_a_green_indicator_raises_no_warning() -> None:
    assert target_warning("SZ01", BY_CODE["revenue"], NOVEMBER, P(95), P(100)) is None


def days(start: date, *actuals: int, target: int = 20) -> list[DayFigure]:
    return [
        DayFigure(day=start + timedelta(days=n), actual=P(a), target=P(target))
        for n, a in enumerate(actuals)
    ]


MONDAY = date(2026, 11, 23)


def test_vehicles_in_more_than_15_percent_under_target_3_days_running_is_red() -> None:
    warning = vehicles_in_streak("SZ01", days(MONDAY, 16, 16, 16))
    assert warning is not None
    assert warning.level == Light.RED
    assert warning.rule == Rule.VEHICLES_IN_STREAK
    assert warning.period == Period.day(MONDAY + timedelta(days=2))
    assert warning.deviation == P(1, 5)


def test_exactly_15_percent_under_does_not_count_towards_the_streak() -> None:
    assert vehicles_in_streak("SZ01", days(MONDAY, 16, 17, 16)) is None


def test_two_bad_days_are_not_a_streak() -> None:
    assert vehicles_in_streak("SZ01", days(MONDAY, 20, 16, 16)) is None
    assert vehicles_in_streak("SZ01", days(MONDAY, 16, 16)) is None


def test_a_gap_between_days_breaks_the_streak() -> None:
    figures = days(MONDAY, 16, 16) + days(MONDAY + timedelta(days=3), 16)
    assert vehicles_in_streak("SZ01", figures) is None


def test_the_streak_looks_at_the_latest_days_in_any_order() -> None:
    figures = list(reversed(days(MONDAY, 20, 16, 16, 16)))
    assert vehicles_in_streak("SZ01", figures) is not None


def months(*values: int) -> list[tuple[Period, Fraction]]:
    return [(Period.month(2026, 8 + n), P(v)) for n, v in enumerate(values)]


def test_csi_88_85_82_is_a_decline_warning_inside_the_band() -> None:
    warning = decline("SZ01", BY_CODE["csi"], months(88, 85, 82))
    assert warning is not None
    assert warning.level == Light.YELLOW
    assert warning.rule == Rule.DECLINE
    assert warning.period == Period.month(2026, 10)
    assert (warning.actual, warning.reference) == (P(82), P(88))


def test_a_flat_step_or_a_recovery_breaks_the_decline() -> None:
    assert decline("SZ01", BY_CODE["csi"], months(88, 88, 82)) is None
    assert decline("SZ01", BY_CODE["csi"], months(85, 82, 83)) is None
    assert decline("SZ01", BY_CODE["csi"], months(85, 82)) is None


def test_a_rising_complaint_rate_is_the_decline_of_a_lower_is_better_indicator() -> None:
    rising = [(p, v / 100) for p, v in months(2, 3, 4)]
    assert decline("SZ01", BY_CODE["complaint_rate"], rising) is not None
    falling = [(p, v / 100) for p, v in months(4, 3, 2)]
    assert decline("SZ01", BY_CODE["complaint_rate"], falling) is None


@pytest.mark.parametrize(
    ("indicator", "on_the_line", "beyond"),
    [
        ("complaint_rate", P(5, 100), P(501, 10000)),
        ("staff_turnover", P(10, 100), P(1001, 10000)),
        ("cost_ratio", P(75, 100), P(7501, 10000)),
        ("people_cost_ratio", P(45, 100), P(4501, 10000)),
        ("rent_ratio", P(20, 100), P(2001, 10000)),
    ],
)
def test_the_field_alarm_lines_raise_only_when_crossed(
    indicator: str, on_the_line: Fraction, beyond: Fraction
) -> None:
    assert alarm_warnings("SZ01", NOVEMBER, {indicator: on_the_line}) == []
    [warning] = alarm_warnings("SZ01", NOVEMBER, {indicator: beyond})
    assert (warning.rule, warning.level, warning.indicator) == (
        Rule.ALARM_LINE,
        Light.RED,
        indicator,
    )
    assert warning.reference == on_the_line


def test_hq_can_move_an_alarm_line() -> None:
    moved = AlarmLineSet(
        indicator="complaint_rate", line=P(3, 100), previous_line=P(5, 100), occurred_at=NOW
    )
    lines = alarm_settings.fold([moved]).lines()
    found = alarm_warnings("SZ01", NOVEMBER, {"complaint_rate": P(4, 100)}, lines)
    assert [(w.indicator, w.reference) for w in found] == [("complaint_rate", P(3, 100))]


def test_88_percent_projected_at_39_percent_of_the_month_is_yellow() -> None:
    target = P(1_000_000_00)
    at_pace = target * P(88, 100) * P(39, 100)  # 34.32% of the month's target done so far
    projected = projection(at_pace, target, P(39, 100))
    assert projected is not None
    assert projected.attained_so_far == P(3432, 10000)
    assert projected.projected_attainment == P(88, 100)
    warning = projection_warning("SZ01", BY_CODE["revenue"], NOVEMBER, projected)
    assert warning is not None
    assert (warning.rule, warning.level, warning.deviation) == (
        Rule.MONTH_END_PROJECTION,
        Light.YELLOW,
        P(12, 100),
    )


def test_the_projection_uses_the_days_of_the_month_gone() -> None:
    elapsed = NOVEMBER.elapsed(date(2026, 11, 12))
    assert elapsed == P(12, 30)
    projected = projection(P(400), P(1000), elapsed)
    assert projected is not None
    assert projected.projected == P(1000)
    assert projection_warning("SZ01", BY_CODE["revenue"], NOVEMBER, projected) is None


def test_no_projection_before_the_month_starts() -> None:
    assert NOVEMBER.elapsed(date(2026, 10, 31)) == 0
    assert projection(P(0), P(1000), P(0)) is None


def w(store: str, level: Light, deviation: Fraction) -> Risk:
    return Risk(
        store_id=store,
        rule=Rule.TARGET_DEVIATION,
        level=level,
        indicator="revenue",
        period=NOVEMBER,
        actual=P(0),
        reference=P(0),
        deviation=deviation,
    )


def test_risks_are_ranked_red_first_then_by_deviation_then_by_id() -> None:
    risks = [
        w("A", Light.YELLOW, P(14, 100)),
        w("B", Light.RED, P(16, 100)),
        w("C", Light.RED, P(40, 100)),
        w("A2", Light.RED, P(16, 100)),
    ]
    assert [r.store_id for r in ranked(risks)] == ["C", "A2", "B", "A"]


# Hollow growth: revenue up while the returning rate and staff retention fall (domain.md:
# "a store growing revenue while its returning-customer rate and staff retention fall is a
# red flag").


def hollow(revenue: list[int], returning: list[int], turnover: list[int]) -> Risk | None:
    return hollow_growth(
        "SZ01",
        revenue=months(*revenue),
        returning_rate=[(p, v / 100) for p, v in months(*returning)],
        staff_turnover=[(p, v / 100) for p, v in months(*turnover)],
    )


def test_revenue_rising_while_returning_customers_and_staff_leave_is_a_red_flag() -> None:
    warning = hollow([800, 850, 900], [40, 36, 32], [4, 6, 8])
    assert warning is not None
    assert (warning.rule, warning.level, warning.indicator) == (
        Rule.HOLLOW_GROWTH,
        Light.RED,
        "returning_rate",
    )
    assert warning.period == Period.month(2026, 10)
    assert (warning.actual, warning.reference, warning.deviation) == (
        P(32, 100),
        P(40, 100),
        P(1, 5),
    )


@pytest.mark.parametrize(
    ("revenue", "returning", "turnover"),
    [
        ([800, 850, 850], [40, 36, 32], [4, 6, 8]),  # revenue flat for a month
        ([900, 850, 800], [40, 36, 32], [4, 6, 8]),  # revenue falling: the decline's
        ([800, 850, 900], [40, 36, 36], [4, 6, 8]),  # returning rate holds
        ([800, 850, 900], [40, 36, 32], [4, 6, 5]),  # staff turnover recovers
        ([850, 900], [36, 32], [6, 8]),  # two months are no trend
    ],
)
def test_growth_with_either_health_figure_holding_is_no_red_flag(
    revenue: list[int], returning: list[int], turnover: list[int]
) -> None:
    assert hollow(revenue, returning, turnover) is None
