"""The AppointmentBook aggregate: one store's day, one stream, every command and event of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from kernel.decider import Decider
from services.capacity.domain.appointments import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
    BookAppointment,
    CancelAppointment,
    DayCapacitySet,
    MarkNoShow,
    RescheduleAppointment,
    SetDayCapacity,
    book_appointment,
    cancel_appointment,
    mark_no_show,
    reschedule_appointment,
    set_day_capacity,
)
from services.capacity.domain.book_state import (
    Appointment,
    AppointmentStatus,
    BookState,
    HoldStatus,
    SlotHold,
    Visit,
    VisitStatus,
)
from services.capacity.domain.forecast import (
    CapacityPressureEased,
    CapacityPressureForecast,
    ForecastCapacityPressure,
    forecast_pressure,
)
from services.capacity.domain.holds import (
    ConfirmSlotHold,
    ExpireSlotHold,
    HoldSlot,
    ReleaseSlotHold,
    SlotHeld,
    SlotHoldConfirmed,
    SlotHoldExpired,
    SlotHoldReleased,
    confirm_slot_hold,
    expire_slot_hold,
    hold_slot,
    release_slot_hold,
)
from services.capacity.domain.visits import (
    CheckInCustomer,
    CompleteVisit,
    CustomerCheckedIn,
    QuoteAbandoned,
    RecordQuoteAbandoned,
    RegisterWalkIn,
    ServiceStarted,
    StartService,
    VisitCompleted,
    WalkInArrived,
    check_in_customer,
    complete_visit,
    record_quote_abandoned,
    register_walk_in,
    start_service,
)
from services.capacity.domain.waiting import (
    AssessWait,
    WaitThresholdExceeded,
    WaitThresholdRecovered,
    watch_wait,
)

BookCommand = (
    SetDayCapacity
    | BookAppointment
    | RescheduleAppointment
    | CancelAppointment
    | MarkNoShow
    | RegisterWalkIn
    | CheckInCustomer
    | StartService
    | CompleteVisit
    | RecordQuoteAbandoned
    | HoldSlot
    | ConfirmSlotHold
    | ReleaseSlotHold
    | ExpireSlotHold
    | AssessWait
    | ForecastCapacityPressure
)

BookEvent = (
    DayCapacitySet
    | AppointmentBooked
    | AppointmentRescheduled
    | AppointmentCancelled
    | AppointmentNoShow
    | WalkInArrived
    | CustomerCheckedIn
    | ServiceStarted
    | VisitCompleted
    | QuoteAbandoned
    | SlotHeld
    | SlotHoldConfirmed
    | SlotHoldReleased
    | SlotHoldExpired
    | WaitThresholdExceeded
    | WaitThresholdRecovered
    | CapacityPressureForecast
    | CapacityPressureEased
)

# Commands after which the queue or the bays may have changed, so the wait is re-estimated.
_QUEUE_CHANGING = (
    RegisterWalkIn,
    CheckInCustomer,
    StartService,
    CompleteVisit,
    RecordQuoteAbandoned,
    AssessWait,
)


def decide(command: BookCommand, state: BookState) -> Sequence[BookEvent]:
    events: list[BookEvent] = list(_decide(command, state))
    if isinstance(command, _QUEUE_CHANGING):
        after = appointment_book.fold(events, state)
        events += watch_wait(after, command.store, command.day, command.at)
    return events


def _decide(command: BookCommand, state: BookState) -> Sequence[BookEvent]:
    match command:
        case SetDayCapacity():
            return set_day_capacity(command, state)
        case BookAppointment():
            return book_appointment(command, state)
        case RescheduleAppointment():
            return reschedule_appointment(command, state)
        case CancelAppointment():
            return cancel_appointment(command, state)
        case MarkNoShow():
            return mark_no_show(command, state)
        case RegisterWalkIn():
            return register_walk_in(command, state)
        case CheckInCustomer():
            return check_in_customer(command, state)
        case StartService():
            return start_service(command, state)
        case CompleteVisit():
            return complete_visit(command, state)
        case RecordQuoteAbandoned():
            return record_quote_abandoned(command, state)
        case HoldSlot():
            return hold_slot(command, state)
        case ConfirmSlotHold():
            return confirm_slot_hold(command, state)
        case ReleaseSlotHold():
            return release_slot_hold(command, state)
        case ExpireSlotHold():
            return expire_slot_hold(command, state)
        case AssessWait():
            return []
        case ForecastCapacityPressure():
            return forecast_pressure(command, state)


def evolve(state: BookState, event: BookEvent) -> BookState:
    state = replace(state, store_id=event.store_id, day=event.day)
    match event:
        case DayCapacitySet():
            return replace(state, capacity_override=event.capacity)
        case AppointmentBooked():
            appointment = Appointment(
                appointment_id=event.appointment_id,
                customer_ref=event.customer_ref,
                vehicle=event.vehicle,
                service_type=event.service_type,
                expected_labour_hours=event.expected_labour_hours,
                requested_at=event.requested_at,
                diverted_from_store_id=event.diverted_from_store_id,
            )
            return _with_appointment(state, appointment)
        case AppointmentRescheduled():
            moved = replace(
                state.appointments[event.appointment_id], requested_at=event.requested_at
            )
            return _with_appointment(state, moved)
        case AppointmentCancelled():
            return _appointment_status(state, event.appointment_id, AppointmentStatus.CANCELLED)
        case AppointmentNoShow():
            return _appointment_status(state, event.appointment_id, AppointmentStatus.NO_SHOW)
        case WalkInArrived():
            walk_in = Visit(
                visit_id=event.visit_id,
                customer_ref=event.customer_ref,
                vehicle=event.vehicle,
                service_type=event.service_type,
                expected_labour_hours=event.expected_labour_hours,
                arrived_at=event.occurred_at,
            )
            return _with_visit(state, walk_in)
        case CustomerCheckedIn():
            booked = state.appointments[event.appointment_id]
            visit = Visit(
                visit_id=event.visit_id,
                customer_ref=booked.customer_ref,
                vehicle=booked.vehicle,
                service_type=booked.service_type,
                expected_labour_hours=booked.expected_labour_hours,
                arrived_at=event.occurred_at,
                appointment_id=booked.appointment_id,
                diverted_from_store_id=booked.diverted_from_store_id,
            )
            checked_in = replace(
                booked, status=AppointmentStatus.CHECKED_IN, visit_id=event.visit_id
            )
            return _with_visit(_with_appointment(state, checked_in), visit)
        case ServiceStarted():
            started = replace(
                state.visits[event.visit_id],
                status=VisitStatus.IN_SERVICE,
                bay=event.bay,
                technician_ids=event.technician_ids,
                started_at=event.occurred_at,
            )
            return _with_visit(state, started)
        case VisitCompleted():
            completed = replace(
                state.visits[event.visit_id],
                status=VisitStatus.COMPLETED,
                bay=None,
                technician_ids=event.technician_ids,
                labour_hours=event.labour_hours,
            )
            return _with_visit(state, completed)
        case QuoteAbandoned():
            left = replace(state.visits[event.visit_id], status=VisitStatus.ABANDONED, bay=None)
            return _with_visit(state, left)
        case SlotHeld():
            hold = SlotHold(
                hold_id=event.hold_id,
                diverted_from_store_id=event.diverted_from_store_id,
                customer_ref=event.customer_ref,
                vehicle=event.vehicle,
                service_type=event.service_type,
                expected_labour_hours=event.expected_labour_hours,
                slot_at=event.slot_at,
                expires_at=event.expires_at,
            )
            return _with_hold(state, hold)
        case SlotHoldConfirmed():
            confirmed = replace(
                state.holds[event.hold_id],
                status=HoldStatus.CONFIRMED,
                appointment_id=event.appointment_id,
            )
            return _with_hold(state, confirmed)
        case SlotHoldReleased():
            return _hold_status(state, event.hold_id, HoldStatus.RELEASED)
        case SlotHoldExpired():
            return _hold_status(state, event.hold_id, HoldStatus.EXPIRED)
        case WaitThresholdExceeded():
            return replace(state, wait_exceeded=True)
        case WaitThresholdRecovered():
            return replace(state, wait_exceeded=False)
        case CapacityPressureForecast():
            return replace(state, pressure_forecast=True)
        case CapacityPressureEased():
            return replace(state, pressure_forecast=False)


def _with_appointment(state: BookState, appointment: Appointment) -> BookState:
    return replace(
        state, appointments={**state.appointments, appointment.appointment_id: appointment}
    )


def _appointment_status(
    state: BookState, appointment_id: str, status: AppointmentStatus
) -> BookState:
    return _with_appointment(state, replace(state.appointments[appointment_id], status=status))


def _with_visit(state: BookState, visit: Visit) -> BookState:
    return replace(state, visits={**state.visits, visit.visit_id: visit})


def _with_hold(state: BookState, hold: SlotHold) -> BookState:
    return replace(state, holds={**state.holds, hold.hold_id: hold})


def _hold_status(state: BookState, hold_id: str, status: HoldStatus) -> BookState:
    return _with_hold(state, replace(state.holds[hold_id], status=status))


appointment_book: Decider[BookState, BookCommand, BookEvent] = Decider(BookState, decide, evolve)
