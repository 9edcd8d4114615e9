"""The events' shape is a public contract: every field maps 1:1 onto a protobuf message."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from enum import IntEnum
from typing import Any

import pytest

from services.capacity import domain
from services.capacity.domain.appointment_book import BookEvent
from services.capacity.domain.stores import StoreEvent

SCALARS = (str, int, float, bool, datetime, date)


def _field_type_is_mappable(tp: Any) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return len(args) == 1 and _field_type_is_mappable(args[0])
    if typing.get_origin(tp) is tuple:
        item, ellipsis = typing.get_args(tp)
        return ellipsis is Ellipsis and _field_type_is_mappable(item)
    if isinstance(tp, type) and issubclass(tp, IntEnum):
        return min(tp) >= 1
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return all(_field_type_is_mappable(hints[f.name]) for f in dataclasses.fields(tp))
    return tp in SCALARS


@pytest.mark.parametrize("event_type", domain.EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_field_maps_onto_protobuf(event_type: type) -> None:
    hints = typing.get_type_hints(event_type)
    for f in dataclasses.fields(event_type):
        assert _field_type_is_mappable(hints[f.name]), f"{event_type.__name__}.{f.name}"


@pytest.mark.parametrize("event_type", domain.EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_names_its_store_and_when_it_happened(event_type: type) -> None:
    hints = typing.get_type_hints(event_type)
    assert hints["store_id"] is str
    assert hints["occurred_at"] is datetime
    assert event_type.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_event_types_lists_every_event_of_both_aggregates_once() -> None:
    declared = set(typing.get_args(BookEvent)) | set(typing.get_args(StoreEvent))
    assert len(domain.EVENT_TYPES) == len(set(domain.EVENT_TYPES))
    assert set(domain.EVENT_TYPES) == declared
