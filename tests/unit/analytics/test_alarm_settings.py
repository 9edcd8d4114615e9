"""HQ's alarm lines: the field's defaults, moved or added by HQ."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from kernel.testing.scenario import Scenario
from services.analytics.domain.alarm_settings import (
    AlarmLineSet,
    AlarmSettings,
    SetAlarmLine,
    alarm_settings,
)
from services.analytics.domain.indicators import Direction
from services.analytics.domain.warnings import AlarmLine

settings: Scenario[AlarmSettings, SetAlarmLine, AlarmLineSet] = Scenario(alarm_settings)
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_the_field_lines_hold_until_hq_moves_one() -> None:
    assert [(a.indicator, a.line) for a in AlarmSettings().lines()] == [
        ("complaint_rate", Fraction(5, 100)),
        ("staff_turnover", Fraction(10, 100)),
        ("cost_ratio", Fraction(75, 100)),
        ("people_cost_ratio", Fraction(45, 100)),
        ("rent_ratio", Fraction(20, 100)),
    ]


def test_hq_moves_a_line_and_the_event_says_what_it_was() -> None:
    settings.given().when(
        SetAlarmLine(indicator="complaint_rate", line=Fraction(3, 100), at=NOW)
    ).then(
        AlarmLineSet(
            indicator="complaint_rate",
            line=Fraction(3, 100),
            previous_line=Fraction(5, 100),
            occurred_at=NOW,
        )
    )


def test_hq_adds_a_line_with_the_indicator_direction() -> None:
    added = AlarmLineSet(
        indicator="parts_fill_rate", line=Fraction(85, 100), previous_line=None, occurred_at=NOW
    )
    state = alarm_settings.fold([added])
    assert state.lines()[-1] == AlarmLine(
        indicator="parts_fill_rate", line=Fraction(85, 100), direction=Direction.HIGHER_IS_BETTER
    )


def test_setting_the_same_line_changes_nothing() -> None:
    settings.given().when(
        SetAlarmLine(indicator="rent_ratio", line=Fraction(20, 100), at=NOW)
    ).then_nothing_happens()


def test_a_line_is_a_share_on_a_known_ratio() -> None:
    settings.given().when(SetAlarmLine(indicator="revenue", line=Fraction(2), at=NOW)).then_invalid(
        "indicator", "line"
    )
