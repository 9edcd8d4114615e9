"""Matching a support need to technicians: who is free, and in what order to ask them.

score = 0.3 level fit + 0.4 proximity + 0.3 fairness, each part from 0 to 1:
- level fit: 1 for the exact level needed, 0.25 less per level above it (a T3 sent to a
  T1 job is a T3 missing from a T3 job);
- proximity: 50 / (50 + km), so 1 next door, 0.5 at 50 km, 0.2 at 200 km;
- fairness: 1 / (1 + supports lent lately), so the least lent are asked first.
Ties go to the nearer technician, then to the technician id, so the order is stable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from kernel.errors import Violations
from kernel.geo import great_circle_km
from services.workforce.domain.availability import check_window, utc_window
from services.workforce.domain.capability import Level, specialty_code
from services.workforce.domain.state import TechnicianState
from services.workforce.domain.subsidy import Subsidy, subsidy_for
from services.workforce.domain.support_booking import refusal_to_hold

OVERQUALIFIED_PENALTY_PER_LEVEL = 0.25
PROXIMITY_HALF_KM = 50.0


@dataclass(frozen=True)
class StoreLocation:
    latitude: float
    longitude: float

    def km_to(self, other: StoreLocation) -> float:
        return great_circle_km(self.latitude, self.longitude, other.latitude, other.longitude)


@dataclass(frozen=True)
class MatchWeights:
    level_fit: float = 0.3
    proximity: float = 0.4
    fairness: float = 0.3


@dataclass(frozen=True)
class SupportNeed:
    """What the requesting store needs, as of business time `at` (holds lapse by then)."""

    specialty: str
    minimum_level: Level
    starts_at: datetime
    ends_at: datetime
    requesting_store_id: str
    requesting_store: StoreLocation
    at: datetime


@dataclass(frozen=True)
class Candidate:
    """A technician to consider; `recent_supports` counts supports lent in the fairness period."""

    technician: TechnicianState
    home_store: StoreLocation
    recent_supports: int


@dataclass(frozen=True)
class RankedCandidate:
    technician_id: str
    store_id: str
    name: str
    level: Level
    distance_km: float
    subsidy: Subsidy
    level_fit: float
    proximity: float
    fairness: float
    score: float
    reason: str


def rank_candidates(
    need: SupportNeed,
    candidates: Iterable[Candidate],
    weights: MatchWeights | None = None,
) -> tuple[RankedCandidate, ...]:
    """Candidates free for the need, best first; those who cannot be held are left out."""
    weights = weights or MatchWeights()
    v = Violations()
    specialty = specialty_code(need.specialty)
    if specialty is None:
        v.add("specialty", "must be a specialty code such as hv_ev, body_paint or adas")
    check_window(v, need.starts_at, need.ends_at)
    v.raise_if_any()
    assert specialty is not None
    window = utc_window(need.starts_at, need.ends_at)
    ranked = [
        _ranked(need, candidate, weights)
        for candidate in candidates
        if refusal_to_hold(
            candidate.technician,
            host_store_id=need.requesting_store_id,
            specialty=specialty,
            minimum_level=need.minimum_level,
            window=window,
            at=need.at,
        )
        is None
    ]
    return tuple(sorted(ranked, key=lambda r: (-r.score, r.distance_km, r.technician_id)))


def _ranked(need: SupportNeed, candidate: Candidate, weights: MatchWeights) -> RankedCandidate:
    technician = candidate.technician
    levels_above = technician.level - need.minimum_level
    level_fit = max(0.0, 1.0 - OVERQUALIFIED_PENALTY_PER_LEVEL * levels_above)
    distance_km = candidate.home_store.km_to(need.requesting_store)
    proximity = PROXIMITY_HALF_KM / (PROXIMITY_HALF_KM + distance_km)
    fairness = 1.0 / (1 + max(0, candidate.recent_supports))
    score = (
        weights.level_fit * level_fit + weights.proximity * proximity + weights.fairness * fairness
    )
    subsidy = subsidy_for(distance_km)
    fit = "exact level" if levels_above == 0 else f"overqualified by {levels_above}"
    lent = candidate.recent_supports
    reason = (
        f"{technician.level.name} for a {need.minimum_level.name} need ({fit}); "
        f"{distance_km:.1f} km from {technician.store_id} ({subsidy.describe()}); "
        f"lent {lent} time{'' if lent == 1 else 's'} lately; score {score:.2f}"
    )
    return RankedCandidate(
        technician_id=technician.technician_id,
        store_id=technician.store_id,
        name=technician.name,
        level=technician.level,
        distance_km=distance_km,
        subsidy=subsidy,
        level_fit=level_fit,
        proximity=proximity,
        fairness=fairness,
        score=score,
        reason=reason,
    )
