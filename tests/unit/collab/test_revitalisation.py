"""Stale stock revitalisation: who should take a store's stale stock, and what it earns."""

from __future__ import annotations

from datetime import UTC, datetime

from services.collab.domain.events import CollaborationCostRecorded, ContributionRecorded
from services.collab.domain.revitalisation import (
    StaleLot,
    Use,
    rank_receivers,
    revitalised,
)
from services.collab.domain.sourcing import Location

NOW = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
GUANGZHOU = Location(23.129, 113.264)
FOSHAN = Location(23.022, 113.121)  # ~19 km from Guangzhou
DONGGUAN = Location(23.021, 113.752)  # ~51 km
SHENZHEN = Location(22.543, 114.058)  # ~104 km
# Guangzhou's 5 headlamps have not moved for 120 days.
LOT = StaleLot("GZ01", "HL-200", "Headlamp", 5, 240_000, 120, True, False, 5, 240_000, 0)
# Guangzhou fits a headlamp every three days and holds 69: 9 beyond its 60 of cover.
OVERSTOCK = StaleLot("GZ01", "HL-200", "Headlamp", 69, 3_312_000, 0, False, True, 9, 432_000, 60)


def ranked(*uses: Use, limit: int = 3) -> list[tuple[str, int]]:
    return [(r.store_id, r.quantity) for r in rank_receivers(LOT, GUANGZHOU, uses, limit)]


def test_given_stores_that_use_the_part_when_ranked_then_the_biggest_use_comes_first() -> None:
    assert ranked(
        Use("FS01", 1, 0, FOSHAN),
        Use("SZ01", 4, 0, SHENZHEN),
        Use("DG01", 2, 0, DONGGUAN),
    ) == [("SZ01", 4), ("DG01", 2), ("FS01", 1)]


def test_given_a_store_that_does_not_use_the_part_then_it_is_not_recommended() -> None:
    assert ranked(Use("FS01", 0, 0, FOSHAN), Use("DG01", 0, 1, DONGGUAN)) == [("DG01", 1)]


def test_given_the_giver_itself_uses_the_part_then_it_is_never_its_own_receiver() -> None:
    assert ranked(Use("GZ01", 9, 9, GUANGZHOU)) == []


def test_given_equal_use_then_the_store_that_ran_short_comes_before_the_nearer_one() -> None:
    assert ranked(Use("FS01", 2, 0, FOSHAN), Use("SZ01", 1, 1, SHENZHEN)) == [
        ("SZ01", 2),
        ("FS01", 2),
    ]


def test_given_equal_use_and_shortages_then_the_nearer_store_comes_first() -> None:
    assert ranked(Use("SZ01", 2, 0, SHENZHEN), Use("FS01", 2, 0, FOSHAN)) == [
        ("FS01", 2),
        ("SZ01", 2),
    ]


def test_given_more_need_than_stale_stock_then_it_takes_no_more_than_there_is() -> None:
    (best,) = rank_receivers(LOT, GUANGZHOU, [Use("DG01", 30, 4, DONGGUAN)])
    assert best.quantity == 5
    assert best.reasons[:3] == (
        "would use 5 of the 5 idle 120 days",
        "issued 30 in the last 30 days",
        "ran short of 4 in the last 30 days",
    )
    assert best.reasons[3].endswith("km away")


def test_given_an_overstocked_lot_then_receivers_take_no_more_than_its_excess() -> None:
    (best,) = rank_receivers(OVERSTOCK, GUANGZHOU, [Use("DG01", 30, 0, DONGGUAN)])
    assert best.quantity == 9
    assert best.reasons[0] == "would use 9 of the 9 beyond the giver's cover of 60"
    (small,) = rank_receivers(OVERSTOCK, GUANGZHOU, [Use("DG01", 2, 1, DONGGUAN)])
    assert small.quantity == 3


def test_given_an_unknown_location_then_it_ranks_after_a_known_one_at_equal_use() -> None:
    assert ranked(Use("XX01", 2, 0, None), Use("SZ01", 2, 0, SHENZHEN)) == [
        ("SZ01", 2),
        ("XX01", 2),
    ]


def test_given_a_revitalisation_completed_then_ten_points_and_hq_bears_the_write_down() -> None:
    entries = [
        ContributionRecorded("GZ01", "transfer", 1, "transfer", "T-9", NOW),
        CollaborationCostRecorded("DG01", "freight", 3_000, "transfer", "T-9", "2026-11", NOW),
    ]
    assert revitalised(entries, 12_000, NOW) == [
        ContributionRecorded("GZ01", "revitalisation", 10, "transfer", "T-9", NOW),
        CollaborationCostRecorded("DG01", "freight", 3_000, "transfer", "T-9", "2026-11", NOW),
        CollaborationCostRecorded("GZ01", "write_down", 12_000, "transfer", "T-9", "2026-11", NOW),
    ]


def test_given_no_write_down_agreed_then_only_the_points_change() -> None:
    entries = [ContributionRecorded("GZ01", "transfer", 1, "transfer", "T-9", NOW)]
    assert revitalised(entries, 0, NOW) == [
        ContributionRecorded("GZ01", "revitalisation", 10, "transfer", "T-9", NOW)
    ]
