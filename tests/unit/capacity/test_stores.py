"""The Store aggregate: registration, updates, closing, and the profile's validation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kernel.errors import AlreadyExists, NotFound
from kernel.testing.scenario import Scenario
from services.capacity.domain.opening_hours import OpeningHours, Weekday
from services.capacity.domain.stores import (
    CloseStore,
    RegisterStore,
    StoreClosed,
    StoreCommand,
    StoreEvent,
    StoreFacts,
    StoreRegistered,
    StoreState,
    StoreUpdated,
    UpdateStore,
    store,
    store_facts,
)

from .examples import PROFILE, STORE_ID, WEEK, local

stores: Scenario[StoreState, StoreCommand, StoreEvent] = Scenario(store)
NOW = local(9, 0)
REGISTERED = StoreRegistered(store_id=STORE_ID, profile=PROFILE, occurred_at=local(8, 0))


def register(**changes: Any) -> RegisterStore:
    return RegisterStore(store_id=STORE_ID, profile=replace(PROFILE, **changes), at=NOW)


def test_a_new_store_is_registered_with_its_whole_profile() -> None:
    stores.given().when(register()).then(
        StoreRegistered(store_id=STORE_ID, profile=PROFILE, occurred_at=NOW)
    )


def test_a_profile_defaults_to_the_field_availability_factor_and_a_two_hour_wait() -> None:
    assert PROFILE.availability_factor == 0.85
    assert PROFILE.wait_threshold_minutes == 120
    assert PROFILE.time_zone == "Asia/Shanghai"


def test_a_store_code_is_registered_only_once() -> None:
    error = stores.given(REGISTERED).when(register()).then_error(AlreadyExists)
    assert error.resource_name == STORE_ID


def test_a_store_code_must_be_subject_safe() -> None:
    command = RegisterStore(store_id="SZ.01", profile=PROFILE, at=NOW)
    stores.given().when(command).then_invalid("store_id")


@pytest.mark.parametrize(
    ("latitude", "longitude", "fields"),
    [
        (90.5, 114.0, ["profile.latitude"]),
        (-90.01, 114.0, ["profile.latitude"]),
        (22.5, 180.5, ["profile.longitude"]),
        (22.5, -181.0, ["profile.longitude"]),
        (91.0, 181.0, ["profile.latitude", "profile.longitude"]),
    ],
)
def test_malformed_coordinates_are_refused_naming_the_field(
    latitude: float, longitude: float, fields: list[str]
) -> None:
    stores.given().when(register(latitude=latitude, longitude=longitude)).then_invalid(*fields)


def test_coordinates_on_the_poles_and_the_date_line_are_accepted() -> None:
    events = stores.given().when(register(latitude=-90.0, longitude=180.0)).events
    assert len(events) == 1


@pytest.mark.parametrize("bays", [0, -3])
def test_a_store_without_bays_is_refused(bays: int) -> None:
    stores.given().when(register(bays=bays)).then_invalid("profile.bays")


@pytest.mark.parametrize("factor", [0.0, -0.1, 1.01])
def test_an_availability_factor_outside_zero_to_one_is_refused(factor: float) -> None:
    stores.given().when(register(availability_factor=factor)).then_invalid(
        "profile.availability_factor"
    )


def test_an_availability_factor_of_exactly_one_is_accepted() -> None:
    assert stores.given().when(register(availability_factor=1.0)).events


def test_a_negative_default_capacity_is_refused() -> None:
    stores.given().when(register(default_daily_capacity=-1)).then_invalid(
        "profile.default_daily_capacity"
    )


def test_opening_hours_that_close_before_they_open_are_refused() -> None:
    hours = (OpeningHours(weekday=Weekday.MONDAY, opens_minute=600, closes_minute=540),)
    stores.given().when(register(opening_hours=hours)).then_invalid(
        "profile.opening_hours[0].closes_minute"
    )


def test_opening_hours_beyond_midnight_are_refused() -> None:
    hours = (OpeningHours(weekday=Weekday.MONDAY, opens_minute=-1, closes_minute=1441),)
    stores.given().when(register(opening_hours=hours)).then_invalid(
        "profile.opening_hours[0].opens_minute", "profile.opening_hours[0].closes_minute"
    )


def test_a_weekday_given_twice_is_refused() -> None:
    hours = (*WEEK, OpeningHours(weekday=Weekday.MONDAY, opens_minute=0, closes_minute=60))
    stores.given().when(register(opening_hours=hours)).then_invalid(
        f"profile.opening_hours[{len(WEEK)}].weekday"
    )


def test_a_round_the_clock_store_is_accepted() -> None:
    hours = tuple(OpeningHours(weekday=d, opens_minute=0, closes_minute=1440) for d in Weekday)
    assert stores.given().when(register(opening_hours=hours)).events


def test_an_unknown_time_zone_is_refused() -> None:
    stores.given().when(register(time_zone="Asia/Shenzhen")).then_invalid("profile.time_zone")


def test_every_fault_of_a_profile_is_reported_at_once() -> None:
    stores.given().when(register(name=" ", bays=0, latitude=100.0)).then_invalid(
        "profile.name", "profile.bays", "profile.latitude"
    )


def test_an_update_replaces_the_profile() -> None:
    bigger = replace(PROFILE, bays=16, default_daily_capacity=45)
    stores.given(REGISTERED).when(UpdateStore(store_id=STORE_ID, profile=bigger, at=NOW)).then(
        StoreUpdated(store_id=STORE_ID, profile=bigger, occurred_at=NOW)
    )
    state = stores.given(
        REGISTERED, StoreUpdated(store_id=STORE_ID, profile=bigger, occurred_at=NOW)
    ).state
    assert state.profile == bigger


def test_an_update_that_changes_nothing_records_nothing() -> None:
    stores.given(REGISTERED).when(
        UpdateStore(store_id=STORE_ID, profile=PROFILE, at=NOW)
    ).then_nothing_happens()


def test_an_update_is_validated_like_a_registration() -> None:
    bad = replace(PROFILE, longitude=200.0)
    stores.given(REGISTERED).when(UpdateStore(store_id=STORE_ID, profile=bad, at=NOW)).then_invalid(
        "profile.longitude"
    )


def test_an_unknown_store_cannot_be_updated() -> None:
    stores.given().when(UpdateStore(store_id=STORE_ID, profile=PROFILE, at=NOW)).then_error(
        NotFound
    )


def test_a_closed_store_cannot_be_updated() -> None:
    closed = StoreClosed(store_id=STORE_ID, reason="lease ended", occurred_at=NOW)
    stores.given(REGISTERED, closed).when(
        UpdateStore(store_id=STORE_ID, profile=replace(PROFILE, bays=9), at=NOW)
    ).then_refused("STORE_CLOSED")


def test_a_store_is_closed_once() -> None:
    close = CloseStore(store_id=STORE_ID, reason="lease ended", at=NOW)
    closed = StoreClosed(store_id=STORE_ID, reason="lease ended", occurred_at=NOW)
    stores.given(REGISTERED).when(close).then(closed)
    stores.given(REGISTERED, closed).when(close).then_nothing_happens()


def test_an_unknown_store_cannot_be_closed() -> None:
    stores.given().when(CloseStore(store_id=STORE_ID, reason="", at=NOW)).then_error(NotFound)


def test_the_facts_an_appointment_book_needs_come_from_the_store_stream() -> None:
    closed = StoreClosed(store_id=STORE_ID, reason="", occurred_at=NOW)
    assert store_facts(stores.given(REGISTERED, closed).state) == StoreFacts(
        store_id=STORE_ID,
        open=False,
        bays=8,
        opening_hours=WEEK,
        availability_factor=0.85,
        default_daily_capacity=30,
        wait_threshold_minutes=120,
        time_zone="Asia/Shanghai",
    )


def test_an_unregistered_store_has_no_facts() -> None:
    with pytest.raises(NotFound):
        store_facts(StoreState(store_id=STORE_ID))
