"""An operator resolves a saga stuck on an undo that will never succeed (set right by hand at
the store) through `python -m services.collab.admin resolve`, for each of collab's three
sagas against the real inventory, workforce or capacity service over gRPC, PostgreSQL and
NATS: it ends RESOLVED with the operator's event, nothing is sent to the participant again,
nothing is settled, and it leaves the failed list.

A saga is made FAILED as in test_collab_admin*.py: its undo is retried through a collab
whose saga channel leads nowhere until the dispatcher gives up. The resolve then runs
beside a collab that reaches the participant again, whose dispatcher would send the undo
if anything were left of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from sqlalchemy import select
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2 as wpb

from kernel.clock import ManualClock
from kernel.eventstore import command_log
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
    collab_with_capacity,
    collab_with_workforce,
    points,
    reached,
    saga_types,
)
from tests.integration.test_collab_admin import Cli, request, stuck_releasing
from tests.integration.test_collab_admin_sops import (
    cli,
    diversion_stuck_releasing,
    support_stuck_ending_the_loan,
)
from tests.integration.test_collab_transfer import published
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


async def resolve_by_hand(
    cli: Cli, run: CollabRun, clock: ManualClock, case: Case, why: str
) -> None:
    """Resolved, and seen so by the owner and an operator: the end with who and why, out of
    the failed list, nothing in the outbox, nothing sent however long the dispatcher runs,
    nothing settled, and every further act refused."""
    saga, saga_id = case.saga, case.saga_id
    code, said = await cli("resolve", saga, saga_id, "--operator", "ops@hq", "--why", why)
    assert (code, said.strip()) == (OK, f"{saga} {saga_id}: resolved by hand, now resolved")
    ended = await reached(case.read, case.stage)
    assert ended.reason == f"resolved by ops@hq: {why}"
    name = saga.capitalize()
    runtime = {r.name: r for r in DEFINITION.sagas(run.parts.collab)}[saga]
    types = await saga_types(run, runtime, saga_id)
    assert types[types.index(f"{name}Stuck") :] == [f"{name}Stuck", f"{name}ResolvedByHand"]
    told = await eventually(lambda: published(run, f"collab.v1.{case.owner}.{name}ResolvedByHand"))
    assert len(told) == 1
    assert await points(run) == []

    code, history = await cli("history", saga, saga_id)
    assert code == OK
    last = history.splitlines()[-1]
    assert last.split()[3] == f"{name}ResolvedByHand"
    assert "operator=ops@hq" in last and f"reason=resolved by ops@hq: {why}" in last
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
        ("resolve", "--operator", "o", "--why", "again"),
        ("retry", "--operator", "o"),
        ("cancel", "--operator", "o", "--why", "again"),
    ):
        code, said = await cli(act[0], saga, saga_id, *act[1:])
        assert code == REFUSED, act
        assert "SAGA_ALREADY_ENDED" in said and "already ended resolved" in said


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
        case = Case(
            "transfer",
            "T-1",
            GZ,
            lambda: hq.GetTransfer(transfer_id="T-1"),
            pb.TRANSFER_STAGE_RESOLVED_BY_HAND,
            "reserve.undo failed",
        )
        await resolve_by_hand(cli, collab, clock, case, "reservation settled at FS01 by hand")
        # Nothing on HQ's ledger for it either.
        month = settlement_month(clock.now())
        assert list((await hq.GetCostSettlement(month=month)).lines) == []
    assert (await position(inv, FS)).reserved == 1  # as the operator left it: never released
    async with inventory_service.service.db.transaction() as conn:
        sent = await conn.execute(
            select(command_log.c.command_type).where(
                command_log.c.request_id == request_id("transfer", "T-1", "reserve.undo")
            )
        )
        assert list(sent.scalars()) == []


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
        case = Case(
            "support",
            support_id,
            SZ,
            sop2.getter(hq, support_id),
            pb.SUPPORT_STAGE_RESOLVED_BY_HAND,
            "hold.undo failed",
        )
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

        case = Case(
            "diversion",
            diversion_id,
            SZ,
            sop3.getter(hq, diversion_id),
            pb.DIVERSION_STAGE_RESOLVED_BY_HAND,
            "hold.undo failed",
        )
        await resolve_by_hand(cli, collab, clock, case, "DG01 freed the bay by hand")
        await sop3.nothing_settled(hq, collab)
        # Nobody was moved: the customer's appointment may be offered again.
        again = await sop3.divert(shenzhen, "7c1d0a3e-0000-4000-8000-000000000304")
        assert str(again.diversion_id) != diversion_id
