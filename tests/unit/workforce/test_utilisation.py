"""Technician utilisation = productive hours / available hours."""

from __future__ import annotations

from datetime import date

import pytest

from services.workforce.domain.events import ProductiveHoursLogged, ShiftPlanned, WorkforceEvent
from services.workforce.domain.utilisation import Utilisation, utilisation_between

from .examples import HOME, NOW, TECHNICIAN_ID

MONDAY, TUESDAY, WEDNESDAY = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


def shift(day: date, hours: float) -> ShiftPlanned:
    return ShiftPlanned(
        store_id=HOME, technician_id=TECHNICIAN_ID, occurred_at=NOW, day=day, available_hours=hours
    )


def worked(day: date, hours: float, job_id: str = "RO-1") -> ProductiveHoursLogged:
    return ProductiveHoursLogged(
        store_id=HOME,
        technician_id=TECHNICIAN_ID,
        occurred_at=NOW,
        job_id=job_id,
        day=day,
        hours=hours,
    )


def test_utilisation_is_productive_hours_over_available_hours() -> None:
    events: list[WorkforceEvent] = [
        shift(MONDAY, 8),
        shift(TUESDAY, 8),
        worked(MONDAY, 5, "RO-1"),
        worked(MONDAY, 2, "RO-2"),
        worked(TUESDAY, 6.6, "RO-3"),
    ]

    result = utilisation_between(events, MONDAY, TUESDAY)

    assert result == Utilisation(productive_hours=13.6, available_hours=16)
    assert result.ratio == pytest.approx(0.85)


def test_a_shift_planned_again_for_a_day_replaces_the_earlier_plan() -> None:
    events: list[WorkforceEvent] = [shift(MONDAY, 8), shift(MONDAY, 4), worked(MONDAY, 3)]

    assert utilisation_between(events, MONDAY, MONDAY).ratio == pytest.approx(0.75)


def test_days_outside_the_period_do_not_count() -> None:
    events: list[WorkforceEvent] = [
        shift(MONDAY, 8),
        worked(MONDAY, 8),
        shift(WEDNESDAY, 8),
        worked(WEDNESDAY, 2),
    ]

    assert utilisation_between(events, WEDNESDAY, WEDNESDAY).ratio == pytest.approx(0.25)


def test_overtime_shows_as_utilisation_above_one() -> None:
    assert Utilisation(productive_hours=9, available_hours=8).ratio == pytest.approx(1.125)


def test_utilisation_without_any_available_hours_is_unknown_not_zero() -> None:
    assert utilisation_between([worked(MONDAY, 2)], MONDAY, MONDAY).ratio is None
