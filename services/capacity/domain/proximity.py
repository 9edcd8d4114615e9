"""How far apart stores are: great-circle distance and the nearest stores to one of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kernel.geo import great_circle_km


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreLocation:
    store_id: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreDistance:
    store_id: str
    distance_km: float


def distance_km(a: StoreLocation, b: StoreLocation) -> float:
    return great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)


def nearest_stores(
    origin: StoreLocation, candidates: Iterable[StoreLocation], limit: int
) -> tuple[StoreDistance, ...]:
    """The `limit` closest other stores, nearest first; equal distances by store id."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    ranked = sorted(
        (
            StoreDistance(store_id=c.store_id, distance_km=distance_km(origin, c))
            for c in candidates
            if c.store_id != origin.store_id
        ),
        key=lambda d: (d.distance_km, d.store_id),
    )
    return tuple(ranked[:limit])
