"""The demo network shows the capacity monitor of domain.md today, not tomorrow."""

from __future__ import annotations

from storemesh.capacity.v1 import capacity_pb2 as pb

from kernel.clock import ManualClock
from services.capacity import demo
from services.demo_network import DIVERSION_CASE, STORES, booking_day, request_id
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
)

__all__ = ["cap", "capacity_pg_url", "capacity_service"]


async def test_the_demo_shows_todays_monitor_with_shenzhen_overloaded(
    cap: CapacityClient, clock: ManualClock
) -> None:
    clock.set(local(10, 15))
    await demo.load(cap.run.channel, cap.run.metadata(cap.token), now=clock.now())

    shenzhen = await cap.GetDayView(store_id="SZ01")
    guangzhou = await cap.GetDayView(store_id="GZ01")

    assert (shenzhen.day, shenzhen.booked, shenzhen.capacity) == (MONDAY.isoformat(), 32, 30)
    assert shenzhen.status == pb.STATUS_COLOUR_RED
    assert (guangzhou.booked, guangzhou.capacity) == (20, 25)


async def test_after_closing_the_demo_books_tomorrow(
    cap: CapacityClient, clock: ManualClock
) -> None:
    clock.set(local(18, 0))
    await demo.load(cap.run.channel, cap.run.metadata(cap.token), now=clock.now())

    tomorrow = await cap.GetDayView(store_id="SZ01", day="2026-11-03")

    assert (tomorrow.booked, tomorrow.capacity) == (32, 30)


async def test_a_second_start_the_same_day_keeps_the_first_starts_bookings(
    cap: CapacityClient, clock: ManualClock
) -> None:
    """The regression: restarting make run later the same day stopped it, since the same
    request ids now asked for later slots (REQUEST_ID_REUSED)."""
    clock.set(local(10, 15))
    await demo.load(cap.run.channel, cap.run.metadata(cap.token), now=clock.now())
    clock.set(local(11, 40))
    await demo.load(cap.run.channel, cap.run.metadata(cap.token), now=clock.now())

    shenzhen = await cap.GetDayView(store_id="SZ01")
    assert (shenzhen.day, shenzhen.booked, shenzhen.capacity) == (MONDAY.isoformat(), 32, 30)


async def test_the_demo_syncs_each_stores_day_in_one_call(
    cap: CapacityClient, clock: ManualClock
) -> None:
    clock.set(local(10, 15))
    await demo.load(cap.run.channel, cap.run.metadata(cap.token), now=clock.now())

    # The same day sent again by its DMS, as the demo sent it: every appointment held.
    resent = await cap.SyncAppointments(
        request_id="resend-sz01", store_id="SZ01", appointments=_demo_day(clock, "SZ01")
    )

    assert (resent.booked, resent.unchanged, resent.refused) == (0, 32, 0)


async def test_a_start_after_the_stores_dms_booked_some_of_the_day_keeps_them(
    cap: CapacityClient, clock: ManualClock
) -> None:
    """Appointments of the demo's ids booked at other times (a start of an older demo, or
    the store's own DMS) stand: the sync refuses them as APPOINTMENT_DIFFERS and books the
    rest, and the start goes on."""
    clock.set(local(9, 0))
    earlier = _demo_day(clock, "SZ01")[:5]
    shenzhen_store = next(s for s in STORES if s.code == "SZ01")
    await cap.RegisterStore(  # as the demo registers it (its request id: the same reply)
        request_id=request_id("store", "SZ01"),
        store_id="SZ01",
        profile=demo.profile(shenzhen_store),
    )
    await cap.SyncAppointments(request_id="earlier-sz01", store_id="SZ01", appointments=earlier)
    clock.set(local(10, 15))
    await demo.load(cap.run.channel, cap.run.metadata(cap.token), now=clock.now())

    shenzhen = await cap.GetDayView(store_id="SZ01")
    assert (shenzhen.booked, shenzhen.capacity) == (32, 30)
    # The five stand at their own times: sent again, each is held with the same details.
    again = await cap.SyncAppointments(
        request_id="earlier-sz01-again", store_id="SZ01", appointments=earlier
    )
    assert (again.booked, again.unchanged, again.refused) == (0, 5, 0)


def _demo_day(clock: ManualClock, store_id: str) -> list[pb.SyncedAppointment]:
    """The store's day as the demo sends it at the clock's moment."""
    store = next(s for s in STORES if s.code == store_id)
    return demo.day_appointments(store, *booking_day(clock.now()))


async def test_a_start_after_closing_books_tomorrows_whole_day_after_todays_start(
    cap: CapacityClient, clock: ManualClock
) -> None:
    """Today's start booked SOP 3's case on today; a start after closing books tomorrow,
    SOP 3's case included (a sync never moves a booking: the case is one of each day)."""
    clock.set(local(10, 15))
    await demo.load(cap.run.channel, cap.run.metadata(cap.token), now=clock.now())
    clock.set(local(19, 0))
    await demo.load(cap.run.channel, cap.run.metadata(cap.token), now=clock.now())

    today = await cap.GetDayView(store_id="SZ01")
    tomorrow = await cap.GetDayView(store_id="SZ01", day="2026-11-03")
    assert (today.booked, tomorrow.booked, tomorrow.capacity) == (32, 32, 30)
    day, _ = booking_day(clock.now())
    case = _demo_day(clock, "SZ01")[-1]
    assert case.appointment_id == DIVERSION_CASE.appointment_on(day)
