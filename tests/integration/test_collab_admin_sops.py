"""The operator's command line over SOP 2 and SOP 3's sagas: a support or diversion stuck on
an undo nobody answered is retried once the cause is gone, and one waiting for an answer is
cancelled, through `python -m services.collab.admin` against collab and the real workforce
or capacity service over gRPC, PostgreSQL and NATS.

A participant "not answering" is the saga's calls cut off (a collab whose saga channel
leads nowhere, or only the origin's CancelAppointment answered UNAVAILABLE) until the
dispatcher gives up; the operator retries under a collab that reaches it again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
import pytest
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2 as wpb

from kernel.clock import ManualClock
from kernel.saga import pending_calls, request_id, sagas_in
from kernel.saga.admin import OK, REFUSED
from kernel.saga.steps import Status
from kernel.testing.servers import Endpoints, free_port
from tests.integration import test_collab_diversion as sop3
from tests.integration import test_collab_support as sop2
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
)
from tests.integration.collab_fixtures import CollabRun, collab_db_url
from tests.integration.conftest import Running
from tests.integration.sops_fixtures import (
    CancellationsCut,
    collab_with_capacity,
    collab_with_workforce,
    commands_under,
    points,
    reached,
    saga_types,
)
from tests.integration.test_collab_admin import Cli, cli_for
from tests.integration.workforce_fixtures import (
    FRIDAY,
    WorkforceClient,
    china,
    wf,
    workforce_service,
)

__all__ = [
    "cap",
    "capacity_pg_url",
    "capacity_service",
    "collab_db_url",
    "collab_with_capacity",
    "collab_with_workforce",
    "wf",
    "workforce_service",
]

Mint = Callable[..., str]
SZ, DG = "SZ01", "DG01"
# What a support or diversion records with its end, once the lent store helped.
POINTS_AND_TWO_COSTS = (
    "ContributionRecorded",
    "CollaborationCostRecorded",
    "CollaborationCostRecorded",
)


@pytest.fixture
def cli(collab_db_url: str, endpoints: Endpoints, namespace: str, clock: ManualClock) -> Cli:
    return cli_for(collab_db_url, endpoints, namespace, clock)


async def status_of(run: CollabRun, saga: str, saga_id: str) -> str:
    async with run.parts.service.db.transaction() as conn:
        for status in Status:
            if any(r.saga_id == saga_id for r in await sagas_in(conn, saga, status)):
                return status.value
    return ""


async def stuck_unanswered(run: CollabRun, saga: str, saga_id: str, clock: ManualClock) -> None:
    """The dispatcher retries the call it cannot deliver until it gives up (its backoffs add
    up to some four minutes): the saga fails, within the life of the diversion's hold."""
    for _ in range(20):
        if await status_of(run, saga, saga_id) == "failed":
            break
        clock.advance(timedelta(minutes=1))
        assert run.parts.collab.dispatcher is not None
        await run.parts.collab.dispatcher.dispatch_once()
    assert await status_of(run, saga, saga_id) == "failed"


async def retried(cli: Cli, saga: str, saga_id: str, now: str = "compensating") -> None:
    code, said = await cli("retry", saga, saga_id, "--operator", "ops@hq")
    assert (code, said.strip()) == (OK, f"{saga} {saga_id}: call re-issued, now {now}")


async def cancel_waiting(cli: Cli, saga: str, saga_id: str, step: str, why: str) -> None:
    """A saga waiting for an answer, not a call: nothing to retry; cancelled by ops@hq."""
    code, said = await cli("retry", saga, saga_id, "--operator", "ops@hq")
    assert code == REFUSED
    assert "SAGA_NOTHING_TO_RETRY" in said and f"waits for {step}" in said
    code, said = await cli("cancel", saga, saga_id, "--operator", "ops@hq", "--why", why)
    assert (code, said.strip()) == (OK, f"{saga} {saga_id}: cancelled, now compensating")


async def refusals_once_ended(cli: Cli, saga: str, saga_id: str, ended: str) -> None:
    code, said = await cli("cancel", saga, saga_id, "--operator", "o", "--why", "again")
    assert code == REFUSED
    assert "SAGA_ALREADY_ENDED" in said and f"already ended {ended}" in said
    code, said = await cli("retry", saga, saga_id, "--operator", "o")
    assert code == REFUSED and "SAGA_ALREADY_ENDED" in said


