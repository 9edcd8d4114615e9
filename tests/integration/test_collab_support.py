"""SOP 2 end to end: collab and the real workforce service over gRPC, PostgreSQL and NATS.

Shenzhen (SZ01) has a battery fault beyond its technicians: Dongguan's T3 (62 km, the
regional band) is matched first, Guangzhou's second. Time moves only on the ManualClock;
deadlines fire through `timers.run_due()`; the saga's calls to workforce are performed by
collab's dispatcher in the background, so each step is awaited (bounded).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2 as wpb

from kernel.clock import ManualClock
from kernel.saga import pending_calls
from kernel.testing.servers import free_port
from tests.integration.collab_fixtures import collab_db_url
from tests.integration.kernel_fixtures import eventually
from tests.integration.rich_errors import failure, reason, violated_fields
from tests.integration.sops_fixtures import (
    collab_with_workforce,
    points,
    reached,
    saga_types,
)
from tests.integration.workforce_fixtures import (
    FRIDAY,
    WorkforceClient,
    china,
    publish_day,
    register,
    ts,
    wf,
    workforce_service,
)

__all__ = ["collab_db_url", "collab_with_workforce", "wf", "workforce_service"]

Mint = Callable[..., str]
SZ, DG, GZ = "SZ01", "DG01", "GZ01"
BATTERY = "SZ-battery-1"


async def technicians(wf: WorkforceClient) -> None:
    await register(wf, "DG-T3", DG, level=wpb.LEVEL_T3, specialties=("hv_ev",), name="Chen Hao")
    await publish_day(wf, "DG-T3", FRIDAY, wpb.PART_OF_DAY_AFTERNOON)
    await register(wf, "GZ-T3", GZ, level=wpb.LEVEL_T3, specialties=("hv_ev",), name="Wu Lei")
    await publish_day(wf, "GZ-T3", FRIDAY, wpb.PART_OF_DAY_ALL_DAY)


async def ask(client: Any, request_id: str = "5b2f0a3e-0000-4000-8000-000000000001") -> Any:
    return await client.RequestSupport(
        request_id=request_id,
        store_id=SZ,
        specialty="hv_ev",
        minimum_level=pb.TECHNICIAN_LEVEL_T3,
        starts_at=ts(china(FRIDAY, 12)),
        ends_at=ts(china(FRIDAY, 18)),
        fault="battery pack isolation fault, beyond our T2s",
    )


def getter(client: Any, support_id: str) -> Callable[[], Any]:
    return lambda: client.GetSupport(support_id=support_id)


async def ended(client: Any, support_id: str) -> Any:
    """The support once it has ended with no technician, or stuck."""

    async def probe() -> Any:
        found = await client.GetSupport(support_id=support_id)
        final = (pb.SUPPORT_STAGE_NO_TECHNICIAN, pb.SUPPORT_STAGE_STUCK)
        return found if found.stage in final else None

    return await eventually(probe)


async def test_sop2_end_to_end_checked_in_completed_settled_and_rated(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint, clock: ManualClock
) -> None:
    await technicians(wf)
    async with collab_with_workforce() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        dongguan = collab.client(mint("manager", DG))
        hq = collab.client(mint("hq"))

        asked = await ask(shenzhen)
        support_id = asked.support_id
        assert list(asked.candidate_technician_ids) == ["DG-T3", "GZ-T3"]
        waiting = await reached(getter(hq, support_id), pb.SUPPORT_STAGE_AWAITING_APPROVAL)
        assert (waiting.technician_id, waiting.lending_store_id) == ("DG-T3", DG)
        assert waiting.subsidy_fen == 50_000 and waiting.travel_and_lodging_paid
        held = await wf.GetTechnician(technician_id="DG-T3")
        assert [b.status for b in held.bookings] == [wpb.SUPPORT_STATUS_HELD]

        await dongguan.ApproveSupport(
            request_id="5b2f0a3e-0000-4000-8000-000000000002", support_id=support_id
        )
        await reached(getter(hq, support_id), pb.SUPPORT_STAGE_SCHEDULED)
        # The work order goes out the day before: the durable timer confirms the booking.
        clock.set(china(FRIDAY, 12) - timedelta(days=1))
        await collab.running.service.timers.run_due()
        await reached(getter(hq, support_id), pb.SUPPORT_STAGE_AWAITING_ARRIVAL)
        booked = await wf.GetTechnician(technician_id="DG-T3")
        assert [b.status for b in booked.bookings] == [wpb.SUPPORT_STATUS_CONFIRMED]

        clock.set(china(FRIDAY, 12))
        await shenzhen.ReportSupportProgress(
            request_id="5b2f0a3e-0000-4000-8000-000000000003",
            support_id=support_id,
            progress=pb.SUPPORT_PROGRESS_CHECKED_IN,
        )
        await reached(getter(hq, support_id), pb.SUPPORT_STAGE_ON_SITE)
        lent = await wf.GetTechnician(technician_id="DG-T3")
        assert lent.status == wpb.TECHNICIAN_STATUS_ON_LOAN

        clock.set(china(FRIDAY, 17))
        await shenzhen.ReportSupportProgress(
            request_id="5b2f0a3e-0000-4000-8000-000000000004",
            support_id=support_id,
            progress=pb.SUPPORT_PROGRESS_COMPLETED,
            hours_worked=4.5,
            fault_solved=True,
            travel_and_lodging_fen=38_000,
        )
        done = await reached(getter(hq, support_id), pb.SUPPORT_STAGE_COMPLETED)
        assert (done.hours_worked, done.fault_solved) == (4.5, True)
        back = await wf.GetTechnician(technician_id="DG-T3")
        assert back.status == wpb.TECHNICIAN_STATUS_ON_DUTY

        ledger = await hq.GetCostSettlement(month="2026-11")
        assert [(c.kind, c.store_id, c.amount_fen) for c in ledger.lines] == [
            ("subsidy", SZ, 50_000),
            ("travel_lodging", SZ, 38_000),
        ]
        assert await points(collab) == [(DG, "support", 5)]

        rated = await shenzhen.RateSupport(
            request_id="5b2f0a3e-0000-4000-8000-000000000005",
            support_id=support_id,
            rated_by_store_id=SZ,
            rating=5,
            comment="solved it in an afternoon",
        )
        assert list(rated.rated_by_store_ids) == [SZ]
        twice = await failure(
            shenzhen.RateSupport(
                request_id="5b2f0a3e-0000-4000-8000-000000000006",
                support_id=support_id,
                rated_by_store_id=SZ,
                rating=4,
            )
        )
        assert (twice.code(), reason(twice)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "SUPPORT_ALREADY_RATED",
        )


async def test_sop2_a_rejection_then_silence_asks_each_match_and_ends_with_none_left(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint, clock: ManualClock
) -> None:
    await technicians(wf)
    async with collab_with_workforce() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        dongguan = collab.client(mint("manager", DG))
        hq = collab.client(mint("hq"))
        support_id = (await ask(shenzhen)).support_id
        await reached(getter(hq, support_id), pb.SUPPORT_STAGE_AWAITING_APPROVAL)

        await dongguan.RejectSupport(
            request_id="5b2f0a3e-0000-4000-8000-000000000011",
            support_id=support_id,
            reason="DG-T3 is needed here Friday",
        )

        async def guangzhou_asked() -> Any:
            s = await hq.GetSupport(support_id=support_id)
            return s.stage == pb.SUPPORT_STAGE_AWAITING_APPROVAL and s.lending_store_id == GZ

        await eventually(guangzhou_asked)
        assert not (await wf.GetTechnician(technician_id="DG-T3")).bookings
        # Dongguan is no longer asked: its answer now is refused, nothing changes.
        late = await failure(
            dongguan.ApproveSupport(
                request_id="5b2f0a3e-0000-4000-8000-000000000012", support_id=support_id
            )
        )
        assert late.code() == grpc.StatusCode.PERMISSION_DENIED

        clock.advance(timedelta(hours=1))
        await collab.running.service.timers.run_due()
        ended = await reached(getter(hq, support_id), pb.SUPPORT_STAGE_NO_TECHNICIAN)
        assert ended.reason == "APPROVAL_EXPIRED"
        assert not (await wf.GetTechnician(technician_id="GZ-T3")).bookings
        types = await saga_types(collab, collab.parts.collab.supports.runtime, support_id)
        assert types[-3:] == ["SupportApprovalExpired", "HoldReleased", "NoTechnicianLeft"]
        ledger = await hq.GetCostSettlement(month="2026-11")
        assert list(ledger.lines) == [] and await points(collab) == []


async def test_sop2_a_support_asked_for_3_days_ahead_finds_a_replacement_after_the_lead_time(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint, clock: ManualClock
) -> None:
    """The host asked in time; the first lender declines when the start is under 72 h
    away: the next technician is still held as planned support, not refused for a lead
    time the host kept."""
    await technicians(wf)
    clock.set(china(FRIDAY, 12) - timedelta(hours=72, minutes=10))
    async with collab_with_workforce() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        dongguan = collab.client(mint("manager", DG))
        hq = collab.client(mint("hq"))
        support_id = (await ask(shenzhen)).support_id
        await reached(getter(hq, support_id), pb.SUPPORT_STAGE_AWAITING_APPROVAL)

        clock.advance(timedelta(minutes=20))
        await dongguan.RejectSupport(
            request_id="5b2f0a3e-0000-4000-8000-000000000021",
            support_id=support_id,
            reason="DG-T3 is needed here Friday",
        )

        async def answered() -> Any:
            s = await hq.GetSupport(support_id=support_id)
            waiting = s.stage == pb.SUPPORT_STAGE_AWAITING_APPROVAL and s.lending_store_id == GZ
            return s if waiting or s.stage == pb.SUPPORT_STAGE_NO_TECHNICIAN else None

        replaced = await eventually(answered)
        assert (replaced.stage, replaced.technician_id, replaced.reason) == (
            pb.SUPPORT_STAGE_AWAITING_APPROVAL,
            "GZ-T3",
            "",
        )
        held = await wf.GetTechnician(technician_id="GZ-T3")
        assert [(b.status, b.urgent) for b in held.bookings] == [(wpb.SUPPORT_STATUS_HELD, False)]


async def test_sop2_only_the_lending_store_or_hq_answers_and_bad_input_changes_nothing(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint
) -> None:
    await technicians(wf)
    async with collab_with_workforce() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        guangzhou = collab.client(mint("manager", GZ))
        hq = collab.client(mint("hq"))

        bad = await failure(
            shenzhen.RequestSupport(
                request_id="",
                store_id=SZ,
                specialty="",
                starts_at=ts(china(FRIDAY, 18)),
                ends_at=ts(china(FRIDAY, 12)),
            )
        )
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert sorted(violated_fields(bad)) == [
            "ends_at",
            "fault",
            "minimum_level",
            "request_id",
            "specialty",
        ]
        assert not (await hq.ListSupports()).supports

        other = await failure(ask(guangzhou))
        assert other.code() == grpc.StatusCode.PERMISSION_DENIED

        support_id = (await ask(shenzhen)).support_id
        await reached(getter(hq, support_id), pb.SUPPORT_STAGE_AWAITING_APPROVAL)
        for caller in (shenzhen, guangzhou):
            refused = await failure(
                caller.ApproveSupport(
                    request_id="5b2f0a3e-0000-4000-8000-000000000021", support_id=support_id
                )
            )
            assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        out_of_turn = await failure(
            shenzhen.ReportSupportProgress(
                request_id="5b2f0a3e-0000-4000-8000-000000000022",
                support_id=support_id,
                progress=pb.SUPPORT_PROGRESS_CHECKED_IN,
            )
        )
        assert reason(out_of_turn) == "SUPPORT_NOT_AWAITING"
        still = await hq.GetSupport(support_id=support_id)
        assert (still.stage, still.lending_store_id) == (pb.SUPPORT_STAGE_AWAITING_APPROVAL, DG)
        assert [s.support_id for s in (await shenzhen.ListSupports(store_id=SZ)).supports] == [
            support_id
        ]
        assert not (await guangzhou.ListSupports(store_id=GZ)).supports


async def test_sop2_collab_restarted_between_two_steps_holds_the_technician_once(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint, clock: ManualClock
) -> None:
    await technicians(wf)
    # First life: the hold is committed in the saga's outbox but never reaches workforce.
    dead = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    async with collab_with_workforce(saga_channel=dead) as collab:
        support_id = (await ask(collab.client(mint("dms", SZ)))).support_id
        async with collab.parts.service.db.transaction() as conn:
            assert [row.call_key for row in await pending_calls(conn)] == ["hold"]
    await dead.close()
    assert not (await wf.GetTechnician(technician_id="DG-T3")).bookings

    clock.advance(timedelta(seconds=30))  # past the first retry's backoff
    async with collab_with_workforce() as collab:
        hq = collab.client(mint("hq"))
        waiting = await reached(getter(hq, support_id), pb.SUPPORT_STAGE_AWAITING_APPROVAL)
        assert waiting.technician_id == "DG-T3"
    held = await wf.GetTechnician(technician_id="DG-T3")
    assert [(b.support_id, b.status) for b in held.bookings] == [
        (f"{support_id}:1", wpb.SUPPORT_STATUS_HELD)
    ]


async def confirmed(collab: Any, clock: ManualClock, mint: Mint) -> str:
    """A support approved by Dongguan and confirmed the day before: awaiting arrival."""
    hq = collab.client(mint("hq"))
    support_id = str((await ask(collab.client(mint("dms", SZ)))).support_id)
    await reached(getter(hq, support_id), pb.SUPPORT_STAGE_AWAITING_APPROVAL)
    await collab.client(mint("dms", DG)).ApproveSupport(
        request_id="5b2f0a3e-0000-4000-8000-000000000092", support_id=support_id
    )
    await reached(getter(hq, support_id), pb.SUPPORT_STAGE_SCHEDULED)
    clock.set(china(FRIDAY, 12) - timedelta(days=1))
    await collab.running.service.timers.run_due()
    await reached(getter(hq, support_id), pb.SUPPORT_STAGE_AWAITING_ARRIVAL)
    return support_id


async def on_site(collab: Any, clock: ManualClock, mint: Mint) -> str:
    """A confirmed support whose technician checked in at noon on Friday."""
    support_id = await confirmed(collab, clock, mint)
    clock.set(china(FRIDAY, 12))
    await collab.client(mint("dms", SZ)).ReportSupportProgress(
        request_id="5b2f0a3e-0000-4000-8000-000000000095",
        support_id=support_id,
        progress=pb.SUPPORT_PROGRESS_CHECKED_IN,
    )
    await reached(getter(collab.client(mint("hq")), support_id), pb.SUPPORT_STAGE_ON_SITE)
    return support_id


async def test_sop2_a_check_in_reported_before_the_support_day_is_refused_and_keeps_the_booking(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint, clock: ManualClock
) -> None:
    await technicians(wf)
    async with collab_with_workforce() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        hq = collab.client(mint("hq"))
        support_id = await confirmed(collab, clock, mint)

        # A day early (a wrong button, a wrong support): workforce takes no check-in more
        # than 4 h before the start, and a refused check-in would call the day off.
        early = await failure(
            shenzhen.ReportSupportProgress(
                request_id="5b2f0a3e-0000-4000-8000-000000000093",
                support_id=support_id,
                progress=pb.SUPPORT_PROGRESS_CHECKED_IN,
            )
        )
        assert (early.code(), reason(early)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "CHECK_IN_OUTSIDE_SUPPORT_WINDOW",
        )
        assert (await hq.GetSupport(support_id=support_id)).stage == (
            pb.SUPPORT_STAGE_AWAITING_ARRIVAL
        )
        booked = await wf.GetTechnician(technician_id="DG-T3")
        assert [b.status for b in booked.bookings] == [wpb.SUPPORT_STATUS_CONFIRMED]

        clock.set(china(FRIDAY, 12))
        await shenzhen.ReportSupportProgress(
            request_id="5b2f0a3e-0000-4000-8000-000000000094",
            support_id=support_id,
            progress=pb.SUPPORT_PROGRESS_CHECKED_IN,
        )
        await reached(getter(hq, support_id), pb.SUPPORT_STAGE_ON_SITE)


async def test_sop2_a_support_given_up_after_check_in_ends_the_technicians_loan(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint, clock: ManualClock
) -> None:
    # Workforce cancels no checked-in support ("completed, not cancelled"): a support the
    # host calls off during the work, or never reports, must still bring the technician
    # back from loan, or they can be given no status and checked in to no other support.
    await technicians(wf)
    async with collab_with_workforce() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        hq = collab.client(mint("hq"))
        support_id = await on_site(collab, clock, mint)
        assert (await wf.GetTechnician(technician_id="DG-T3")).status == (
            wpb.TECHNICIAN_STATUS_ON_LOAN
        )

        clock.set(china(FRIDAY, 13) + timedelta(minutes=30))
        await shenzhen.ReportSupportProgress(
            request_id="5b2f0a3e-0000-4000-8000-000000000096",
            support_id=support_id,
            progress=pb.SUPPORT_PROGRESS_CALLED_OFF,
            note="the customer took the car away",
        )

        outcome = await ended(hq, support_id)
        assert (outcome.stage, outcome.reason) == (
            pb.SUPPORT_STAGE_NO_TECHNICIAN,
            "the customer took the car away",
        )
        back = await wf.GetTechnician(technician_id="DG-T3")
        assert back.status == wpb.TECHNICIAN_STATUS_ON_DUTY
        # Recorded at workforce with the time on site, the fault not solved.
        history = await wf.GetTechnicianHistory(technician_id="DG-T3")
        assert (history.hours_worked, history.faults_solved) == (1.5, 0)
        # Collab settles no support that was given up: no subsidy, no points.
        assert list((await hq.GetCostSettlement(month="2026-11")).lines) == []
        assert await points(collab) == []


async def test_sop2_a_completion_workforce_would_refuse_is_refused_and_the_support_still_settles(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint, clock: ManualClock
) -> None:
    # A completion workforce refuses (no hours, more hours than on site) ended the support
    # unsettled: no subsidy, no points for the lender. Refused first, nothing changes.
    await technicians(wf)
    async with collab_with_workforce() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        hq = collab.client(mint("hq"))
        support_id = await on_site(collab, clock, mint)
        clock.set(china(FRIDAY, 16))

        async def completed(request_id: str, hours: float) -> Any:
            return await shenzhen.ReportSupportProgress(
                request_id=request_id,
                support_id=support_id,
                progress=pb.SUPPORT_PROGRESS_COMPLETED,
                hours_worked=hours,
                fault_solved=True,
            )

        none = await failure(completed("5b2f0a3e-0000-4000-8000-000000000097", 0.0))
        assert none.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(none) == ["hours_worked"]
        over = await failure(completed("5b2f0a3e-0000-4000-8000-000000000098", 4.5))
        assert (over.code(), reason(over)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "HOURS_EXCEED_TIME_ON_SITE",
        )
        assert (await hq.GetSupport(support_id=support_id)).stage == pb.SUPPORT_STAGE_ON_SITE

        await completed("5b2f0a3e-0000-4000-8000-000000000099", 4.0)
        done = await reached(getter(hq, support_id), pb.SUPPORT_STAGE_COMPLETED)
        assert (done.hours_worked, done.fault_solved) == (4.0, True)
        assert await points(collab) == [(DG, "support", 5)]


async def test_sop2_a_support_called_off_with_a_blank_note_is_still_cancelled_at_workforce(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint, clock: ManualClock
) -> None:
    # The note was the cancellation's reason at workforce, which requires one: a note of
    # blanks had the cancellation refused, the support stuck and the technician booked.
    await technicians(wf)
    async with collab_with_workforce() as collab:
        hq = collab.client(mint("hq"))
        support_id = await confirmed(collab, clock, mint)
        await collab.client(mint("dms", SZ)).ReportSupportProgress(
            request_id="5b2f0a3e-0000-4000-8000-000000000100",
            support_id=support_id,
            progress=pb.SUPPORT_PROGRESS_CALLED_OFF,
            note="   ",
        )

        outcome = await ended(hq, support_id)
        assert (outcome.stage, outcome.reason) == (pb.SUPPORT_STAGE_NO_TECHNICIAN, "called off")
        assert not (await wf.GetTechnician(technician_id="DG-T3")).bookings
