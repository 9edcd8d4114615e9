"""The events' shape is the proto contract: every field maps 1:1 to a protobuf field."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from enum import IntEnum

import pytest

from services.workforce.domain import EVENT_TYPES, TechnicianEvent

SCALARS = (str, int, float, bool, datetime, date)


def unmappable(annotation: object, where: str) -> list[str]:
    """Where an annotation has no protobuf counterpart; empty when it maps."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation in SCALARS:
        return []
    if isinstance(annotation, type) and issubclass(annotation, IntEnum):
        return [] if min(member.value for member in annotation) == 1 else [f"{where}: enum from 0"]
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if not annotation.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            return [f"{where}: nested dataclass not frozen"]
        hints = typing.get_type_hints(annotation)
        return [
            p
            for f in dataclasses.fields(annotation)
            for p in unmappable(hints[f.name], f"{where}.{f.name}")
        ]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return unmappable(args[0], f"{where}[]")
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return unmappable(inner, f"{where}?")
    return [f"{where}: {annotation!r}"]


def test_event_types_lists_every_event_the_aggregate_records() -> None:
    assert set(EVENT_TYPES) == set(typing.get_args(TechnicianEvent))
    assert len({event.__name__ for event in EVENT_TYPES}) == len(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_field_has_a_protobuf_counterpart(event_type: type) -> None:
    hints = typing.get_type_hints(event_type)

    problems = [
        problem
        for field in dataclasses.fields(event_type)
        for problem in unmappable(hints[field.name], f"{event_type.__name__}.{field.name}")
    ]

    assert problems == []
    assert event_type.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_names_its_store_for_the_nats_subject(event_type: type) -> None:
    hints = typing.get_type_hints(event_type)

    assert hints["store_id"] is str
    assert hints["technician_id"] is str
    assert hints["occurred_at"] is datetime


def test_the_contract_check_catches_a_dict_field() -> None:
    assert unmappable(dict[str, int], "Bad.field") == ["Bad.field: dict[str, int]"]
