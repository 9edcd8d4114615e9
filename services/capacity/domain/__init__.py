"""The capacity service's domain: stores, their appointment books, utilisation and overload."""

from __future__ import annotations

from services.capacity.domain.appointments import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
    DayCapacitySet,
)
from services.capacity.domain.forecast import CapacityPressureEased, CapacityPressureForecast
from services.capacity.domain.holds import (
    SlotHeld,
    SlotHoldConfirmed,
    SlotHoldExpired,
    SlotHoldReleased,
)
from services.capacity.domain.stores import StoreClosed, StoreRegistered, StoreUpdated
from services.capacity.domain.visits import (
    CustomerCheckedIn,
    QuoteAbandoned,
    ServiceStarted,
    VisitCompleted,
    WalkInArrived,
)
from services.capacity.domain.waiting import WaitThresholdExceeded, WaitThresholdRecovered

# Every event the capacity context publishes, as `capacity.v1.<store_id>.<ClassName>`.
EVENT_TYPES: tuple[type, ...] = (
    StoreRegistered,
    StoreUpdated,
    StoreClosed,
    DayCapacitySet,
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentNoShow,
    WalkInArrived,
    CustomerCheckedIn,
    ServiceStarted,
    VisitCompleted,
    QuoteAbandoned,
    SlotHeld,
    SlotHoldConfirmed,
    SlotHoldReleased,
    SlotHoldExpired,
    WaitThresholdExceeded,
    WaitThresholdRecovered,
    CapacityPressureForecast,
    CapacityPressureEased,
)
