"""The demo network shows the capacity monitor of domain.md today, not tomorrow."""

from __future__ import annotations

from storemesh.capacity.v1 import capacity_pb2 as pb

from kernel.clock import ManualClock
from services.capacity import demo
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
