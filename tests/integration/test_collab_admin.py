"""The operator's command line (`python -m services.collab.admin`, kernel/saga/admin.py)
over a real transfer saga: collab and inventory over gRPC, PostgreSQL and NATS.

Each command runs through `main(argv)` in a thread of its own (it runs its own event
loop, as from a shell) with the settings and ManualClock of the collab under test.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
from sqlalchemy import select
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.inventory.events.v1 import events_pb2 as inventory_events

from kernel.clock import ManualClock
from kernel.eventstore import command_log
from kernel.saga import request_id, sagas_in
from kernel.saga.admin import FAILED as EXIT_FAILED
from kernel.saga.admin import OK, REFUSED, UNKNOWN
from kernel.saga.steps import Status
from kernel.testing.servers import Endpoints, free_port
from services.collab import admin
from services.collab.read_model import part_demand
from tests.integration.collab_fixtures import (
    DG,
    FS,
    GZ,
    PART,
    CollabRun,
    at_stage,
    collab_db_url,
    position,
    saga_event_types,
    start_collab,
    stocked,
)
from tests.integration.conftest import Running, settings_for
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually
from tests.integration.test_collab_transfer import in_transit_from_foshan

__all__ = ["collab_db_url", "inv", "inventory_service", "start_collab"]

Mint = Callable[..., str]


class Cli:
    """`python -m services.collab.admin ...` against the collab under test."""

    def __init__(self, settings: Any, clock: ManualClock) -> None:
        self.settings = settings
        self.clock = clock

    async def __call__(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = await asyncio.to_thread(
            admin.main, list(argv), settings=self.settings, clock=self.clock, out=out
        )
        return code, out.getvalue()


def cli_for(collab_db_url: str, endpoints: Endpoints, namespace: str, clock: ManualClock) -> Cli:
    return Cli(settings_for("collab", collab_db_url, endpoints.nats_url, namespace), clock)


async def request(client: Any) -> Any:
    return await client.RequestTransfer(
        request_id="T-1",
        store_id=GZ,
        part_number=PART,
        quantity=1,
        urgency=pb.URGENCY_URGENT,
        customer_waiting=True,
        repair_order="RO-7",
    )


async def stuck_releasing(start_collab: Any, mint: Mint, clock: ManualClock) -> None:
    """T-1, waiting for Foshan's approval, is rejected while inventory cannot be reached: the
    release is retried until the dispatcher gives up, and the transfer ends stuck with
    Foshan's unit reserved."""
    dead = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    async with start_collab(saga_channel=dead) as collab:
        await collab.client(mint("manager", FS)).RejectTransfer(
            request_id="r-1", transfer_id="T-1", reason="needed here"
        )
        for _ in range(12):
            if await status_of(collab, "T-1") == "failed":
                break
            clock.advance(timedelta(minutes=6))
            await collab.parts.collab.dispatcher.dispatch_once()  # type: ignore[union-attr]
        assert await status_of(collab, "T-1") == "failed"
        assert (await saga_event_types(collab, "T-1"))[-1] == "TransferStuck"
    await dead.close()


async def status_of(run: CollabRun, transfer_id: str) -> str:
    async with run.parts.service.db.transaction() as conn:
        for status in Status:
            if any(r.saga_id == transfer_id for r in await sagas_in(conn, "transfer", status)):
                return status.value
    return ""


async def test_a_failed_undo_retried_by_an_operator_releases_once_and_asks_the_next_source(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
    inventory_service: Running,
    collab_db_url: str,
    endpoints: Endpoints,
    namespace: str,
) -> None:
    cli = cli_for(collab_db_url, endpoints, namespace, clock)
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        await request(collab.client(mint("dms", GZ)))
        await at_stage(collab.client(mint("hq")), "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)
    assert (await position(inv, FS)).reserved == 1
    await stuck_releasing(start_collab, mint, clock)
    assert (await position(inv, FS)).reserved == 1

    code, listed = await cli("list", "--state", "failed", "--store", FS)
    assert code == OK
    assert "T-1" in listed and "reserve.undo failed" in listed
    code, history = await cli("history", "transfer", "T-1")
    assert code == OK
    assert [line.split()[3] for line in history.splitlines()[:3]] == [
        "TransferRequested",
        "SourceReserved",
        "ApprovalRequested",
    ]
    assert "reserve:done" in history.splitlines()[1]
    assert "TransferStuck" in history.splitlines()[-1]

    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        code, said = await cli("retry", "transfer", "T-1", "--operator", "ops@hq")
        assert (code, said.strip()) == (OK, "transfer T-1: call re-issued, now compensating")
        moved = await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, DG)
        assert moved.source_store_id == DG
        assert ((await position(inv, FS)).reserved, (await position(inv, DG)).reserved) == (0, 1)
        types = await saga_event_types(collab, "T-1")
        assert types[types.index("TransferStuck") :][:4] == [
            "TransferStuck",
            "TransferStepRetried",
            "ReservationReleased",
            "NextSourceChosen",
        ]
    # Inventory acted on the release under the request id the saga derived the first time.
    async with inventory_service.service.db.transaction() as conn:
        logged = (
            await conn.execute(
                select(command_log.c.command_type).where(
                    command_log.c.request_id == request_id("transfer", "T-1", "reserve.undo")
                )
            )
        ).scalars()
        assert list(logged) == ["ReleaseReservation"]


