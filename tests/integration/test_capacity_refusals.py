"""Bad input is refused clearly, naming the field or the rule, and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import grpc

from kernel.clock import ManualClock
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    event_count,
    failure,
    local,
    missing,
    profile,
    refusal,
    ts,
    violated_fields,
)

FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


async def test_malformed_coordinates_register_nothing(cap: CapacityClient) -> None:
    err = await failure(
        cap.RegisterStore(store_id="SZ01", profile=profile(latitude=95.0, longitude=-200.0))
    )

    assert violated_fields(err) == ["profile.latitude", "profile.longitude"]
    assert missing(await failure(cap.GetStore(store_id="SZ01"))) == ("store", "SZ01")
    assert await event_count(cap.run) == 0


async def test_a_malformed_profile_reports_every_field_at_once(cap: CapacityClient) -> None:
    err = await failure(
        cap.RegisterStore(
            store_id="SZ/01",
            profile=profile(bays=0, opened_on="01.05.2021", location_tier=0, time_zone="Mars/Base"),
        )
    )

    assert violated_fields(err) == [
        "profile.bays",
        "profile.location_tier",
        "profile.opened_on",
        "profile.time_zone",
        "store_id",
    ]
    assert await event_count(cap.run) == 0


async def test_a_negative_day_capacity_is_refused(cap: CapacityClient) -> None:
    await cap.register("SZ01")
    before = await event_count(cap.run)

    err = await failure(cap.SetDayCapacity(store_id="SZ01", day=MONDAY.isoformat(), capacity=-1))

    assert violated_fields(err) == ["capacity"]
    assert await event_count(cap.run) == before
    assert (await cap.GetDayView(store_id="SZ01")).capacity == 10


async def test_a_visit_completed_twice_is_refused_the_second_time(
    cap: CapacityClient, clock: ManualClock
) -> None:
    await cap.register("SZ01")
    clock.set(local(9, 0))
    await cap.walk_in("W1")
    await cap.StartService(store_id="SZ01", visit_id="W1", bay=1, technician_ids=["T-1"])
    await cap.CompleteVisit(
        store_id="SZ01", visit_id="W1", labour_hours=1.0, labour_revenue_fen=30_000
    )
    before = await event_count(cap.run)

    err = await failure(
        cap.CompleteVisit(
            store_id="SZ01", visit_id="W1", labour_hours=1.0, labour_revenue_fen=30_000
        )
    )

    assert refusal(err) == (FAILED_PRECONDITION, "VISIT_ALREADY_COMPLETED")
    assert await event_count(cap.run) == before
    assert (await cap.GetDayView(store_id="SZ01")).completed == 1


async def test_a_retried_completion_replays_instead_of_failing(
    cap: CapacityClient, clock: ManualClock
) -> None:
    await cap.register("SZ01")
    clock.set(local(9, 0))
    await cap.walk_in("W1")
    await cap.StartService(store_id="SZ01", visit_id="W1", bay=1, technician_ids=["T-1"])
    first = await cap.CompleteVisit(
        request_id="retry-1", store_id="SZ01", visit_id="W1", labour_hours=1.0
    )
    before = await event_count(cap.run)
    clock.advance(timedelta(seconds=5))

    again = await cap.CompleteVisit(
        request_id="retry-1", store_id="SZ01", visit_id="W1", labour_hours=1.0
    )

    assert again == first
    assert await event_count(cap.run) == before


async def test_a_hold_on_a_closed_store_is_refused(cap: CapacityClient, clock: ManualClock) -> None:
    await cap.register("SZ01")
    await cap.CloseStore(store_id="SZ01", reason="lease ended")
    clock.set(local(9, 0))
    before = await event_count(cap.run)

    err = await failure(
        cap.HoldSlot(
            store_id="SZ01",
            hold_id="H-1",
            diverted_from_store_id="GZ01",
            customer_ref="C-1",
            vehicle="粤A1",
            service_type="maintenance",
            expected_labour_hours=1.0,
            slot_at=ts(local(14, 0)),
            expires_at=ts(local(9, 30)),
        )
    )

    assert refusal(err) == (FAILED_PRECONDITION, "STORE_CLOSED")
    assert await event_count(cap.run) == before
    assert await cap.run.service.timers.run_due() == 0


async def test_an_appointment_in_the_past_is_refused(
    cap: CapacityClient, clock: ManualClock
) -> None:
    await cap.register("SZ01")
    clock.set(local(11, 0))
    before = await event_count(cap.run)

    err = await failure(cap.book("A1", local(10, 0)))

    assert refusal(err) == (FAILED_PRECONDITION, "APPOINTMENT_IN_THE_PAST")
    assert await event_count(cap.run) == before
    assert (await cap.GetDayView(store_id="SZ01")).booked == 0


async def test_a_book_command_for_an_unknown_store_is_not_found(cap: CapacityClient) -> None:
    err = await failure(cap.book("A1", local(10, 0), store_id="XX99"))

    assert missing(err) == ("store", "XX99")
    assert await event_count(cap.run) == 0


async def test_a_booking_without_its_time_names_the_field(cap: CapacityClient) -> None:
    await cap.register("SZ01")

    err = await failure(
        cap.BookAppointment(
            store_id="SZ01",
            customer_ref="C-1",
            vehicle="粤B1",
            service_type="repair",
            expected_labour_hours=1.0,
        )
    )

    assert violated_fields(err) == ["requested_at"]
