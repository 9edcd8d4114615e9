"""Proto <-> domain for the capacity API: request fields checked at the edge, replies built."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import IntEnum
from typing import Any, TypeVar

from storemesh.capacity.events.v1 import events_pb2 as ev
from storemesh.capacity.v1 import capacity_pb2 as pb

from kernel import validation
from kernel.codec import to_proto
from kernel.errors import InvalidArgument, Violations
from services.capacity.application import AppointmentRecord, HoldRecord, VisitRecord
from services.capacity.domain import appointment_sync
from services.capacity.domain.appointment_sync import (
    SyncAppointments,
    SyncedAppointment,
    SyncedBatch,
)
from services.capacity.domain.appointments import BookAppointment, check_customer
from services.capacity.domain.holds import HoldSlot
from services.capacity.domain.opening_hours import OpeningHours, Weekday, local_day
from services.capacity.domain.stores import (
    DEFAULT_AVAILABILITY_FACTOR,
    DEFAULT_TIME_ZONE,
    DEFAULT_WAIT_THRESHOLD_MINUTES,
    CustomerSegment,
    LocationTier,
    StoreFacts,
    StoreProfile,
    StoreState,
    check_profile,
)
from services.capacity.domain.utilisation import DayView, NetworkDayTotals, StoreDay

E = TypeVar("E", bound=IntEnum)


def parse_day(field_name: str, raw: str, default: date) -> date:
    v = Violations()
    found = validation.day(v, field_name, raw, required=False)
    v.raise_if_any()
    return found or default


def optional_day(field_name: str, raw: str) -> date | None:
    v = Violations()
    found = validation.day(v, field_name, raw, required=False)
    v.raise_if_any()
    return found


def _enum(v: Violations, field_name: str, raw: int, kind: type[E], stand_in: E) -> E:
    """The enum member, or (reported) a stand-in so the other fields can still be checked."""
    return validation.enum_member(v, field_name, raw, kind) or stand_in


def profile_from(v: Violations, request: Any) -> StoreProfile | None:
    """The request's store profile with the defaults filled in; None when it is malformed,
    with every fault of it reported, the domain's rules included."""
    if not request.HasField("profile"):
        v.add("profile", "is required")
        return None
    m = request.profile
    before = len(v.items)
    opened_on = validation.day(v, "profile.opened_on", m.opened_on) or date.min
    profile = StoreProfile(
        name=m.name,
        city=m.city,
        region=m.region,
        latitude=m.latitude,
        longitude=m.longitude,
        bays=m.bays,
        opening_hours=tuple(
            OpeningHours(
                weekday=_enum(
                    v, f"profile.opening_hours[{i}].weekday", h.weekday, Weekday, Weekday.MONDAY
                ),
                opens_minute=h.opens_minute,
                closes_minute=h.closes_minute,
            )
            for i, h in enumerate(m.opening_hours)
        ),
        opened_on=opened_on,
        location_tier=_enum(
            v, "profile.location_tier", m.location_tier, LocationTier, LocationTier.CITY_CENTRE
        ),
        customer_segment=_enum(
            v, "profile.customer_segment", m.customer_segment, CustomerSegment, CustomerSegment.MID
        ),
        default_daily_capacity=m.default_daily_capacity,
        availability_factor=m.availability_factor or DEFAULT_AVAILABILITY_FACTOR,
        wait_threshold_minutes=m.wait_threshold_minutes or DEFAULT_WAIT_THRESHOLD_MINUTES,
        time_zone=m.time_zone or DEFAULT_TIME_ZONE,
    )
    if len(v.items) > before:
        check_profile(v, profile)
        return None
    return profile


def profile_message(profile: StoreProfile) -> ev.StoreProfile:
    return to_proto(profile, ev.StoreProfile)  # type: ignore[return-value]


def appointment_message(record: AppointmentRecord) -> pb.Appointment:
    message: pb.Appointment = to_proto(record.appointment, pb.Appointment)  # type: ignore[assignment]
    message.store_id, message.day = record.store_id, record.day.isoformat()
    return message


def visit_message(record: VisitRecord) -> pb.Visit:
    message: pb.Visit = to_proto(record.visit, pb.Visit)  # type: ignore[assignment]
    message.store_id, message.day = record.store_id, record.day.isoformat()
    return message


def hold_message(record: HoldRecord) -> pb.SlotHold:
    message: pb.SlotHold = to_proto(record.hold, pb.SlotHold)  # type: ignore[assignment]
    message.store_id, message.day = record.store_id, record.day.isoformat()
    return message


def day_view_message(view: DayView) -> pb.DayView:
    """Written out by hand: the network view builds thousands of these per call."""
    message = pb.DayView(
        store_id=view.store_id,
        day=view.day.isoformat(),
        capacity=view.capacity,
        booked=view.booked,
        walk_ins=view.walk_ins,
        arrived=view.arrived,
        waiting=view.waiting,
        in_service=view.in_service,
        completed=view.completed,
        abandoned=view.abandoned,
        no_shows=view.no_shows,
        live_holds=view.live_holds,
        status=int(view.status),  # type: ignore[arg-type]
        estimated_wait_minutes=view.estimated_wait_minutes,
        wait_threshold_exceeded=view.wait_threshold_exceeded,
    )
    if view.utilisation is not None:
        message.utilisation = view.utilisation
    if view.bay_utilisation is not None:
        message.bay_utilisation = view.bay_utilisation
    return message