async def support_stuck_ending_the_loan(
    collab_with_workforce: Any, wf: WorkforceClient, mint: Mint, clock: ManualClock
) -> str:
    """A support on site that Shenzhen calls off while workforce cannot be reached: the end
    of the loan is retried until the dispatcher gives up, and the support is stuck, DG-T3
    still on loan."""
    return await support_stuck_on_site(
        collab_with_workforce,
        wf,
        mint,
        clock,
        progress=pb.SUPPORT_PROGRESS_CALLED_OFF,
        note="the customer took the car away",
    )


async def support_stuck_on_site(
    collab_with_workforce: Any,
    wf: WorkforceClient,
    mint: Mint,
    clock: ManualClock,
    **reported: Any,
) -> str:
    """A support on site on which Shenzhen reports `reported` at 13:30 while workforce
    cannot be reached: the call it makes (the end of the loan, or the completion) is retried
    until the dispatcher gives up, and the support is stuck, DG-T3 still on loan."""
    await sop2.technicians(wf)
    async with collab_with_workforce() as collab:
        support_id = await sop2.on_site(collab, clock, mint)
    assert (await wf.GetTechnician(technician_id="DG-T3")).status == wpb.TECHNICIAN_STATUS_ON_LOAN

    dead = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    async with collab_with_workforce(saga_channel=dead) as collab:
        clock.set(china(FRIDAY, 13) + timedelta(minutes=30))
        await collab.client(mint("dms", SZ)).ReportSupportProgress(
            request_id="5b2f0a3e-0000-4000-8000-000000000201",
            support_id=support_id,
            **reported,
        )
        await stuck_unanswered(collab, "support", support_id, clock)
        runtime = collab.parts.collab.supports.runtime
        assert (await saga_types(collab, runtime, support_id))[-1] == "SupportStuck"
        stuck = await collab.client(mint("hq")).GetSupport(support_id=support_id)
        assert stuck.stage == pb.SUPPORT_STAGE_STUCK
    await dead.close()
    assert (await wf.GetTechnician(technician_id="DG-T3")).status == wpb.TECHNICIAN_STATUS_ON_LOAN
    return support_id


