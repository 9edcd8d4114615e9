"""Pilot: who takes part since when; participants against the others; before and after."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from services.analytics.domain.pilot import (
    Participation,
    before_after,
    compare_groups,
    split,
)

MONTH_1 = date(2026, 1, 1)
MONTH_2 = date(2026, 2, 1)
PILOT = {
    "SZ01": Participation(store_id="SZ01", joined_on=MONTH_1),
    "GZ01": Participation(store_id="GZ01", joined_on=MONTH_1),
    "DG01": Participation(store_id="DG01", joined_on=MONTH_1),
    "FS01": Participation(store_id="FS01", joined_on=MONTH_2),
    "ZH01": Participation(store_id="ZH01", joined_on=MONTH_1, left_on=date(2026, 1, 20)),
}
NETWORK = ["SZ01", "GZ01", "DG01", "FS01", "ZH01", "HZ01"]


def test_the_first_month_pilot_is_shenzhen_guangzhou_dongguan() -> None:
    month_1 = split(NETWORK, PILOT, date(2026, 1, 25))
    assert month_1.participants == ("DG01", "GZ01", "SZ01")
    assert month_1.not_yet == ("FS01", "HZ01", "ZH01")
    assert "FS01" in split(NETWORK, PILOT, MONTH_2).participants


def test_participants_are_compared_with_the_stores_not_yet_in() -> None:
    fill_rate = {"SZ01": Fraction(96, 100), "GZ01": Fraction(94, 100), "HZ01": Fraction(82, 100)}
    inside, outside = compare_groups(fill_rate, split(["SZ01", "GZ01", "HZ01"], PILOT, MONTH_1))
    assert (inside, outside) == (Fraction(95, 100), Fraction(82, 100))


def test_a_store_is_compared_before_and_after_it_joined_over_equal_windows() -> None:
    daily = {MONTH_2 - timedelta(days=n): Fraction(80) for n in range(1, 40)}
    daily.update({MONTH_2 + timedelta(days=n): Fraction(90) for n in range(0, 40)})
    result = before_after(MONTH_2, daily, window_days=30)
    assert (result.before, result.after, result.change) == (
        Fraction(80),
        Fraction(90),
        Fraction(10),
    )
    assert before_after(MONTH_2, {}).change is None
