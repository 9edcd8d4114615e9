"""SOP 3 end to end: collab and the real capacity service over gRPC, PostgreSQL and NATS.

Shenzhen (SZ01) is overloaded; Dongguan (DG01, nearer) and Guangzhou (GZ01) have places.
A customer is moved only when they accept: the held bay becomes an appointment at the
receiver carrying diverted_from_store_id, the origin's appointment is cancelled, HQ pays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
from storemesh.collab.events.v1 import events_pb2
from storemesh.collab.v1 import collab_pb2 as pb

from kernel.clock import ManualClock
from kernel.saga import pending_calls
from kernel.testing.servers import free_port
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
)
from tests.integration.collab_fixtures import collab_db_url
from tests.integration.kernel_fixtures import all_messages, eventually
from tests.integration.rich_errors import failure, reason, violated_fields
from tests.integration.sops_fixtures import collab_with_capacity, points, reached

__all__ = ["cap", "capacity_pg_url", "capacity_service", "collab_db_url", "collab_with_capacity"]

Mint = Callable[..., str]
SZ, DG, GZ = "SZ01", "DG01", "GZ01"
TODAY = MONDAY.isoformat()


async def network(cap: CapacityClient, clock: ManualClock, sz_bays: int = 4) -> None:
    await cap.register(SZ, bays=sz_bays)
    await cap.register(
        DG, name="Dongguan Nancheng", city="Dongguan", latitude=23.0205, longitude=113.7518
    )
    await cap.register(
        GZ, name="Guangzhou Tianhe", city="Guangzhou", latitude=23.1291, longitude=113.2644
    )
    clock.set(local(10, 0))
    await cap.book("A-1", local(15, 0), store_id=SZ)


async def divert(
    client: Any, request_id: str, appointment_id: str = "A-1", day: str = TODAY
) -> Any:
    return await client.RequestDiversion(
        request_id=request_id,
        store_id=SZ,
        appointment_id=appointment_id,
        day=day,
        customer_ref=f"C-{appointment_id}",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=2.0,
    )


def getter(client: Any, diversion_id: str) -> Callable[[], Any]:
    return lambda: client.GetDiversion(diversion_id=diversion_id)


async def offered(shenzhen: Any, hq: Any, request_id: str) -> str:
    """Shenzhen's customer A-1 offered a bay at Dongguan: the diversion's id."""
    diversion_id = str((await divert(shenzhen, request_id)).diversion_id)
    await reached(getter(hq, diversion_id), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)
    return diversion_id


async def accept(shenzhen: Any, diversion_id: str, request_id: str) -> None:
    await shenzhen.AnswerDiversion(
        request_id=request_id, diversion_id=diversion_id, answer=pb.DIVERSION_ANSWER_ACCEPTED
    )


async def diverted_and_paid(hq: Any, collab: Any) -> None:
    """Dongguan took Shenzhen's customer: its 2 points, HQ's voucher and compensation
    attributed to Shenzhen, each recorded once."""
    ledger = await hq.GetCostSettlement(month="2026-11")
    assert [(c.kind, c.store_id, c.amount_fen, c.entries) for c in ledger.lines] == [
        ("compensation", SZ, 20_000, 1),
        ("transport_voucher", SZ, 5_000, 1),
    ]
    assert await points(collab) == [(DG, "diversion", 2)]


async def nothing_settled(hq: Any, collab: Any) -> None:
    """No cost on HQ's ledger, no contribution points: nobody was moved."""
    assert list((await hq.GetCostSettlement(month="2026-11")).lines) == []
    assert await points(collab) == []


