"""An operator resolves a saga stuck on a call that will never succeed (set right by hand at
the store) through `python -m services.collab.admin resolve`, for each of collab's three
sagas against the real inventory, workforce or capacity service over gRPC, PostgreSQL and
NATS: it ends RESOLVED with the operator's event, nothing is sent to the participant again,
and it leaves the failed list. What the saga had achieved before it got stuck is credited
with the end, once, as its completion would have (a part delivered, a technician's work
reported finished): the giver's points and HQ's costs; an undo stuck before anything was
given credits nothing.

A saga is made FAILED as in test_collab_admin*.py: its calls are retried through a collab
whose saga channel leads nowhere (or cuts one call off) until the dispatcher gives up, or a
participant refuses.
The resolve then runs beside a collab that reaches the participant again, whose dispatcher
would send the call if anything were left of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2 as wpb

from kernel.clock import ManualClock
from kernel.saga import pending_calls, request_id
from kernel.saga.admin import OK, REFUSED, UNKNOWN, USAGE
from kernel.testing.servers import Endpoints, free_port
from services.collab.bootstrap import DEFINITION
from services.collab.domain.settlement import settlement_month
from tests.integration import test_collab_diversion as sop3
from tests.integration import test_collab_support as sop2
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
)
from tests.integration.collab_fixtures import (
    FS,
    GZ,
    CollabRun,
    at_stage,
    collab_db_url,
    position,
    start_collab,
    stocked,
)
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually
from tests.integration.rich_errors import failure, reason
from tests.integration.sops_fixtures import (
    CancellationsCut,
    collab_with_capacity,
    collab_with_workforce,
    commands_under,
    points,
    reached,
    saga_types,
)
from tests.integration.test_collab_admin import Cli, request, stuck_releasing
from tests.integration.test_collab_admin_sops import (
    POINTS_AND_TWO_COSTS,
    cli,
    diversion_stuck_cancelling_origin,
    diversion_stuck_releasing,
    support_stuck_ending_the_loan,
    support_stuck_on_site,
)
from tests.integration.test_collab_transfer import published, receipt_refused
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
    "cli",
    "collab_db_url",
    "collab_with_capacity",
    "collab_with_workforce",
    "inv",
    "inventory_service",
    "start_collab",
    "wf",
    "workforce_service",
]

Mint = Callable[..., str]
SZ, DG = "SZ01", "DG01"


@dataclass(frozen=True)
class Case:
    """A stuck saga an operator resolves: where it is read and whom its end is told."""

    saga: str
    saga_id: str
    owner: str  # the store its end is addressed to
    read: Callable[[], Any]  # GetTransfer / GetSupport / GetDiversion of it
    stage: int  # its API stage once resolved
    left: str  # the call it was stuck on
    # What the resolve credits, as (store, act, points), and the events it records with
    # the end: a collaboration that happened before the saga got stuck.
    credited: tuple[tuple[str, str, int], ...] = ()
    settles: tuple[str, ...] = ()


def transfer_case(hq: Any, left: str, **credit: Any) -> Case:
    return Case(
        "transfer",
        "T-1",
        GZ,
        lambda: hq.GetTransfer(transfer_id="T-1"),
        pb.TRANSFER_STAGE_RESOLVED_BY_HAND,
        left,
        **credit,
    )


def support_case(hq: Any, support_id: str, left: str, **credit: Any) -> Case:
    return Case(
        "support",
        support_id,
        SZ,
        sop2.getter(hq, support_id),
        pb.SUPPORT_STAGE_RESOLVED_BY_HAND,
        left,
        **credit,
    )


def diversion_case(
    hq: Any, diversion_id: str, left: str = "hold.undo failed", **credit: Any
) -> Case:
    return Case(
        "diversion",
        diversion_id,
        SZ,
        sop3.getter(hq, diversion_id),
        pb.DIVERSION_STAGE_RESOLVED_BY_HAND,
        left,
        **credit,
    )


async def resolve_by_hand(
    cli: Cli, run: CollabRun, clock: ManualClock, case: Case, why: str
) -> None:
    """Resolved, and seen so by the owner and an operator: the end with who and why, out of
    the failed list, nothing in the outbox, nothing sent however long the dispatcher runs,
    what the saga had achieved credited once (nothing for an undo stuck before anything was
    given), shown by the resolve and the history, and every further act refused."""
    saga, saga_id = case.saga, case.saga_id
    code, said = await cli("resolve", saga, saga_id, "--operator", "ops@hq", "--why", why)
    lines = said.strip().splitlines()
    assert (code, lines[0]) == (OK, f"{saga} {saga_id}: resolved by hand, now resolved")
    if case.settles:
        assert [line.split()[3] for line in lines[1:]] == list(case.settles)
        assert all(line.startswith("settled with it: ") for line in lines[1:])
        for store, act, earned in case.credited:
            assert f"ContributionRecorded store_id={store} act={act} points={earned} " in said
    else:
        assert lines[1:] == ["nothing settled with it"]
    ended = await reached(case.read, case.stage)
    assert ended.reason == f"resolved by ops@hq: {why}"
    name = saga.capitalize()
    runtime = {r.name: r for r in DEFINITION.sagas(run.parts.collab)}[saga]
    types = await saga_types(run, runtime, saga_id)
    ending = [f"{name}Stuck", f"{name}ResolvedByHand", *case.settles]
    assert types[types.index(f"{name}Stuck") :] == ending
    told = await eventually(lambda: published(run, f"collab.v1.{case.owner}.{name}ResolvedByHand"))
    assert len(told) == 1
    assert await points(run) == list(case.credited)

    code, history = await cli("history", saga, saga_id)
    assert code == OK
    shown = history.splitlines()
    end = shown[-1 - len(case.settles)]
    assert end.split()[3] == f"{name}ResolvedByHand"
    assert "operator=ops@hq" in end and f"reason=resolved by ops@hq: {why}" in end
    assert [line.split()[3] for line in shown[len(shown) - len(case.settles) :]] == list(
        case.settles
    )
    for store, act, earned in case.credited:
        assert f"store_id={store} act={act} points={earned} " in history
    assert "pending call" not in history
    async with run.parts.service.db.transaction() as conn:
        assert [c for c in await pending_calls(conn, saga) if c.saga_id == saga_id] == []
    code, listed = await cli("list", "--saga", saga, "--state", "failed")
    assert code == OK and saga_id not in listed
    code, listed = await cli("list", "--saga", saga, "--state", "resolved")
    assert code == OK and saga_id in listed and f"resolved by hand: {case.left}" in listed
    # Long past every backoff: a dispatcher that still had the undo would have sent it.
    assert run.parts.collab.dispatcher is not None
    clock.advance(timedelta(minutes=30))
    assert await run.parts.collab.dispatcher.dispatch_once() == 0

    for act in (
        ("resolve", "--operator", "ops@hq", "--why", why),
        ("resolve", "--operator", "o", "--why", "again"),
        ("retry", "--operator", "o"),
        ("cancel", "--operator", "o", "--why", "again"),
    ):
        code, said = await cli(act[0], saga, saga_id, *act[1:])
        assert code == REFUSED, act
        assert "SAGA_ALREADY_ENDED" in said and "already ended resolved" in said
    # The same command again credits nothing twice.
    assert await saga_types(run, runtime, saga_id) == types
    assert await points(run) == list(case.credited)


async def test_a_transfer_stuck_on_a_release_is_resolved_by_hand_and_never_released_or_settled(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
    inventory_service: Running,
    cli: Cli,
) -> None:
    await stocked(inv, FS01=5)
    async with start_collab() as collab:
        await request(collab.client(mint("dms", GZ)))
        await at_stage(collab.client(mint("hq")), "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)
    await stuck_releasing(start_collab, mint, clock)
    code, listed = await cli("list", "--state", "failed")
    assert code == OK and "T-1" in listed and "reserve.undo failed" in listed

    # Foshan's stock was counted and set right at the store: the operator closes the case.
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        case = transfer_case(hq, "reserve.undo failed")
        await resolve_by_hand(cli, collab, clock, case, "reservation settled at FS01 by hand")
        # Nothing on HQ's ledger for it either.
        month = settlement_month(clock.now())
        assert list((await hq.GetCostSettlement(month=month)).lines) == []
    assert (await position(inv, FS)).reserved == 1  # as the operator left it: never released
    assert (
        await commands_under(inventory_service, request_id("transfer", "T-1", "reserve.undo")) == []
    )


async def test_a_transfer_stuck_receiving_a_delivered_part_is_resolved_with_the_point_and_freight(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        await receipt_refused(collab, inv, mint, freight_fen=3_500)
        hq = collab.client(mint("hq"))
        # Foshan gave the part and the courier carried it: Guangzhou booked it in by hand.
        case = transfer_case(
            hq,
            "receive refused",
            credited=((FS, "transfer", 1),),
            settles=("ContributionRecorded", "CollaborationCostRecorded"),
        )
        await resolve_by_hand(cli, collab, clock, case, "part booked in at GZ01 by hand")
        settlement = await hq.GetCostSettlement(month=settlement_month(clock.now()))
        assert [(c.kind, c.store_id, c.amount_fen, c.entries) for c in settlement.lines] == [
            ("freight", GZ, 3_500, 1)
        ]
        # No receipt went through the saga: no response time, no SLA, no completion.
        resolved = await hq.GetTransfer(transfer_id="T-1")
        assert (resolved.response_seconds, resolved.within_sla, resolved.freight_fen) == (
            0,
            False,
            3_500,
        )
        types = await saga_types(collab, collab.parts.collab.runtime, "T-1")
        assert "TransferCompleted" not in types and "TransferReceived" not in types
        # Partners see the credit as on a completion: Foshan's point on Foshan's subject.
        assert await eventually(lambda: published(collab, f"collab.v1.{FS}.ContributionRecorded"))


async def test_a_support_stuck_after_the_work_was_reported_is_resolved_with_points_and_subsidy(
    collab_with_workforce: Any,
    wf: WorkforceClient,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    # DG-T3 did the job; workforce never answered its completion.
    support_id = await support_stuck_on_site(
        collab_with_workforce,
        wf,
        mint,
        clock,
        progress=pb.SUPPORT_PROGRESS_COMPLETED,
        hours_worked=1.5,
        fault_solved=True,
        travel_and_lodging_fen=12_000,
    )

    async with collab_with_workforce() as collab:
        hq = collab.client(mint("hq"))
        case = support_case(
            hq,
            support_id,
            "complete failed",
            credited=((DG, "support", 5),),
            settles=POINTS_AND_TWO_COSTS,
        )
        await resolve_by_hand(cli, collab, clock, case, "loan completed at workforce by HR")
        settlement = await hq.GetCostSettlement(month=settlement_month(clock.now()))
        assert sorted((c.kind, c.store_id, c.amount_fen) for c in settlement.lines) == [
            ("subsidy", SZ, 50_000),
            ("travel_lodging", SZ, 12_000),
        ]
        types = await saga_types(collab, collab.parts.collab.supports.runtime, support_id)
        assert "SupportCompleted" not in types


async def test_resolve_refuses_a_saga_still_acting_an_ended_one_an_unknown_one_and_bad_usage(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    cli: Cli,
) -> None:
    await stocked(inv, FS01=5)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        await request(collab.client(mint("dms", GZ)))
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)

        # Waiting for the source's answer: the saga acts on its own, nothing to resolve.
        code, said = await cli("resolve", "transfer", "T-1", "--operator", "o", "--why", "x")
        assert code == REFUSED
        assert "SAGA_NOT_FAILED" in said and "is running, not failed" in said
        assert (await hq.GetTransfer(transfer_id="T-1")).stage == (
            pb.TRANSFER_STAGE_AWAITING_APPROVAL
        )

        for missing in (
            ("--operator", "ops@hq"),
            ("--why", "fixed"),
            ("--operator", "ops@hq", "--why", "  "),
            ("--operator", "", "--why", "fixed"),
        ):
            code, _ = await cli("resolve", "transfer", "T-1", *missing)
            assert code == USAGE, missing
        code, said = await cli("resolve", "transfer", "T-404", "--operator", "o", "--why", "x")
        assert code == UNKNOWN and "T-404" in said
        code, said = await cli("resolve", "shipment", "T-1", "--operator", "o", "--why", "x")
        assert code == UNKNOWN and "saga type 'shipment' not found" in said

        # Ended on its own (cancelled, undone): there is nothing left to set right.
        await cli("cancel", "transfer", "T-1", "--operator", "ops@hq", "--why", "customer left")
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_NO_SOURCE)
        code, said = await cli("resolve", "transfer", "T-1", "--operator", "o", "--why", "x")
        assert code == REFUSED
        assert "SAGA_ALREADY_ENDED" in said and "already ended compensated" in said
        types = await saga_types(collab, collab.parts.collab.runtime, "T-1")
        assert "TransferResolvedByHand" not in types


async def test_a_support_stuck_on_an_end_of_loan_is_resolved_by_hand_and_workforce_is_not_called(
    collab_with_workforce: Any,
    wf: WorkforceClient,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    support_id = await support_stuck_ending_the_loan(collab_with_workforce, wf, mint, clock)

    async with collab_with_workforce() as collab:
        hq = collab.client(mint("hq"))
        case = support_case(hq, support_id, "hold.undo failed")
        # No 5 points for a support never completed: resolve_by_hand checks there are none.
        await resolve_by_hand(cli, collab, clock, case, "loan ended at workforce by HR")
    # Nothing went to workforce after the resolve: the technician is as the call-off left him.
    still = await wf.GetTechnician(technician_id="DG-T3")
    assert still.status == wpb.TECHNICIAN_STATUS_ON_LOAN


async def test_a_diversion_stuck_on_a_release_is_resolved_by_hand_and_may_be_offered_again(
    collab_with_capacity: Any,
    cap: CapacityClient,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    diversion_id = await diversion_stuck_releasing(collab_with_capacity, cap, mint, clock)

    async with collab_with_capacity() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        hq = collab.client(mint("hq"))
        # Still stuck: the appointment is not offered twice.
        refused = await failure(sop3.divert(shenzhen, "7c1d0a3e-0000-4000-8000-000000000303"))
        assert reason(refused) == "DIVERSION_ALREADY_REQUESTED"

        case = diversion_case(hq, diversion_id)
        await resolve_by_hand(cli, collab, clock, case, "DG01 freed the bay by hand")
        await sop3.nothing_settled(hq, collab)
        # Nobody was moved: the customer's appointment may be offered again.
        again = await sop3.divert(shenzhen, "7c1d0a3e-0000-4000-8000-000000000304")
        assert str(again.diversion_id) != diversion_id


async def test_a_diversion_stuck_giving_back_a_booking_the_origin_kept_is_resolved_crediting_none(
    collab_with_capacity: Any,
    cap: CapacityClient,
    capacity_service: Running,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    # The one way a diversion fails after the booking: the origin could no longer cancel
    # the customer's appointment (checked in there meanwhile), so the saga gives the
    # receiver's booking back, and that is what got stuck. The customer stayed at the
    # origin: Dongguan took no one, and HQ pays no compensation.
    await sop3.network(cap, clock)
    # Capacity refuses to cancel any appointment at Dongguan: the giving back gets stuck.
    keeps = CancellationsCut(capacity_service.channel, DG, grpc.StatusCode.PERMISSION_DENIED)
    async with collab_with_capacity(saga_channel=keeps) as collab:
        shenzhen = collab.client(mint("dms", SZ))
        hq = collab.client(mint("hq"))
        diversion_id = await sop3.offered(shenzhen, hq, "7c1d0a3e-0000-4000-8000-000000000311")
        await cap.CheckInCustomer(store_id=SZ, appointment_id="A-1")
        await sop3.accept(shenzhen, diversion_id, "7c1d0a3e-0000-4000-8000-000000000312")
        await reached(sop3.getter(hq, diversion_id), pb.DIVERSION_STAGE_STUCK)
        types = await saga_types(collab, collab.parts.collab.diversions.runtime, diversion_id)
        assert types[-3:] == ["DiversionBooked", "OriginCancelRefused", "DiversionStuck"]

        case = diversion_case(hq, diversion_id)
        await resolve_by_hand(cli, collab, clock, case, "DG01 cancelled the booking by hand")
        await sop3.nothing_settled(hq, collab)
    # The refusal stood in for capacity: Dongguan's booking is as the operator will find it.
    assert (await cap.GetDayView(store_id=DG)).booked == 1


async def test_a_diversion_stuck_on_an_unanswered_origin_cancel_is_resolved_crediting_the_receiver(
    collab_with_capacity: Any,
    cap: CapacityClient,
    capacity_service: Running,
    mint: Mint,
    clock: ManualClock,
    cli: Cli,
) -> None:
    # Capacity never heard the origin's cancellation; the operator cancels Shenzhen's
    # appointment by hand and closes the case: the customer was booked at Dongguan, so
    # Dongguan is credited and HQ pays as on a completion, and collab sends nothing more.
    diversion_id = await diversion_stuck_cancelling_origin(
        collab_with_capacity, cap, capacity_service, mint, clock, acts=False
    )
    await cap.CancelAppointment(
        request_id="7c1d0a3e-0000-4000-8000-000000000321",
        store_id=SZ,
        day=sop3.TODAY,
        appointment_id="A-1",
        reason="diverted to DG01, cancelled by hand",
    )

    async with collab_with_capacity() as collab:
        hq = collab.client(mint("hq"))
        case = diversion_case(
            hq,
            diversion_id,
            "cancel_origin failed",
            credited=((DG, "diversion", 2),),
            settles=POINTS_AND_TWO_COSTS,
        )
        await resolve_by_hand(cli, collab, clock, case, "SZ01 appointment cancelled by hand")
        await sop3.diverted_and_paid(hq, collab)
        types = await saga_types(collab, collab.parts.collab.diversions.runtime, diversion_id)
        assert "DiversionCompleted" not in types
    cancel = request_id("diversion", diversion_id, "cancel_origin")
    assert await commands_under(capacity_service, cancel) == []
    undo = request_id("diversion", diversion_id, "hold.undo")
    assert await commands_under(capacity_service, undo) == []
    receiver = await cap.GetDayView(store_id=DG)
    assert (receiver.booked, receiver.live_holds) == (1, 0)
