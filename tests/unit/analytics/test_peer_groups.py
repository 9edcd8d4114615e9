"""Peer groups: domain.md's table at each bound."""

from __future__ import annotations

from datetime import date

import pytest

from services.analytics.domain.peer_groups import (
    Age,
    LocationTier,
    PeerGroup,
    Segment,
    Size,
    StoreListing,
    age_of,
    peer_group,
    peers,
    segment_of,
    size_of,
)


@pytest.mark.parametrize(
    ("bays", "size"),
    [(1, Size.SMALL), (7, Size.SMALL), (8, Size.MEDIUM), (14, Size.MEDIUM), (15, Size.LARGE)],
)
def test_size_large_from_15_bays_medium_8_to_14_small_up_to_7(bays: int, size: Size) -> None:
    assert size_of(bays) == size


OPENED = date(2023, 6, 15)


@pytest.mark.parametrize(
    ("as_of", "age"),
    [
        (date(2024, 6, 14), Age.NEW),
        (date(2024, 6, 15), Age.GROWING),  # the first anniversary
        (date(2026, 6, 14), Age.GROWING),
        (date(2026, 6, 15), Age.MATURE),  # 3 years open
    ],
)
def test_age_new_under_1_year_growing_1_to_3_mature_from_3(as_of: date, age: Age) -> None:
    assert age_of(OPENED, as_of) == age


def test_a_29_february_opening_turns_a_year_on_1_march() -> None:
    assert age_of(date(2024, 2, 29), date(2025, 2, 28)) == Age.NEW
    assert age_of(date(2024, 2, 29), date(2025, 3, 1)) == Age.GROWING


@pytest.mark.parametrize(
    ("price_fen", "segment"),
    [
        (150_000_00, Segment.MASS),
        (200_000_00, Segment.MASS),  # exactly 200k: mass is "≤ 200k"
        (200_000_01, Segment.MID),
        (399_999_99, Segment.MID),
        (400_000_00, Segment.PREMIUM),  # exactly 400k: premium is "≥ 400k"
    ],
)
def test_segment_bounds_at_exactly_200k_and_400k(price_fen: int, segment: Segment) -> None:
    assert segment_of(price_fen) == segment


def listing(store_id: str, bays: int, opened_on: date = OPENED) -> StoreListing:
    return StoreListing(
        store_id=store_id,
        region="South China",
        bays=bays,
        location_tier=LocationTier.SUBURB,
        opened_on=opened_on,
        segment=Segment.MID,
    )


def test_a_store_is_compared_only_with_its_like() -> None:
    as_of = date(2026, 11, 30)
    stores = [
        listing("SZ01", 8),
        listing("GZ01", 12),
        listing("DG01", 16),
        listing("FS01", 9, date(2026, 1, 1)),
    ]
    assert peer_group(stores[0], as_of) == PeerGroup(
        size=Size.MEDIUM, location_tier=LocationTier.SUBURB, age=Age.MATURE, segment=Segment.MID
    )
    assert peer_group(stores[0], as_of).key == "medium/suburb/mature/mid"
    assert [s.store_id for s in peers(stores[0], stores, as_of)] == ["GZ01", "SZ01"]
