"""Every capacity event survives the trip through its protobuf message unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from storemesh.capacity.events.v1 import events_pb2

from kernel.events import EventRegistry
from services.capacity import domain
from services.capacity.domain.appointments import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
    DayCapacitySet,
)
from services.capacity.domain.forecast import CapacityPressureEased, CapacityPressureForecast
from services.capacity.domain.holds import (
    SlotHoldConfirmed,
    SlotHoldExpired,
    SlotHoldReleased,
)
from services.capacity.domain.stores import StoreClosed, StoreRegistered, StoreUpdated
from services.capacity.domain.visits import QuoteAbandoned, VisitCompleted
from services.capacity.domain.waiting import WaitThresholdExceeded, WaitThresholdRecovered
from tests.unit.capacity.examples import (
    MONDAY,
    PROFILE,
    STORE_ID,
    booked,
    checked_in,
    held,
    local,
    started,
    walked_in,
)

REGISTRY = EventRegistry("capacity", domain.EVENT_TYPES, events_pb2)
AT = local(9, 30)

EXAMPLES = [
    StoreRegistered(store_id=STORE_ID, profile=PROFILE, occurred_at=AT),
    StoreUpdated(store_id=STORE_ID, profile=PROFILE, occurred_at=AT),
    StoreClosed(store_id=STORE_ID, reason="lease ended", occurred_at=AT),
    DayCapacitySet(
        store_id=STORE_ID, day=MONDAY, capacity=0, previous_capacity=30, reason="", occurred_at=AT
    ),
    booked("A-1"),
    AppointmentBooked(
        store_id=STORE_ID,
        day=MONDAY,
        appointment_id="A-2",
        customer_ref="C-2",
        vehicle="粤B1",
        service_type="repair",
        expected_labour_hours=1.25,
        requested_at=local(11),
        occurred_at=AT,
        hold_id="H-1",
        diverted_from_store_id="GZ01",
    ),
    AppointmentRescheduled(
        store_id=STORE_ID,
        day=MONDAY,
        appointment_id="A-1",
        previous_requested_at=local(10),
        requested_at=local(12),
        occurred_at=AT,
    ),
    AppointmentCancelled(
        store_id=STORE_ID, day=MONDAY, appointment_id="A-1", reason="", occurred_at=AT
    ),
    AppointmentNoShow(
        store_id=STORE_ID, day=MONDAY, appointment_id="A-1", requested_at=local(10), occurred_at=AT
    ),
    walked_in("V-1", AT),
    checked_in("A-1", "V-2", AT),
    started("V-1", 3, AT),
    VisitCompleted(
        store_id=STORE_ID,
        day=MONDAY,
        visit_id="V-1",
        appointment_id=None,
        diverted_from_store_id=None,
        labour_hours=2.5,
        labour_revenue_fen=60_000,
        parts_revenue_fen=35_000,
        other_revenue_fen=0,
        technician_ids=("T-1", "T-2"),
        satisfaction_score=None,
        complaint=False,
        occurred_at=AT,
    ),
    VisitCompleted(
        store_id=STORE_ID,
        day=MONDAY,
        visit_id="V-2",
        appointment_id="A-1",
        diverted_from_store_id="GZ01",
        labour_hours=0.0,
        labour_revenue_fen=0,
        parts_revenue_fen=0,
        other_revenue_fen=8_000,
        technician_ids=(),
        satisfaction_score=0,
        complaint=True,
        occurred_at=AT,
    ),
    QuoteAbandoned(store_id=STORE_ID, day=MONDAY, visit_id="V-1", quote_fen=0, occurred_at=AT),
    held("H-1", expires_at=AT + timedelta(minutes=30)),
    SlotHoldConfirmed(
        store_id=STORE_ID,
        day=MONDAY,
        hold_id="H-1",
        diverted_from_store_id="GZ01",
        appointment_id="A-3",
        occurred_at=AT,
    ),
    SlotHoldReleased(
        store_id=STORE_ID,
        day=MONDAY,
        hold_id="H-1",
        diverted_from_store_id="GZ01",
        reason="customer declined",
        occurred_at=AT,
    ),
    SlotHoldExpired(
        store_id=STORE_ID,
        day=MONDAY,
        hold_id="H-1",
        diverted_from_store_id="GZ01",
        expires_at=AT,
        occurred_at=AT,
    ),
    WaitThresholdExceeded(
        store_id=STORE_ID,
        day=MONDAY,
        estimated_wait_minutes=135,
        threshold_minutes=120,
        waiting_vehicles=9,
        bays_in_use=8,
        occurred_at=AT,
    ),
    WaitThresholdRecovered(
        store_id=STORE_ID,
        day=MONDAY,
        estimated_wait_minutes=60,
        threshold_minutes=120,
        occurred_at=AT,
    ),
    CapacityPressureForecast(
        store_id=STORE_ID,
        day=MONDAY,
        capacity=30,
        booked=28,
        expected_walk_ins=4.5,
        forecast_utilisation=1.0833,
        occurred_at=AT,
    ),
    CapacityPressureEased(
        store_id=STORE_ID,
        day=MONDAY,
        capacity=0,
        booked=0,
        expected_walk_ins=0.0,
        forecast_utilisation=None,
        occurred_at=AT,
    ),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_event_round_trips_through_its_proto(event: object) -> None:
    type_name, payload = REGISTRY.encode(event)
    assert type_name == f"storemesh.capacity.events.v1.{type(event).__name__}"
    assert REGISTRY.decode(type_name, payload) == event


def test_every_event_type_has_an_example() -> None:
    assert {type(e) for e in EXAMPLES} == set(domain.EVENT_TYPES)
