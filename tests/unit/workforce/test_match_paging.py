"""A page of the ranking is the slice of the whole ranking after the last one seen."""

from __future__ import annotations

import random

from services.workforce.domain.capability import Level
from services.workforce.domain.matching import (
    FreeCandidate,
    StoreLocation,
    SupportNeed,
    rank_free,
    rank_key,
    rank_page,
)

from .examples import FRIDAY_AFTERNOON, NOW

HOST = StoreLocation(23.1291, 113.2644)
NEED = SupportNeed(
    specialty="hv_ev",
    minimum_level=Level.T2,
    starts_at=FRIDAY_AFTERNOON.starts_at,
    ends_at=FRIDAY_AFTERNOON.ends_at,
    requesting_store_id="GZ01",
    requesting_store=HOST,
    at=NOW,
)


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
