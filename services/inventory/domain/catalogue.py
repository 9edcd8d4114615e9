"""The parts catalogue: one aggregate per part number, shared by the whole network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from kernel.decider import Decider
from kernel.errors import AlreadyExists, NotFound, Violations
from kernel.validation import identifier, text
from services.inventory.domain.events import NETWORK, CatalogueEvent, PartRegistered, PartUpdated

MAX_UNIT_COST_FEN = 100_000_000_00  # 100 M CNY: anything above is a typo, not a part


@dataclass(frozen=True)
class Part:
    part_number: str = ""
    name: str = ""
    category: str = ""
    unit: str = ""
    unit_cost_fen: int = 0
    registered: bool = False


@dataclass(frozen=True)
class RegisterPart:
    part_number: str
    name: str
    category: str
    unit: str
    unit_cost_fen: int
    at: datetime


@dataclass(frozen=True)
class UpdatePart:
    part_number: str
    name: str
    category: str
    unit: str
    unit_cost_fen: int
    at: datetime


CatalogueCommand = RegisterPart | UpdatePart


def validate_part(command: CatalogueCommand, prefix: str = "part.") -> None:
    v = Violations()
    identifier(v, f"{prefix}part_number", command.part_number)
    text(v, f"{prefix}name", command.name)
    text(v, f"{prefix}category", command.category, max_len=64)
    text(v, f"{prefix}unit", command.unit, max_len=16)
    if command.unit_cost_fen < 0:
        v.add(f"{prefix}unit_cost_fen", "must not be negative")
    elif command.unit_cost_fen > MAX_UNIT_COST_FEN:
        v.add(f"{prefix}unit_cost_fen", f"must be at most {MAX_UNIT_COST_FEN}")
    v.raise_if_any()


def decide(command: CatalogueCommand, part: Part) -> Sequence[CatalogueEvent]:
    validate_part(command)
    fields = dict(
        store_id=NETWORK,
        part_number=command.part_number,
        name=command.name.strip(),
        category=command.category.strip(),
        unit=command.unit.strip(),
        unit_cost_fen=command.unit_cost_fen,
        occurred_at=command.at,
    )
    if isinstance(command, RegisterPart):
        if part.registered:
            raise AlreadyExists("part", command.part_number)
        return [PartRegistered(**fields)]  # type: ignore[arg-type]
    if not part.registered:
        raise NotFound("part", command.part_number)
    return [PartUpdated(**fields)]  # type: ignore[arg-type]


def evolve(part: Part, event: CatalogueEvent) -> Part:
    return replace(
        part,
        part_number=event.part_number,
        name=event.name,
        category=event.category,
        unit=event.unit,
        unit_cost_fen=event.unit_cost_fen,
        registered=True,
    )


catalogue = Decider[Part, CatalogueCommand, CatalogueEvent](Part, decide, evolve)
