"""What an appointment book knows of one store's day: appointments, visits, holds, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum

from kernel.errors import NotFound
from services.capacity.domain.opening_hours import Weekday, hours_on
from services.capacity.domain.stores import StoreFacts


class AppointmentStatus(IntEnum):
    BOOKED = 1
    CHECKED_IN = 2
    CANCELLED = 3
    NO_SHOW = 4


class VisitStatus(IntEnum):
    WAITING = 1
    IN_SERVICE = 2
    COMPLETED = 3
    ABANDONED = 4


class HoldStatus(IntEnum):
    HELD = 1
    CONFIRMED = 2
    RELEASED = 3
    EXPIRED = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Appointment:
    """A customer's promise to come: it becomes a visit when the customer checks in."""

    appointment_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    requested_at: datetime
    status: AppointmentStatus = AppointmentStatus.BOOKED
    diverted_from_store_id: str | None = None
    visit_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Visit:
    """A vehicle actually in the store, from arrival to completion or abandonment."""

    visit_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    arrived_at: datetime
    status: VisitStatus = VisitStatus.WAITING
    appointment_id: str | None = None
    diverted_from_store_id: str | None = None
    bay: int | None = None
    technician_ids: tuple[str, ...] = ()
    started_at: datetime | None = None
    labour_hours: float = 0.0

    def remaining_work(self, at: datetime) -> timedelta:
        """Expected work still to do; a vehicle past its estimate is taken to be nearly done."""
        expected = timedelta(hours=self.expected_labour_hours)
        if self.started_at is None:
            return expected
        return max(timedelta(0), expected - (at - self.started_at))


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotHold:
    """A slot kept for another store's diverted customer until `expires_at` (SOP 3 step 3)."""

    hold_id: str
    diverted_from_store_id: str
    customer_ref: str
    vehicle: str
    service_type: str
    expected_labour_hours: float
    slot_at: datetime
    expires_at: datetime
    status: HoldStatus = HoldStatus.HELD
    # The appointment a confirmed hold became (None in snapshots taken before it was kept).
    appointment_id: str | None = None

    def live_at(self, at: datetime) -> bool:
        return self.status == HoldStatus.HELD and at < self.expires_at


@dataclass(frozen=True, slots=True)
class BookState:
    """Evolve builds new mappings on every event: a state is never mutated in place."""

    store_id: str = ""
    day: date | None = None
    capacity_override: int | None = None
    appointments: dict[str, Appointment] = field(default_factory=dict)
    visits: dict[str, Visit] = field(default_factory=dict)
    holds: dict[str, SlotHold] = field(default_factory=dict)
    wait_exceeded: bool = False
    pressure_forecast: bool = False

    def appointment(self, appointment_id: str) -> Appointment:
        try:
            return self.appointments[appointment_id]
        except KeyError:
            raise NotFound("appointment", appointment_id) from None

    def visit(self, visit_id: str) -> Visit:
        try:
            return self.visits[visit_id]
        except KeyError:
            raise NotFound("visit", visit_id) from None

    def hold(self, hold_id: str) -> SlotHold:
        try:
            return self.holds[hold_id]
        except KeyError:
            raise NotFound("slot hold", hold_id) from None

    def capacity(self, store: StoreFacts, day: date) -> int:
        """The day's override if set, else the default on open weekdays and 0 on closed ones."""
        if self.capacity_override is not None:
            return self.capacity_override
        if hours_on(store.opening_hours, Weekday.of(day)) is None:
            return 0
        return store.default_daily_capacity

    @property
    def booked(self) -> int:
        """Appointments still standing: booked or checked in (cancelled and no-shows freed)."""
        return sum(
            1
            for a in self.appointments.values()
            if a.status in (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN)
        )

    @property
    def walk_ins(self) -> int:
        return sum(1 for visit in self.visits.values() if visit.appointment_id is None)

    def visits_in(self, status: VisitStatus) -> tuple[Visit, ...]:
        return tuple(visit for visit in self.visits.values() if visit.status == status)

    def live_holds(self, at: datetime) -> int:
        return sum(1 for hold in self.holds.values() if hold.live_at(at))

    def waiting_queue(self) -> tuple[Visit, ...]:
        """Waiting vehicles in order of arrival: first come, first served."""
        return tuple(
            sorted(self.visits_in(VisitStatus.WAITING), key=lambda v: (v.arrived_at, v.visit_id))
        )

    def occupant_of(self, bay: int) -> Visit | None:
        return next((v for v in self.visits_in(VisitStatus.IN_SERVICE) if v.bay == bay), None)