async def test_sop3_accepted_moves_the_customer_with_a_diverted_booking_and_hq_pays(
    collab_with_capacity: Any, cap: CapacityClient, mint: Mint, clock: ManualClock
) -> None:
    await network(cap, clock)
    async with collab_with_capacity() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        dongguan = collab.client(mint("dms", DG))
        hq = collab.client(mint("hq"))

        asked = await divert(shenzhen, "7c1d0a3e-0000-4000-8000-000000000001")
        diversion_id = asked.diversion_id
        assert list(asked.candidate_store_ids) == [DG, GZ]
        offered = await reached(getter(hq, diversion_id), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)
        assert offered.receiving_store_id == DG
        assert (offered.compensation_fen, offered.transport_voucher_fen) == (20_000, 5_000)
        assert (await cap.GetDayView(store_id=DG)).live_holds == 1

        # The receiving store cannot answer for the customer.
        other = await failure(
            dongguan.AnswerDiversion(
                request_id="7c1d0a3e-0000-4000-8000-000000000002",
                diversion_id=diversion_id,
                answer=pb.DIVERSION_ANSWER_ACCEPTED,
            )
        )
        assert other.code() == grpc.StatusCode.PERMISSION_DENIED
        assert (await hq.GetDiversion(diversion_id=diversion_id)).stage == (
            pb.DIVERSION_STAGE_AWAITING_CUSTOMER
        )

        await shenzhen.AnswerDiversion(
            request_id="7c1d0a3e-0000-4000-8000-000000000003",
            diversion_id=diversion_id,
            answer=pb.DIVERSION_ANSWER_ACCEPTED,
        )
        done = await reached(getter(hq, diversion_id), pb.DIVERSION_STAGE_COMPLETED)
        assert done.appointment_id == diversion_id
        receiver = await cap.GetDayView(store_id=DG)
        assert (receiver.booked, receiver.live_holds) == (1, 0)
        assert (await cap.GetDayView(store_id=SZ)).booked == 0
        # The booking carries where the customer came from, so the visit counts for DG01.
        moved = await cap.RescheduleAppointment(
            store_id=DG,
            day=TODAY,
            appointment_id=diversion_id,
            requested_at=local(11, 0, day=MONDAY + timedelta(days=1)),
        )
        assert moved.diverted_from_store_id == SZ

        await diverted_and_paid(hq, collab)

        # Partners see the customer by reference only, on the store's own subject.
        nats = collab.running.service.nats

        async def offers() -> list[Any]:
            js = await nats.jetstream()
            wanted = nats.subject(f"collab.v1.{SZ}.DiversionOffered")
            return [m for m in await all_messages(js, nats.stream("COLLAB")) if m.subject == wanted]

        (message,) = await eventually(offers)
        offer = events_pb2.DiversionOffered.FromString(message.data)
        assert (offer.customer_ref, offer.receiving_store_id) == ("C-A-1", DG)


async def test_sop3_declined_or_silent_releases_the_bay_and_moves_no_one(
    collab_with_capacity: Any, cap: CapacityClient, mint: Mint, clock: ManualClock
) -> None:
    await network(cap, clock)
    await cap.book("A-2", local(16, 0), store_id=SZ)
    async with collab_with_capacity() as collab:
        shenzhen = collab.client(mint("manager", SZ))
        hq = collab.client(mint("hq"))

        declined = (await divert(shenzhen, "7c1d0a3e-0000-4000-8000-000000000011")).diversion_id
        await reached(getter(hq, declined), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)
        await shenzhen.AnswerDiversion(
            request_id="7c1d0a3e-0000-4000-8000-000000000012",
            diversion_id=declined,
            answer=pb.DIVERSION_ANSWER_DECLINED,
            note="prefers to wait",
        )
        ended = await reached(getter(hq, declined), pb.DIVERSION_STAGE_NOT_MADE)
        assert ended.reason == "prefers to wait"

        silent = (
            await divert(shenzhen, "7c1d0a3e-0000-4000-8000-000000000013", "A-2")
        ).diversion_id
        await reached(getter(hq, silent), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)
        clock.advance(timedelta(minutes=15))
        await collab.running.service.timers.run_due()
        expired = await reached(getter(hq, silent), pb.DIVERSION_STAGE_NOT_MADE)
        assert expired.reason == "OFFER_EXPIRED"
        late = await failure(
            shenzhen.AnswerDiversion(
                request_id="7c1d0a3e-0000-4000-8000-000000000014",
                diversion_id=silent,
                answer=pb.DIVERSION_ANSWER_ACCEPTED,
            )
        )
        assert (late.code(), reason(late)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "DIVERSION_NOT_AWAITING",
        )

        for store in (DG, GZ):
            view = await cap.GetDayView(store_id=store)
            assert (view.booked, view.live_holds) == (0, 0)
        assert (await cap.GetDayView(store_id=SZ)).booked == 2
        await nothing_settled(hq, collab)


