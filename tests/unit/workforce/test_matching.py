"""Matching a support need: who is free, in what order, and why."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from services.workforce.domain.capability import Level
from services.workforce.domain.events import LeaveScheduled, TechnicianEvent, TechnicianLeft
from services.workforce.domain.matching import (
    Candidate,
    FreeCandidate,
    StoreLocation,
    SupportNeed,
    rank_candidates,
    rank_free,
    rank_key,
    rank_page,
)
from services.workforce.domain.state import TechnicianState
from services.workforce.domain.subsidy import SubsidyTier

from .examples import FRIDAY_AFTERNOON, FRIDAY_ALL_DAY, FRIDAY_MORNING, NOW, given, held, published
from .examples import registered as registered_at

GUANGZHOU = StoreLocation(23.1291, 113.2644)
STORES = {
    "GZ01": GUANGZHOU,
    "FS01": StoreLocation(23.0215, 113.1214),  # Foshan, 18.9 km
    "DG01": StoreLocation(23.0207, 113.7518),  # Dongguan, 51.3 km
    "SZ01": StoreLocation(22.5431, 114.0579),  # Shenzhen, 104.2 km
    "ST01": StoreLocation(23.3541, 116.6820),  # Shantou, 350.1 km
}

NEED = SupportNeed(
    specialty="hv_ev",
    minimum_level=Level.T2,
    starts_at=FRIDAY_AFTERNOON.starts_at,
    ends_at=FRIDAY_AFTERNOON.ends_at,
    requesting_store_id="GZ01",
    requesting_store=GUANGZHOU,
    at=NOW,
)


def technician(
    technician_id: str,
    store_id: str,
    level: Level = Level.T2,
    *more: TechnicianEvent,
    specialties: tuple[str, ...] = ("hv_ev", "diagnostics"),
) -> TechnicianState:
    state = given(
        registered_at(
            technician_id=technician_id, store_id=store_id, level=level, specialties=specialties
        ),
        published(FRIDAY_ALL_DAY, technician_id=technician_id),
        *more,
    )
    assert state is not None
    return state


def candidate(state: TechnicianState, recent_supports: int = 0) -> Candidate:
    return Candidate(state, STORES[state.store_id], recent_supports)


def ranked_ids(*candidates: Candidate) -> list[str]:
    return [match.technician_id for match in rank_candidates(NEED, candidates)]


def test_candidates_are_ranked_by_level_fit_distance_and_fairness() -> None:
    candidates = [
        candidate(technician("far", "ST01")),
        candidate(technician("lent-often", "FS01"), recent_supports=3),
        candidate(technician("dongguan", "DG01")),
        candidate(technician("overqualified", "FS01", Level.T3)),
        candidate(technician("best", "FS01")),
    ]

    assert ranked_ids(*candidates) == ["best", "overqualified", "dongguan", "lent-often", "far"]


def test_each_candidate_states_the_reason_for_its_rank_and_its_subsidy_tier() -> None:
    matches = rank_candidates(
        NEED,
        [
            candidate(technician("best", "FS01")),
            candidate(technician("regional", "SZ01", Level.T3), recent_supports=1),
            candidate(technician("far", "ST01")),
        ],
    )
    best, far, regional = matches

    assert best.reason == (
        "T2 for a T2 need (exact level); 18.9 km from FS01 (local subsidy 300 CNY); "
        "lent 0 times lately; score 0.89"
    )
    assert best.score == pytest.approx(0.3 * 1 + 0.4 * 50 / (50 + 18.898) + 0.3 * 1, abs=1e-3)
    assert regional.reason == (
        "T3 for a T2 need (overqualified by 1); 104.2 km from SZ01 "
        "(regional subsidy 500 CNY plus travel and lodging); lent 1 time lately; score 0.50"
    )
    assert far.reason.endswith(
        "(long distance subsidy 1,000 CNY plus travel and lodging); lent 0 times lately; score 0.65"
    )
    assert [(m.technician_id, m.subsidy.tier) for m in matches] == [
        ("best", SubsidyTier.LOCAL),
        ("far", SubsidyTier.LONG_DISTANCE),
        ("regional", SubsidyTier.REGIONAL),
    ]


def test_the_exact_level_is_preferred_over_an_overqualified_technician() -> None:
    assert ranked_ids(
        candidate(technician("t3", "FS01", Level.T3)), candidate(technician("t2", "FS01"))
    ) == ["t2", "t3"]


def test_the_nearer_technician_is_preferred_when_all_else_is_equal() -> None:
    assert ranked_ids(
        candidate(technician("shenzhen", "SZ01")), candidate(technician("foshan", "FS01"))
    ) == ["foshan", "shenzhen"]


def test_the_technician_lent_least_lately_is_preferred_when_all_else_is_equal() -> None:
    assert ranked_ids(
        candidate(technician("twice", "FS01"), recent_supports=2),
        candidate(technician("never", "FS01"), recent_supports=0),
    ) == ["never", "twice"]


def test_equal_scores_are_ordered_by_technician_id_so_the_order_is_stable() -> None:
    assert ranked_ids(candidate(technician("b", "FS01")), candidate(technician("a", "FS01"))) == [
        "a",
        "b",
    ]


def test_only_technicians_free_for_the_need_outside_the_requesting_store_are_candidates() -> None:
    leave = LeaveScheduled(
        store_id="FS01",
        technician_id="on-leave",
        occurred_at=NOW,
        leave_id="L-1",
        starts_at=FRIDAY_ALL_DAY.starts_at,
        ends_at=FRIDAY_ALL_DAY.ends_at,
        conflicting_support_ids=(),
    )
    left = TechnicianLeft(store_id="FS01", technician_id="left", occurred_at=NOW)
    no_window = given(registered_at(technician_id="no-window", store_id="FS01"))
    assert no_window is not None

    candidates = [
        candidate(technician("free", "FS01")),
        candidate(technician("same-store", "GZ01")),
        candidate(technician("busy", "FS01", Level.T2, held(technician_id="busy"))),
        candidate(technician("body-paint", "FS01", specialties=("body_paint",))),
        candidate(technician("junior", "FS01", Level.T1)),
        candidate(technician("left", "FS01", Level.T2, left)),
        candidate(technician("on-leave", "FS01", Level.T2, leave)),
        candidate(no_window),
    ]

    assert ranked_ids(*candidates) == ["free"]


def test_a_technician_held_only_outside_the_window_is_a_candidate() -> None:
    morning = technician("morning", "FS01", Level.T2, held(FRIDAY_MORNING, technician_id="morning"))

    assert ranked_ids(candidate(morning)) == ["morning"]


def test_a_hold_that_has_lapsed_does_not_keep_a_technician_from_the_match() -> None:
    lapsed = held(technician_id="lapsed", hold_expires_at=NOW - timedelta(minutes=5))

    assert ranked_ids(candidate(technician("lapsed", "FS01", Level.T2, lapsed))) == ["lapsed"]


def test_a_store_without_a_known_location_ranks_last_with_no_distance_or_subsidy() -> None:
    unknown = Candidate(technician("unknown", "XX01"), None, recent_supports=0)
    far = candidate(technician("far", "ST01"))

    matches = rank_candidates(NEED, [unknown, far])

    assert [m.technician_id for m in matches] == ["far", "unknown"]
    assert (matches[1].distance_km, matches[1].subsidy, matches[1].proximity) == (None, None, 0.0)
    assert "distance from XX01 unknown (no location in the store directory)" in matches[1].reason


def test_an_unknown_requesting_store_leaves_every_distance_unknown() -> None:
    need = replace(NEED, requesting_store=None)

    matches = rank_candidates(need, [candidate(technician("foshan", "FS01"))])

    assert [(m.technician_id, m.distance_km, m.subsidy) for m in matches] == [
        ("foshan", None, None)
    ]


def test_candidates_already_known_free_rank_as_the_full_check_ranks_them() -> None:
    candidates = [
        candidate(technician("far", "ST01")),
        candidate(technician("lent-often", "FS01"), recent_supports=3),
        candidate(technician("overqualified", "FS01", Level.T3)),
        candidate(technician("best", "FS01")),
    ]
    free = [
        FreeCandidate(
            c.technician.technician_id,
            c.technician.store_id,
            c.technician.name,
            c.technician.level,
            c.home_store,
            c.recent_supports,
        )
        for c in candidates
    ]

    assert rank_free(NEED, free) == rank_candidates(NEED, candidates)


def _candidates(rng: random.Random) -> list[FreeCandidate]:
    # Few stores and few levels and lent counts: many ties on score and on distance.
    stores = [StoreLocation(23 + rng.random(), 113 + rng.random()) for _ in range(4)] + [None]
    found = []
    for n in range(60):
        store = rng.randrange(len(stores))
        found.append(
            FreeCandidate(
                technician_id=f"T{rng.randrange(10_000):05d}-{n}",
                store_id=f"S{store}",
                name="Li Wei",
                level=rng.choice([Level.T2, Level.T3]),
                home_store=stores[store],
                recent_supports=rng.randint(0, 2),
            )
        )
    return found


def test_every_page_is_the_slice_of_the_whole_ranking_after_the_last_one_seen() -> None:
    candidates = _candidates(random.Random(7))
    whole = rank_free(NEED, candidates)
    assert len(whole) == 60 and len({r.score for r in whole}) < 30  # ties were ranked
    assert rank_page(NEED, candidates) == whole
    assert rank_page(NEED, candidates, limit=7) == whole[:7]
    for k, seen in enumerate(whole):
        assert rank_page(NEED, candidates, after=rank_key(seen), limit=4) == whole[k + 1 : k + 5]


def test_the_ranking_follows_the_rank_key() -> None:
    whole = rank_free(NEED, _candidates(random.Random(8)))
    keys = [rank_key(r) for r in whole]
    assert keys == sorted(keys)
    assert any(r.distance_km is None for r in whole[-12:])  # no distance, no proximity: low
