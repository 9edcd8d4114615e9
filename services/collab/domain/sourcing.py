"""Ranking the stores that could give a part (SOP 1's "the system recommends the best source").

domain.md asks for a source that has enough available, is near, and is hurt least by
giving: what it keeps after giving, against its own recent demand. Stale stock at the
giver is preferred, since giving it away helps the giver too: idle stock only (the last
movement comes with FindStock; overstock, inventory's other criterion, would cost a call
per candidate while a customer waits, and an overstocked giver already keeps far more
than its demand, so the cover terms never penalise it). Every term is expressed in
kilometres of detour it is worth, so the reasons add up to one comparable score, and each
candidate says in words why it ranks where it does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from kernel.geo import great_circle_km

# Demand is read over this window (days) and compared with what the giver keeps.
DEMAND_WINDOW_DAYS = 30
# Left with under a week of its own demand, a giver is likely to run short itself.
SHORT_COVER_DAYS = 7
THIN_COVER_DAYS = 30
SHORT_COVER_PENALTY_KM = 100.0
THIN_COVER_PENALTY_KM = 25.0
# No movement for this long: stale stock (domain.md), worth a detour to move it.
STALE_DAYS = 90
SLOW_DAYS = 30
STALE_BONUS_KM = 40.0
SLOW_BONUS_KM = 10.0
# A store whose location is unknown ranks as if it were this far.
UNKNOWN_DISTANCE_KM = 200.0
DEFAULT_LIMIT = 5
MAX_LIMIT = 20


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Holding:
    """One store's stock of the part, as inventory and collab's demand table know it."""

    store_id: str
    available: int
    last_movement_at: datetime | None
    # Issued at this store over the last DEMAND_WINDOW_DAYS.
    recent_demand: int
    location: Location | None


@dataclass(frozen=True)
class Candidate:
    store_id: str
    available: int
    distance_km: float | None
    available_after: int
    recent_demand: int
    idle_days: int
    score: float
    reasons: tuple[str, ...]


def rank_sources(
    requester: str,
    requester_location: Location | None,
    holdings: Iterable[Holding],
    quantity: int,
    now: datetime,
    limit: int = DEFAULT_LIMIT,
) -> list[Candidate]:
    """The stores able to give `quantity`, best first (ties by store code)."""
    candidates = [
        _assess(h, requester_location, quantity, now)
        for h in holdings
        if h.store_id != requester and h.available >= quantity
    ]
    candidates.sort(key=lambda c: (-c.score, c.store_id))
    return candidates[:limit]


def _assess(h: Holding, home: Location | None, quantity: int, now: datetime) -> Candidate:
    reasons = [f"has {h.available} available, enough for {quantity}"]
    distance = None
    if home is not None and h.location is not None:
        distance = great_circle_km(
            home.latitude, home.longitude, h.location.latitude, h.location.longitude
        )
        reasons.append(f"{distance:.1f} km away")
    else:
        reasons.append("location unknown: ranked as if far")
    score = -(distance if distance is not None else UNKNOWN_DISTANCE_KM)

    after = h.available - quantity
    cover = _cover_days(after, h.recent_demand)
    if cover is None:
        reasons.append(f"keeps {after} and issued none in {DEMAND_WINDOW_DAYS} days: no harm")
    elif cover < SHORT_COVER_DAYS:
        score -= SHORT_COVER_PENALTY_KM
        reasons.append(
            f"keeps {after} against {h.recent_demand} issued in {DEMAND_WINDOW_DAYS} days: "
            f"about {cover:.0f} days of its own demand, it may run short"
        )
    elif cover < THIN_COVER_DAYS:
        score -= THIN_COVER_PENALTY_KM
        reasons.append(
            f"keeps {after} against {h.recent_demand} issued in {DEMAND_WINDOW_DAYS} days: "
            f"about {cover:.0f} days of cover"
        )
    else:
        reasons.append(f"keeps {after}: over {THIN_COVER_DAYS} days of its own demand")

    idle = (now - h.last_movement_at).days if h.last_movement_at is not None else 0
    if idle >= STALE_DAYS:
        score += STALE_BONUS_KM
        reasons.append(f"stale stock, idle {idle} days: giving it helps the giver")
    elif idle >= SLOW_DAYS:
        score += SLOW_BONUS_KM
        reasons.append(f"slow stock, idle {idle} days")
    return Candidate(
        h.store_id,
        h.available,
        distance,
        after,
        h.recent_demand,
        idle,
        round(score, 3),
        tuple(reasons),
    )


def _cover_days(kept: int, demand: int) -> float | None:
    """Days the giver's remaining stock lasts at its recent pace (None: no demand)."""
    if demand <= 0:
        return None
    return kept / (demand / DEMAND_WINDOW_DAYS)
