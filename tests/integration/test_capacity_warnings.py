"""Overload warnings: a wait above the threshold (SOP 3's trigger) and pressure forecast ahead."""

from __future__ import annotations

from datetime import date, timedelta

from storemesh.capacity.events.v1 import events_pb2 as ev
from storemesh.capacity.v1 import capacity_pb2 as pb

from kernel.clock import ManualClock
from kernel.messaging import NatsConnection
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    advance,
    cap,
    capacity_pg_url,
    capacity_service,
    event_types,
    local,
    published,
)

EXCEEDED = "capacity.v1.SZ01.WaitThresholdExceeded"


async def _start(cap: CapacityClient, visit_id: str) -> None:
    await cap.StartService(store_id="SZ01", visit_id=visit_id, bay=1, technician_ids=["T-1"])


async def test_wait_threshold_exceeded_is_published_once_per_crossing(
    cap: CapacityClient, clock: ManualClock, nats_client: NatsConnection
) -> None:
    await cap.register("SZ01", bays=1)  # threshold: the default 120 minutes
    clock.set(local(9, 0))
    await cap.walk_in("W1", hours=1.5)
    await _start(cap, "W1")
    await cap.walk_in("W2", hours=1.5)  # a newcomer now waits 3 h: crossing
    await cap.walk_in("W3", hours=1.5)  # 4.5 h: still over, no second warning

    first = await published(cap.run, nats_client, EXCEEDED)
    assert len(first) == 1
    warning = ev.WaitThresholdExceeded.FromString(first[0].data)
    assert (warning.estimated_wait_minutes, warning.threshold_minutes) == (180, 120)
    assert (warning.waiting_vehicles, warning.bays_in_use, warning.day) == (1, 1, "2026-11-02")
    assert first[0].headers["ce-type"] == "storemesh.capacity.events.v1.WaitThresholdExceeded"

    await cap.RecordQuoteAbandoned(store_id="SZ01", visit_id="W3", quote_fen=80_000)
    await cap.RecordQuoteAbandoned(store_id="SZ01", visit_id="W2", quote_fen=50_000)
    await cap.walk_in("W4", hours=1.5)  # back to 3 h: a second crossing

    assert len(await published(cap.run, nats_client, EXCEEDED)) == 2
    assert await event_types(cap.run) == [
        "StoreRegistered",
        "WalkInArrived",
        "ServiceStarted",
        "WalkInArrived",
        "WaitThresholdExceeded",
        "WalkInArrived",
        "QuoteAbandoned",
        "QuoteAbandoned",
        "WaitThresholdRecovered",
        "WalkInArrived",
        "WaitThresholdExceeded",
    ]


async def test_a_long_wait_recovers_as_work_progresses_with_nobody_touching_the_book(
    cap: CapacityClient, clock: ManualClock
) -> None:
    await cap.register("SZ01", bays=1)
    clock.set(local(9, 0))
    await cap.walk_in("W1", hours=1.5)
    await _start(cap, "W1")
    await cap.walk_in("W2", hours=1.5)  # 3 h ahead of a newcomer: over the threshold

    # Re-estimated every 15 minutes: 2 h 45, 2 h 30, 2 h 15 are still over; 2 h is not.
    for _ in range(3):
        assert await advance(cap.run, clock, timedelta(minutes=15)) == 1
        assert "WaitThresholdRecovered" not in await event_types(cap.run)
    assert await advance(cap.run, clock, timedelta(minutes=15)) == 1

    assert (await event_types(cap.run))[-1] == "WaitThresholdRecovered"
    assert not (await cap.GetDayView(store_id="SZ01")).wait_threshold_exceeded
    assert await advance(cap.run, clock, timedelta(minutes=15)) == 0  # nothing left to watch


async def test_a_day_forecast_above_capacity_raises_an_early_warning(
    cap: CapacityClient, clock: ManualClock, nats_client: NatsConnection
) -> None:
    last_tuesday = date(2026, 10, 27)
    clock.set(local(9, 0, day=last_tuesday))
    await cap.register("SZ01")
    for i in range(3):  # Tuesdays bring walk-ins
        await cap.walk_in(f"W{i}")
    clock.set(local(7, 0))  # Monday 2 November
    tuesday = MONDAY + timedelta(days=1)
    for i in range(8):  # 80% booked: yellow on bookings alone
        await cap.book(f"A{i}", local(8 + i, 0, day=tuesday))

    forecast = await cap.ForecastCapacityPressure(store_id="SZ01")

    days = {d.day: d for d in forecast.days}
    assert len(days) == 7 and min(days) == tuesday.isoformat()
    ahead = days[tuesday.isoformat()]
    assert (ahead.capacity, ahead.booked, ahead.expected_walk_ins) == (10, 8, 3.0)
    assert (ahead.forecast_load, ahead.status) == (11.0, pb.STATUS_COLOUR_RED)
    sunday = days[(MONDAY + timedelta(days=6)).isoformat()]
    assert (sunday.capacity, sunday.HasField("utilisation")) == (0, False)
    assert days["2026-11-04"].status == pb.STATUS_COLOUR_GREEN

    messages = await published(cap.run, nats_client, "capacity.v1.SZ01.CapacityPressureForecast")
    assert len(messages) == 1
    warning = ev.CapacityPressureForecast.FromString(messages[0].data)
    assert (warning.day, warning.booked, warning.forecast_utilisation) == ("2026-11-03", 8, 1.1)

    await cap.ForecastCapacityPressure(store_id="SZ01")  # still overloaded: no new warning
    await cap.CancelAppointment(store_id="SZ01", day=tuesday.isoformat(), appointment_id="A0")
    await cap.CancelAppointment(store_id="SZ01", day=tuesday.isoformat(), appointment_id="A1")
    eased = await cap.ForecastCapacityPressure(store_id="SZ01")

    assert eased.days[0].status == pb.STATUS_COLOUR_YELLOW  # 6 + 3 = 90%
    warnings = [t for t in await event_types(cap.run) if t.startswith("CapacityPressure")]
    assert warnings == ["CapacityPressureForecast", "CapacityPressureEased"]
