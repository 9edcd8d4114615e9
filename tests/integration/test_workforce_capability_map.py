"""The technician capability map: filters, paging, and who is free to be lent in a window."""

from __future__ import annotations

import grpc
from storemesh.workforce.v1 import workforce_pb2 as pb

from tests.integration.rich_errors import failure, violated_fields
from tests.integration.workforce_fixtures import (
    FRIDAY,
    WorkforceClient,
    china,
    hold,
    publish_day,
    register,
    ts,
    wf,
    workforce_service,
)

TEAM = (
    # id, home store, level, specialties
    ("A-SZ01", "SZ01", pb.LEVEL_T1, ("maintenance",)),
    ("B-SZ01", "SZ01", pb.LEVEL_T2, ("hv_ev", "diagnostics")),
    ("C-SZ02", "SZ02", pb.LEVEL_T3, ("hv_ev", "adas")),
    ("D-GZ01", "GZ01", pb.LEVEL_T2, ("body_paint",)),
    ("E-GZ01", "GZ01", pb.LEVEL_T3, ("hv_ev",)),
    ("F-DG01", "DG01", pb.LEVEL_T2, ("hv_ev",)),
)


async def build_team(wf: WorkforceClient) -> None:
    for technician_id, store, level, specialties in TEAM:
        await register(wf, technician_id, store, level, specialties)


async def ids(wf: WorkforceClient, **filters: object) -> list[str]:
    response = await wf.ListTechnicians(page_size=100, **filters)
    return [t.technician_id for t in response.technicians]


async def test_the_map_filters_by_store_region_specialty_level_and_status(
    wf: WorkforceClient,
) -> None:
    await build_team(wf)
    await wf.ChangeStatus(technician_id="E-GZ01", status=pb.TECHNICIAN_STATUS_OFF_DUTY)

    assert await ids(wf) == [t[0] for t in TEAM]
    assert await ids(wf, store_id="SZ01") == ["A-SZ01", "B-SZ01"]
    assert await ids(wf, region="Shenzhen") == ["A-SZ01", "B-SZ01", "C-SZ02"]
    assert await ids(wf, specialty="hv_ev") == ["B-SZ01", "C-SZ02", "E-GZ01", "F-DG01"]
    assert await ids(wf, specialty="三电", minimum_level=pb.LEVEL_T3) == ["C-SZ02", "E-GZ01"]
    assert await ids(wf, minimum_level=pb.LEVEL_T2, region="Guangzhou") == ["D-GZ01", "E-GZ01"]
    assert await ids(wf, status=pb.TECHNICIAN_STATUS_OFF_DUTY) == ["E-GZ01"]
    assert await ids(wf, store_id="ZS01") == []


async def test_each_row_shows_region_level_specialties_status_and_this_weeks_windows(
    wf: WorkforceClient,
) -> None:
    await build_team(wf)
    await publish_day(wf, "C-SZ02", FRIDAY, pb.PART_OF_DAY_AFTERNOON)

    (row,) = (await wf.ListTechnicians(store_id="SZ02")).technicians

    assert (row.technician_id, row.store_id, row.region, row.level) == (
        "C-SZ02",
        "SZ02",
        "Shenzhen",
        pb.LEVEL_T3,
    )
    assert list(row.specialties) == ["adas", "hv_ev"]
    assert row.status == pb.TECHNICIAN_STATUS_ON_DUTY
    assert [(w.starts_at, w.ends_at) for w in row.availability] == [
        (ts(china(FRIDAY, 12)), ts(china(FRIDAY, 18)))
    ]


async def test_free_in_a_window_means_covered_by_availability_and_neither_booked_nor_on_leave(
    wf: WorkforceClient,
) -> None:
    await build_team(wf)
    for technician_id in ("B-SZ01", "C-SZ02", "E-GZ01", "F-DG01"):
        await publish_day(wf, technician_id, FRIDAY, pb.PART_OF_DAY_MORNING)
        await publish_day(wf, technician_id, FRIDAY, pb.PART_OF_DAY_AFTERNOON)
    await hold(wf, "C-SZ02", "GZ01", hours=(10, 14))
    await wf.ScheduleLeave(
        technician_id="E-GZ01", starts_at=ts(china(FRIDAY, 15)), ends_at=ts(china(FRIDAY, 18))
    )
    await wf.WithdrawAvailability(technician_id="F-DG01", window_id=await window_of(wf, "F-DG01"))

    # Morning and afternoon touch at noon, so 11:00-13:00 is covered for B.
    free = await ids(wf, available_from=ts(china(FRIDAY, 11)), available_to=ts(china(FRIDAY, 16)))
    free_early = await ids(
        wf, available_from=ts(china(FRIDAY, 8)), available_to=ts(china(FRIDAY, 10))
    )

    assert free == ["B-SZ01"]
    assert free_early == ["B-SZ01", "C-SZ02", "E-GZ01"]


async def window_of(wf: WorkforceClient, technician_id: str) -> str:
    technician = await wf.GetTechnician(technician_id=technician_id)
    return technician.availability[0].window_id


async def test_the_map_pages_through_every_technician_once(wf: WorkforceClient) -> None:
    await build_team(wf)
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = await wf.ListTechnicians(page_size=4, page_token=token, minimum_level=pb.LEVEL_T2)
        seen += [t.technician_id for t in page.technicians]
        token = page.next_page_token
        if not token:
            break

    foreign = await failure(wf.ListTechnicians(page_size=4, page_token=token or "x"))

    assert seen == ["B-SZ01", "C-SZ02", "D-GZ01", "E-GZ01", "F-DG01"]
    assert foreign.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_half_given_window_or_a_bad_filter_is_refused(wf: WorkforceClient) -> None:
    err = await failure(
        wf.ListTechnicians(
            available_from=ts(china(FRIDAY, 8)), specialty="?", store_id="S Z", status=42
        )
    )

    assert violated_fields(err) == ["available_to", "specialty", "status", "store_id"]
