"""Which stores can take a diverted customer today (SOP 3's "look up nearby capacity").

domain.md: the receiving store must take the car today and reserve a bay. So a receiver
has capacity left on today's book (capacity - booked - walk-ins - live holds) and a bay
not in use now; among those, the nearest first (ties by store code). Every store left
out says why, so the origin's manager sees why no one was offered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_RECEIVERS = 5


@dataclass(frozen=True)
class Nearby:
    """A store near the origin, as capacity knows it now."""

    store_id: str
    distance_km: float
    capacity: int
    taken: int
    bays: int
    bays_in_use: int


@dataclass(frozen=True)
class Receiver:
    store_id: str
    distance_km: float
    places_left: int
    free_bays: int


def rank_receivers(
    origin: str, nearby: Iterable[Nearby], limit: int = MAX_RECEIVERS
) -> tuple[list[Receiver], list[str]]:
    """The stores able to take the car today, nearest first, and why the others cannot."""
    able: list[Receiver] = []
    why_not: list[str] = []
    for n in nearby:
        if n.store_id == origin:
            continue
        left, free = n.capacity - n.taken, n.bays - n.bays_in_use
        if left <= 0:
            why_not.append(f"{n.store_id}: full today ({n.taken} of {n.capacity})")
        elif free <= 0:
            why_not.append(f"{n.store_id}: no free bay ({n.bays_in_use} of {n.bays} in use)")
        else:
            able.append(Receiver(n.store_id, n.distance_km, left, free))
    able.sort(key=lambda r: (r.distance_km, r.store_id))
    return able[:limit], why_not