async def test_an_operator_cancels_a_waiting_transfer_and_it_ends_compensated_without_a_next_source(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
    collab_db_url: str,
    endpoints: Endpoints,
    namespace: str,
) -> None:
    cli = cli_for(collab_db_url, endpoints, namespace, clock)
    await stocked(inv, FS01=5, DG01=5)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        await request(collab.client(mint("dms", GZ)))
        await at_stage(hq, "T-1", pb.TRANSFER_STAGE_AWAITING_APPROVAL, FS)

        # Waiting for an answer, not a call: nothing to retry, said so, nothing changed.
        code, said = await cli("retry", "transfer", "T-1", "--operator", "ops@hq")
        assert code == REFUSED
        assert "SAGA_NOTHING_TO_RETRY" in said and "waits for approval" in said

        code, said = await cli(
            "cancel", "transfer", "T-1", "--operator", "ops@hq", "--why", "customer left"
        )
        assert (code, said.strip()) == (OK, "transfer T-1: cancelled, now compensating")
        ended = await at_stage(hq, "T-1", pb.TRANSFER_STAGE_NO_SOURCE)
        assert ended.source_store_id == FS  # Dongguan was never asked
        assert ((await position(inv, FS)).reserved, (await position(inv, DG)).reserved) == (0, 0)
        assert (await saga_event_types(collab, "T-1"))[-3:] == [
            "TransferCancelled",
            "ReservationReleased",
            "NoSourceLeft",
        ]
        code, history = await cli("history", "transfer", "T-1")
        assert "reason=cancelled by ops@hq: customer left" in history

        # Ended: a second cancel and a retry are refused with the reason.
        code, said = await cli("cancel", "transfer", "T-1", "--operator", "o", "--why", "again")
        assert code == REFUSED
        assert "SAGA_ALREADY_ENDED" in said and "already ended compensated" in said
        code, said = await cli("retry", "transfer", "T-1", "--operator", "o")
        assert code == REFUSED
        assert (await saga_event_types(collab, "T-1"))[-1] == "NoSourceLeft"

        code, listed = await cli("list", "--saga", "transfer", "--state", "compensated")
        assert code == OK and "T-1" in listed
        code, listed = await cli("list", "--store", DG)
        assert code == OK and "T-1" not in listed

    code, said = await cli("history", "transfer", "T-404")
    assert code == UNKNOWN and "T-404" in said
    code, said = await cli("cancel", "transfer", "T-404", "--operator", "o", "--why", "x")
    assert code == UNKNOWN
    code, said = await cli("history", "shipment", "T-1")
    assert code == UNKNOWN and "saga type 'shipment' not found" in said
    code, _ = await cli("cancel", "transfer", "T-1")  # no --operator / --why
    assert code == 2


