"""Matching a support need to technicians: who is free, and in what order to ask them.

score = 0.3 level fit + 0.4 proximity + 0.3 fairness, each part from 0 to 1:
- level fit: 1 for the exact level needed, 0.25 less per level above it (a T3 sent to a
  T1 job is a T3 missing from a T3 job);
- proximity: 50 / (50 + km), so 1 next door, 0.5 at 50 km, 0.2 at 200 km;
- fairness: 1 / (1 + supports lent lately), so the least lent are asked first.
Ties go to the nearer technician, then to the technician id, so the order is stable.
A store missing from the store directory has no known distance: its candidates score no
proximity, carry no subsidy tier and say so, rather than being dropped or guessed near.
"""

from __future__ import annotations

import math
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
    requesting_store: StoreLocation | None
    at: datetime


@dataclass(frozen=True)
class Candidate:
    """A technician to consider; `recent_supports` counts supports lent in the fairness period."""

    technician: TechnicianState
    home_store: StoreLocation | None
    recent_supports: int


@dataclass(frozen=True)
class FreeCandidate:
    """A technician already known to be free for the need, with what ranking looks at.

    The read model finds these with one indexed query over the same rules as
    `refusal_to_hold`, so the match query need not rebuild every technician's state.
    """

    technician_id: str
    store_id: str
    name: str
    level: Level
    home_store: StoreLocation | None
    recent_supports: int


@dataclass(frozen=True, slots=True)
class RankedCandidate:
    """A candidate's place in the match. The subsidy and the reason are worked out when
    read: a match ranks every free technician, a reply shows a page of them."""

    technician_id: str
    store_id: str
    name: str
    level: Level
    distance_km: float | None
    level_fit: float
    proximity: float
    fairness: float
    score: float
    minimum_level: Level
    recent_supports: int

    @property
    def subsidy(self) -> Subsidy | None:
        return None if self.distance_km is None else subsidy_for(self.distance_km)

    @property
    def reason(self) -> str:
        levels_above = self.level - self.minimum_level
        fit = "exact level" if levels_above == 0 else f"overqualified by {levels_above}"
        subsidy = self.subsidy
        where = (
            f"{self.distance_km:.1f} km from {self.store_id} ({subsidy.describe()})"
            if self.distance_km is not None and subsidy is not None
            else f"distance from {self.store_id} unknown (no location in the store directory)"
        )
        lent = self.recent_supports
        return (
            f"{self.level.name} for a {self.minimum_level.name} need ({fit}); {where}; "
            f"lent {lent} time{'' if lent == 1 else 's'} lately; score {self.score:.2f}"
        )


def rank_candidates(
    need: SupportNeed,
    candidates: Iterable[Candidate],
    weights: MatchWeights | None = None,
) -> tuple[RankedCandidate, ...]:
    """Candidates free for the need, best first; those who cannot be held are left out."""
    v = Violations()
    specialty = specialty_code(need.specialty)
    if specialty is None:
        v.add("specialty", "must be a specialty code such as hv_ev, body_paint or adas")
    check_window(v, need.starts_at, need.ends_at)
    v.raise_if_any()
    assert specialty is not None
    window = utc_window(need.starts_at, need.ends_at)
    free = [
        FreeCandidate(
            technician_id=candidate.technician.technician_id,
            store_id=candidate.technician.store_id,
            name=candidate.technician.name,
            level=candidate.technician.level,
            home_store=candidate.home_store,
            recent_supports=candidate.recent_supports,
        )
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
    return rank_free(need, free, weights)


def rank_free(
    need: SupportNeed,
    candidates: Iterable[FreeCandidate],
    weights: MatchWeights | None = None,
) -> tuple[RankedCandidate, ...]:
    """Candidates known to be free for the need, best first."""
    return rank_page(need, candidates, weights=weights)


RankKey = tuple[float, float, str]


def rank_page(
    need: SupportNeed,
    candidates: Iterable[FreeCandidate],
    *,
    after: RankKey | None = None,
    limit: int | None = None,
    weights: MatchWeights | None = None,
) -> tuple[RankedCandidate, ...]:
    """`rank_free`'s ranking from just after the rank key `after` (`rank_key` of the last one
    seen), at most `limit` of it: every candidate is scored and ordered, but only the page
    is built (a match finds a hundred free technicians and a reply shows ten)."""
    weights = weights or MatchWeights()
    scored = []
    for candidate in candidates:
        parts = _parts(need, candidate, weights)
        key = rank_key_of(parts[4], parts[0], candidate.technician_id)
        if after is None or key > after:
            scored.append((key, parts, candidate))
    scored.sort(key=_first)
    page = scored if limit is None else scored[:limit]
    return tuple(_ranked(need, c, parts) for _, parts, c in page)


def rank_key(r: RankedCandidate) -> RankKey:
    return rank_key_of(r.score, r.distance_km, r.technician_id)


def rank_key_of(score: float, distance_km: float | None, technician_id: str) -> RankKey:
    """The ranking's order, best first: score, then distance (unknown last), then id (a
    page token's (score, distance, id) names the last one shown)."""
    return (-score, math.inf if distance_km is None else distance_km, technician_id)


def _first(item: tuple[RankKey, object, object]) -> RankKey:
    return item[0]


_Parts = tuple[float | None, float, float, float, float]


def _parts(need: SupportNeed, technician: FreeCandidate, weights: MatchWeights) -> _Parts:
    """(distance_km, level_fit, proximity, fairness, score) of a candidate for the need."""
    levels_above = technician.level - need.minimum_level
    level_fit = max(0.0, 1.0 - OVERQUALIFIED_PENALTY_PER_LEVEL * levels_above)
    distance_km = _distance_km(technician.home_store, need.requesting_store)
    proximity = (
        0.0 if distance_km is None else PROXIMITY_HALF_KM / (PROXIMITY_HALF_KM + distance_km)
    )
    fairness = 1.0 / (1 + max(0, technician.recent_supports))
    score = (
        weights.level_fit * level_fit + weights.proximity * proximity + weights.fairness * fairness
    )
    return distance_km, level_fit, proximity, fairness, score


def _ranked(need: SupportNeed, technician: FreeCandidate, parts: _Parts) -> RankedCandidate:
    distance_km, level_fit, proximity, fairness, score = parts
    return RankedCandidate(
        technician_id=technician.technician_id,
        store_id=technician.store_id,
        name=technician.name,
        level=technician.level,
        distance_km=distance_km,
        level_fit=level_fit,
        proximity=proximity,
        fairness=fairness,
        score=score,
        minimum_level=need.minimum_level,
        recent_supports=technician.recent_supports,
    )


def _distance_km(home: StoreLocation | None, host: StoreLocation | None) -> float | None:
    return None if home is None or host is None else home.km_to(host)
