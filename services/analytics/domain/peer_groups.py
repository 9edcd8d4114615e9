"""Peer groups for store comparison (对标): compare like with like by size, location tier,
age and customer segment. The bounds are capacity's (the owner of the store directory):
a store gets the same facets in either service.

At exactly 200k CNY average vehicle price a store is mass (mass is "≤ 200k"); at exactly
400k it is premium (premium is "≥ 400k"); mid is above 200k and below 400k.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum

LARGE_FROM_BAYS = 15
MEDIUM_FROM_BAYS = 8
MATURE_FROM_YEARS = 3
GROWING_FROM_YEARS = 1
PREMIUM_FROM_FEN = 400_000_00
MID_ABOVE_FEN = 200_000_00


class Size(IntEnum):
    SMALL = 1
    MEDIUM = 2
    LARGE = 3


class LocationTier(IntEnum):
    CITY_CENTRE = 1
    SUBURB = 2
    OUTSKIRTS = 3


class Age(IntEnum):
    NEW = 1
    GROWING = 2
    MATURE = 3


class Segment(IntEnum):
    PREMIUM = 1
    MID = 2
    MASS = 3


def size_of(bays: int) -> Size:
    """Large ≥ 15 bays, medium 8–14, small ≤ 7."""
    if bays >= LARGE_FROM_BAYS:
        return Size.LARGE
    if bays >= MEDIUM_FROM_BAYS:
        return Size.MEDIUM
    return Size.SMALL


def anniversary(opened_on: date, years: int) -> date:
    """The date `years` after `opened_on`; a 29 February opening turns a year on 1 March."""
    try:
        return opened_on.replace(year=opened_on.year + years)
    except ValueError:
        return date(opened_on.year + years, 3, 1)


def age_of(opened_on: date, as_of: date) -> Age:
    """Mature from the 3rd anniversary on, growing from the 1st, new before it."""
    if as_of >= anniversary(opened_on, MATURE_FROM_YEARS):
        return Age.MATURE
    if as_of >= anniversary(opened_on, GROWING_FROM_YEARS):
        return Age.GROWING
    return Age.NEW


def segment_of(average_vehicle_price_fen: int) -> Segment:
    if average_vehicle_price_fen >= PREMIUM_FROM_FEN:
        return Segment.PREMIUM
    if average_vehicle_price_fen > MID_ABOVE_FEN:
        return Segment.MID
    return Segment.MASS


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreListing:
    """What analytics keeps of a store from capacity's store events."""

    store_id: str
    region: str
    bays: int
    location_tier: LocationTier
    opened_on: date
    segment: Segment


@dataclass(frozen=True, slots=True, order=True, kw_only=True)
class PeerGroup:
    size: Size
    location_tier: LocationTier
    age: Age
    segment: Segment

    @property
    def key(self) -> str:
        return "/".join(
            f.name.lower() for f in (self.size, self.location_tier, self.age, self.segment)
        )


def peer_group(store: StoreListing, as_of: date) -> PeerGroup:
    return PeerGroup(
        size=size_of(store.bays),
        location_tier=store.location_tier,
        age=age_of(store.opened_on, as_of),
        segment=store.segment,
    )


def peers(store: StoreListing, stores: list[StoreListing], as_of: date) -> list[StoreListing]:
    """The stores of `store`'s group on `as_of` (itself included), by store id."""
    group = peer_group(store, as_of)
    return sorted((s for s in stores if peer_group(s, as_of) == group), key=lambda s: s.store_id)
