"""MatchSupport: who to ask for a support need, ranked with a stated score and subsidy tier."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from storemesh.workforce.v1 import workforce_pb2 as pb

from kernel.clock import ManualClock
from kernel.store_directory import store_directory
from tests.integration.rich_errors import failure, resource, violated_fields
from tests.integration.workforce_fixtures import (
    FRIDAY,
    NEXT_WEEK,
    WorkforceClient,
    china,
    hold,
    publish_day,
    register,
    ts,
    wf,
    workforce_service,
)

NEED = {
    "requesting_store_id": "GZ01",
    "specialty": "hv_ev",
    "minimum_level": pb.LEVEL_T2,
    "starts_at": ts(china(FRIDAY, 13)),
    "ends_at": ts(china(FRIDAY, 17)),
}


async def network(wf: WorkforceClient) -> None:
    """Technicians around Guangzhou (GZ01); only some of them can help on Friday afternoon."""
    async with wf.run.service.db.transaction("test.unlocated_store") as conn:
        await conn.execute(
            store_directory.insert().values(
                store_id="NL01", name="No location yet", region="", closed=False, version=1
            )
        )
    free = [
        ("FS-A", "FS01", pb.LEVEL_T2),  # Foshan, 18.9 km
        ("FS-B", "FS01", pb.LEVEL_T2),  # Foshan, lent already
        ("SZ-T3", "SZ01", pb.LEVEL_T3),  # Shenzhen, 104 km, overqualified
        ("ST-A", "ST01", pb.LEVEL_T2),  # Shantou, 350 km
        ("NL-A", "NL01", pb.LEVEL_T2),  # a store without a known location
        ("GZ-OWN", "GZ01", pb.LEVEL_T2),  # the requesting store's own
        ("DG-BUSY", "DG01", pb.LEVEL_T2),  # held elsewhere that afternoon
        ("JM-T1", "JM01", pb.LEVEL_T1),  # too junior
    ]
    for technician_id, store, level in free:
        await register(wf, technician_id, store, level)
        await publish_day(wf, technician_id)
    await register(wf, "HZ-NO-WINDOW", "HZ01")
    await register(wf, "FS-PAINT", "FS01", specialties=("body_paint",))
    await publish_day(wf, "FS-PAINT")
    await hold(wf, "DG-BUSY", "ZS01", hours=(14, 16))
    await publish_day(wf, "FS-B", NEXT_WEEK)
    lent = await hold(wf, "FS-B", "DG01", day=NEXT_WEEK, support_id="S-LENT")
    await wf.ConfirmSupport(technician_id="FS-B", support_id=lent.support_id)


async def test_candidates_are_free_outside_the_store_and_ranked_by_fit_distance_fairness(
    wf: WorkforceClient,
) -> None:
    await network(wf)

    response = await wf.MatchSupport(**NEED)

    ranked = [
        (c.technician_id, c.store_id, c.subsidy.tier, c.recent_supports)
        for c in response.candidates
    ]
    assert ranked == [
        ("FS-A", "FS01", pb.SUBSIDY_TIER_LOCAL, 0),
        ("FS-B", "FS01", pb.SUBSIDY_TIER_LOCAL, 1),
        ("SZ-T3", "SZ01", pb.SUBSIDY_TIER_REGIONAL, 0),
        ("ST-A", "ST01", pb.SUBSIDY_TIER_LONG_DISTANCE, 0),
        ("NL-A", "NL01", pb.SUBSIDY_TIER_UNSPECIFIED, 0),
    ]
    best, lent, expert, far, unknown = response.candidates
    assert best.score == pytest.approx(0.3 + 0.4 * 50 / (50 + best.distance_km) + 0.3)
    assert (best.level_fit, best.fairness) == (1.0, 1.0)
    assert best.reason == (
        "T2 for a T2 need (exact level); 18.9 km from FS01 (local subsidy 300 CNY); "
        "lent 0 times lately; score 0.89"
    )
    assert lent.fairness == 0.5
    assert expert.level_fit == 0.75
    assert (expert.subsidy.amount_fen, expert.subsidy.travel_and_lodging_paid) == (50_000, True)
    assert far.subsidy.amount_fen == 100_000
    assert not unknown.HasField("distance_km") and not unknown.HasField("subsidy")
    assert "distance from NL01 unknown" in unknown.reason


async def test_the_ranking_pages_in_order(wf: WorkforceClient) -> None:
    await network(wf)
    seen: list[str] = []
    token = ""
    for _ in range(5):
        page = await wf.MatchSupport(page_size=2, page_token=token, **NEED)
        seen += [c.technician_id for c in page.candidates]
        token = page.next_page_token
        if not token:
            break

    assert seen == ["FS-A", "FS-B", "SZ-T3", "ST-A", "NL-A"]


async def test_a_hold_that_lapsed_frees_the_technician_for_matching(
    wf: WorkforceClient, clock: ManualClock
) -> None:
    await network(wf)
    busy = await wf.GetTechnician(technician_id="DG-BUSY")
    (booking,) = busy.bookings
    before = await wf.MatchSupport(**NEED)
    clock.set(booking.hold_expires_at.ToDatetime(tzinfo=UTC))

    response = await wf.MatchSupport(**NEED)

    assert "DG-BUSY" not in [c.technician_id for c in before.candidates]
    assert "DG-BUSY" in [c.technician_id for c in response.candidates]


async def test_a_need_must_be_complete(wf: WorkforceClient) -> None:
    err = await failure(
        wf.MatchSupport(
            requesting_store_id="GZ01",
            specialty="",
            starts_at=ts(china(FRIDAY, 17)),
            ends_at=ts(china(FRIDAY, 13) - timedelta(hours=1)),
            page_size=1000,
        )
    )

    assert violated_fields(err) == ["ends_at", "minimum_level", "page_size", "specialty"]


async def test_a_requesting_store_without_a_known_location_sees_every_distance_unknown(
    wf: WorkforceClient,
) -> None:
    await network(wf)

    response = await wf.MatchSupport(**{**NEED, "requesting_store_id": "NL01"})

    ids = [c.technician_id for c in response.candidates]
    assert "FS-A" in ids and "GZ-OWN" in ids and "NL-A" not in ids
    assert not [c for c in response.candidates if c.HasField("distance_km")]
    assert not [c for c in response.candidates if c.HasField("subsidy")]


async def test_a_requesting_store_nobody_registered_is_not_found_though_others_are_free(
    wf: WorkforceClient,
) -> None:
    await network(wf)

    err = await failure(wf.MatchSupport(**{**NEED, "requesting_store_id": "XX99"}))

    assert resource(err) == ("store", "XX99")


async def test_technicians_of_a_closed_store_are_not_recommended(wf: WorkforceClient) -> None:
    """A store capacity closed takes part in nothing (FindStock and the nearby stores a
    diversion asks leave it out): its technicians are no lenders to recommend."""
    await network(wf)
    async with wf.run.service.db.transaction("test.closed_store") as conn:
        await conn.execute(
            store_directory.update()
            .where(store_directory.c.store_id == "FS01")
            .values(closed=True, version=store_directory.c.version + 1)
        )

    response = await wf.MatchSupport(**NEED)

    assert [c.technician_id for c in response.candidates] == ["SZ-T3", "ST-A", "NL-A"]
