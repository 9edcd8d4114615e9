"""Targets: the seasonality split sums to the year exactly; targets per store, indicator, period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

import pytest

from kernel.errors import InvalidArgument
from kernel.testing.scenario import Scenario
from services.analytics.domain import reasons
from services.analytics.domain.indicators import Direction
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.domain.targets import (
    SetTarget,
    SetYearlyTarget,
    TargetCommand,
    Targets,
    TargetSet,
    attainment,
    seasonality_weights,
    split_yearly,
    target,
)

targets: Scenario[Targets, TargetCommand, TargetSet] = Scenario(target)
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
P = Fraction


def test_the_spring_festival_month_is_13_percent_lower_by_default() -> None:
    weights = seasonality_weights(2)
    assert weights[1] == P(87, 100)
    assert [w for n, w in enumerate(weights) if n != 1] == [1] * 11


@pytest.mark.parametrize("dip", [P(10, 100), P(15, 100)])
def test_the_dip_may_be_anywhere_from_10_to_15_percent_inclusive(dip: Fraction) -> None:
    assert seasonality_weights(1, dip)[0] == 1 - dip


def test_a_dip_outside_the_field_range_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        seasonality_weights(1, P(9, 100))
    with pytest.raises(InvalidArgument):
        seasonality_weights(13)


def test_a_yearly_target_split_by_seasonality_sums_to_the_year_exactly_in_fen() -> None:
    total = 12_000_000_00 + 7  # 12 M CNY and 7 fen that do not divide evenly
    months = split_yearly(total, seasonality_weights(2))
    assert sum(months) == total
    assert months[1] < months[0]
    # Each month is within one fen of its exact share.
    whole = sum(seasonality_weights(2))
    for share, weight in zip(months, seasonality_weights(2), strict=True):
        assert abs(share - total * weight / whole) < 1


def test_left_over_fen_go_to_the_largest_remainders_and_on_a_tie_to_the_earlier_month() -> None:
    assert split_yearly(14, [P(1)] * 12) == (2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)


def test_setting_a_yearly_target_sets_the_year_and_its_twelve_months() -> None:
    events = (
        targets.given()
        .when(
            SetYearlyTarget(
                store_id="SZ01",
                indicator="revenue",
                year=2027,
                total=12_000_000_00,
                weights=seasonality_weights(2),
                store_known=True,
                at=NOW,
            )
        )
        .events
    )
    assert [e.period for e in events] == [Period.year(2027), *Period.year(2027).months()]
    assert sum(e.value for e in events[1:]) == 12_000_000_00
    assert all(e.previous_value is None for e in events)


def test_a_month_set_by_hand_replaces_the_split_and_says_what_it_was() -> None:
    earlier = TargetSet(
        store_id="SZ01",
        indicator="revenue",
        period=Period.month(2027, 2),
        value=P(870_000_00),
        previous_value=None,
        occurred_at=NOW,
    )
    targets.given(earlier).when(
        SetTarget(
            store_id="SZ01",
            indicator="revenue",
            period=Period.month(2027, 2),
            value=P(850_000_00),
            store_known=True,
            at=NOW,
        )
    ).then(
        TargetSet(
            store_id="SZ01",
            indicator="revenue",
            period=Period.month(2027, 2),
            value=P(850_000_00),
            previous_value=P(870_000_00),
            occurred_at=NOW,
        )
    )


def test_setting_the_same_target_again_changes_nothing() -> None:
    earlier = TargetSet(
        store_id="SZ01",
        indicator="csi",
        period=Period.month(2027, 2),
        value=P(90),
        previous_value=None,
        occurred_at=NOW,
    )
    command = SetTarget(
        store_id="SZ01",
        indicator="csi",
        period=Period.month(2027, 2),
        value=P(90),
        store_known=True,
        at=NOW,
    )
    targets.given(earlier).when(command).then_nothing_happens()


def test_a_ratio_cannot_be_split_over_months() -> None:
    targets.given().when(
        SetYearlyTarget(
            store_id="SZ01",
            indicator="csi",
            year=2027,
            total=90,
            weights=seasonality_weights(2),
            store_known=True,
            at=NOW,
        )
    ).then_refused(reasons.INDICATOR_NOT_ADDITIVE)


def test_an_unknown_store_is_refused() -> None:
    targets.given().when(
        SetTarget(
            store_id="XX99",
            indicator="revenue",
            period=Period.month(2027, 1),
            value=P(1),
            store_known=False,
            at=NOW,
        )
    ).then_refused(reasons.UNKNOWN_STORE)


def test_an_unknown_indicator_negative_money_and_a_broken_period_are_named_at_once() -> None:
    targets.given().when(
        SetTarget(
            store_id="SZ01",
            indicator="happiness",
            period=Period(PeriodKind.MONTH, date(2027, 1, 2)),
            value=P(-1),
            store_known=True,
            at=NOW,
        )
    ).then_invalid("indicator", "period.start")
    targets.given().when(
        SetTarget(
            store_id="SZ01",
            indicator="revenue",
            period=Period.month(2027, 1),
            value=P(-1, 2),
            store_known=True,
            at=NOW,
        )
    ).then_invalid("value", "value")


def test_attainment_is_direction_aware() -> None:
    assert attainment(Direction.HIGHER_IS_BETTER, P(88), P(100)) == P(88, 100)
    assert attainment(Direction.LOWER_IS_BETTER, P(8, 100), P(5, 100)) == P(5, 8)
    assert attainment(Direction.LOWER_IS_BETTER, P(0), P(5, 100)) == 1


@pytest.mark.parametrize("spring_festival_month", [1, 2])
@pytest.mark.parametrize("total", [0, 1, 11, 13, 999_999_99, 12_345_678_91])
def test_the_split_always_sums_to_the_year_and_keeps_the_festival_month_lowest(
    spring_festival_month: int, total: int
) -> None:
    months = split_yearly(total, seasonality_weights(spring_festival_month, P(10, 100)))
    assert sum(months) == total
    assert all(m >= 0 for m in months)
    if total >= 100:
        assert months[spring_festival_month - 1] == min(months)
