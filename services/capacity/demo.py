"""The capacity part of the demo network: the 15 stores, today's book and today's arrivals.

Today (Shanghai time; tomorrow once the stores have closed) is booked as the capacity
monitor of domain.md shows it:
Shenzhen SZ01 overloaded (32 booked on 30), Guangzhou GZ01 healthy (20 on 25), Dongguan
DG01 idle (12 on 20), and so on; the 7-day forecast then raises its early warning for
SZ01. Each store's day goes in as its DMS would send it, in one SyncAppointments call.
Today gets a few walk-ins per store, some of them already in a bay. Every call's
request id is derived from what it loads, so a second start changes nothing.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from storemesh.capacity.events.v1 import events_pb2 as ev
from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from services.capacity.domain.reasons import APPOINTMENT_DIFFERS
from services.demo_network import (
    CLOSES,
    DIVERSION_CASE,
    LOADED_BEFORE,
    OPENS,
    STORES,
    DemoStore,
    booking_day,
    refusal_reason,
    request_id,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SERVICES = (
    ("maintenance", 1.0),
    ("maintenance", 1.5),
    ("repair", 2.0),
    ("diagnostics", 1.5),
    ("body_paint", 3.2),
    ("hv_ev", 2.5),
    ("adas", 1.5),
)


def profile(store: DemoStore) -> ev.StoreProfile:
    return ev.StoreProfile(
        name=store.name,
        city=store.city,
        region="South China",
        latitude=store.latitude,
        longitude=store.longitude,
        bays=store.bays,
        opening_hours=[
            ev.OpeningHours(weekday=weekday, opens_minute=OPENS, closes_minute=CLOSES)
            for weekday in ev.Weekday.values()
            if weekday != ev.WEEKDAY_UNSPECIFIED
        ],
        opened_on=store.opened,
        location_tier=store.tier,  # type: ignore[arg-type]
        customer_segment=store.segment,  # type: ignore[arg-type]
        default_daily_capacity=store.daily_capacity,
    )


def _slot(day: date, first_minute: int, index: int, count: int) -> Timestamp:
    """The index-th of `count` appointments spread evenly from first_minute to closing."""
    minute = first_minute + (CLOSES - 1 - first_minute) * index // max(count - 1, 1)
    moment = datetime.combine(day, time(minute // 60, minute % 60), SHANGHAI).astimezone(UTC)
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def load(channel: grpc.aio.Channel, metadata: Any, now: datetime | None = None) -> None:
    """`now`: the services' clock (the system's when not given)."""
    stub = pb_grpc.CapacityServiceStub(channel)
    now = now or datetime.now(UTC)
    today = now.astimezone(SHANGHAI).date()
    day, first_minute = booking_day(now)
    for store in STORES:
        await stub.RegisterStore(
            pb.RegisterStoreRequest(
                request_id=request_id("store", store.code),
                store_id=store.code,
                profile=profile(store),
            ),
            metadata=metadata,
        )
    for store in STORES:
        await _book_day(stub, metadata, store, day, first_minute)
        await _arrivals(stub, metadata, store, today)
        await stub.ForecastCapacityPressure(
            pb.ForecastCapacityPressureRequest(
                request_id=request_id("forecast", store.code, today), store_id=store.code
            ),
            metadata=metadata,
        )


def day_appointments(store: DemoStore, day: date, first_minute: int) -> list[pb.SyncedAppointment]:
    """The store's booked day, spread from `first_minute` to closing."""
    rng = random.Random(f"{store.code}/{day.isoformat()}")
    appointments = []
    for i in range(store.booked_today):
        service_type, hours = rng.choice(SERVICES)
        appointment_id = f"DEMO-{store.code}-{day:%m%d}-{i + 1:02d}"
        customer_ref = f"CUST-{store.code}-{rng.randint(1000, 9999)}"
        vehicle = f"粤{rng.choice('ABCDEFS')}{rng.randint(10000, 99999)}"
        case = DIVERSION_CASE
        if (store.code, i + 1) == (case.store_id, store.booked_today):
            # SOP 3's case: Shenzhen's last booking of the day, whom collab's demo offers
            # Dongguan.
            appointment_id, customer_ref, vehicle = (
                case.appointment_on(day),
                case.customer_ref,
                case.vehicle,
            )
            service_type, hours = case.service_type, case.expected_labour_hours
        appointments.append(
            pb.SyncedAppointment(
                appointment_id=appointment_id,
                customer_ref=customer_ref,
                vehicle=vehicle,
                service_type=service_type,
                expected_labour_hours=hours,
                requested_at=_slot(day, first_minute, i, store.booked_today),
            )
        )
    return appointments


async def _book_day(
    stub: Any, metadata: Any, store: DemoStore, day: date, first_minute: int
) -> None:
    """The store's day as its DMS would send it: one SyncAppointments call."""
    appointments = day_appointments(store, day, first_minute)
    try:
        synced = await stub.SyncAppointments(
            pb.SyncAppointmentsRequest(
                request_id=request_id("appointments", store.code, day),
                store_id=store.code,
                appointments=appointments,
            ),
            metadata=metadata,
        )
    except grpc.aio.AioRpcError as err:
        # Synced by an earlier start today, from that moment's first free minute.
        if refusal_reason(err) != LOADED_BEFORE:
            raise
        return
    for sent, result in zip(appointments, synced.results, strict=True):
        # APPOINTMENT_DIFFERS: booked by an earlier start at that start's times.
        if result.outcome == pb.AppointmentSyncResult.OUTCOME_REFUSED and (
            result.reason != APPOINTMENT_DIFFERS
        ):
            raise RuntimeError(
                f"the demo's appointment {sent.appointment_id} at {store.code} was refused: "
                f"{result.reason} {result.message}"
            )


async def _arrivals(stub: Any, metadata: Any, store: DemoStore, day: date) -> None:
    """A few walk-ins (more where the store is busier); the first ones already in a bay."""
    rng = random.Random(f"walk-ins/{store.code}/{day.isoformat()}")
    walk_ins = max(store.booked_today // 5, 1)
    for i in range(walk_ins):
        service_type, hours = rng.choice(SERVICES)
        visit_id = f"DEMO-W-{store.code}-{day:%m%d}-{i + 1:02d}"
        await stub.RegisterWalkIn(
            pb.RegisterWalkInRequest(
                request_id=request_id("walk-in", store.code, day, i),
                store_id=store.code,
                visit_id=visit_id,
                customer_ref=f"CUST-{store.code}-{rng.randint(1000, 9999)}",
                vehicle=f"粤{rng.choice('ABCDEFS')}{rng.randint(10000, 99999)}",
                service_type=service_type,
                expected_labour_hours=hours,
            ),
            metadata=metadata,
        )
        if i < walk_ins // 2 + 1 and i < store.bays:
            await stub.StartService(
                pb.StartServiceRequest(
                    request_id=request_id("start", store.code, day, i),
                    store_id=store.code,
                    day=day.isoformat(),
                    visit_id=visit_id,
                    bay=i + 1,
                    technician_ids=[f"T-{store.code}-{i + 1}"],
                ),
                metadata=metadata,
            )
