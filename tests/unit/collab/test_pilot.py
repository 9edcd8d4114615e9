"""domain.md's pilot rule as collab applies it: only participating stores are recommended
as sources, lenders or receivers; the field's month 1 (Shenzhen, Guangzhou, Dongguan)."""

from __future__ import annotations

from datetime import date

from services.collab.domain.pilot import NO_PILOT, Participation, Pilot

MONTH_1 = date(2026, 11, 1)
PILOT = Pilot(
    {
        "SZ01": Participation("SZ01", MONTH_1),
        "GZ01": Participation("GZ01", MONTH_1),
        "DG01": Participation("DG01", MONTH_1, left_on=date(2026, 11, 20)),
        "FS01": Participation("FS01", date(2026, 12, 1)),  # month 2's region
    }
)


def test_without_a_pilot_every_store_is_recommended() -> None:
    assert NO_PILOT.keep(["SZ01", "ZH01"], str, MONTH_1) == ["SZ01", "ZH01"]


def test_only_stores_taking_part_that_day_are_kept_in_their_order() -> None:
    candidates = ["ZH01", "FS01", "DG01", "SZ01", "GZ01"]
    assert PILOT.keep(candidates, str, date(2026, 11, 10)) == ["DG01", "SZ01", "GZ01"]


def test_left_on_is_the_first_day_out_and_joined_on_the_first_day_in() -> None:
    assert PILOT.recommendable("DG01", date(2026, 11, 19))
    assert not PILOT.recommendable("DG01", date(2026, 11, 20))
    assert not PILOT.recommendable("FS01", date(2026, 11, 30))
    assert PILOT.recommendable("FS01", date(2026, 12, 1))
    assert not PILOT.recommendable("SZ01", date(2026, 10, 31))


def test_a_store_hq_never_named_is_not_recommended_once_a_pilot_is_staged() -> None:
    assert not PILOT.recommendable("ZH01", date(2026, 12, 15))
