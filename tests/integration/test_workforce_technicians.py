"""A technician's profile over gRPC: levels, specialties, certificates, transfers, leave."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import grpc
from storemesh.workforce.v1 import workforce_pb2 as pb

from kernel.clock import ManualClock
from tests.integration.rich_errors import failure, reason
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


async def test_promotion_specialties_and_certificates_show_on_the_map(
    wf: WorkforceClient, mint: Callable[..., str]
) -> None:
    home = wf.as_(mint("manager", "SZ01"))
    await register(home, "T-SZ01-1", level=pb.LEVEL_T1, specialties=("maintenance",))

    await home.ChangeLevel(technician_id="T-SZ01-1", level=pb.LEVEL_T2)
    await home.AddSpecialty(technician_id="T-SZ01-1", specialty="ADAS")
    await home.RemoveSpecialty(technician_id="T-SZ01-1", specialty="maintenance")
    technician = await home.RecordCertification(
        technician_id="T-SZ01-1",
        certification=pb.Certification(
            name="HV safety", issued_on="2026-01-10", expires_on="2029-01-10"
        ),
    )
    adas_t2 = await wf.ListTechnicians(specialty="adas", minimum_level=pb.LEVEL_T2)

    assert technician.level == pb.LEVEL_T2
    assert list(technician.specialties) == ["adas"]
    assert [(c.name, c.issued_on, c.expires_on) for c in technician.certifications] == [
        ("HV safety", "2026-01-10", "2029-01-10")
    ]
    assert [t.technician_id for t in adas_t2.technicians] == ["T-SZ01-1"]


async def test_a_transfer_moves_the_technician_and_cancels_support_at_the_new_home(
    wf: WorkforceClient, clock: ManualClock
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    await hold(wf, "T-SZ01-1", "GZ01", support_id="S-1")

    moved = await wf.TransferTechnician(technician_id="T-SZ01-1", to_store_id="GZ01")
    history = await wf.GetTechnicianHistory(technician_id="T-SZ01-1")
    clock.advance(timedelta(days=3))
    fired = await wf.run.service.timers.run_due()

    assert (moved.store_id, moved.region, list(moved.bookings)) == ("GZ01", "Guangzhou", [])
    (record,) = history.supports
    assert (record.support.status, record.cancel_reason) == (
        pb.SUPPORT_STATUS_CANCELLED,
        "HOST_BECAME_HOME_STORE",
    )
    assert fired == 0  # the cancelled hold's expiry timer went with it
    assert [t.technician_id for t in (await wf.ListTechnicians(store_id="GZ01")).technicians] == [
        "T-SZ01-1"
    ]


async def test_leave_over_a_booking_is_recorded_and_blocks_new_holds(wf: WorkforceClient) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    await hold(wf, "T-SZ01-1", support_id="S-1", hours=(8, 12))

    on_leave = await wf.ScheduleLeave(
        technician_id="T-SZ01-1",
        leave_id="L-1",
        starts_at=ts(china(FRIDAY, 8)),
        ends_at=ts(china(FRIDAY, 18)),
    )
    refused = await failure(hold(wf, "T-SZ01-1", "DG01", hours=(13, 17)))
    await wf.CancelLeave(technician_id="T-SZ01-1", leave_id="L-1")
    afterwards = await hold(wf, "T-SZ01-1", "DG01", hours=(13, 17))

    assert [x.leave_id for x in on_leave.leaves] == ["L-1"]
    assert reason(refused) == "TECHNICIAN_ON_LEAVE"
    assert afterwards.status == pb.SUPPORT_STATUS_HELD


async def test_a_technician_who_left_is_off_the_match_and_their_holds_are_cancelled(
    wf: WorkforceClient,
) -> None:
    await register(wf, "T-SZ01-1")
    await publish_day(wf, "T-SZ01-1")
    await hold(wf, "T-SZ01-1", support_id="S-1")

    left = await wf.LeaveCompany(technician_id="T-SZ01-1")
    refused = await failure(wf.ChangeLevel(technician_id="T-SZ01-1", level=pb.LEVEL_T3))
    matches = await wf.MatchSupport(
        requesting_store_id="DG01",
        specialty="hv_ev",
        minimum_level=pb.LEVEL_T1,
        starts_at=ts(china(FRIDAY, 8)),
        ends_at=ts(china(FRIDAY, 10)),
    )

    assert (left.status, list(left.bookings)) == (pb.TECHNICIAN_STATUS_LEFT, [])
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(refused) == "TECHNICIAN_LEFT"
    assert list(matches.candidates) == []
