"""The capacity monitor: utilisation and its status colour, bay utilisation, the day view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from typing import NamedTuple, Protocol

from services.capacity.domain.book_state import AppointmentStatus, BookState, VisitStatus
from services.capacity.domain.opening_hours import open_hours_on
from services.capacity.domain.stores import StoreFacts
from services.capacity.domain.waiting import estimated_wait_of, whole_minutes


class StatusColour(IntEnum):
    GREEN = 1
    YELLOW = 2
    RED = 3


def utilisation(load: float, capacity: int) -> float | None:
    """load / capacity; None on a day without capacity, where a ratio means nothing."""
    if capacity <= 0:
        return None
    return load / capacity


def status_colour(load: float, capacity: int) -> StatusColour:
    """Red above 100%, yellow from 80% to 100% inclusive, green below 80%.

    Compared by cross-multiplication, so exactly 80% and exactly 100% are never lost to
    rounding; on a day without capacity any load is an overload.
    """
    if load > capacity:
        return StatusColour.RED
    if capacity > 0 and load * 5 >= capacity * 4:
        return StatusColour.YELLOW
    return StatusColour.GREEN


def bay_utilisation(
    *,
    served_vehicles: float,
    hours_per_vehicle: float,
    bays: int,
    open_hours: float,
    availability_factor: float,
) -> float | None:
    """Served vehicles × actual hours per vehicle / (bays × open hours × availability factor).

    The availability factor (0.85 by default) takes out the bay time no workshop can sell:
    changeovers, cleaning, waiting for parts. None when there were no bay hours at all.
    """
    available = bays * open_hours * availability_factor
    if available <= 0:
        return None
    return served_vehicles * hours_per_vehicle / available


@dataclass(frozen=True, slots=True, kw_only=True)
class DayView:
    """One row of the capacity monitor (产能监控表), live."""

    store_id: str
    day: date
    capacity: int
    booked: int
    walk_ins: int
    arrived: int
    waiting: int
    in_service: int
    completed: int
    abandoned: int
    no_shows: int
    live_holds: int
    utilisation: float | None
    status: StatusColour
    bay_utilisation: float | None
    estimated_wait_minutes: int
    wait_threshold_exceeded: bool


def day_view(store: StoreFacts, day: date, book: BookState, at: datetime) -> DayView:
    capacity = book.capacity(store, day)
    completed = book.visits_in(VisitStatus.COMPLETED)
    return DayView(
        store_id=store.store_id,
        day=day,
        capacity=capacity,
        booked=book.booked,
        walk_ins=book.walk_ins,
        arrived=len(book.visits),
        waiting=len(book.waiting_queue()),
        in_service=len(book.visits_in(VisitStatus.IN_SERVICE)),
        completed=len(completed),
        abandoned=len(book.visits_in(VisitStatus.ABANDONED)),
        no_shows=sum(
            1 for a in book.appointments.values() if a.status == AppointmentStatus.NO_SHOW
        ),
        live_holds=book.live_holds(at),
        utilisation=utilisation(book.booked, capacity),
        status=status_colour(book.booked, capacity),
        bay_utilisation=bay_utilisation(
            served_vehicles=len(completed),
            hours_per_vehicle=(
                sum(v.labour_hours for v in completed) / len(completed) if completed else 0.0
            ),
            bays=store.bays,
            open_hours=open_hours_on(store.opening_hours, day),
            availability_factor=store.availability_factor,
        ),
        estimated_wait_minutes=whole_minutes(estimated_wait_of(book, store, at)),
        wait_threshold_exceeded=book.wait_exceeded,
    )


class StoreDay(NamedTuple):
    """A store's line of the network monitor: a DayView's fields in its order, as a tuple,
    because the network view makes thousands of them per call (a tuple costs a tenth of a
    frozen dataclass)."""

    store_id: str
    day: date
    capacity: int
    booked: int
    walk_ins: int
    arrived: int
    waiting: int
    in_service: int
    completed: int
    abandoned: int
    no_shows: int
    live_holds: int
    utilisation: float | None
    status: StatusColour
    bay_utilisation: float | None
    estimated_wait_minutes: int
    wait_threshold_exceeded: bool


class MonitorLine(Protocol):
    """What the network totals read of a store's day (a DayView or a StoreDay)."""

    @property
    def capacity(self) -> int: ...

    @property
    def booked(self) -> int: ...

    @property
    def status(self) -> StatusColour: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkDayTotals:
    """The whole network's day in one line: utilisation of summed capacity, stores per colour."""

    day: date
    stores: int
    capacity: int
    booked: int
    utilisation: float | None
    status: StatusColour
    red_stores: int
    yellow_stores: int
    green_stores: int


def network_totals(day: date, views: Sequence[MonitorLine]) -> NetworkDayTotals:
    capacity = sum(view.capacity for view in views)
    booked = sum(view.booked for view in views)
    colours = [view.status for view in views]
    return NetworkDayTotals(
        day=day,
        stores=len(views),
        capacity=capacity,
        booked=booked,
        utilisation=utilisation(booked, capacity),
        status=status_colour(booked, capacity),
        red_stores=colours.count(StatusColour.RED),
        yellow_stores=colours.count(StatusColour.YELLOW),
        green_stores=colours.count(StatusColour.GREEN),
    )