async def test_sop3_bad_input_and_other_stores_change_nothing(
    collab_with_capacity: Any, cap: CapacityClient, mint: Mint, clock: ManualClock
) -> None:
    await network(cap, clock)
    async with collab_with_capacity() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        guangzhou = collab.client(mint("dms", GZ))
        hq = collab.client(mint("hq"))

        bad = await failure(
            shenzhen.RequestDiversion(
                request_id="7c1d0a3e-0000-4000-8000-000000000021",
                store_id=SZ,
                appointment_id="A-1",
                day="02/11/2026",
                customer_ref="Zhang San 13800138000",
                vehicle="粤B12345",
                service_type="maintenance",
            )
        )
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert sorted(violated_fields(bad)) == ["customer_ref", "day", "expected_labour_hours"]
        other = await failure(divert(guangzhou, "7c1d0a3e-0000-4000-8000-000000000022"))
        assert other.code() == grpc.StatusCode.PERMISSION_DENIED
        # SOP 3 is same day: tomorrow's customer is not moved into a bay held today.
        await cap.book("A-7", local(11, 0, day=MONDAY + timedelta(days=1)), store_id=SZ)
        tomorrow = (MONDAY + timedelta(days=1)).isoformat()
        later = await failure(
            divert(shenzhen, "7c1d0a3e-0000-4000-8000-000000000023", "A-7", tomorrow)
        )
        assert (later.code(), reason(later)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "DIVERSION_NOT_TODAY",
        )
        assert not (await hq.ListDiversions()).diversions
        for store in (DG, GZ):
            assert (await cap.GetDayView(store_id=store)).live_holds == 0


async def test_sop3_capacity_wait_over_two_hours_offers_the_latest_booked_customer_once(
    collab_with_capacity: Any, cap: CapacityClient, mint: Mint, clock: ManualClock
) -> None:
    await network(cap, clock, sz_bays=1)
    await cap.book("A-9", local(16, 30), store_id=SZ)
    async with collab_with_capacity() as collab:
        hq = collab.client(mint("hq"))
        await cap.walk_in("W1", store_id=SZ, hours=1.5)
        await cap.StartService(store_id=SZ, visit_id="W1", bay=1, technician_ids=["T-1"])
        await cap.walk_in("W2", store_id=SZ, hours=1.5)  # a newcomer now waits 3 h

        async def triggered() -> Any:
            return (await hq.ListDiversions(store_id=SZ)).diversions

        (diversion,) = await eventually(triggered, within=30.0)
        assert (diversion.trigger, diversion.origin_appointment_id) == ("wait_threshold", "A-9")
        offered = await reached(
            getter(hq, diversion.diversion_id), pb.DIVERSION_STAGE_AWAITING_CUSTOMER
        )
        assert (offered.receiving_store_id, offered.customer_ref) == (DG, "C-A-9")
        await cap.walk_in("W3", store_id=SZ, hours=1.5)  # still over: no second offer
        assert len((await hq.ListDiversions(store_id=SZ)).diversions) == 1


async def test_sop3_collab_restarted_between_two_steps_holds_one_bay_and_completes(
    collab_with_capacity: Any, cap: CapacityClient, mint: Mint, clock: ManualClock
) -> None:
    await network(cap, clock)
    # First life: the hold is committed in the saga's outbox but never reaches capacity.
    dead = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    async with collab_with_capacity(saga_channel=dead) as collab:
        asked = await divert(collab.client(mint("dms", SZ)), "7c1d0a3e-0000-4000-8000-000000000031")
        async with collab.parts.service.db.transaction() as conn:
            assert [row.call_key for row in await pending_calls(conn)] == ["hold"]
    await dead.close()
    assert (await cap.GetDayView(store_id=DG)).live_holds == 0

    clock.advance(timedelta(seconds=30))  # past the first retry's backoff
    async with collab_with_capacity() as collab:
        hq = collab.client(mint("hq"))
        await reached(getter(hq, asked.diversion_id), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)
        await collab.client(mint("dms", SZ)).AnswerDiversion(
            request_id="7c1d0a3e-0000-4000-8000-000000000032",
            diversion_id=asked.diversion_id,
            answer=pb.DIVERSION_ANSWER_ACCEPTED,
        )
        await reached(getter(hq, asked.diversion_id), pb.DIVERSION_STAGE_COMPLETED)
    receiver = await cap.GetDayView(store_id=DG)
    assert (receiver.booked, receiver.live_holds) == (1, 0)


