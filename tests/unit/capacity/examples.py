"""A Shenzhen store and its Monday, 2 November 2026, as the capacity tests' shared example."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.capacity.domain.appointments import AppointmentBooked
from services.capacity.domain.holds import SlotHeld
from services.capacity.domain.opening_hours import OpeningHours, Weekday
from services.capacity.domain.stores import (
    CustomerSegment,
    LocationTier,
    StoreFacts,
    StoreProfile,
)
from services.capacity.domain.visits import (
    CustomerCheckedIn,
    ServiceStarted,
    WalkInArrived,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
STORE_ID = "SZ01"
MONDAY = date(2026, 11, 2)
TUESDAY = MONDAY + timedelta(days=1)
SUNDAY = MONDAY + timedelta(days=6)

# Monday to Saturday 08:00-17:30 (the 9.5 h of domain.md's diagnosis case); Sunday closed.
WEEK = tuple(
    OpeningHours(weekday=weekday, opens_minute=8 * 60, closes_minute=17 * 60 + 30)
    for weekday in Weekday
    if weekday != Weekday.SUNDAY
)

PROFILE = StoreProfile(
    name="Shenzhen Futian",
    city="Shenzhen",
    region="South China",
    latitude=22.5431,
    longitude=114.0579,
    bays=8,
    opening_hours=WEEK,
    opened_on=date(2021, 5, 1),
    location_tier=LocationTier.CITY_CENTRE,
    customer_segment=CustomerSegment.MID,
    default_daily_capacity=30,
)

STORE = StoreFacts(
    store_id=STORE_ID,
    open=True,
    bays=8,
    opening_hours=WEEK,
    availability_factor=0.85,
    default_daily_capacity=30,
    wait_threshold_minutes=120,
    time_zone="Asia/Shanghai",
)
CLOSED_STORE = replace(STORE, open=False)


def local(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    """A Shenzhen wall-clock time, as the aware UTC datetime commands carry."""
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


def booked(
    appointment_id: str, hour: int = 10, minute: int = 0, hours: float = 2.0
) -> AppointmentBooked:
    return AppointmentBooked(
        store_id=STORE_ID,
        day=MONDAY,
        appointment_id=appointment_id,
        customer_ref=f"C-{appointment_id}",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=hours,
        requested_at=local(hour, minute),
        occurred_at=local(7, 0),
    )


def walked_in(visit_id: str, at: datetime, hours: float = 2.0) -> WalkInArrived:
    return WalkInArrived(
        store_id=STORE_ID,
        day=MONDAY,
        visit_id=visit_id,
        customer_ref=f"C-{visit_id}",
        vehicle="粤B54321",
        service_type="repair",
        expected_labour_hours=hours,
        occurred_at=at,
    )


def checked_in(appointment_id: str, visit_id: str, at: datetime) -> CustomerCheckedIn:
    return CustomerCheckedIn(
        store_id=STORE_ID,
        day=MONDAY,
        appointment_id=appointment_id,
        visit_id=visit_id,
        occurred_at=at,
    )


def started(visit_id: str, bay: int, at: datetime) -> ServiceStarted:
    return ServiceStarted(
        store_id=STORE_ID,
        day=MONDAY,
        visit_id=visit_id,
        bay=bay,
        technician_ids=(f"T-{bay}",),
        occurred_at=at,
    )


def held(hold_id: str, expires_at: datetime, slot_at: datetime | None = None) -> SlotHeld:
    return SlotHeld(
        store_id=STORE_ID,
        day=MONDAY,
        hold_id=hold_id,
        diverted_from_store_id="GZ01",
        customer_ref=f"C-{hold_id}",
        vehicle="粤A88888",
        service_type="maintenance",
        expected_labour_hours=1.5,
        slot_at=slot_at or local(11, 0),
        expires_at=expires_at,
        occurred_at=local(10, 0),
    )