def network_day_message(
    day: date, totals: NetworkDayTotals, stores: Sequence[StoreDay], next_page_token: str
) -> pb.NetworkDayView:
    """The network view, each store added in place: a DayView message built apart and then
    copied into the reply cost five times as much, thousands of times per call."""
    message = pb.NetworkDayView(
        day=day.isoformat(),
        totals=reply(totals, pb.NetworkDayTotals),
        next_page_token=next_page_token,
    )
    add = message.stores.add
    on = message.day
    for (
        store_id,
        _,
        capacity,
        booked,
        walk_ins,
        arrived,
        waiting,
        in_service,
        completed,
        abandoned,
        no_shows,
        live_holds,
        utilisation,
        status,
        bay_utilisation,
        estimated_wait_minutes,
        wait_threshold_exceeded,
    ) in stores:
        # None leaves an optional ratio unset, as day_view_message does.
        add(
            store_id=store_id,
            day=on,
            capacity=capacity,
            booked=booked,
            walk_ins=walk_ins,
            arrived=arrived,
            waiting=waiting,
            in_service=in_service,
            completed=completed,
            abandoned=abandoned,
            no_shows=no_shows,
            live_holds=live_holds,
            utilisation=utilisation,
            status=status,
            bay_utilisation=bay_utilisation,
            estimated_wait_minutes=estimated_wait_minutes,
            wait_threshold_exceeded=wait_threshold_exceeded,
        )
    return message


def reply(obj: Any, message_type: type[Any]) -> Any:
    """A reply message whose fields are named like the result's."""
    return to_proto(obj, message_type)


def store_message(state: StoreState) -> pb.Store:
    assert state.profile is not None
    return pb.Store(
        store_id=state.store_id, profile=profile_message(state.profile), closed=state.closed
    )


def checked(request: Any, *, mutation: bool = True) -> None:
    """The fields every store-scoped request has, all faults at once."""
    v = Violations()
    if mutation:
        validation.request_id(v, "request_id", request.request_id)
    validation.store_code(v, "store_id", request.store_id)
    v.raise_if_any()


def checked_booking(request: pb.BookAppointmentRequest) -> None:
    """Every fault of a booking's fields at once, before its store is looked up."""
    v = Violations()
    validation.request_id(v, "request_id", request.request_id)
    validation.store_code(v, "store_id", request.store_id)
    validation.moment(v, request, "requested_at")
    check_customer(
        v,
        request.customer_ref,
        request.vehicle,
        request.service_type,
        request.expected_labour_hours,
    )
    v.raise_if_any()


def booking(
    request: pb.BookAppointmentRequest, store: StoreFacts, now: datetime
) -> BookAppointment:
    """On the store-local day of requested_at, in the book of that day."""
    v = Violations()
    requested_at = validation.moment(v, request, "requested_at")
    v.raise_if_any()
    assert requested_at is not None
    return BookAppointment(
        store=store,
        day=local_day(requested_at, store.time_zone),
        appointment_id=request.appointment_id or request.request_id,
        customer_ref=request.customer_ref,
        vehicle=request.vehicle,
        service_type=request.service_type,
        expected_labour_hours=request.expected_labour_hours,
        requested_at=requested_at,
        at=now,
    )


def appointments_sync(request: pb.SyncAppointmentsRequest, now: datetime) -> SyncAppointments:
    """The batch, every fault of the request and of the batch at once (INVALID_ARGUMENT,
    each appointment's fields named by their path); an appointment's own content is
    judged when it is booked, alone."""
    v = Violations()
    validation.request_id(v, "request_id", request.request_id)
    validation.store_code(v, "store_id", request.store_id)
    entries = []
    for i, sent in enumerate(request.appointments):
        own = Violations()
        requested_at = validation.moment(own, sent, "requested_at")
        for fault in own.items:
            v.add(f"appointments[{i}].{fault.field}", fault.description)
        entries.append(
            SyncedAppointment(
                appointment_id=sent.appointment_id,
                customer_ref=sent.customer_ref,
                vehicle=sent.vehicle,
                service_type=sent.service_type,
                expected_labour_hours=sent.expected_labour_hours,
                requested_at=requested_at or now,  # reported above when absent
            )
        )
    command = SyncAppointments(store_id=request.store_id, appointments=tuple(entries), at=now)
    if v.items:
        # The batch's own rules too, so that one refusal names every field; a request with
        # no fault here has them checked once, by the application.
        try:
            appointment_sync.validate(command)
        except InvalidArgument as batch:
            v.add_unnamed(Violations(list(batch.violations)))
        v.raise_if_any()
    return command


def appointments_synced(request_id: str, batch: SyncedBatch) -> pb.SyncAppointmentsResponse:
    booked, unchanged, refused = batch.tally()
    response = pb.SyncAppointmentsResponse(
        request_id=request_id, booked=booked, unchanged=unchanged, refused=refused
    )
    add = response.results.add
    for r in batch.results:
        add(
            appointment_id=r.appointment_id,
            outcome=int(r.outcome),  # type: ignore[arg-type]
            reason=r.reason,
            message=r.message,
            day=r.day.isoformat(),
            status=int(r.status) if r.status is not None else 0,  # type: ignore[arg-type]
        )
    return response


def slot_hold(request: pb.HoldSlotRequest, store: StoreFacts, now: datetime) -> HoldSlot:
    v = Violations()
    slot_at = validation.moment(v, request, "slot_at")
    expires_at = validation.moment(v, request, "expires_at")
    v.raise_if_any()
    assert slot_at is not None and expires_at is not None
    return HoldSlot(
        store=store,
        day=local_day(slot_at, store.time_zone),
        hold_id=request.hold_id or request.request_id,
        diverted_from_store_id=request.diverted_from_store_id,
        customer_ref=request.customer_ref,
        vehicle=request.vehicle,
        service_type=request.service_type,
        expected_labour_hours=request.expected_labour_hours,
        slot_at=slot_at,
        expires_at=expires_at,
        at=now,
    )
