"""Levels and specialties: the vocabulary of the capability map."""

from __future__ import annotations

import pytest

from services.workforce.domain.capability import Level, TechnicianStatus, specialty_code


def test_a_higher_level_satisfies_a_lower_need() -> None:
    assert Level.T3.satisfies(Level.T2)
    assert Level.T3.satisfies(Level.T1)
    assert Level.T2.satisfies(Level.T1)


def test_a_level_satisfies_its_own_need() -> None:
    assert all(level.satisfies(level) for level in Level)


def test_a_lower_level_does_not_satisfy_a_higher_need() -> None:
    assert not Level.T1.satisfies(Level.T2)
    assert not Level.T2.satisfies(Level.T3)


def test_enum_numbers_start_at_one_so_zero_stays_unspecified_in_proto() -> None:
    assert [level.value for level in Level] == [1, 2, 3]
    assert [status.name for status in TechnicianStatus] == [
        "ON_DUTY",
        "OFF_DUTY",
        "ON_LEAVE",
        "ON_LOAN",
        "LEFT",
    ]
    assert min(status.value for status in TechnicianStatus) == 1


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("hv_ev", "hv_ev"),
        ("Body Paint", "body_paint"),
        ("  HV-EV ", "hv_ev"),
        ("三电", "hv_ev"),
        ("钣喷", "body_paint"),
        ("智能驾驶", "adas"),
        ("ev_thermal_pump", "ev_thermal_pump"),
    ],
)
def test_specialties_are_normalised_to_codes_and_the_list_stays_open(raw: str, code: str) -> None:
    assert specialty_code(raw) == code


@pytest.mark.parametrize("raw", ["", "   ", "x", "!!", "9lives", "a" * 41, "hv/ev"])
def test_a_malformed_specialty_has_no_code(raw: str) -> None:
    assert specialty_code(raw) is None
