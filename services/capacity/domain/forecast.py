"""Capacity pressure ahead: bookings so far plus the walk-ins a weekday usually brings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kernel.errors import RuleViolated, Violations
from services.capacity.domain import reasons
from services.capacity.domain.book_state import BookState
from services.capacity.domain.opening_hours import Weekday, local_day
from services.capacity.domain.stores import StoreFacts, require_open
from services.capacity.domain.utilisation import StatusColour, status_colour, utilisation

HORIZON_DAYS = 7
LEARNING_WEEKS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class DayWalkIns:
    """How many customers walked in on a past day the store was open."""

    day: date
    walk_ins: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WeekdayWalkIns:
    weekday: Weekday
    expected_walk_ins: float


@dataclass(frozen=True, slots=True)
class WalkInPattern:
    weekdays: tuple[WeekdayWalkIns, ...]

    def expected_on(self, day: date) -> float:
        weekday = Weekday.of(day)
        return next((w.expected_walk_ins for w in self.weekdays if w.weekday == weekday), 0.0)


def learn_walk_in_pattern(
    history: Iterable[DayWalkIns], *, as_of: date, weeks: int = LEARNING_WEEKS
) -> WalkInPattern:
    """The mean walk-ins of each weekday over the `weeks` weeks before `as_of`.

    A plain mean of the same weekday (Monday with Mondays: domain.md's Monday 10–12 against
    Friday 20–24 is the point), over a window short enough to follow a trend and long enough
    that one odd day (a local holiday, a fleet visit) weighs only an eighth. `history` holds
    only days the store was open; a weekday without such a day in the window expects no
    walk-ins, so a weekday the store is closed never raises a false warning.
    """
    start = as_of - timedelta(weeks=weeks)
    counts: dict[Weekday, list[int]] = defaultdict(list)
    for observed in history:
        if start <= observed.day < as_of:
            counts[Weekday.of(observed.day)].append(observed.walk_ins)
    return WalkInPattern(
        tuple(
            WeekdayWalkIns(weekday=weekday, expected_walk_ins=sum(seen) / len(seen))
            for weekday, seen in sorted(counts.items())
        )
    )


def forecast_horizon(today: date, days: int = HORIZON_DAYS) -> tuple[date, ...]:
    """The days ahead the early warning looks at: tomorrow and the six after it."""
    return tuple(today + timedelta(days=offset) for offset in range(1, days + 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class PressureForecast:
    day: date
    capacity: int
    booked: int
    expected_walk_ins: float
    forecast_load: float
    utilisation: float | None
    status: StatusColour


def forecast_day(
    *, day: date, capacity: int, booked: int, expected_walk_ins: float
) -> PressureForecast:
    """Nobody walks into a store with no capacity that day (a holiday, a closed weekday)."""
    walk_ins = expected_walk_ins if capacity > 0 else 0.0
    load = booked + walk_ins
    return PressureForecast(
        day=day,
        capacity=capacity,
        booked=booked,
        expected_walk_ins=walk_ins,
        forecast_load=load,
        utilisation=utilisation(load, capacity),
        status=status_colour(load, capacity),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DayBookings:
    day: date
    capacity: int
    booked: int


def forecast_capacity_pressure(
    days: Sequence[DayBookings], pattern: WalkInPattern
) -> tuple[PressureForecast, ...]:
    return tuple(
        forecast_day(
            day=d.day,
            capacity=d.capacity,
            booked=d.booked,
            expected_walk_ins=pattern.expected_on(d.day),
        )
        for d in days
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastCapacityPressure:
    """Sent for each day of the horizon with the walk-ins its weekday usually brings."""

    store: StoreFacts
    day: date
    expected_walk_ins: float
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityPressureForecast:
    store_id: str
    day: date
    capacity: int
    booked: int
    expected_walk_ins: float
    forecast_utilisation: float | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityPressureEased:
    store_id: str
    day: date
    capacity: int
    booked: int
    expected_walk_ins: float
    forecast_utilisation: float | None
    occurred_at: datetime


def forecast_pressure(
    command: ForecastCapacityPressure, book: BookState
) -> Sequence[CapacityPressureForecast | CapacityPressureEased]:
    """An early warning once per day forecast above 100%, and the all-clear if it eases."""
    v = Violations()
    if command.expected_walk_ins < 0:
        v.add("expected_walk_ins", "must not be negative")
    v.raise_if_any()
    store = command.store
    require_open(store)  # a closed store takes nobody in: there is no pressure to warn of
    today = local_day(command.at, store.time_zone)
    if command.day < today:
        raise RuleViolated(
            reason=reasons.DAY_IN_THE_PAST,
            message=f"{command.day.isoformat()} is over: there is nothing to forecast",
            subject=f"store/{store.store_id}",
            metadata={"day": command.day.isoformat(), "today": today.isoformat()},
        )
    forecast = forecast_day(
        day=command.day,
        capacity=book.capacity(store, command.day),
        booked=book.booked,
        expected_walk_ins=command.expected_walk_ins,
    )
    overloaded = forecast.status == StatusColour.RED
    if overloaded == book.pressure_forecast:
        return []
    event_type = CapacityPressureForecast if overloaded else CapacityPressureEased
    return [
        event_type(
            store_id=store.store_id,
            day=command.day,
            capacity=forecast.capacity,
            booked=forecast.booked,
            expected_walk_ins=forecast.expected_walk_ins,
            forecast_utilisation=forecast.utilisation,
            occurred_at=command.at,
        )
    ]
