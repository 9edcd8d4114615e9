"""Sagas across crashes and replicas: a dispatcher killed mid-call, an answer lost, two
dispatchers at once, a participant that never answers, a call landing after its deadline.
Each time the real inventory service must act once per call, and the saga must end."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, ClassVar

import grpc
import pytest

from kernel.clock import ManualClock
from kernel.saga import Participant, Status, request_id
from kernel.saga.dispatcher import Answer
from kernel.testing.servers import free_port
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.kernel_fixtures import eventually
from tests.integration.saga_fixtures import (
    PART,
    SZ,
    approve,
    index,
    inventory_events_of,
    outbox,
    replicas,
    request_transfer,
    reserved,
    saga_db_url,
    saga_events,
    status,
    stocked,
)


class ProcessKilled(BaseException):
    """The process died: nothing after this point of the call ran."""


class KilledAfterCalling(Participant):
    """Performs the call for real, then the process dies before recording the reply."""

    async def call(self, method: str, fields: Any, request_id: str) -> Any:
        await super().call(method, fields, request_id)
        raise ProcessKilled


class HeldBack(Participant):
    """A call that reaches the participant only when the test opens the gate."""

    gate = asyncio.Event()

    async def call(self, method: str, fields: Any, request_id: str) -> Any:
        await self.gate.wait()
        return await super().call(method, fields, request_id)


class ReplyLostOnce(Participant):
    """The first attempt acts at the callee but its answer is lost (UNAVAILABLE)."""

    seen: ClassVar[list[str]] = []

    async def call(self, method: str, fields: Any, request_id: str) -> Any:
        self.seen.append(request_id)
        answer = await super().call(method, fields, request_id)
        if len(self.seen) == 1:
            return Answer(None, {}, "UNAVAILABLE: connection reset")
        return answer


async def test_a_dispatcher_killed_after_its_call_does_not_reserve_twice_once_restarted(
    replicas: Any, inv: InventoryClient, clock: ManualClock, inventory_service: Running
) -> None:
    await stocked(inv)
    doomed = await replicas(KilledAfterCalling)
    await request_transfer(doomed, "T-1")
    with pytest.raises(ProcessKilled):
        await doomed.dispatcher.dispatch_once()
    assert await reserved(inv) == 2, "the call reached inventory before the process died"
    assert await saga_events(doomed, "T-1") == ["TransferRequested"]

    restarted = await replicas()
    assert await restarted.dispatcher.dispatch_once() == 0, "the dead one's lease still holds"
    clock.advance(restarted.dispatcher.lease)
    assert await restarted.dispatcher.dispatch_once() == 1

    assert await reserved(inv) == 2
    assert await inventory_events_of(inventory_service) == ["StockReceived", "StockReserved"]
    assert await saga_events(restarted, "T-1") == [
        "TransferRequested",
        "SourceReserved",
        "ApprovalRequested",
    ]

    # Killed again between the approval and the shipment: shipped once all the same.
    await approve(restarted, "T-1")
    doomed_again = await replicas(KilledAfterCalling)
    with pytest.raises(ProcessKilled):
        await doomed_again.dispatcher.dispatch_once()
    clock.advance(restarted.dispatcher.lease)
    assert await restarted.dispatcher.dispatch_once() == 1
    assert await status(restarted, "T-1") is Status.COMPLETED
    assert await inventory_events_of(inventory_service) == [
        "StockReceived",
        "StockReserved",
        "TransferShipped",
    ]
    position = await inv.GetStockPosition(store_id=SZ, part_number=PART)
    assert (position.on_hand, position.reserved, position.in_transit_out) == (8, 0, 2)


async def test_a_reservation_landing_after_its_deadline_is_released_all_the_same(
    replicas: Any, inv: InventoryClient, clock: ManualClock
) -> None:
    await stocked(inv)
    HeldBack.gate = asyncio.Event()
    r = await replicas(HeldBack, lease=timedelta(minutes=8))
    await request_transfer(r, "T-1")
    in_flight = asyncio.create_task(r.dispatcher.dispatch_once())

    async def claimed() -> bool:
        return [row.attempts for row in await outbox(r)] == [1]

    await eventually(claimed, within=10.0)
    clock.advance(timedelta(minutes=5))
    assert await r.timers.run_due() == 1
    assert await saga_events(r, "T-1") == ["TransferRequested", "SourceUnanswered"]
    [undo] = await outbox(r)
    assert (undo.call_key, undo.due_at) == ("reserve.undo", clock.now() + timedelta(minutes=3))

    HeldBack.gate.set()
    await asyncio.wait_for(in_flight, 10.0)
    assert await reserved(inv) == 2, "the late call still reserved"
    assert await saga_events(r, "T-1") == ["TransferRequested", "SourceUnanswered"]
    assert await r.dispatcher.dispatch_once() == 0, "the undo waits for the call's lease"
    clock.advance(timedelta(minutes=3))
    assert await r.dispatcher.dispatch_once() == 1
    assert await reserved(inv) == 0
    assert await status(r, "T-1") is Status.COMPENSATED


async def test_a_reply_decided_on_a_state_another_replica_moved_on_is_decided_again(
    replicas: Any, inv: InventoryClient, inventory_service: Running
) -> None:
    """The dispatcher decides a reply on its application's cached saga state; here the
    other replica moved the saga on meanwhile, so the cached state is stale and its
    decision (a reply to a call it does not know yet: nothing to record) must not stand."""
    await stocked(inv)
    r, other = await replicas(), await replicas()
    await request_transfer(r, "T-1")
    stream = r.runtime.stream_id("T-1")
    assert await other.dispatcher.dispatch_once() == 1  # reserved, approval asked
    await approve(other, "T-1")  # the shipment is in the outbox
    cached = r.app.cache.get(stream)
    assert cached is not None and cached.version == 1, "r has not seen the other's writes"
    assert await r.dispatcher.dispatch_once() == 1
    assert await status(r, "T-1") is Status.COMPLETED
    assert await inventory_events_of(inventory_service) == [
        "StockReceived",
        "StockReserved",
        "TransferShipped",
    ]
    assert not await outbox(r)
    cached = r.app.cache.get(stream)
    assert cached is not None and cached.version == len(await saga_events(r, "T-1"))


async def test_two_dispatchers_at_once_perform_each_call_once(
    replicas: Any, inv: InventoryClient, inventory_service: Running
) -> None:
    await stocked(inv, quantity=100)
    first, second = await replicas(batch=4), await replicas(batch=4)
    transfers = [f"T-{n}" for n in range(12)]
    for transfer_id in transfers:
        await request_transfer(first, transfer_id, quantity=1)

    for _ in range(20):  # bounded: every call is due at once
        if not await outbox(first):
            break
        await asyncio.gather(first.dispatcher.dispatch_once(), second.dispatcher.dispatch_once())

    assert first.dispatcher.performed + second.dispatcher.performed == len(transfers)
    assert first.dispatcher.performed > 0 and second.dispatcher.performed > 0
    assert await reserved(inv) == len(transfers)
    assert (await inventory_events_of(inventory_service)).count("StockReserved") == len(transfers)
    for transfer_id in transfers:
        assert (await saga_events(first, transfer_id)).count("SourceReserved") == 1


async def test_a_call_whose_answer_was_lost_is_retried_with_its_request_id_and_acts_once(
    replicas: Any, inv: InventoryClient, clock: ManualClock, inventory_service: Running
) -> None:
    await stocked(inv)
    ReplyLostOnce.seen = []
    r = await replicas(ReplyLostOnce)
    await request_transfer(r, "T-1")
    assert await r.dispatcher.dispatch_once() == 1
    [row] = await outbox(r)
    assert (row.attempts, row.last_error) == (1, "UNAVAILABLE: connection reset")
    assert await r.dispatcher.dispatch_once() == 0, "not before its backoff"
    clock.advance(timedelta(seconds=2))
    assert await r.dispatcher.dispatch_once() == 1

    assert ReplyLostOnce.seen == [request_id("transfer", "T-1", "reserve")] * 2
    assert await reserved(inv) == 2
    assert await inventory_events_of(inventory_service) == ["StockReceived", "StockReserved"]
    assert (await saga_events(r, "T-1"))[1:] == ["SourceReserved", "ApprovalRequested"]


async def test_a_participant_down_past_the_retries_ends_the_saga_failed(
    replicas: Any, clock: ManualClock
) -> None:
    nobody = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    try:
        r = await replicas(channel=nobody)
        await request_transfer(r, "T-1")
        for _ in range(12):  # bounded: 3 attempts of the reservation, 3 of its release
            if await status(r, "T-1") in (Status.COMPENSATED, Status.FAILED):
                break
            await r.dispatcher.dispatch_once()
            clock.advance(r.dispatcher.max_backoff)
        calls = await outbox(r)
    finally:
        await nobody.close()
    assert await status(r, "T-1") is Status.FAILED
    assert await saga_events(r, "T-1") == [
        "TransferRequested",
        "SourceUnanswered",
        "TransferFailed",
    ]
    assert calls == []
    assert r.dispatcher.performed == 6
    assert await index(r, Status.FAILED) == [("T-1", "", "reserve.undo failed")]
