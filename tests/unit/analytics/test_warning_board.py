"""The warning board: raise what is new or changed colour, clear what was not found again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from fractions import Fraction

from kernel.testing.scenario import Scenario
from services.analytics.domain.periods import Period
from services.analytics.domain.warning_board import (
    AssessWarnings,
    WarningBoard,
    WarningCleared,
    WarningEvent,
    WarningRaised,
    reassessed,
    warning_board,
)
from services.analytics.domain.warnings import Light, Risk, Rule

board: Scenario[WarningBoard, AssessWarnings, WarningEvent] = Scenario(warning_board)
NOW = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
NOVEMBER = Period.month(2026, 11)
TARGETS = frozenset({Rule.TARGET_DEVIATION})


def revenue_warning(level: Light, deviation: Fraction) -> Risk:
    return Risk(
        store_id="SZ01",
        rule=Rule.TARGET_DEVIATION,
        level=level,
        indicator="revenue",
        period=NOVEMBER,
        actual=100 * (1 - deviation),
        reference=Fraction(100),
        deviation=deviation,
    )


def raised(warning: Risk) -> WarningRaised:
    return WarningRaised(
        store_id=warning.store_id,
        warning_id=warning.warning_id,
        rule=warning.rule,
        level=warning.level,
        indicator=warning.indicator,
        period=warning.period,
        actual=warning.actual,
        reference=warning.reference,
        deviation=warning.deviation,
        drill_down=warning.drill_down,
        occurred_at=NOW,
    )


YELLOW = revenue_warning(Light.YELLOW, Fraction(12, 100))
RED = revenue_warning(Light.RED, Fraction(20, 100))


def test_a_new_warning_is_raised_with_its_data_and_drill_down() -> None:
    board.given().when(
        AssessWarnings(store_id="SZ01", rules=TARGETS, found=(YELLOW,), at=NOW)
    ).then(raised(YELLOW))


def test_a_warning_found_again_in_the_same_colour_is_not_raised_twice() -> None:
    board.given(raised(YELLOW)).when(
        AssessWarnings(store_id="SZ01", rules=TARGETS, found=(YELLOW,), at=NOW)
    ).then_nothing_happens()


def test_a_warning_turning_red_is_raised_again() -> None:
    board.given(raised(YELLOW)).when(
        AssessWarnings(store_id="SZ01", rules=TARGETS, found=(RED,), at=NOW)
    ).then(raised(RED))


def test_a_warning_no_longer_found_is_cleared() -> None:
    board.given(raised(YELLOW)).when(
        AssessWarnings(store_id="SZ01", rules=TARGETS, found=(), at=NOW)
    ).then(
        WarningCleared(
            store_id="SZ01",
            warning_id=YELLOW.warning_id,
            rule=Rule.TARGET_DEVIATION,
            indicator="revenue",
            period=NOVEMBER,
            occurred_at=NOW,
        )
    )


def test_an_assessment_of_other_rules_leaves_the_warning_alone() -> None:
    board.given(raised(YELLOW)).when(
        AssessWarnings(
            store_id="SZ01", rules=frozenset({Rule.VEHICLES_IN_STREAK}), found=(), at=NOW
        )
    ).then_nothing_happens()


def test_a_warning_of_another_store_or_rule_is_malformed() -> None:
    board.given().when(
        AssessWarnings(
            store_id="GZ01",
            rules=frozenset({Rule.DECLINE}),
            found=(YELLOW,),
            at=NOW,
        )
    ).then_invalid("found[0].store_id", "found[0].rule")


def test_an_assessment_decides_again_the_day_its_month_and_nothing_later() -> None:
    nov_30 = date(2026, 11, 30)
    assert reassessed(Period.day(date(2026, 11, 29)), nov_30)  # yesterday's day warning
    assert reassessed(NOVEMBER, nov_30)
    assert not reassessed(Period.day(date(2026, 12, 1)), nov_30)  # a later day
    assert not reassessed(Period.month(2026, 12), nov_30)  # a later month


def test_last_months_warnings_stay_through_this_month_and_older_ones_retire() -> None:
    assert not reassessed(NOVEMBER, date(2026, 12, 1))
    assert not reassessed(NOVEMBER, date(2026, 12, 31))
    assert reassessed(NOVEMBER, date(2027, 1, 1))
    assert reassessed(Period.month(2026, 10), date(2026, 12, 1))


def test_a_later_close_keeps_last_months_warning_a_past_days_keeps_later_ones() -> None:
    december = replace(RED, period=Period.month(2026, 12))
    board.given(raised(RED), raised(december)).when(
        AssessWarnings(store_id="SZ01", rules=TARGETS, found=(), at=NOW, day=date(2026, 12, 2))
    ).then(
        WarningCleared(
            store_id="SZ01",
            warning_id=december.warning_id,
            rule=Rule.TARGET_DEVIATION,
            indicator="revenue",
            period=Period.month(2026, 12),
            occurred_at=NOW,
        )
    )
    board.given(raised(RED), raised(december)).when(
        AssessWarnings(store_id="SZ01", rules=TARGETS, found=(RED,), at=NOW, day=date(2026, 11, 30))
    ).then()
