"""Ranking the sources of a transfer: enough available, near, least harm, stale preferred."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.collab.domain.sourcing import Holding, Location, rank_sources

NOW = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
GUANGZHOU = Location(23.129, 113.264)
FOSHAN = Location(23.022, 113.121)  # ~19 km
DONGGUAN = Location(23.021, 113.752)  # ~51 km
SHENZHEN = Location(22.543, 114.058)  # ~104 km


def holding(
    store: str,
    available: int,
    where: Location | None,
    demand: int = 0,
    idle_days: int = 1,
) -> Holding:
    return Holding(store, available, NOW - timedelta(days=idle_days), demand, where)


def ranked(*holdings: Holding, quantity: int = 2) -> list[str]:
    return [c.store_id for c in rank_sources("GZ01", GUANGZHOU, holdings, quantity, NOW)]


def test_only_stores_with_enough_available_are_candidates_and_never_the_requester() -> None:
    assert ranked(
        holding("FS01", 1, FOSHAN),
        holding("DG01", 2, DONGGUAN),
        holding("GZ01", 9, GUANGZHOU),
    ) == ["DG01"]


def test_the_nearer_store_ranks_first_when_nothing_else_differs() -> None:
    assert ranked(holding("SZ01", 5, SHENZHEN), holding("DG01", 5, DONGGUAN)) == ["DG01", "SZ01"]


def test_a_giver_left_short_of_its_own_demand_ranks_below_a_farther_one() -> None:
    # Foshan would keep 1 against 30 issued a month (one day of cover).
    order = ranked(holding("FS01", 3, FOSHAN, demand=30), holding("DG01", 6, DONGGUAN))
    assert order == ["DG01", "FS01"]


def test_stale_stock_at_the_giver_is_preferred_over_a_slightly_nearer_store() -> None:
    order = ranked(holding("FS01", 5, FOSHAN), holding("DG01", 5, DONGGUAN, idle_days=120))
    assert order == ["DG01", "FS01"]


def test_each_candidate_says_why_it_ranks_where_it_does() -> None:
    (best,) = rank_sources(
        "GZ01", GUANGZHOU, [holding("DG01", 5, DONGGUAN, demand=6, idle_days=120)], 2, NOW
    )
    assert best.available_after == 3
    assert best.idle_days == 120
    assert best.distance_km is not None and 45 < best.distance_km < 60
    assert best.reasons[0] == "has 5 available, enough for 2"
    assert best.reasons[1].endswith("km away")
    assert "about 15 days of cover" in best.reasons[2]
    assert best.reasons[3].startswith("stale stock, idle 120 days")


def test_an_unknown_location_ranks_as_if_far_and_says_so() -> None:
    (first, second) = rank_sources(
        "GZ01", GUANGZHOU, [holding("XX01", 5, None), holding("SZ01", 5, SHENZHEN)], 1, NOW
    )
    assert (first.store_id, second.store_id) == ("SZ01", "XX01")
    assert second.distance_km is None
    assert "location unknown" in second.reasons[1]


def test_the_limit_keeps_the_best() -> None:
    stores = [holding(f"S{i:02d}", 5, Location(23.1 + i / 100, 113.2)) for i in range(10)]
    top = rank_sources("GZ01", GUANGZHOU, stores, 1, NOW, limit=3)
    assert len(top) == 3
    assert [c.score for c in top] == sorted((c.score for c in top), reverse=True)
