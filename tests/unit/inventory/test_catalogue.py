"""The parts catalogue: every rule of its decider, in given / when / then form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kernel.errors import AlreadyExists, NotFound
from kernel.testing.scenario import Scenario, accepted, event_types, invalid_fields, refused
from services.inventory.domain.catalogue import (
    MAX_UNIT_COST_FEN,
    CatalogueCommand,
    Part,
    RegisterPart,
    UpdatePart,
    catalogue,
)
from services.inventory.domain.events import NETWORK, CatalogueEvent, PartRegistered, PartUpdated

part: Scenario[Part, CatalogueCommand, CatalogueEvent] = Scenario(catalogue)

EARLIER = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
BRAKE_PADS = PartRegistered(NETWORK, "P-100", "Brake pad set", "brakes", "set", 12_000, EARLIER)


def register(
    part_number: str = "P-100",
    name: str = "Brake pad set",
    category: str = "brakes",
    unit: str = "set",
    unit_cost_fen: int = 12_000,
) -> RegisterPart:
    return RegisterPart(part_number, name, category, unit, unit_cost_fen, NOW)


def update(name: str = "Brake pad set (ceramic)", unit_cost_fen: int = 13_500) -> UpdatePart:
    return UpdatePart("P-100", name, "brakes", "set", unit_cost_fen, NOW)


def test_registering_a_new_part_records_it_for_the_whole_network() -> None:
    assert part.given().when(register()) == [
        PartRegistered(NETWORK, "P-100", "Brake pad set", "brakes", "set", 12_000, NOW)
    ]


def test_a_registered_part_has_its_name_category_unit_and_cost() -> None:
    assert part.given().then_state(register()) == Part(
        "P-100", "Brake pad set", "brakes", "set", 12_000, registered=True
    )


def test_registering_trims_surrounding_whitespace_from_the_texts() -> None:
    outcome = part.given().when(register(name="  Brake pad set ", category=" brakes", unit="set "))
    assert outcome == [
        PartRegistered(NETWORK, "P-100", "Brake pad set", "brakes", "set", 12_000, NOW)
    ]


@pytest.mark.parametrize("cost", [0, MAX_UNIT_COST_FEN])
def test_a_part_may_cost_anything_from_nothing_up_to_the_ceiling(cost: int) -> None:
    outcome = part.given().when(register(unit_cost_fen=cost))
    assert event_types(accepted(outcome)) == ["PartRegistered"]


def test_registering_a_part_number_already_registered_is_refused() -> None:
    outcome = part.given(BRAKE_PADS).when(register())
    assert refused(outcome, AlreadyExists).resource_name == "P-100"


def test_updating_a_registered_part_records_the_new_facts() -> None:
    given = part.given(BRAKE_PADS)
    assert given.when(update()) == [
        PartUpdated(NETWORK, "P-100", "Brake pad set (ceramic)", "brakes", "set", 13_500, NOW)
    ]
    after = given.then_state(update())
    assert (after.name, after.unit_cost_fen, after.registered) == (
        "Brake pad set (ceramic)",
        13_500,
        True,
    )


def test_updating_a_part_never_registered_is_not_found() -> None:
    assert refused(part.given().when(update()), NotFound).resource_type == "part"


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        (register(part_number=""), ["part.part_number"]),
        (register(part_number="P 100"), ["part.part_number"]),
        (register(part_number="P" * 129), ["part.part_number"]),
        (register(name=""), ["part.name"]),
        (register(name="   "), ["part.name"]),
        (register(name="x" * 5_000), ["part.name"]),
        (register(category=""), ["part.category"]),
        (register(category="c" * 65), ["part.category"]),
        (register(unit=""), ["part.unit"]),
        (register(unit="u" * 17), ["part.unit"]),
        (register(unit_cost_fen=-1), ["part.unit_cost_fen"]),
        (register(unit_cost_fen=MAX_UNIT_COST_FEN + 1), ["part.unit_cost_fen"]),
        (
            register(part_number="", name="", unit_cost_fen=-5),
            ["part.name", "part.part_number", "part.unit_cost_fen"],
        ),
        (update(name=""), ["part.name"]),
        (update(unit_cost_fen=-1), ["part.unit_cost_fen"]),
    ],
)
def test_a_part_with_a_missing_malformed_or_absurd_field_is_invalid_naming_every_field(
    command: CatalogueCommand, fields: list[str]
) -> None:
    assert invalid_fields(part.given(BRAKE_PADS).when(command)) == fields