async def test_a_support_stuck_on_an_unanswered_end_of_loan_retried_ends_the_loan(
    collab_with_workforce: Any,
    wf: WorkforceClient,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    support_id = await support_stuck_ending_the_loan(collab_with_workforce, wf, mint, clock)

    code, listed = await cli("list", "--saga", "support", "--state", "failed", "--store", SZ)
    assert code == OK and support_id in listed and "hold.undo failed" in listed

    async with collab_with_workforce() as collab:
        hq = collab.client(mint("hq"))
        await retried(cli, "support", support_id)
        outcome = await sop2.ended(hq, support_id)
        # The end the host's call-off meant: no technician, its reason kept.
        assert (outcome.stage, outcome.reason) == (
            pb.SUPPORT_STAGE_NO_TECHNICIAN,
            "the customer took the car away",
        )
        types = await saga_types(collab, collab.parts.collab.supports.runtime, support_id)
        assert types[types.index("SupportStuck") :] == [
            "SupportStuck",
            "SupportStepRetried",
            "HoldReleased",
            "NoTechnicianLeft",
        ]
        code, history = await cli("history", "support", support_id)
        assert "SupportStepRetried" in history and "reason=retried by ops@hq" in history
        await refusals_once_ended(cli, "support", support_id, "compensated")
    back = await wf.GetTechnician(technician_id="DG-T3")
    assert back.status == wpb.TECHNICIAN_STATUS_ON_DUTY
    # The loan ended with the time on site until the call-off, recorded once.
    history_at_workforce = await wf.GetTechnicianHistory(technician_id="DG-T3")
    assert (history_at_workforce.hours_worked, history_at_workforce.faults_solved) == (1.5, 0)


async def test_an_operator_cancels_a_support_waiting_for_approval_and_no_next_technician_is_asked(
    collab_with_workforce: Any,
    wf: WorkforceClient,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    await sop2.technicians(wf)
    async with collab_with_workforce() as collab:
        hq = collab.client(mint("hq"))
        support_id = str((await sop2.ask(collab.client(mint("dms", SZ)))).support_id)
        await reached(sop2.getter(hq, support_id), pb.SUPPORT_STAGE_AWAITING_APPROVAL)

        # Waiting for Dongguan's answer, not a call: nothing to retry, nothing changed.
        await cancel_waiting(cli, "support", support_id, "approval", "fixed it ourselves")
        ended = await reached(sop2.getter(hq, support_id), pb.SUPPORT_STAGE_NO_TECHNICIAN)
        assert ended.lending_store_id == DG  # Guangzhou was never asked
        assert ended.reason == "cancelled by ops@hq: fixed it ourselves"
        types = await saga_types(collab, collab.parts.collab.supports.runtime, support_id)
        assert types[-3:] == ["SupportCancelled", "HoldReleased", "NoTechnicianLeft"]
        assert not (await wf.GetTechnician(technician_id="DG-T3")).bookings
        assert not (await wf.GetTechnician(technician_id="GZ-T3")).bookings
        await refusals_once_ended(cli, "support", support_id, "compensated")
        code, listed = await cli("list", "--saga", "support", "--state", "compensated")
        assert code == OK and support_id in listed


async def diversion_stuck_releasing(
    collab_with_capacity: Any, cap: CapacityClient, mint: Mint, clock: ManualClock
) -> str:
    """A diversion offered to Shenzhen's customer, who declines while capacity cannot be
    reached: the bay's release is retried until the dispatcher gives up, and the diversion
    is stuck with Dongguan's bay held."""
    await sop3.network(cap, clock)
    async with collab_with_capacity() as collab:
        hq = collab.client(mint("hq"))
        asked = await sop3.divert(
            collab.client(mint("dms", SZ)), "7c1d0a3e-0000-4000-8000-000000000201"
        )
        diversion_id = str(asked.diversion_id)
        await reached(sop3.getter(hq, diversion_id), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)
    assert (await cap.GetDayView(store_id=DG)).live_holds == 1

    dead = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    async with collab_with_capacity(saga_channel=dead) as collab:
        await collab.client(mint("dms", SZ)).AnswerDiversion(
            request_id="7c1d0a3e-0000-4000-8000-000000000202",
            diversion_id=diversion_id,
            answer=pb.DIVERSION_ANSWER_DECLINED,
            note="prefers to wait",
        )
        await stuck_unanswered(collab, "diversion", diversion_id, clock)
        stuck = await collab.client(mint("hq")).GetDiversion(diversion_id=diversion_id)
        assert stuck.stage == pb.DIVERSION_STAGE_STUCK
    await dead.close()
    assert (await cap.GetDayView(store_id=DG)).live_holds == 1
    return diversion_id


async def test_a_diversion_stuck_on_an_unanswered_release_is_retried_and_the_receivers_bay_is_freed(
    collab_with_capacity: Any,
    cap: CapacityClient,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    diversion_id = await diversion_stuck_releasing(collab_with_capacity, cap, mint, clock)

    async with collab_with_capacity() as collab:
        hq = collab.client(mint("hq"))
        await retried(cli, "diversion", diversion_id)
        ended = await reached(sop3.getter(hq, diversion_id), pb.DIVERSION_STAGE_NOT_MADE)
        assert ended.reason == "prefers to wait"
        types = await saga_types(collab, collab.parts.collab.diversions.runtime, diversion_id)
        assert types[types.index("DiversionStuck") :] == [
            "DiversionStuck",
            "DiversionStepRetried",
            "SlotReleased",
            "DiversionNotMade",
        ]
        await refusals_once_ended(cli, "diversion", diversion_id, "compensated")
    receiver = await cap.GetDayView(store_id=DG)
    assert (receiver.booked, receiver.live_holds) == (0, 0)


async def test_an_operator_cancels_a_diversion_offered_to_the_customer_and_frees_the_bay(
    collab_with_capacity: Any,
    cap: CapacityClient,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    await sop3.network(cap, clock)
    async with collab_with_capacity() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        hq = collab.client(mint("hq"))
        asked = await sop3.divert(shenzhen, "7c1d0a3e-0000-4000-8000-000000000211")
        diversion_id = str(asked.diversion_id)
        await reached(sop3.getter(hq, diversion_id), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)

        await cancel_waiting(cli, "diversion", diversion_id, "offer", "bay flooded")
        ended = await reached(sop3.getter(hq, diversion_id), pb.DIVERSION_STAGE_NOT_MADE)
        assert ended.reason == "cancelled by ops@hq: bay flooded"
        types = await saga_types(collab, collab.parts.collab.diversions.runtime, diversion_id)
        assert types[-3:] == ["DiversionCancelled", "SlotReleased", "DiversionNotMade"]
        receiver = await cap.GetDayView(store_id=DG)
        assert (receiver.booked, receiver.live_holds) == (0, 0)
        assert (await cap.GetDayView(store_id=SZ)).booked == 1  # the customer stays
        await refusals_once_ended(cli, "diversion", diversion_id, "compensated")
        # The store that owns the case finds it by its own code.
        code, listed = await cli("list", "--store", SZ, "--state", "compensated")
        assert code == OK and diversion_id in listed


async def diversion_stuck_cancelling_origin(
    collab_with_capacity: Any,
    cap: CapacityClient,
    capacity_service: Running,
    mint: Mint,
    clock: ManualClock,
    *,
    acts: bool,
) -> str:
    """A diversion Shenzhen's customer accepts, booked at Dongguan, whose cancellation of the
    appointment at Shenzhen capacity never answers (it never hears of it, or, when `acts`,
    cancels and the answer is lost): retried until the dispatcher gives up, the diversion is
    stuck for an operator with the customer still booked at Dongguan, and nothing was sent
    to cancel that booking."""
    await sop3.network(cap, clock)
    silent = CancellationsCut(capacity_service.channel, SZ, grpc.StatusCode.UNAVAILABLE, acts=acts)
    async with collab_with_capacity(saga_channel=silent) as collab:
        shenzhen = collab.client(mint("dms", SZ))
        hq = collab.client(mint("hq"))
        diversion_id = await sop3.offered(shenzhen, hq, "7c1d0a3e-0000-4000-8000-000000000221")
        await sop3.accept(shenzhen, diversion_id, "7c1d0a3e-0000-4000-8000-000000000222")
        await stuck_unanswered(collab, "diversion", diversion_id, clock)
        stuck = await hq.GetDiversion(diversion_id=diversion_id)
        assert stuck.stage == pb.DIVERSION_STAGE_STUCK
        types = await saga_types(collab, collab.parts.collab.diversions.runtime, diversion_id)
        assert types[-2:] == ["DiversionBooked", "DiversionStuck"]
        async with collab.parts.service.db.transaction() as conn:
            assert [
                c for c in await pending_calls(conn, "diversion") if c.saga_id == diversion_id
            ] == []
        assert await points(collab) == []
    receiver = await cap.GetDayView(store_id=DG)
    assert (receiver.booked, receiver.live_holds) == (1, 0)
    assert (await cap.GetDayView(store_id=SZ)).booked == (0 if acts else 1)
    undo = request_id("diversion", diversion_id, "hold.undo")
    assert await commands_under(capacity_service, undo) == []
    return diversion_id


@pytest.mark.parametrize("acts", [False, True], ids=["unheard", "answer_lost"])
async def test_a_diversion_stuck_on_an_unanswered_origin_cancel_is_retried_and_completes(
    collab_with_capacity: Any,
    cap: CapacityClient,
    capacity_service: Running,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
    acts: bool,
) -> None:
    # Capacity may have cancelled Shenzhen's appointment unseen (answer_lost): the retry
    # under the same request id is answered with what it did, not refused as already
    # cancelled, and the customer stays booked at Dongguan either way.
    diversion_id = await diversion_stuck_cancelling_origin(
        collab_with_capacity, cap, capacity_service, mint, clock, acts=acts
    )
    code, listed = await cli("list", "--saga", "diversion", "--state", "failed", "--store", SZ)
    assert code == OK and diversion_id in listed and "cancel_origin failed" in listed

    async with collab_with_capacity() as collab:
        hq = collab.client(mint("hq"))
        await retried(cli, "diversion", diversion_id, now="running")
        done = await reached(sop3.getter(hq, diversion_id), pb.DIVERSION_STAGE_COMPLETED)
        assert (done.receiving_store_id, done.appointment_id) == (DG, diversion_id)
        types = await saga_types(collab, collab.parts.collab.diversions.runtime, diversion_id)
        assert types[types.index("DiversionStuck") :] == [
            "DiversionStuck",
            "DiversionStepRetried",
            "OriginAppointmentCancelled",
            "DiversionCompleted",
            *POINTS_AND_TWO_COSTS,
        ]
        await sop3.diverted_and_paid(hq, collab)
        await refusals_once_ended(cli, "diversion", diversion_id, "completed")
        # Long past every backoff: nothing left to send, the booking is never undone.
        assert collab.parts.collab.dispatcher is not None
        clock.advance(timedelta(minutes=30))
        assert await collab.parts.collab.dispatcher.dispatch_once() == 0
    # One cancellation at Shenzhen, under the request id of the first attempt; none at Dongguan.
    cancel = request_id("diversion", diversion_id, "cancel_origin")
    assert await commands_under(capacity_service, cancel) == ["CancelAppointment"]
    undo = request_id("diversion", diversion_id, "hold.undo")
    assert await commands_under(capacity_service, undo) == []
    assert (await cap.GetDayView(store_id=SZ)).booked == 0
    receiver = await cap.GetDayView(store_id=DG)
    assert (receiver.booked, receiver.live_holds) == (1, 0)
