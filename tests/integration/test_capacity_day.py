"""A store's day on the capacity monitor, over real gRPC, PostgreSQL and NATS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from storemesh.capacity.v1 import capacity_pb2 as pb

from kernel.clock import ManualClock
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
    ts,
)

GREEN, YELLOW, RED = pb.STATUS_COLOUR_GREEN, pb.STATUS_COLOUR_YELLOW, pb.STATUS_COLOUR_RED


async def _colour_after_booking(cap: CapacityClient, ids: range) -> tuple[int, float, int]:
    for i in ids:
        await cap.book(f"A{i}", local(8 + (i - 1) % 9, 30))
    view = await cap.GetDayView(store_id="SZ01", day=MONDAY.isoformat())
    return view.booked, round(view.utilisation, 4), view.status


async def test_a_full_day_from_bookings_to_completed_visits(
    cap: CapacityClient, clock: ManualClock
) -> None:
    await cap.register("SZ01")
    await cap.register(
        "GZ01",
        name="Guangzhou Tianhe",
        city="Guangzhou",
        latitude=23.1291,
        longitude=113.2644,
        default_daily_capacity=25,
    )

    # Bookings fill the day: green below 80%, yellow from 80% to 100% inclusive, red above.
    assert await _colour_after_booking(cap, range(1, 8)) == (7, 0.7, GREEN)
    assert await _colour_after_booking(cap, range(8, 9)) == (8, 0.8, YELLOW)
    assert await _colour_after_booking(cap, range(9, 11)) == (10, 1.0, YELLOW)
    assert await _colour_after_booking(cap, range(11, 12)) == (11, 1.1, RED)

    # The day: arrivals, bays, completions, a no-show.
    clock.set(local(8, 25))
    await cap.CheckInCustomer(store_id="SZ01", appointment_id="A1")
    await cap.StartService(store_id="SZ01", visit_id="A1", bay=1, technician_ids=["T-1"])
    await cap.walk_in("W1")
    await cap.StartService(store_id="SZ01", visit_id="W1", bay=2, technician_ids=["T-2"])
    clock.set(local(9, 20))
    await cap.CheckInCustomer(store_id="SZ01", appointment_id="A2")
    await cap.StartService(store_id="SZ01", visit_id="A2", bay=3, technician_ids=["T-3", "T-4"])
    clock.set(local(10, 0))
    done = await cap.CompleteVisit(
        store_id="SZ01",
        visit_id="A1",
        labour_hours=1.5,
        labour_revenue_fen=45_000,
        parts_revenue_fen=30_000,
        satisfaction_score=95,
    )
    assert done.status == pb.VISIT_STATUS_COMPLETED
    assert list(done.technician_ids) == ["T-1"]
    await cap.CompleteVisit(
        store_id="SZ01", visit_id="W1", labour_hours=2.0, labour_revenue_fen=60_000
    )
    clock.set(local(10, 45))
    no_show = await cap.MarkNoShow(store_id="SZ01", day=MONDAY.isoformat(), appointment_id="A3")
    assert no_show.status == pb.APPOINTMENT_STATUS_NO_SHOW
    await cap.CheckInCustomer(store_id="SZ01", appointment_id="A4")
    clock.set(local(12, 0))
    await cap.CompleteVisit(
        store_id="SZ01", visit_id="A2", labour_hours=2.5, labour_revenue_fen=75_000, complaint=True
    )

    view = await cap.GetDayView(store_id="SZ01", day=MONDAY.isoformat())
    assert (view.capacity, view.booked, view.walk_ins, view.arrived) == (10, 10, 1, 4)
    assert (view.waiting, view.in_service, view.completed, view.no_shows) == (1, 0, 3, 1)
    assert view.utilisation == pytest.approx(1.0)
    assert view.status == YELLOW
    # 3 vehicles x 2.0 h each / (4 bays x 9.5 h x 0.85)
    assert view.bay_utilisation == pytest.approx(3 * 2.0 / (4 * 9.5 * 0.85))
    assert view.estimated_wait_minutes == 0  # a bay is free for the next arrival

    network = await cap.GetNetworkDayView(day=MONDAY.isoformat())
    rows = {row.store_id: row for row in network.stores}
    assert rows["SZ01"] == view
    assert (rows["GZ01"].capacity, rows["GZ01"].booked, rows["GZ01"].status) == (25, 0, GREEN)
    totals = network.totals
    assert (totals.stores, totals.capacity, totals.booked) == (2, 35, 10)
    assert totals.utilisation == pytest.approx(10 / 35)
    assert (totals.red_stores, totals.yellow_stores, totals.green_stores) == (0, 1, 1)


async def test_network_day_view_pages_and_filters_by_region(cap: CapacityClient) -> None:
    for code, region in (("DG01", "South China"), ("GZ01", "South China"), ("WH01", "Central")):
        await cap.register(code, region=region)
    await cap.book("A1", local(9, 0), store_id="GZ01")

    first = await cap.GetNetworkDayView(day=MONDAY.isoformat(), region="South China", page_size=1)
    second = await cap.GetNetworkDayView(
        day=MONDAY.isoformat(), region="South China", page_size=1, page_token=first.next_page_token
    )

    assert [r.store_id for r in first.stores] == ["DG01"]
    assert [r.store_id for r in second.stores] == ["GZ01"]
    assert second.next_page_token == ""
    assert (first.totals.stores, first.totals.booked) == (2, 1)
    assert first.totals == second.totals


async def test_a_day_capacity_override_and_a_closed_weekday(cap: CapacityClient) -> None:
    await cap.register("SZ01")
    sunday = (MONDAY + timedelta(days=6)).isoformat()

    closed_day = await cap.GetDayView(store_id="SZ01", day=sunday)
    assert (closed_day.capacity, closed_day.HasField("utilisation")) == (0, False)

    opened = await cap.SetDayCapacity(store_id="SZ01", day=sunday, capacity=4, reason="open day")
    assert opened.capacity == 4
    network = await cap.GetNetworkDayView(day=sunday)
    assert network.stores[0].capacity == 4


async def test_a_changed_default_capacity_shows_on_days_without_override(
    cap: CapacityClient,
) -> None:
    await cap.register("SZ01")
    await cap.book("A1", local(9, 0))
    before = await cap.GetNetworkDayView(day=MONDAY.isoformat())
    store = await cap.GetStore(store_id="SZ01")
    store.profile.default_daily_capacity = 1
    await cap.UpdateStore(store_id="SZ01", profile=store.profile)

    after = await cap.GetNetworkDayView(day=MONDAY.isoformat())

    assert (before.stores[0].capacity, before.stores[0].status) == (10, GREEN)
    assert (after.stores[0].capacity, after.stores[0].status) == (1, YELLOW)


async def test_an_appointment_moved_to_another_day_leaves_one_book_for_the_other(
    cap: CapacityClient,
) -> None:
    await cap.register("SZ01")
    tuesday = MONDAY + timedelta(days=1)
    await cap.book("A1", local(9, 0))
    later = await cap.RescheduleAppointment(
        store_id="SZ01", day=MONDAY.isoformat(), appointment_id="A1", requested_at=ts(local(15))
    )

    moved = await cap.RescheduleAppointment(
        store_id="SZ01",
        day=MONDAY.isoformat(),
        appointment_id="A1",
        requested_at=ts(local(10, 0, day=tuesday)),
    )

    assert (later.day, later.requested_at.ToDatetime().hour) == (MONDAY.isoformat(), 7)
    assert (moved.day, moved.status, moved.customer_ref) == (
        tuesday.isoformat(),
        pb.APPOINTMENT_STATUS_BOOKED,
        "C-A1",
    )
    monday_view = await cap.GetDayView(store_id="SZ01", day=MONDAY.isoformat())
    tuesday_view = await cap.GetDayView(store_id="SZ01", day=tuesday.isoformat())
    assert (monday_view.booked, tuesday_view.booked) == (0, 1)


async def test_a_retry_after_local_midnight_replays_the_first_answer(
    cap: CapacityClient, clock: ManualClock
) -> None:
    """The day the service fills in from its clock (an arrival's, an empty `day`) is not
    part of what the caller asked: a retry with the same request_id just after midnight
    is the same request, not REQUEST_ID_REUSED."""
    await cap.register("SZ01")
    await cap.book("A1", local(16, 0))
    clock.set(local(23, 59))
    walk_in = {
        "request_id": "0d9e7c1a-0000-4000-8000-000000000001",
        "store_id": "SZ01",
        "customer_ref": "C-9",
        "vehicle": "粤B12345",
        "service_type": "maintenance",
        "expected_labour_hours": 1.0,
    }
    cancel = {
        "request_id": "0d9e7c1a-0000-4000-8000-000000000002",
        "store_id": "SZ01",
        "appointment_id": "A1",
        "reason": "customer called",
    }
    first_visit = await cap.RegisterWalkIn(**walk_in)
    first_cancel = await cap.CancelAppointment(**cancel)

    clock.set(local(0, 1, day=MONDAY + timedelta(days=1)))

    assert await cap.RegisterWalkIn(**walk_in) == first_visit
    assert await cap.CancelAppointment(**cancel) == first_cancel
