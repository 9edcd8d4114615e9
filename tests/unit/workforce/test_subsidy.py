"""The support subsidy by distance, at the tier boundaries of domain.md."""

from __future__ import annotations

import pytest

from kernel.errors import InvalidArgument
from services.workforce.domain.subsidy import Subsidy, SubsidyTier, subsidy_for


def test_a_support_just_under_50_km_is_local_300_cny_without_travel() -> None:
    assert subsidy_for(49.999) == Subsidy(SubsidyTier.LOCAL, 30_000, travel_and_lodging_paid=False)


def test_a_support_next_door_is_local() -> None:
    assert subsidy_for(0.0).tier is SubsidyTier.LOCAL


def test_exactly_50_km_is_not_under_50_so_it_pays_500_cny_plus_travel() -> None:
    assert subsidy_for(50.0) == Subsidy(SubsidyTier.REGIONAL, 50_000, travel_and_lodging_paid=True)


def test_exactly_200_km_is_within_50_to_200_so_it_pays_500_cny_plus_travel() -> None:
    assert subsidy_for(200.0) == Subsidy(SubsidyTier.REGIONAL, 50_000, travel_and_lodging_paid=True)


def test_just_over_200_km_pays_1000_cny_plus_travel() -> None:
    assert subsidy_for(200.001) == Subsidy(
        SubsidyTier.LONG_DISTANCE, 100_000, travel_and_lodging_paid=True
    )


@pytest.mark.parametrize("distance_km", [-0.1, float("nan"), float("inf")])
def test_a_distance_that_is_not_a_distance_is_refused(distance_km: float) -> None:
    with pytest.raises(InvalidArgument):
        subsidy_for(distance_km)


def test_a_subsidy_describes_itself_in_yuan() -> None:
    assert subsidy_for(120).describe() == "regional subsidy 500 CNY plus travel and lodging"
    assert subsidy_for(3).describe() == "local subsidy 300 CNY"
