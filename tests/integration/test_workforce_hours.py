"""Shifts and productive hours: technician and store utilisation over a date range."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import select
from storemesh.workforce.v1 import workforce_pb2 as pb

from kernel.eventstore import snapshots
from tests.integration.rich_errors import (
    event_count,
    failure,
    reason,
    resource,
    violated_fields,
)
from tests.integration.workforce_fixtures import (
    MONDAY,
    WorkforceClient,
    hold,
    publish_day,
    register,
    wf,
    workforce_service,
)

TUESDAY = "2026-11-03"


async def hours(wf: WorkforceClient) -> None:
    await register(wf, "A-SZ01", "SZ01")
    await register(wf, "B-SZ01", "SZ01")
    await register(wf, "C-GZ01", "GZ01")
    monday = MONDAY.isoformat()
    for technician_id, day, planned in (
        ("A-SZ01", monday, 8.0),
        ("A-SZ01", TUESDAY, 8.0),
        ("A-SZ01", monday, 10.0),  # re-planned: replaces the 8 hours
        ("B-SZ01", monday, 8.0),
        ("C-GZ01", monday, 8.0),
    ):
        await wf.PlanShift(technician_id=technician_id, day=day, available_hours=planned)
    for technician_id, job, day, worked in (
        ("A-SZ01", "RO-1", monday, 5.0),
        ("A-SZ01", "RO-2", monday, 2.0),
        ("A-SZ01", "RO-3", TUESDAY, 6.0),
        ("B-SZ01", "RO-4", monday, 4.0),
        ("C-GZ01", "RO-5", monday, 8.0),
    ):
        await wf.LogProductiveHours(technician_id=technician_id, job_id=job, day=day, hours=worked)


async def test_utilisation_is_productive_over_planned_hours_of_a_technician_or_a_store(
    wf: WorkforceClient,
) -> None:
    await hours(wf)
    span = {"from_date": MONDAY.isoformat(), "to_date": TUESDAY}

    technician = await wf.GetUtilisation(technician_id="A-SZ01", **span)
    store = await wf.GetUtilisation(store_id="SZ01", **span)
    today = await wf.GetUtilisation(technician_id="A-SZ01")
    idle = await wf.GetUtilisation(store_id="ZS01", **span)

    assert (technician.productive_hours, technician.available_hours) == (13.0, 18.0)
    assert technician.utilisation == pytest.approx(13 / 18)
    assert (store.productive_hours, store.available_hours) == (17.0, 26.0)
    assert (today.from_date, today.to_date) == ("2026-10-04", "2026-11-02")
    assert (today.productive_hours, today.available_hours) == (7.0, 10.0)
    assert not idle.HasField("utilisation")


async def test_a_utilisation_query_names_one_technician_or_one_store_and_a_real_range(
    wf: WorkforceClient,
) -> None:
    await register(wf, "A-SZ01", "SZ01")
    before = await event_count(wf.run)

    both = await failure(wf.GetUtilisation(technician_id="A-SZ01", store_id="SZ01"))
    backwards = await failure(
        wf.GetUtilisation(store_id="SZ01", from_date=TUESDAY, to_date=MONDAY.isoformat())
    )
    unknown = await failure(wf.GetUtilisation(technician_id="NOBODY"))
    bad_hours = await failure(
        wf.PlanShift(technician_id="A-SZ01", day="2026-11-31", available_hours=8)
    )
    too_long = await failure(wf.PlanShift(technician_id="A-SZ01", day=TUESDAY, available_hours=25))

    assert violated_fields(both) == ["technician_id"]
    assert violated_fields(backwards) == ["from_date"]
    assert resource(unknown) == ("technician", "NOBODY")
    assert violated_fields(bad_hours) == ["day"]
    assert violated_fields(too_long) == ["available_hours"]
    assert await event_count(wf.run) == before


async def test_a_long_history_is_loaded_from_its_snapshot_with_every_fact_intact(
    wf: WorkforceClient,
) -> None:
    await wf.RegisterTechnician(
        technician_id="A-SZ01",
        store_id="SZ01",
        name="Li Wei",
        level=pb.LEVEL_T3,
        specialties=["hv_ev", "adas"],
        certifications=[pb.Certification(name="HV safety", issued_on="2025-01-10")],
    )
    await publish_day(wf, "A-SZ01")
    await hold(wf, "A-SZ01", support_id="S-1")
    for job in range(50):  # a snapshot is taken every 50 events
        await wf.LogProductiveHours(
            technician_id="A-SZ01", job_id=f"RO-{job}", day=MONDAY.isoformat(), hours=0.1
        )

    confirmed = await wf.ConfirmSupport(technician_id="A-SZ01", support_id="S-1")
    technician = await wf.GetTechnician(technician_id="A-SZ01")

    assert confirmed.status == pb.SUPPORT_STATUS_CONFIRMED
    assert list(technician.specialties) == ["adas", "hv_ev"]
    assert [(c.name, c.issued_on, c.expires_on) for c in technician.certifications] == [
        ("HV safety", "2025-01-10", "")
    ]
    assert len(technician.availability) == 1
    assert await snapshot_version(wf, "technician/A-SZ01") == 50


async def snapshot_version(wf: WorkforceClient, stream_id: str) -> int:
    async with wf.run.service.db.transaction("test.snapshot") as conn:
        found = await conn.scalar(
            select(snapshots.c.version).where(snapshots.c.stream_id == stream_id)
        )
    return int(found or 0)


async def test_a_days_productive_hours_never_add_up_past_24(wf: WorkforceClient) -> None:
    """Each log and each planned shift is at most 24 hours; so is what a technician's logs of
    one day add up to (25 hours of work in a day skewed utilisation and every KPI on it)."""
    await register(wf, "A-SZ01", "SZ01")
    monday = MONDAY.isoformat()
    await wf.LogProductiveHours(technician_id="A-SZ01", job_id="RO-1", day=monday, hours=20.0)
    before = await event_count(wf.run)

    refused = await failure(
        wf.LogProductiveHours(technician_id="A-SZ01", job_id="RO-2", day=monday, hours=5.0)
    )

    assert (refused.code(), reason(refused)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PRODUCTIVE_HOURS_EXCEED_DAY",
    )
    assert await event_count(wf.run) == before
    await wf.LogProductiveHours(technician_id="A-SZ01", job_id="RO-2", day=monday, hours=4.0)
    await wf.LogProductiveHours(technician_id="A-SZ01", job_id="RO-3", day=TUESDAY, hours=5.0)
    logged = await wf.GetUtilisation(technician_id="A-SZ01", from_date=monday, to_date=TUESDAY)
    assert logged.productive_hours == 29.0