async def test_sop3_an_origin_appointment_no_longer_cancellable_frees_the_receivers_booking(
    collab_with_capacity: Any, cap: CapacityClient, mint: Mint, clock: ManualClock
) -> None:
    # The customer checked in at the origin while the offer waited: the origin's appointment
    # can no longer be cancelled, so the diversion is not made, and the booking it had
    # already made at the receiver must not keep the receiver's bay for no one.
    await network(cap, clock)
    async with collab_with_capacity() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        hq = collab.client(mint("hq"))
        asked = await divert(shenzhen, "7c1d0a3e-0000-4000-8000-000000000041")
        await reached(getter(hq, asked.diversion_id), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)
        await cap.CheckInCustomer(store_id=SZ, appointment_id="A-1")
        await shenzhen.AnswerDiversion(
            request_id="7c1d0a3e-0000-4000-8000-000000000042",
            diversion_id=asked.diversion_id,
            answer=pb.DIVERSION_ANSWER_ACCEPTED,
        )

        async def ended() -> Any:
            found = await hq.GetDiversion(diversion_id=asked.diversion_id)
            final = (pb.DIVERSION_STAGE_NOT_MADE, pb.DIVERSION_STAGE_STUCK)
            return found if found.stage in final else None

        outcome = await eventually(ended)
        assert (outcome.stage, outcome.reason) == (
            pb.DIVERSION_STAGE_NOT_MADE,
            "APPOINTMENT_NOT_BOOKED",
        )
        receiver = await cap.GetDayView(store_id=DG)
        assert (receiver.booked, receiver.live_holds) == (0, 0)
        assert (await cap.GetDayView(store_id=SZ)).booked == 1  # the customer stays there
        await nothing_settled(hq, collab)


async def test_sop3_one_appointment_is_offered_one_diversion_at_a_time_however_requests_race(
    collab_with_capacity: Any, cap: CapacityClient, mint: Mint, clock: ManualClock
) -> None:
    # Two requests for one customer (a DMS retrying with a new request id, two screens)
    # held two bays and made two offers; the second is refused while the first stands.
    await network(cap, clock)
    async with collab_with_capacity() as collab:
        shenzhen = collab.client(mint("dms", SZ))
        hq = collab.client(mint("hq"))
        ids = [f"7c1d0a3e-0000-4000-8000-0000000000{n}" for n in (51, 52, 53)]
        results = await asyncio.gather(
            divert(shenzhen, ids[0]), divert(shenzhen, ids[1]), return_exceptions=True
        )
        (made,) = [r for r in results if not isinstance(r, BaseException)]
        (refused,) = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert (refused.code(), reason(refused)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "DIVERSION_ALREADY_REQUESTED",
        )
        assert [d.diversion_id for d in (await hq.ListDiversions()).diversions] == [
            made.diversion_id
        ]
        await reached(getter(hq, made.diversion_id), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)
        assert (await cap.GetDayView(store_id=DG)).live_holds == 1

        # Once the customer has declined, the store may ask again later.
        await shenzhen.AnswerDiversion(
            request_id="7c1d0a3e-0000-4000-8000-000000000054",
            diversion_id=made.diversion_id,
            answer=pb.DIVERSION_ANSWER_DECLINED,
        )
        await reached(getter(hq, made.diversion_id), pb.DIVERSION_STAGE_NOT_MADE)
        again = await divert(shenzhen, ids[2])
        await reached(getter(hq, again.diversion_id), pb.DIVERSION_STAGE_AWAITING_CUSTOMER)
