"""Slot holds for diverted customers (SOP 3): held, confirmed, or freed by their durable timer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
from storemesh.capacity.v1 import capacity_pb2 as pb

from kernel.clock import ManualClock
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    advance,
    cap,
    capacity_pg_url,
    capacity_service,
    event_types,
    failure,
    local,
    refusal,
    ts,
)


async def _hold(cap: CapacityClient, hold_id: str, minutes: int = 30) -> Any:
    return await cap.HoldSlot(
        store_id="SZ01",
        hold_id=hold_id,
        diverted_from_store_id="GZ01",
        customer_ref="C-77",
        vehicle="粤A88888",
        service_type="maintenance",
        expected_labour_hours=1.5,
        slot_at=ts(local(14, 0)),
        expires_at=ts(cap.run.service.app.clock.now() + timedelta(minutes=minutes)),
    )


async def test_an_unconfirmed_hold_expires_by_its_durable_timer(
    cap: CapacityClient, clock: ManualClock
) -> None:
    await cap.register("SZ01")
    clock.set(local(9, 0))
    held = await _hold(cap, "H-1", minutes=30)
    assert held.status == pb.HOLD_STATUS_HELD
    assert (await cap.GetDayView(store_id="SZ01")).live_holds == 1

    assert await advance(cap.run, clock, timedelta(minutes=29)) == 0
    assert await advance(cap.run, clock, timedelta(minutes=2)) == 1

    err = await failure(cap.ConfirmSlotHold(store_id="SZ01", day=MONDAY.isoformat(), hold_id="H-1"))
    assert refusal(err) == (grpc.StatusCode.FAILED_PRECONDITION, "HOLD_NOT_LIVE")
    network = await cap.GetNetworkDayView(day=MONDAY.isoformat())
    assert network.stores[0].live_holds == 0
    assert (await event_types(cap.run)).count("SlotHoldExpired") == 1
    assert await advance(cap.run, clock, timedelta(hours=1)) == 0  # fired once, gone


async def test_a_confirmed_hold_becomes_a_diverted_appointment_and_never_expires(
    cap: CapacityClient, clock: ManualClock
) -> None:
    await cap.register("SZ01")
    clock.set(local(9, 0))
    await _hold(cap, "H-2", minutes=30)
    clock.advance(timedelta(minutes=10))

    appointment = await cap.ConfirmSlotHold(
        store_id="SZ01", day=MONDAY.isoformat(), hold_id="H-2", appointment_id="A-H2"
    )

    assert (appointment.appointment_id, appointment.diverted_from_store_id) == ("A-H2", "GZ01")
    assert appointment.requested_at.ToDatetime().hour == 6  # 14:00 in Shenzhen is 06:00 UTC
    assert await advance(cap.run, clock, timedelta(hours=1)) == 0
    view = await cap.GetDayView(store_id="SZ01")
    assert (view.booked, view.live_holds) == (1, 0)
    assert "SlotHoldExpired" not in await event_types(cap.run)


async def test_a_released_hold_frees_its_place_and_its_timer(
    cap: CapacityClient, clock: ManualClock
) -> None:
    await cap.register("SZ01", default_daily_capacity=1)
    clock.set(local(9, 0))
    await _hold(cap, "H-3")
    full = await failure(_hold(cap, "H-4"))
    assert refusal(full) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_SPARE_CAPACITY")

    released = await cap.ReleaseSlotHold(
        store_id="SZ01", day=MONDAY.isoformat(), hold_id="H-3", reason="customer chose to wait"
    )

    assert released.status == pb.HOLD_STATUS_RELEASED
    assert (await _hold(cap, "H-4")).status == pb.HOLD_STATUS_HELD
    assert await advance(cap.run, clock, timedelta(minutes=31)) == 1  # H-4's only
    assert (await event_types(cap.run)).count("SlotHoldExpired") == 1


async def test_releasing_a_confirmed_hold_cancels_its_appointment_and_frees_the_place(
    cap: CapacityClient, clock: ManualClock
) -> None:
    """The diversion saga's undo when the origin keeps the customer: the slot it booked at
    the receiver is given up, not left booked with the saga stuck on HOLD_NOT_LIVE."""
    await cap.register("SZ01", default_daily_capacity=1)
    clock.set(local(9, 0))
    await _hold(cap, "H-5")
    await cap.ConfirmSlotHold(
        store_id="SZ01", day=MONDAY.isoformat(), hold_id="H-5", appointment_id="A-H5"
    )

    released = await cap.ReleaseSlotHold(
        store_id="SZ01", day=MONDAY.isoformat(), hold_id="H-5", reason="origin kept the customer"
    )

    assert (released.status, released.appointment_id) == (pb.HOLD_STATUS_CONFIRMED, "A-H5")
    assert (await cap.GetDayView(store_id="SZ01")).booked == 0
    assert (await _hold(cap, "H-6")).status == pb.HOLD_STATUS_HELD  # the place is free again
    assert (await event_types(cap.run)).count("AppointmentCancelled") == 1
