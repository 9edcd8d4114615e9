"""Collab's part of the demo network: one case per SOP, each left where a user continues it.

- SOP 1: Shenzhen Futian (SZ01, overloaded) has a customer waiting for a left LED
  headlamp; the transfer is requested from the best source and waits for its approval.
- SOP 2: Shenzhen's battery fault beyond its own technicians: support is requested for the
  coming Friday afternoon (12:00-18:00); the best match (Dongguan's T3, DG01-T01, unless a
  nearer expert is free) is held and its home store asked to approve within the hour.
- SOP 3: Shenzhen is overloaded: its last customer of the day is offered Dongguan (the
  nearest store with a place and a free bay); the bay is held while the customer chooses.

Request ids are fixed, so loading twice changes nothing. Each case says where it stands
(or why it could not start, e.g. the stores are closed at this hour).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import grpc
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.collab.v1 import collab_pb2_grpc as pb_grpc

from kernel.codec import timestamp
from services.demo_network import (
    DIVERSION_CASE,
    SHANGHAI,
    SUPPORT_CASE,
    booking_day,
    request_id,
)

REQUESTER = "SZ01"
HEADLAMP = "LMP-HEAD-L"
# Planned support is booked this far ahead; sooner it is asked as urgent.
LEAD_TIME = timedelta(hours=72)


def coming_friday(today: date) -> date:
    return today + timedelta(days=(4 - today.weekday()) % 7 or 7)


async def load(channel: grpc.aio.Channel, metadata: Any, now: datetime | None = None) -> str:
    """What each case came to, one line each."""
    stub = pb_grpc.CollabServiceStub(channel)
    now = now or datetime.now(UTC)
    said = [await _transfer(stub, metadata), await _support(stub, metadata, now)]
    said.append(await _diversion(stub, metadata, now))
    return "\n".join(said)


async def _refused(call: Any, what: str) -> tuple[Any, str]:
    try:
        return await call, ""
    except grpc.aio.AioRpcError as err:
        if err.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE):
            raise
        return None, f"no {what}: {err.details()}"


async def _transfer(stub: Any, metadata: Any) -> str:
    transfer, why = await _refused(
        stub.RequestTransfer(
            pb.RequestTransferRequest(
                request_id=request_id("transfer", REQUESTER, HEADLAMP),
                store_id=REQUESTER,
                part_number=HEADLAMP,
                quantity=1,
                urgency=pb.URGENCY_URGENT,
                customer_waiting=True,
                repair_order="DEMO-RO-SZ01-0001",
            ),
            metadata=metadata,
        ),
        "headlamp transfer",
    )
    return why or f"headlamp transfer {transfer.transfer_id} asks {transfer.source_store_id}"


async def _support(stub: Any, metadata: Any, now: datetime) -> str:
    case = SUPPORT_CASE
    friday = coming_friday(now.astimezone(SHANGHAI).date())
    starts = datetime.combine(friday, time(12), SHANGHAI).astimezone(UTC)
    ends = datetime.combine(friday, time(18), SHANGHAI).astimezone(UTC)
    support, why = await _refused(
        stub.RequestSupport(
            pb.RequestSupportRequest(
                request_id=request_id("support", case.store_id, case.specialty, friday),
                store_id=case.store_id,
                specialty=case.specialty,
                minimum_level=pb.TECHNICIAN_LEVEL_T3,
                starts_at=timestamp(starts),
                ends_at=timestamp(ends),
                fault=case.fault,
                urgent=starts - now < LEAD_TIME,
            ),
            metadata=metadata,
        ),
        "battery support",
    )
    if why:
        return why
    return (
        f"battery support {support.support_id} for Friday {friday.isoformat()} afternoon "
        f"matched {', '.join(support.candidate_technician_ids)}"
    )


async def _diversion(stub: Any, metadata: Any, now: datetime) -> str:
    case = DIVERSION_CASE
    day, _ = booking_day(now)
    diversion, why = await _refused(
        stub.RequestDiversion(
            pb.RequestDiversionRequest(
                request_id=request_id("diversion", case.appointment_on(day), day),
                store_id=case.store_id,
                appointment_id=case.appointment_on(day),
                day=day.isoformat(),
                customer_ref=case.customer_ref,
                vehicle=case.vehicle,
                service_type=case.service_type,
                expected_labour_hours=case.expected_labour_hours,
            ),
            metadata=metadata,
        ),
        "diversion",
    )
    if why:
        return why
    return (
        f"diversion {diversion.diversion_id} offers {case.customer_ref} "
        f"{', '.join(diversion.candidate_store_ids)} (nearest first)"
    )
