"""What the workforce service refuses, and that a refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import grpc
from storemesh.workforce.v1 import workforce_pb2 as pb

from tests.integration.rich_errors import (
    event_count,
    failure,
    reason,
    resource,
    violated_fields,
)
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


async def test_a_malformed_hold_names_every_bad_field_and_records_nothing(
    wf: WorkforceClient,
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    before = await event_count(wf.run)

    err = await failure(
        wf.HoldSupport(
            request_id="",
            technician_id="T 1",
            host_store_id="GZ.01",
            specialty="high voltage!",
            minimum_level=9,
            starts_at=ts(china(FRIDAY, 17)),
            ends_at=ts(china(FRIDAY, 13)),
        )
    )

    assert violated_fields(err) == [
        "ends_at",
        "host_store_id",
        "minimum_level",
        "request_id",
        "specialty",
        "technician_id",
    ]
    assert await event_count(wf.run) == before


async def test_a_malformed_registration_is_refused_field_by_field(wf: WorkforceClient) -> None:
    err = await failure(
        wf.RegisterTechnician(
            technician_id="T-1",
            store_id="SZ01",
            name=" ",
            level=pb.LEVEL_UNSPECIFIED,
            specialties=["hv_ev", "??"],
            certifications=[pb.Certification(name="HV", issued_on="2025-13-01")],
        )
    )
    domain_err = await failure(
        wf.RegisterTechnician(
            technician_id="T-1", store_id="SZ01", name=" ", level=pb.LEVEL_T1, specialties=["??"]
        )
    )

    assert violated_fields(err) == ["certifications[0].issued_on", "level"]
    assert violated_fields(domain_err) == ["name", "specialties[0]"]
    assert await event_count(wf.run) == 0


async def test_availability_is_either_a_span_or_a_part_of_a_day(wf: WorkforceClient) -> None:
    await register(wf, "T-SZ01-1")
    before = await event_count(wf.run)

    both = await failure(
        wf.PublishAvailability(
            technician_id="T-SZ01-1",
            starts_at=ts(china(FRIDAY, 8)),
            ends_at=ts(china(FRIDAY, 12)),
            weekday=pb.WEEKDAY_FRIDAY,
        )
    )
    half = await failure(
        wf.PublishAvailability(technician_id="T-SZ01-1", weekday=pb.WEEKDAY_FRIDAY)
    )
    friday_afternoon = await wf.PublishAvailability(
        technician_id="T-SZ01-1",
        window_id="W-FRI-PM",
        week_of=(FRIDAY - timedelta(days=3)).isoformat(),
        weekday=pb.WEEKDAY_FRIDAY,
        part_of_day=pb.PART_OF_DAY_AFTERNOON,
    )

    assert violated_fields(both) == ["starts_at"]
    assert violated_fields(half) == ["part_of_day", "week_of"]
    (window,) = friday_afternoon.availability
    assert (window.window_id, window.starts_at, window.ends_at) == (
        "W-FRI-PM",
        ts(china(FRIDAY, 12)),
        ts(china(FRIDAY, 18)),
    )
    assert await event_count(wf.run) == before + 1


async def test_a_business_rule_refusal_says_why_and_records_nothing(wf: WorkforceClient) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    before = await event_count(wf.run)

    at_home = await failure(hold(wf, "T-SZ01-1", "SZ01"))
    too_junior = await failure(hold(wf, "T-SZ01-1", minimum_level=pb.LEVEL_T3))
    outside = await failure(hold(wf, "T-SZ01-1", day=FRIDAY + timedelta(days=1)))

    assert [e.code() for e in (at_home, too_junior, outside)] == [
        grpc.StatusCode.FAILED_PRECONDITION
    ] * 3
    assert [reason(e) for e in (at_home, too_junior, outside)] == [
        "SUPPORT_AT_HOME_STORE",
        "LEVEL_TOO_LOW",
        "OUTSIDE_AVAILABILITY",
    ]
    assert await event_count(wf.run) == before


async def test_unknown_technicians_and_stores_are_not_found(wf: WorkforceClient) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")

    technician = await failure(wf.GetTechnician(technician_id="T-NOBODY"))
    store = await failure(register(wf, "T-2", store_id="XX99"))
    host = await failure(hold(wf, "T-SZ01-1", "XX99"))
    support = await failure(wf.ConfirmSupport(technician_id="T-SZ01-1", support_id="S-NONE"))

    assert resource(technician) == ("technician", "T-NOBODY")
    assert resource(store) == ("store", "XX99")
    assert resource(host) == ("store", "XX99")
    assert resource(support) == ("support", "S-NONE")


async def test_tokens_act_only_for_their_stores(
    wf: WorkforceClient, mint: Callable[..., str]
) -> None:
    sz01, gz01, dg01 = (wf.as_(mint("dms", store)) for store in ("SZ01", "GZ01", "DG01"))
    partner = wf.as_(mint("partner"))
    await register(sz01, "T-SZ01-1")
    await publish_day(sz01, "T-SZ01-1")

    denied = [
        await failure(register(sz01, "T-GZ01-1", store_id="GZ01")),
        await failure(gz01.ChangeLevel(technician_id="T-SZ01-1", level=pb.LEVEL_T3)),
        await failure(publish_day(gz01, "T-SZ01-1", FRIDAY + timedelta(days=7))),
        # The home store lends; asking for help is the host store's to do.
        await failure(hold(sz01, "T-SZ01-1", "GZ01")),
        await failure(hold(partner, "T-SZ01-1", "GZ01")),
    ]
    held = await hold(gz01, "T-SZ01-1", "GZ01", support_id="S-1")
    denied += [
        await failure(gz01.ConfirmSupport(technician_id="T-SZ01-1", support_id="S-1")),
        await failure(dg01.CancelSupport(technician_id="T-SZ01-1", support_id="S-1", reason="x")),
    ]
    confirmed = await sz01.ConfirmSupport(technician_id="T-SZ01-1", support_id="S-1")
    seen_by_partner = await partner.GetTechnician(technician_id="T-SZ01-1")
    anonymous = await failure(
        wf.stub.GetTechnician(pb.GetTechnicianRequest(technician_id="T-SZ01-1"))
    )

    assert [e.code() for e in denied] == [grpc.StatusCode.PERMISSION_DENIED] * len(denied)
    assert held.status == pb.SUPPORT_STATUS_HELD
    assert confirmed.status == pb.SUPPORT_STATUS_CONFIRMED
    assert [b.status for b in seen_by_partner.bookings] == [pb.SUPPORT_STATUS_CONFIRMED]
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