async def test_dead_letters_are_listed_and_replayed_through_the_subscription_once(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
    collab_db_url: str,
    endpoints: Endpoints,
    namespace: str,
) -> None:
    cli = cli_for(collab_db_url, endpoints, namespace, clock)
    await stocked(inv, FS01=5)
    async with start_collab() as collab:
        nats = collab.parts.service.nats
        js = await nats.jetstream()
        # A message the demand subscription can never decode: parked at once, for real.
        await js.publish(
            nats.subject(f"inventory.v1.{FS}.PartsIssued"),
            b"\xff\xff not a PartsIssued",
            headers={
                "ce-id": "poison-1",
                "ce-type": "storemesh.inventory.events.v1.PartsIssued",
                "Nats-Msg-Id": "poison-1",
            },
        )
        # A good PartsIssued parked as the runner parks one whose handler kept failing (a
        # database outage outlasting max_deliver): replaying it must count it, once.
        issued = inventory_events.PartsIssued(
            store_id=FS, part_number=PART, quantity=3, repair_order="RO-9"
        )
        issued.occurred_at.FromDatetime(clock.now())
        await js.publish(
            nats.subject("deadletter.v1.collab.collab-part-demand"),
            issued.SerializeToString(),
            headers={
                "ce-id": "issued-1",
                "ce-type": "storemesh.inventory.events.v1.PartsIssued",
                "x-dead-letter-reason": "failed 5 times: database unavailable",
                "x-original-subject": nats.subject(f"inventory.v1.{FS}.PartsIssued"),
                "x-deliveries": "5",
                "x-subscription": "collab-part-demand",
                "Nats-Msg-Id": "dlq-collab-part-demand-issued-1",
            },
        )

        async def both_parked() -> list[str]:
            code, listed = await cli("dead-letters")
            lines = listed.splitlines()
            return lines if code == OK and len(lines) == 2 else []

        lines = await eventually(both_parked)
        (poison,) = [line for line in lines if "poison-1" in line]
        (good,) = [line for line in lines if "issued-1" in line]
        assert "poison: undecodable PartsIssued" in poison
        assert "database unavailable" in good
        poison_seq, good_seq = poison.split()[0], good.split()[0]

        code, said = await cli("replay", "--all")
        assert code == EXIT_FAILED  # the poison fails again and stays
        results = dict(line.split(maxsplit=1) for line in said.splitlines())
        assert results[good_seq] == "collab-part-demand: replayed"
        assert results[poison_seq].startswith("collab-part-demand: failed again")
        code, listed = await cli("dead-letters")
        assert len(listed.splitlines()) == 1 and "poison-1" in listed

        async with collab.parts.service.db.transaction() as conn:
            counted = (
                await conn.execute(select(part_demand.c.issued).where(part_demand.c.store_id == FS))
            ).scalars()
            assert list(counted) == [3]
        code, said = await cli("replay", "999999")
        assert code == UNKNOWN and "dead letter '999999' not found" in said


async def test_an_undo_inventory_refuses_stays_failed_when_retried_and_cannot_be_cancelled(
    start_collab: Any,
    inv: InventoryClient,
    mint: Mint,
    clock: ManualClock,
    collab_db_url: str,
    endpoints: Endpoints,
    namespace: str,
) -> None:
    cli = cli_for(collab_db_url, endpoints, namespace, clock)
    await stocked(inv, FS01=5)
    async with start_collab() as collab:
        hq = collab.client(mint("hq"))
        await in_transit_from_foshan(collab, hq, mint)
        # Guangzhou books the part in by hand at inventory; the courier app then says lost.
        await eventually(lambda: _in_transit_in(inv))
        await inv.ReceiveTransfer(store_id=GZ, part_number=PART, transfer_id="T-1")
        await eventually(lambda: _delivered_at_source(inv))
        await hq.ReportCourierProgress(
            request_id="c-2", transfer_id="T-1", progress=pb.COURIER_PROGRESS_LOST
        )
        # Inventory refuses to write off what is not in transit: the transfer is stuck.
        await eventually(lambda: _status_is(collab, "failed"))
        code, history = await cli("history", "transfer", "T-1")
        assert "ShipmentLost" in history and history.splitlines()[-1].split()[3] == "TransferStuck"
        assert "ship.undo failed" in (await cli("list", "--state", "failed"))[1]

        code, said = await cli("retry", "transfer", "T-1", "--operator", "ops@hq")
        assert code == OK
        await eventually(lambda: _stuck_twice(collab))
        assert (await saga_event_types(collab, "T-1"))[-3:] == [
            "TransferStuck",
            "TransferStepRetried",
            "TransferStuck",
        ]
        code, said = await cli("cancel", "transfer", "T-1", "--operator", "o", "--why", "x")
        assert code == REFUSED and "already ended failed" in said
        # Nothing was written off: the unit is where Guangzhou booked it.
        assert (await position(inv, GZ)).on_hand == 1
        assert (await position(inv, FS)).on_hand == 4


async def _in_transit_in(inv: InventoryClient) -> bool:
    return bool((await position(inv, GZ)).in_transit_in == 1)


async def _delivered_at_source(inv: InventoryClient) -> bool:
    return bool((await position(inv, FS)).in_transit_out == 0)


async def _status_is(run: CollabRun, status: str) -> bool:
    return await status_of(run, "T-1") == status


async def _stuck_twice(run: CollabRun) -> bool:
    return (await saga_event_types(run, "T-1")).count("TransferStuck") == 2
