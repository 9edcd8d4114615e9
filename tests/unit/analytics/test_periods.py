"""Periods: their bounds, keys and how much of one has gone."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from services.analytics.domain.periods import Period, PeriodKind, period_of_key


def test_each_kind_has_its_calendar_bounds_and_key() -> None:
    on = date(2026, 11, 30)
    expected = {
        PeriodKind.DAY: (date(2026, 11, 30), 1, "2026-11-30"),
        PeriodKind.WEEK: (date(2026, 11, 30), 7, "2026-W49"),
        PeriodKind.MONTH: (date(2026, 11, 1), 30, "2026-11"),
        PeriodKind.QUARTER: (date(2026, 10, 1), 92, "2026-Q4"),
        PeriodKind.YEAR: (date(2026, 1, 1), 365, "2026"),
    }
    for kind, (start, days, key) in expected.items():
        period = Period.containing(kind, on)
        assert (period.start, period.days, period.key) == (start, days, key)
        assert period.is_well_formed() and period.contains(on)


def test_a_year_has_twelve_months_and_a_quarter_three() -> None:
    assert [m.key for m in Period.quarter(2027, 1).months()] == ["2027-01", "2027-02", "2027-03"]
    assert sum(m.days for m in Period.year(2028).months()) == 366


def test_elapsed_counts_whole_days_done() -> None:
    february = Period.month(2027, 2)
    assert february.elapsed(date(2027, 1, 31)) == 0
    assert february.elapsed(date(2027, 2, 14)) == Fraction(1, 2)
    assert february.elapsed(date(2027, 3, 5)) == 1


@pytest.mark.parametrize(
    "period",
    [
        Period.day(date(2026, 11, 30)),
        Period.week_of(date(2026, 12, 31)),
        Period.month(2026, 2),
        Period.quarter(2026, 4),
        Period.year(2026),
    ],
    ids=lambda p: p.key,
)
def test_a_key_names_its_period_back(period: Period) -> None:
    assert period_of_key(period.key) == period


@pytest.mark.parametrize(
    "key",
    [
        "",
        "2026-13",
        "2026-02-30",
        "2026-W54",
        "2026-Q5",
        "26-11",
        # The ends of the calendar: a drill-down key naming them once came back INTERNAL.
        "9999",
        "9999-Q4",
        "9999-W52",
        "9999-12-31",
        "0001-01-01",
    ],
)
def test_text_that_names_no_period_is_none(key: str) -> None:
    assert period_of_key(key) is None
