"""Store comparison peer groups (对标): compare like with like by size, location, age, segment.

A group matches all four facets unless the caller chooses fewer: in a pilot region most
stores are alone in their four-facet group, so a manager may compare "with stores of my
size" or "my size and tier".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import MAXYEAR, date
from enum import IntEnum

from services.capacity.domain.stores import CustomerSegment, LocationTier, StoreProfile

LARGE_FROM_BAYS = 15
MEDIUM_FROM_BAYS = 8
MATURE_FROM_YEARS = 3
GROWING_FROM_YEARS = 1
PREMIUM_FROM_FEN = 400_000_00
MID_ABOVE_FEN = 200_000_00


class SizeFacet(IntEnum):
    SMALL = 1
    MEDIUM = 2
    LARGE = 3


class AgeFacet(IntEnum):
    NEW = 1
    GROWING = 2
    MATURE = 3


class PeerFacet(IntEnum):
    """What a peer group matches on."""

    SIZE = 1
    LOCATION_TIER = 2
    AGE = 3
    CUSTOMER_SEGMENT = 4


ALL_FACETS = tuple(PeerFacet)


def chosen_facets(asked: Iterable[PeerFacet]) -> tuple[PeerFacet, ...]:
    """The facets a group matches, each once, in PeerFacet order; none asked: all four."""
    return tuple(sorted(set(asked))) or ALL_FACETS


def size_facet(bays: int) -> SizeFacet:
    """Large ≥ 15 bays, medium 8–14, small ≤ 7."""
    if bays >= LARGE_FROM_BAYS:
        return SizeFacet.LARGE
    if bays >= MEDIUM_FROM_BAYS:
        return SizeFacet.MEDIUM
    return SizeFacet.SMALL


def anniversary(opened_on: date, years: int) -> date | None:
    """The date `years` after `opened_on`; a 29 February opening turns a year on 1 March.
    None past the calendar's last year: that anniversary never comes."""
    year = opened_on.year + years
    if year > MAXYEAR:
        return None
    try:
        return opened_on.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def _reached(opened_on: date, years: int, as_of: date) -> bool:
    day = anniversary(opened_on, years)
    return day is not None and as_of >= day


def age_facet(opened_on: date, as_of: date) -> AgeFacet:
    """Mature from the 3rd anniversary on, growing from the 1st, new before it."""
    if _reached(opened_on, MATURE_FROM_YEARS, as_of):
        return AgeFacet.MATURE
    if _reached(opened_on, GROWING_FROM_YEARS, as_of):
        return AgeFacet.GROWING
    return AgeFacet.NEW


def segment_of(average_vehicle_price_fen: int) -> CustomerSegment:
    """Premium ≥ 400k CNY average vehicle price, mid above 200k, mass ≤ 200k."""
    if average_vehicle_price_fen >= PREMIUM_FROM_FEN:
        return CustomerSegment.PREMIUM
    if average_vehicle_price_fen > MID_ABOVE_FEN:
        return CustomerSegment.MID
    return CustomerSegment.MASS


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerGroup:
    size: SizeFacet
    location_tier: LocationTier
    age: AgeFacet
    customer_segment: CustomerSegment


_FIELD = {
    PeerFacet.SIZE: "size",
    PeerFacet.LOCATION_TIER: "location_tier",
    PeerFacet.AGE: "age",
    PeerFacet.CUSTOMER_SEGMENT: "customer_segment",
}


def facet_values(group: PeerGroup, facets: Collection[PeerFacet]) -> tuple[object, ...]:
    """The group's values of the chosen facets: two stores are peers when these are equal."""
    return tuple(getattr(group, _FIELD[f]) for f in chosen_facets(facets))


def peer_group(profile: StoreProfile, as_of: date) -> PeerGroup:
    return PeerGroup(
        size=size_facet(profile.bays),
        location_tier=profile.location_tier,
        age=age_facet(profile.opened_on, as_of),
        customer_segment=profile.customer_segment,
    )


def peers(
    store_id: str,
    profile: StoreProfile,
    others: Iterable[tuple[str, StoreProfile]],
    as_of: date,
    facets: Collection[PeerFacet] = ALL_FACETS,
) -> list[str]:
    """The open stores of `store_id`'s group on `as_of` by the chosen facets (none: all
    four), itself included, by store id.

    `others` are the open stores; one that has not opened by `as_of` is in no group yet.
    """
    wanted = facet_values(peer_group(profile, as_of), facets)
    found = {
        other_id
        for other_id, other in others
        if other.opened_on <= as_of and facet_values(peer_group(other, as_of), facets) == wanted
    }
    return sorted(found | {store_id})
