"""Peer groups for store comparison, and the distances between stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.capacity.domain.peer_groups import (
    ALL_FACETS,
    AgeFacet,
    PeerFacet,
    PeerGroup,
    SizeFacet,
    age_facet,
    chosen_facets,
    peer_group,
    peers,
    segment_of,
    size_facet,
)
from services.capacity.domain.proximity import (
    StoreDistance,
    StoreLocation,
    distance_km,
    nearest_stores,
)
from services.capacity.domain.stores import CustomerSegment, LocationTier

from .examples import PROFILE

OPENED = date(2023, 6, 15)


@pytest.mark.parametrize(
    ("bays", "size"),
    [
        (15, SizeFacet.LARGE),
        (14, SizeFacet.MEDIUM),
        (8, SizeFacet.MEDIUM),
        (7, SizeFacet.SMALL),
        (1, SizeFacet.SMALL),
    ],
)
def test_size_facet_boundaries(bays: int, size: SizeFacet) -> None:
    assert size_facet(bays) == size


@pytest.mark.parametrize(
    ("as_of", "age"),
    [
        (date(2023, 6, 15), AgeFacet.NEW),
        (date(2024, 6, 14), AgeFacet.NEW),
        (date(2024, 6, 15), AgeFacet.GROWING),  # exactly 1 year
        (date(2026, 6, 14), AgeFacet.GROWING),
        (date(2026, 6, 15), AgeFacet.MATURE),  # exactly 3 years
    ],
)
def test_age_facet_boundaries(as_of: date, age: AgeFacet) -> None:
    assert age_facet(OPENED, as_of) == age


def test_a_store_opened_on_29_february_turns_a_year_old_on_1_march() -> None:
    assert age_facet(date(2024, 2, 29), date(2025, 2, 28)) == AgeFacet.NEW
    assert age_facet(date(2024, 2, 29), date(2025, 3, 1)) == AgeFacet.GROWING


def test_a_store_opened_near_the_calendars_end_is_new_not_an_error() -> None:
    """A store may open on any day up to 9998-12-31; its anniversaries past year 9999
    are never reached (they raised ValueError, an INTERNAL reply to GetPeerGroup)."""
    assert age_facet(date(9998, 6, 1), date(9998, 12, 31)) == AgeFacet.NEW
    assert age_facet(date(9997, 6, 1), date(9998, 6, 1)) == AgeFacet.GROWING
    assert age_facet(date(9996, 2, 29), date(9998, 12, 31)) == AgeFacet.GROWING


@pytest.mark.parametrize(
    ("price_cny", "segment"),
    [
        (400_000, CustomerSegment.PREMIUM),
        (399_999, CustomerSegment.MID),
        (200_001, CustomerSegment.MID),
        (200_000, CustomerSegment.MASS),
    ],
)
def test_customer_segment_boundaries(price_cny: int, segment: CustomerSegment) -> None:
    assert segment_of(price_cny * 100) == segment


def test_a_stores_peer_group_combines_its_four_facets_as_of_a_date() -> None:
    profile = replace(PROFILE, bays=16, opened_on=OPENED, location_tier=LocationTier.SUBURB)
    assert peer_group(profile, date(2025, 11, 2)) == PeerGroup(
        size=SizeFacet.LARGE,
        location_tier=LocationTier.SUBURB,
        age=AgeFacet.GROWING,
        customer_segment=CustomerSegment.MID,
    )


def test_a_stores_peers_are_the_open_stores_of_its_group_opened_by_the_day() -> None:
    asked = replace(PROFILE, bays=10, opened_on=date(2026, 6, 1))
    same_group = replace(PROFILE, bays=12, opened_on=date(2026, 3, 1))
    larger = replace(same_group, bays=15)
    older = replace(same_group, opened_on=date(2024, 1, 10))
    not_yet_open = replace(same_group, opened_on=date(2026, 12, 1))  # new, but not yet open
    others = [
        ("GZ01", same_group),
        ("DG01", larger),
        ("HK01", older),
        ("FS01", not_yet_open),
        ("SZ01", asked),
    ]
    assert peers("SZ01", asked, others, date(2026, 11, 30)) == ["GZ01", "SZ01"]


def test_a_store_is_its_own_peer_whatever_the_others() -> None:
    assert peers("SZ01", PROFILE, [], date(2026, 11, 30)) == ["SZ01"]


AS_OF = date(2026, 11, 30)
LARGE = replace(PROFILE, bays=15, opened_on=date(2021, 5, 1))  # mature, centre, mid


def test_a_15_bay_and_a_20_bay_store_are_peers_by_size() -> None:
    twenty = replace(LARGE, bays=20, location_tier=LocationTier.OUTSKIRTS)
    others = [("GZ01", twenty)]
    assert peers("SZ01", LARGE, others, AS_OF, [PeerFacet.SIZE]) == ["GZ01", "SZ01"]
    assert peers("SZ01", LARGE, others, AS_OF) == ["SZ01"]  # all four: the tier differs


def test_a_14_bay_store_is_not_a_peer_of_a_15_bay_one_by_size() -> None:
    medium = replace(LARGE, bays=14)
    assert peers("SZ01", LARGE, [("GZ01", medium)], AS_OF, [PeerFacet.SIZE]) == ["SZ01"]


def test_stores_of_different_tiers_are_not_peers_by_size_and_tier() -> None:
    suburb = replace(LARGE, bays=18, location_tier=LocationTier.SUBURB)
    centre = replace(LARGE, bays=16, customer_segment=CustomerSegment.PREMIUM)
    others = [("DG01", suburb), ("GZ01", centre)]
    size_and_tier = [PeerFacet.SIZE, PeerFacet.LOCATION_TIER]
    assert peers("SZ01", LARGE, others, AS_OF, size_and_tier) == ["GZ01", "SZ01"]


def test_age_and_segment_facets_ignore_size_and_tier() -> None:
    growing = replace(LARGE, opened_on=date(2024, 12, 1))  # 1 to 3 years on AS_OF
    small_mature = replace(LARGE, bays=5, location_tier=LocationTier.OUTSKIRTS)
    mass = replace(LARGE, customer_segment=CustomerSegment.MASS)
    others = [("DG01", growing), ("GZ01", small_mature), ("HZ01", mass)]
    by_age = peers("SZ01", LARGE, others, AS_OF, [PeerFacet.AGE])
    by_segment = peers("SZ01", LARGE, others, AS_OF, [PeerFacet.CUSTOMER_SEGMENT])
    assert by_age == ["GZ01", "HZ01", "SZ01"]
    assert by_segment == ["DG01", "GZ01", "SZ01"]


def test_a_store_not_yet_open_is_in_no_group_whatever_the_facets() -> None:
    not_yet = replace(LARGE, opened_on=date(2026, 12, 1))
    assert peers("SZ01", LARGE, [("GZ01", not_yet)], AS_OF, [PeerFacet.SIZE]) == ["SZ01"]


@pytest.mark.parametrize(
    ("asked", "chosen"),
    [
        ([], ALL_FACETS),
        ([PeerFacet.LOCATION_TIER, PeerFacet.SIZE], (PeerFacet.SIZE, PeerFacet.LOCATION_TIER)),
        ([PeerFacet.AGE, PeerFacet.AGE], (PeerFacet.AGE,)),
    ],
)
def test_no_facet_asked_means_all_four_and_each_counts_once(
    asked: list[PeerFacet], chosen: tuple[PeerFacet, ...]
) -> None:
    assert chosen_facets(asked) == chosen
    assert ALL_FACETS == (
        PeerFacet.SIZE,
        PeerFacet.LOCATION_TIER,
        PeerFacet.AGE,
        PeerFacet.CUSTOMER_SEGMENT,
    )


SHENZHEN = StoreLocation(store_id="SZ01", latitude=22.5431, longitude=114.0579)
DONGGUAN = StoreLocation(store_id="DG01", latitude=23.0205, longitude=113.7518)
GUANGZHOU = StoreLocation(store_id="GZ01", latitude=23.1291, longitude=113.2644)
HONG_KONG = StoreLocation(store_id="HK01", latitude=22.3193, longitude=114.1694)


def test_the_distance_between_two_stores_is_great_circle_kilometres() -> None:
    assert distance_km(SHENZHEN, GUANGZHOU) == pytest.approx(104.5, abs=1.0)
    assert distance_km(SHENZHEN, SHENZHEN) == 0.0


def test_the_nearest_stores_come_nearest_first_without_the_store_itself() -> None:
    nearest = nearest_stores(SHENZHEN, [GUANGZHOU, SHENZHEN, DONGGUAN, HONG_KONG], limit=2)
    assert [d.store_id for d in nearest] == ["HK01", "DG01"]
    assert nearest[0].distance_km == pytest.approx(distance_km(SHENZHEN, HONG_KONG))


def test_stores_at_the_same_distance_are_listed_by_store_id() -> None:
    twin_b = replace(GUANGZHOU, store_id="GZ02")
    twin_a = replace(GUANGZHOU, store_id="GZ00")
    nearest = nearest_stores(SHENZHEN, [twin_b, twin_a], limit=5)
    assert nearest == (
        StoreDistance(store_id="GZ00", distance_km=distance_km(SHENZHEN, GUANGZHOU)),
        StoreDistance(store_id="GZ02", distance_km=distance_km(SHENZHEN, GUANGZHOU)),
    )
