"""The Store aggregate: a workshop of the network, its location, bays, hours and capacity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum

from kernel import validation
from kernel.decider import Decider
from kernel.errors import AlreadyExists, NotFound, RuleViolated, Violations
from services.capacity.domain import reasons
from services.capacity.domain.opening_hours import (
    OpeningHours,
    check_opening_hours,
    check_time_zone,
)

DEFAULT_AVAILABILITY_FACTOR = 0.85
DEFAULT_WAIT_THRESHOLD_MINUTES = 120
DEFAULT_TIME_ZONE = "Asia/Shanghai"
MAX_BAYS = 500
MAX_DAILY_CAPACITY = 10_000


class LocationTier(IntEnum):
    CITY_CENTRE = 1
    SUBURB = 2
    OUTSKIRTS = 3


class CustomerSegment(IntEnum):
    PREMIUM = 1
    MID = 2
    MASS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreProfile:
    """Everything a store manager can say about the store; replaced whole by an update."""

    name: str
    city: str
    region: str
    latitude: float
    longitude: float
    bays: int
    opening_hours: tuple[OpeningHours, ...]
    opened_on: date
    location_tier: LocationTier
    customer_segment: CustomerSegment
    default_daily_capacity: int
    availability_factor: float = DEFAULT_AVAILABILITY_FACTOR
    wait_threshold_minutes: int = DEFAULT_WAIT_THRESHOLD_MINUTES
    time_zone: str = DEFAULT_TIME_ZONE


# Commands


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterStore:
    store_id: str
    profile: StoreProfile
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateStore:
    store_id: str
    profile: StoreProfile
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseStore:
    store_id: str
    reason: str
    at: datetime


StoreCommand = RegisterStore | UpdateStore | CloseStore


# Events


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreRegistered:
    store_id: str
    profile: StoreProfile
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreUpdated:
    store_id: str
    profile: StoreProfile
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreClosed:
    store_id: str
    reason: str
    occurred_at: datetime


StoreEvent = StoreRegistered | StoreUpdated | StoreClosed


# State


@dataclass(frozen=True, slots=True)
class StoreState:
    store_id: str = ""
    profile: StoreProfile | None = None
    closed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreFacts:
    """What an appointment book must know of its store, copied from the Store stream by the
    application into each book command so that the book decides without I/O."""

    store_id: str
    open: bool
    bays: int
    opening_hours: tuple[OpeningHours, ...]
    availability_factor: float
    default_daily_capacity: int
    wait_threshold_minutes: int
    time_zone: str


def store_facts(state: StoreState) -> StoreFacts:
    profile = _registered(state, state.store_id)
    return StoreFacts(
        store_id=state.store_id,
        open=not state.closed,
        bays=profile.bays,
        opening_hours=profile.opening_hours,
        availability_factor=profile.availability_factor,
        default_daily_capacity=profile.default_daily_capacity,
        wait_threshold_minutes=profile.wait_threshold_minutes,
        time_zone=profile.time_zone,
    )


def require_open(store: StoreFacts) -> None:
    if not store.open:
        raise RuleViolated(
            reason=reasons.STORE_CLOSED,
            message=f"store {store.store_id} is closed",
            subject=f"store/{store.store_id}",
        )


def check_profile(v: Violations, profile: StoreProfile, prefix: str = "profile") -> None:
    validation.text(v, f"{prefix}.name", profile.name)
    validation.text(v, f"{prefix}.city", profile.city)
    validation.text(v, f"{prefix}.region", profile.region)
    if not -90.0 <= profile.latitude <= 90.0:
        v.add(f"{prefix}.latitude", "must be from -90 to 90 degrees")
    if not -180.0 <= profile.longitude <= 180.0:
        v.add(f"{prefix}.longitude", "must be from -180 to 180 degrees")
    validation.positive_quantity(v, f"{prefix}.bays", profile.bays, MAX_BAYS)
    check_opening_hours(v, f"{prefix}.opening_hours", profile.opening_hours)
    if not 0.0 < profile.availability_factor <= 1.0:
        v.add(f"{prefix}.availability_factor", "must be above 0 and at most 1")
    validation.non_negative(
        v, f"{prefix}.default_daily_capacity", profile.default_daily_capacity, MAX_DAILY_CAPACITY
    )
    validation.positive_quantity(
        v, f"{prefix}.wait_threshold_minutes", profile.wait_threshold_minutes, 24 * 60
    )
    check_time_zone(v, f"{prefix}.time_zone", profile.time_zone)


def decide(command: StoreCommand, state: StoreState) -> Sequence[StoreEvent]:
    match command:
        case RegisterStore():
            return _register(command, state)
        case UpdateStore():
            return _update(command, state)
        case CloseStore():
            return _close(command, state)


def _register(command: RegisterStore, state: StoreState) -> Sequence[StoreEvent]:
    if state.profile is not None:
        raise AlreadyExists("store", command.store_id)
    v = Violations()
    validation.store_code(v, "store_id", command.store_id)
    check_profile(v, command.profile)
    v.raise_if_any()
    return [
        StoreRegistered(store_id=command.store_id, profile=command.profile, occurred_at=command.at)
    ]


def _update(command: UpdateStore, state: StoreState) -> Sequence[StoreEvent]:
    current = _registered(state, command.store_id)
    if state.closed:
        raise RuleViolated(
            reason=reasons.STORE_CLOSED,
            message=f"store {command.store_id} is closed and can no longer be changed",
            subject=f"store/{command.store_id}",
        )
    v = Violations()
    check_profile(v, command.profile)
    v.raise_if_any()
    if command.profile == current:
        return []
    return [
        StoreUpdated(store_id=command.store_id, profile=command.profile, occurred_at=command.at)
    ]


def _close(command: CloseStore, state: StoreState) -> Sequence[StoreEvent]:
    _registered(state, command.store_id)
    v = Violations()
    validation.text(v, "reason", command.reason, required=False)
    v.raise_if_any()
    if state.closed:
        return []
    return [StoreClosed(store_id=command.store_id, reason=command.reason, occurred_at=command.at)]


def _registered(state: StoreState, store_id: str) -> StoreProfile:
    if state.profile is None:
        raise NotFound("store", store_id)
    return state.profile


def evolve(state: StoreState, event: StoreEvent) -> StoreState:
    match event:
        case StoreRegistered() | StoreUpdated():
            return StoreState(store_id=event.store_id, profile=event.profile, closed=state.closed)
        case StoreClosed():
            return StoreState(store_id=state.store_id, profile=state.profile, closed=True)


store: Decider[StoreState, StoreCommand, StoreEvent] = Decider(StoreState, decide, evolve)
