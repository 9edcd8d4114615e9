"""HQ's customer lifetime value: set from a day on, a week valued at the value in force on
its last day, never set for a day already past."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kernel.testing.scenario import Scenario
from services.analytics.domain import reasons
from services.analytics.domain.lifetime_value import (
    MAX_CUSTOMER_LIFETIME_VALUE_FEN,
    CustomerLifetimeValueSet,
    LifetimeValues,
    SetCustomerLifetimeValue,
    lifetime_values,
)
from services.analytics.domain.periods import Period
from services.analytics.domain.weekly_report import CUSTOMER_LIFETIME_VALUE_FEN

values: Scenario[LifetimeValues, SetCustomerLifetimeValue, CustomerLifetimeValueSet] = Scenario(
    lifetime_values
)
TODAY = date(2026, 11, 9)  # a Monday
NOW = datetime(2026, 11, 9, 2, 0, tzinfo=UTC)


def _set(value_fen: int, effective_from: date, at: datetime = NOW) -> CustomerLifetimeValueSet:
    previous = CUSTOMER_LIFETIME_VALUE_FEN
    return CustomerLifetimeValueSet(
        value_fen=value_fen,
        effective_from=effective_from,
        previous_value_fen=previous,
        occurred_at=at,
    )


def _command(value_fen: int, effective_from: date | None = None) -> SetCustomerLifetimeValue:
    return SetCustomerLifetimeValue(
        value_fen=value_fen, effective_from=effective_from, today=TODAY, at=NOW
    )


def test_the_field_value_holds_until_hq_sets_one() -> None:
    state = LifetimeValues()
    assert state.value_on(TODAY) == CUSTOMER_LIFETIME_VALUE_FEN == 80_000_00
    assert state.for_week(Period.week_of(TODAY)) == 80_000_00
    assert state.in_force(TODAY) is None


def test_hq_sets_a_value_from_today_by_default_and_the_event_says_what_it_was() -> None:
    values.given().when(_command(100_000_00)).then(
        CustomerLifetimeValueSet(
            value_fen=100_000_00,
            effective_from=TODAY,
            previous_value_fen=80_000_00,
            occurred_at=NOW,
        )
    )


def test_a_week_is_valued_at_the_value_in_force_on_its_sunday() -> None:
    wednesday = date(2026, 11, 11)
    state = lifetime_values.fold([_set(100_000_00, wednesday)])
    this_week = Period.week_of(wednesday)
    last_week = Period.week_of(TODAY - timedelta(days=1))
    # Every day of the week the change took effect in is worth the new value: its Sunday's.
    assert state.for_week(this_week) == 100_000_00
    assert state.value_on(wednesday - timedelta(days=1)) == 80_000_00
    assert state.for_week(last_week) == 80_000_00
    assert state.for_week(Period.week_of(date(2027, 3, 1))) == 100_000_00


def test_a_week_is_valued_at_its_sundays_value_even_when_a_change_follows_the_next_monday() -> None:
    sunday = date(2026, 11, 15)
    state = lifetime_values.fold(
        [_set(90_000_00, date(2026, 11, 10)), _set(120_000_00, sunday + timedelta(days=1))]
    )
    assert state.for_week(Period.week_of(sunday)) == 90_000_00
    assert state.for_week(Period.week_of(sunday + timedelta(days=1))) == 120_000_00


def test_a_later_decision_for_the_same_day_replaces_it_and_other_days_stay_scheduled() -> None:
    first, later = date(2026, 11, 16), date(2026, 11, 30)
    state = lifetime_values.fold(
        [
            _set(90_000_00, first),
            _set(120_000_00, later),
            _set(95_000_00, first, NOW + timedelta(hours=1)),
        ]
    )
    assert [(c.effective_from, c.value_fen) for c in state.schedule()] == [
        (first, 95_000_00),
        (later, 120_000_00),
    ]
    assert state.value_on(later - timedelta(days=1)) == 95_000_00
    assert state.value_on(later) == 120_000_00


def test_as_known_before_a_moment_a_value_set_after_it_is_not_seen() -> None:
    first, replaced = _set(90_000_00, TODAY), _set(95_000_00, TODAY, NOW + timedelta(days=1))
    state = lifetime_values.fold([first, replaced])
    assert state.value_on(TODAY, known_before=NOW + timedelta(hours=1)) == 90_000_00
    assert state.value_on(TODAY, known_before=NOW) == 80_000_00
    assert state.value_on(TODAY) == 95_000_00


def test_a_day_already_past_is_refused_so_an_ended_week_keeps_its_value() -> None:
    values.given().when(_command(100_000_00, TODAY - timedelta(days=1))).then_refused(
        reasons.DATE_IN_THE_PAST
    )


def test_a_later_day_may_be_set_ahead() -> None:
    ahead = date(2027, 1, 1)
    values.given().when(_command(100_000_00, ahead)).then(_set(100_000_00, ahead))


@pytest.mark.parametrize("value_fen", [0, -1, MAX_CUSTOMER_LIFETIME_VALUE_FEN + 1])
def test_a_value_not_above_zero_or_beyond_the_maximum_is_refused_naming_it(value_fen: int) -> None:
    values.given().when(_command(value_fen)).then_invalid("value_fen")


def test_the_largest_value_is_accepted() -> None:
    values.given().when(_command(MAX_CUSTOMER_LIFETIME_VALUE_FEN)).then(
        _set(MAX_CUSTOMER_LIFETIME_VALUE_FEN, TODAY)
    )


def test_setting_the_value_already_in_force_from_that_day_changes_nothing() -> None:
    values.given().when(_command(80_000_00)).then_nothing_happens()
    values.given(_set(100_000_00, TODAY)).when(
        _command(100_000_00, TODAY + timedelta(days=3))
    ).then_nothing_happens()
