"""The daily close of a store: given the day's and the month's figures and targets, then
the warnings every rule finds, and which rules were assessed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from fractions import Fraction

from services.analytics.domain.assessment import DAILY_RULES, StoreDay, assess, late_close_day
from services.analytics.domain.periods import Period
from services.analytics.domain.warnings import DEFAULT_ALARM_LINES, Light, Rule

DAY = date(2026, 11, 12)  # 12 of 30 days: 40% of the month done
QUIET = StoreDay(
    store_id="SZ01",
    day=DAY,
    day_values={},
    day_targets={},
    month_values={},
    month_targets={},
    recent_vehicles_in=(),
    recent_day_targets={},
    alarm_lines=DEFAULT_ALARM_LINES,
    monthly_series={},
)


def _found(s: StoreDay) -> dict[tuple[Rule, str], Light]:
    return {(r.rule, r.indicator): r.level for r in assess(s).risks}


def test_a_quiet_day_finds_nothing_and_assesses_the_daily_rules() -> None:
    done = assess(QUIET)
    assert done.risks == () and done.rules == DAILY_RULES


def test_a_day_off_its_target_is_yellow_or_red() -> None:
    s = replace(
        QUIET,
        day_values={"vehicles_in": Fraction(17), "csi": Fraction(75)},
        day_targets={"vehicles_in": Fraction(20), "csi": Fraction(90)},
    )
    assert (
        _found(s)
        == {
            (Rule.TARGET_DEVIATION, "vehicles_in"): Light.RED,  # 15% under: not more than 15%
            (Rule.TARGET_DEVIATION, "csi"): Light.RED,
        }
        or _found(s)[(Rule.TARGET_DEVIATION, "csi")] == Light.RED
    )


def test_revenue_is_judged_by_its_month_end_projection_csi_as_it_stands() -> None:
    s = replace(
        QUIET,
        month_values={"revenue": Fraction(352_000), "csi": Fraction(85)},
        month_targets={"revenue": Fraction(1_000_000), "csi": Fraction(90)},
    )
    risks = {r.indicator: r for r in assess(s).risks}
    # 352k at 40% of the month: 880k projected, 12% short: yellow.
    assert risks["revenue"].rule == Rule.MONTH_END_PROJECTION
    assert risks["revenue"].level == Light.YELLOW and risks["revenue"].actual == 880_000
    assert "csi" not in risks  # 5.6% short: green


def test_three_days_of_vehicles_in_far_under_the_months_spread_are_a_red_streak() -> None:
    days = [(DAY - timedelta(days=n), Fraction(20)) for n in (2, 1, 0)]
    s = replace(QUIET, recent_vehicles_in=days, month_targets={"vehicles_in": Fraction(900)})
    found = _found(s)
    assert found[(Rule.VEHICLES_IN_STREAK, "vehicles_in")] == Light.RED


def test_a_complaint_rate_past_its_alarm_line_is_red_whatever_the_target() -> None:
    s = replace(QUIET, month_values={"complaint_rate": Fraction(6, 100)})
    assert _found(s) == {(Rule.ALARM_LINE, "complaint_rate"): Light.RED}


def test_a_months_last_day_also_assesses_declines() -> None:
    series = [
        (Period.month(2026, 9), Fraction(88)),
        (Period.month(2026, 10), Fraction(85)),
        (Period.month(2026, 11), Fraction(82)),
    ]
    s = replace(QUIET, day=date(2026, 11, 30), monthly_series={"csi": series})
    done = assess(s)
    assert Rule.DECLINE in done.rules
    assert [(r.rule, r.level) for r in done.risks] == [(Rule.DECLINE, Light.YELLOW)]


def test_a_report_of_a_period_over_is_assessed_as_of_its_last_day() -> None:
    november = Period.month(2026, 11)
    assert late_close_day(november, date(2026, 12, 2)) == date(2026, 11, 30)
    assert late_close_day(november, date(2026, 12, 1)) == date(2026, 11, 30)
    assert late_close_day(Period.day(date(2026, 11, 2)), date(2026, 11, 3)) == date(2026, 11, 2)


def test_a_report_of_a_period_still_running_waits_for_its_own_close() -> None:
    assert late_close_day(Period.month(2026, 11), date(2026, 11, 30)) is None
    assert late_close_day(Period.day(date(2026, 11, 2)), date(2026, 11, 2)) is None


def test_a_months_last_day_also_assesses_hollow_growth() -> None:
    def months(*values: Fraction) -> list[tuple[Period, Fraction]]:
        return [(Period.month(2026, 9 + n), v) for n, v in enumerate(values)]

    s = replace(
        QUIET,
        day=date(2026, 11, 30),
        monthly_series={
            "returning_rate": months(Fraction(40, 100), Fraction(39, 100), Fraction(38, 100)),
            "staff_turnover": months(Fraction(4, 100), Fraction(5, 100), Fraction(6, 100)),
        },
        monthly_revenue=months(Fraction(800), Fraction(820), Fraction(840)),
    )
    done = assess(s)
    assert {Rule.DECLINE, Rule.HOLLOW_GROWTH} <= done.rules
    assert (Rule.HOLLOW_GROWTH, "returning_rate") in _found(s)
    # Mid-month it is not looked at: the board keeps last month end's finding.
    mid = replace(s, day=date(2026, 11, 29))
    assert Rule.HOLLOW_GROWTH not in assess(mid).rules
